/**
 * Graceful shutdown on SIGTERM: new requests are refused, the ones under way may finish, then
 * the process stops and exits 0; a part upload under way counts fully or not at all.
 */
import { afterEach, describe, expect, it } from "bun:test"
import { startInstance, type Instance } from "./support/Instance"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined)
})

/** A database with a user, and the service as a process of its own over it. */
const setUp = async (env: Record<string, string> = {}) => {
  const app = await startTestApp()
  cleanup.push(() => app.close())
  const instance: Instance = await startInstance({ ...app.env, ...env })
  cleanup.push(() => instance.stop())
  const { token } = await app.createUser()
  return { app, instance, token }
}

/** A part upload whose body sends half and then waits for `release`. */
const heldUpload = (baseUrl: string, token: string, sessionId: string, data: Uint8Array) => {
  let release: () => void = () => undefined
  const released = new Promise<void>((resolve) => {
    release = resolve
  })
  let step = 0
  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (step === 0) controller.enqueue(data.subarray(0, data.byteLength / 2))
      else if (step === 1) {
        await released
        controller.enqueue(data.subarray(data.byteLength / 2))
      } else controller.close()
      step++
    }
  })
  const reply = fetch(`${baseUrl}/uploads/sessions/${sessionId}/parts/1`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}` },
    body
  }).then((response) => response.status, () => 0)
  return { reply, release }
}

const partRows = (app: TestApp, sessionId: string) =>
  app.sql<{ status: string; sha256: string | null }>("SELECT status, sha256 FROM upload_parts WHERE session_id = $1", [sessionId])

describe("on SIGTERM", () => {
  it("refuses new requests, lets a part upload under way finish and count, then exits 0", async () => {
    const { app, instance, token } = await setUp()
    const data = bytes(64 * 1024, 3)
    const id = (await app.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: data.byteLength })).body.id
    const upload = heldUpload(instance.baseUrl, token, id, data)
    for (let i = 0; i < 400 && (await partRows(app, id)).length === 0; i++) await Bun.sleep(5)
    expect((await partRows(app, id))[0]?.status).toBe("PENDING")

    instance.process.kill("SIGTERM")
    // draining: a new request is turned away, the instance is still there for the one under way
    let refused = 0
    for (let i = 0; i < 200 && refused === 0; i++) {
      const health = await fetch(`${instance.baseUrl}/health`).catch(() => undefined)
      if (health?.status === 503) refused = 503
      else await Bun.sleep(10)
    }
    expect(refused).toBe(503)
    expect(instance.process.exitCode).toBeNull()

    upload.release()
    expect(await upload.reply).toBe(200)
    expect(await instance.process.exited).toBe(0)
    expect(await partRows(app, id)).toEqual([{ status: "RECEIVED", sha256: sha256Hex(data) }])
    expect((await app.getSession(token, id)).body).toMatchObject({ received_parts_count: 1, status: "IN_PROGRESS" })
  })

  it("interrupts what is still running after SHUTDOWN_TIMEOUT: that part does not count, and the exit is still 0", async () => {
    const { app, instance, token } = await setUp({ SHUTDOWN_TIMEOUT: "1" })
    const data = bytes(64 * 1024, 4)
    const id = (await app.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: data.byteLength })).body.id
    const upload = heldUpload(instance.baseUrl, token, id, data)
    for (let i = 0; i < 400 && (await partRows(app, id)).length === 0; i++) await Bun.sleep(5)
    instance.process.kill("SIGTERM")
    expect(await instance.process.exited).toBe(0)
    upload.release()
    expect(await upload.reply).not.toBe(200)
    // the claim was given up: nothing received, nothing counted, the part can be sent again at once
    expect(await partRows(app, id)).toEqual([])
    expect((await app.getSession(token, id)).body).toMatchObject({ received_parts_count: 0 })
    expect((await app.putPart(token, id, 1, data)).status).toBe(200)
  })
})
