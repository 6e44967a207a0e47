/**
 * Bad and hostile input: every one gets a typed 4xx quickly, never a 500, never a stall for
 * others, and nothing of it is stored or counted.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let alice: { token: string }

beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_MAX_CONCURRENT_PER_USER: "2" } })
  alice = await app.createUser()
})
afterAll(() => app.close())

const deep = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
const create = (fields: Record<string, unknown>) =>
  app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10, ...fields })

describe("deeply nested JSON", () => {
  it("is refused with 400 before anything parses it, on every JSON route", async () => {
    const body = `{"filename":"a","content_type":"a/b","total_size_bytes":1,"metadata":{"x":${deep(100_000)}}}`
    const routes = [
      ["POST", "/uploads/sessions"],
      ["POST", "/batches"],
      ["POST", `/uploads/sessions/${(await create({})).body.id}/complete`]
    ] as const
    for (const [method, path] of routes) {
      const reply = await app.request(method, path, {
        token: alice.token,
        body: method === "POST" && path === "/batches" ? deep(20_000) : body,
        headers: { "content-type": "application/json" }
      })
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ _tag: "InvalidRequest", message: "JSON may nest at most 64 levels deep" })
    }
    // the server is still itself: health answers at once
    expect((await app.request("GET", "/health")).status).toBe(200)
  })

  it("is accepted up to 64 levels", async () => {
    let value: unknown = 1
    for (let i = 0; i < 62; i++) value = [value]
    expect((await create({ metadata: { nested: value } })).status).toBe(201)
  })
})

describe("large JSON bodies", () => {
  it("are refused with 413 when Content-Length says they are over 1 MiB", async () => {
    const reply = await app.request("POST", "/uploads/sessions", {
      token: alice.token,
      body: JSON.stringify({ filename: "a", padding: "x".repeat(2 * 1024 * 1024) }),
      headers: { "content-type": "application/json" }
    })
    expect(reply.status).toBe(413)
    expect(reply.body).toMatchObject({ _tag: "RequestTooLarge", max_bytes: 1024 * 1024 })
  })

  it("are cut off with 413 while they arrive when they come without a length", async () => {
    let sent = 0
    const endless = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        // 64 MiB on offer; the server must stop reading long before
        if (sent >= 64 * 1024 * 1024) return controller.close()
        sent += 64 * 1024
        controller.enqueue(new Uint8Array(64 * 1024).fill(0x20))
      }
    })
    const reply = await app.request("POST", "/batches", {
      token: alice.token,
      body: endless,
      headers: { "content-type": "application/json" }
    })
    expect(reply.status).toBe(413)
    expect(reply.body._tag).toBe("RequestTooLarge")
    expect(sent).toBeLessThan(64 * 1024 * 1024)
  })
})

describe("control characters", () => {
  it("are refused in content types (CR, LF, U+2028, NUL), metadata (NUL) and batch names (NUL), with 400", async () => {
    for (const content_type of ["text/plain\r\nx-evil: 1", "text/plain\n", "text/plain\u2028", "text/pl\u0000ain"]) {
      const reply = await create({ content_type })
      expect(reply.status).toBe(400)
    }
    expect((await create({ metadata: { "a\u0000": 1 } })).status).toBe(400)
    expect((await create({ metadata: { a: ["b\u0000"] } })).status).toBe(400)
    const batch = await app.request("POST", "/batches", { token: alice.token, json: { total_files: 1, name: "nightly\u0000" } })
    expect(batch.status).toBe(400)
    expect((await app.sql("SELECT 1 FROM files WHERE content_type LIKE 'text/pl%'"))).toHaveLength(0)
  })

  it("refuses a __proto__ metadata key instead of silently dropping it", async () => {
    const reply = await app.request("POST", "/uploads/sessions", {
      token: alice.token,
      body: '{"filename":"a","content_type":"a/b","total_size_bytes":1,"metadata":{"__proto__":{"x":1}}}',
      headers: { "content-type": "application/json" }
    })
    expect(reply.status).toBe(400)
    expect(JSON.stringify(reply.body)).toContain("__proto__")
  })

  it("never make a download unsendable: a stored type that is not a valid header goes out as octet-stream", async () => {
    const data = bytes(10, 5)
    const id = (await create({ content_type: "text/plain" })).body.id
    await app.putPart(alice.token, id, 1, data)
    const done = await app.complete(alice.token, id)
    // as a row stored before types were checked could hold it
    await app.sql("UPDATE files SET content_type = $2 WHERE id = $1", [done.body.file_id, "text/plain\r\nx-evil: 1"])
    const download = await fetch(`${app.baseUrl}/files/${done.body.file_id}/content`, {
      headers: { authorization: `Bearer ${alice.token}` }
    })
    expect(download.status).toBe(200)
    expect(download.headers.get("content-type")).toBe("application/octet-stream")
    expect(download.headers.get("x-evil")).toBeNull()
    expect(sha256Hex(new Uint8Array(await download.arrayBuffer()))).toBe(sha256Hex(data))
  })
})

describe("part uploads in flight", () => {
  /** A part upload whose body sends a byte and then waits until released. */
  const slowUpload = (id: string, partNumber: number) => {
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    let step = 0
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (step++ === 0) return controller.enqueue(new Uint8Array([1]))
        await released
        controller.enqueue(new Uint8Array(9).fill(1))
        controller.close()
      }
    })
    const reply = fetch(`${app.baseUrl}/uploads/sessions/${id}/parts/${partNumber}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${alice.token}` },
      body
    })
    return { reply, release }
  }

  it("are bounded per user: one more is 429 TooManyUploads with Retry-After, other users are not affected", async () => {
    const id = (await create({ total_size_bytes: 30 })).body.id
    const first = slowUpload(id, 1)
    const second = slowUpload(id, 2)
    for (let i = 0; i < 400 && (await app.sql("SELECT 1 FROM upload_parts WHERE session_id = $1", [id])).length < 2; i++) {
      await Bun.sleep(5)
    }
    const third = await app.putPart(alice.token, id, 3, bytes(10, 3))
    expect(third.status).toBe(429)
    expect(third.body).toMatchObject({ _tag: "TooManyUploads", limit: 2 })
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0)
    const bob = await app.createUser()
    const theirs = (await app.createSession(bob.token, { total_size_bytes: 10, chunk_size_bytes: 10 })).body.id
    expect((await app.putPart(bob.token, theirs, 1, bytes(10, 4))).status).toBe(200)
    first.release()
    second.release()
    expect([(await first.reply).status, (await second.reply).status]).toEqual([200, 200])
    // the slots are free again
    expect((await app.putPart(alice.token, id, 3, bytes(10, 3))).status).toBe(200)
  })
})

describe("a body that stalls (TestClock)", () => {
  it("is ended with 408 after UPLOAD_BODY_IDLE_TIMEOUT without a byte, and nothing of it counts", async () => {
    const timed = await startTestApp({ testClock: true, env: { UPLOAD_BODY_IDLE_TIMEOUT: "30" } })
    try {
      const { token } = await timed.createUser()
      const id = (await timed.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })).body.id
      let step = 0
      const trickle = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          if (step++ === 0) return controller.enqueue(new Uint8Array(3))
          // and then nothing, ever
          await new Promise(() => undefined)
        }
      })
      const pending = fetch(`${timed.baseUrl}/uploads/sessions/${id}/parts/1`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}` },
        body: trickle
      }).then(async (response) => ({ status: response.status, body: await response.json() }))
      for (let i = 0; i < 400 && (await timed.sql("SELECT 1 FROM upload_parts WHERE session_id = $1", [id])).length === 0; i++) {
        await Bun.sleep(5)
      }
      const reply = await timed.advanceUntilSettled(() => pending, "10 seconds")
      expect(reply.status).toBe(408)
      expect(reply.body).toMatchObject({ _tag: "BodyStalled", idle_seconds: 30 })
      // the claim is given up and nothing was counted
      expect(await timed.sql("SELECT 1 FROM upload_parts WHERE session_id = $1", [id])).toHaveLength(0)
      expect((await timed.getSession(token, id)).body).toMatchObject({ received_parts_count: 0, status: "INIT" })
    } finally {
      await timed.close()
    }
  })
})
