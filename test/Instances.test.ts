/**
 * Several stateless instances over one PostgreSQL, on both storage backends: on S3 each has a
 * DATA_DIR of its own, on local storage they share the filesystem. Parts go to any instance,
 * completes race across them, an instance killed with SIGKILL loses nothing it acknowledged,
 * and a writer that stalled past its claim cannot change the bytes of the stored file.
 */
import { afterEach, describe, expect, it } from "bun:test"
import { Effect } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { StorageShape } from "../src/Storage/Storage"
import { startInstance, type Instance } from "./support/Instance"
import { bytes, localObjectBytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

type Backend = "local" | "s3"

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined)
})

/** Completes made through storage, on whichever instance. */
let completes = 0
const countCompletes = (storage: StorageShape): StorageShape => ({
  ...storage,
  complete: (input) => Effect.zipRight(Effect.sync(() => completes++), storage.complete(input))
})

/** Two instances over one database: on S3 with separate DATA_DIRs, on local storage sharing one. */
const twoInstances = async (backend: Backend, env: Record<string, string> = {}) => {
  const first = await startTestApp({ storage: backend, wrapStorage: countCompletes, env })
  cleanup.push(() => first.close())
  const second = await joinInstance(first, backend, env)
  return { first, second }
}

const ownDataDir = async () => {
  const directory = await mkdtemp(join(tmpdir(), "portal-instance-"))
  cleanup.push(() => rm(directory, { recursive: true, force: true }))
  return directory
}

/** Another in-process instance over `app`'s database (and, for local storage, its files). */
const joinInstance = async (app: TestApp, backend: Backend, env: Record<string, string> = {}) => {
  const dataDir = backend === "local" ? app.dataDir : await ownDataDir()
  const other = await startTestApp({
    storage: backend,
    wrapStorage: countCompletes,
    shareWith: { database: app.database, dataDir },
    env: { ...env, ...(backend === "s3" ? { S3_PREFIX: app.env["S3_PREFIX"] ?? "" } : {}) }
  })
  cleanup.push(() => other.close())
  return other
}

/** `app`'s settings for a process of its own: its database, its bucket prefix, a DATA_DIR as the backend needs. */
const processOf = async (app: TestApp, backend: Backend, env: Record<string, string> = {}) => {
  const instance = await startInstance({
    ...app.env,
    DATA_DIR: backend === "local" ? app.dataDir : await ownDataDir(),
    ...env
  })
  cleanup.push(async () => {
    instance.process.kill("SIGCONT")
    await instance.stop()
  })
  return instance
}

const put = (baseUrl: string, token: string, sessionId: string, partNumber: number, body: RequestInit["body"]) =>
  fetch(`${baseUrl}/uploads/sessions/${sessionId}/parts/${partNumber}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}` },
    body
  })

const download = async (baseUrl: string, token: string, fileId: string) =>
  new Uint8Array(await (await fetch(`${baseUrl}/files/${fileId}/content`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer())

describe.each(["local", "s3"] as const)("two instances on %s storage", (backend) => {
  it("take a session's parts concurrently on both, complete on one and serve the file from the other", async () => {
    const { first, second } = await twoInstances(backend)
    const { token } = await first.createUser()
    const chunk = 64 * 1024
    const data = bytes(12 * chunk - 1000, 7)
    const created = await first.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: chunk })
    expect(created.status).toBe(201)
    const id: string = created.body.id
    const replies = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      put(i % 2 === 0 ? first.baseUrl : second.baseUrl, token, id, i + 1, data.subarray(i * chunk, (i + 1) * chunk))))
    expect(replies.map((reply) => reply.status)).toEqual(Array.from({ length: 12 }, () => 200))
    const done = await second.complete(token, id)
    expect(done.status).toBe(200)
    expect(done.body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data), storage_backend: backend })
    expect(sha256Hex(await download(first.baseUrl, token, done.body.file_id))).toBe(sha256Hex(data))
  })

  it("assemble once when both complete the same session at the same moment", async () => {
    const { first, second } = await twoInstances(backend)
    const { token } = await first.createUser()
    const data = bytes(40_000, 8)
    const id = (await first.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: 10_000 })).body.id
    for (let n = 1; n <= 4; n++) expect((await first.putPart(token, id, n, data.subarray((n - 1) * 10_000, n * 10_000))).status).toBe(200)
    const before = completes
    const [a, b] = await Promise.all([first.complete(token, id), second.complete(token, id)])
    expect([a.status, b.status]).toEqual([200, 200])
    expect(a.body.file.id).toBe(b.body.file.id)
    expect(a.body.file.sha256).toBe(sha256Hex(data))
    expect(completes - before).toBe(1)
    expect(await first.sql("SELECT count(*)::int AS n FROM outbox_events WHERE file_id = $1", [a.body.file.id])).toEqual([{ n: 1 }])
  })

  it("lose no acknowledged part when one of them is killed with SIGKILL mid-upload", async () => {
    // the dead instance's claims lapse after UPLOAD_LEASE; a short one keeps the test quick
    const survivor = await startTestApp({ storage: backend, env: { UPLOAD_LEASE: "2" } })
    cleanup.push(() => survivor.close())
    const doomed: Instance = await processOf(survivor, backend)
    const { token } = await survivor.createUser()
    const chunk = 256 * 1024
    const parts = 24
    const data = bytes(parts * chunk, 9)
    const id: string = (await survivor.createSession(token, { total_size_bytes: data.byteLength, chunk_size_bytes: chunk })).body.id
    const acknowledged = new Set<number>()
    let next = 1
    const sender = async () => {
      while (next <= parts) {
        const n = next++
        const reply = await put(doomed.baseUrl, token, id, n, data.subarray((n - 1) * chunk, n * chunk)).catch(() => undefined)
        if (reply?.status === 200) acknowledged.add(n)
        if (acknowledged.size === 8) doomed.process.kill("SIGKILL")
      }
    }
    await Promise.all([sender(), sender(), sender(), sender()])
    await doomed.process.exited
    expect(acknowledged.size).toBeGreaterThanOrEqual(8)
    expect(acknowledged.size).toBeLessThan(parts)
    // everything the dead instance acknowledged is received, and counted exactly
    const view = (await survivor.getSession(token, id)).body
    const received = new Set<number>(view.received_parts.flatMap(([first, last]: [number, number]) =>
      Array.from({ length: last - first + 1 }, (_, i) => first + i)))
    for (const n of acknowledged) expect(received.has(n)).toBe(true)
    expect(view.received_parts_count).toBe(received.size)
    // the rest goes to the survivor, which completes the file whole
    for (let n = 1; n <= parts; n++) {
      if (received.has(n)) continue
      // a claim the dead instance held lapses (UPLOAD_LEASE) before the part can be sent again
      const reply = await put(survivor.baseUrl, token, id, n, data.subarray((n - 1) * chunk, n * chunk))
      expect(reply.status).toBe(200)
    }
    const done = await survivor.complete(token, id)
    expect(done.status).toBe(200)
    expect(done.body.file.sha256).toBe(sha256Hex(data))
  }, 60_000)

  it("never let a writer that stalled past its claim change the stored file", async () => {
    const lease = { UPLOAD_LEASE: "1" }
    const current = await startTestApp({ storage: backend, env: lease })
    cleanup.push(() => current.close())
    const stalled: Instance = await processOf(current, backend, lease)
    const { token } = await current.createUser()
    const chunk = 128 * 1024
    const good = bytes(3 * chunk, 11)
    const evil = bytes(chunk, 66)
    const id: string = (await current.createSession(token, { total_size_bytes: good.byteLength, chunk_size_bytes: chunk })).body.id

    // part 2 goes to the instance that will stall: half its body, then the client waits
    let resume: () => void = () => undefined
    const resumed = new Promise<void>((resolve) => {
      resume = resolve
    })
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (sent === chunk / 2) await resumed
        if (sent === chunk) return controller.close()
        controller.enqueue(evil.subarray(sent, sent + 16 * 1024))
        sent += 16 * 1024
      }
    })
    const staleReply = put(stalled.baseUrl, token, id, 2, body).then((reply) => reply.status, () => 0)
    const claimHeld = () =>
      current.sql("SELECT 1 FROM upload_parts WHERE session_id = $1 AND part_number = 2 AND status = 'PENDING'", [id])
    for (let i = 0; i < 400 && (await claimHeld()).length === 0; i++) await Bun.sleep(10)
    expect(await claimHeld()).toHaveLength(1)
    // the writer's whole process stops (a GC pause, SIGSTOP, a VM pause): it renews nothing
    stalled.process.kill("SIGSTOP")
    const lapsed = () =>
      current.sql("SELECT 1 FROM upload_parts WHERE session_id = $1 AND part_number = 2 AND claim_expires_at < now()", [id])
    for (let i = 0; i < 400 && (await lapsed()).length === 0; i++) await Bun.sleep(10)

    // meanwhile the other instance takes part 2 over, receives the rest and stores the file
    for (const n of [2, 1, 3]) {
      expect((await put(current.baseUrl, token, id, n, good.subarray((n - 1) * chunk, n * chunk))).status).toBe(200)
    }
    const done = await current.complete(token, id)
    expect(done.status).toBe(200)
    expect(done.body.file.sha256).toBe(sha256Hex(good))

    // the stalled writer wakes up and sends the rest of its bytes
    stalled.process.kill("SIGCONT")
    resume()
    expect(await staleReply).not.toBe(200)
    const [file] = await current.sql<{ sha256: string; storage_key: string; status: string }>(
      "SELECT sha256, storage_key, status FROM files WHERE id = $1",
      [done.body.file_id]
    )
    expect(file).toMatchObject({ status: "STORED", sha256: sha256Hex(good) })
    // what the stored file serves, from either instance, is still exactly the good bytes
    expect(sha256Hex(await download(current.baseUrl, token, done.body.file_id))).toBe(sha256Hex(good))
    expect(sha256Hex(await download(stalled.baseUrl, token, done.body.file_id))).toBe(sha256Hex(good))
    if (backend === "local") {
      expect(sha256Hex(await localObjectBytes(current.dataDir, file?.storage_key ?? ""))).toBe(sha256Hex(good))
    }
  }, 60_000)
})
