import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let alice: { token: string; user: { id: string } }
let bob: { token: string; user: { id: string } }
let admin: { token: string; user: { id: string } }

beforeAll(async () => {
  app = await startTestApp({
    env: {
      UPLOAD_MAX_FILE_SIZE: "100000",
      UPLOAD_CHUNK_SIZE_MIN: "10",
      UPLOAD_CHUNK_SIZE_DEFAULT: "1000",
      UPLOAD_CHUNK_SIZE_MAX: "10000",
      UPLOAD_ALLOWED_CONTENT_TYPES: "application/octet-stream, text/plain, image/*"
    }
  })
  alice = await app.createUser()
  bob = await app.createUser()
  admin = await app.createUser({ admin: true })
})
afterAll(() => app.close())

describe("POST /uploads/sessions", () => {
  it("creates a file and a session with total_parts = ceil(total / chunk), 201 and Location", async () => {
    const reply = await app.createSession(alice.token, { total_size_bytes: 100, chunk_size_bytes: 10 })
    expect(reply.status).toBe(201)
    expect(reply.headers.get("location")).toBe(`/uploads/sessions/${reply.body.id}`)
    expect(reply.body).toMatchObject({
      status: "INIT",
      total_size_bytes: 100,
      chunk_size_bytes: 10,
      total_parts: 10,
      received_parts_count: 0,
      received_bytes: 0,
      received_parts: [],
      missing_parts: [[1, 10]],
      part_url_template: `/uploads/sessions/${reply.body.id}/parts/{part_number}`,
      file: { status: "UPLOADING", original_filename: "file.bin", uploaded_by: alice.user.id }
    })
    const [row] = await app.sql("SELECT s.status, f.status AS file_status FROM upload_sessions s JOIN files f ON f.id = s.file_id WHERE s.id = $1", [reply.body.id])
    expect(row).toEqual({ status: "INIT", file_status: "UPLOADING" })
  })

  it("tells the client the limits that apply and the quota that remains", async () => {
    const reply = await app.createSession(alice.token, { total_size_bytes: 500 })
    expect(reply.body.chunk_size_bytes).toBe(1000)
    expect(reply.body.limits).toEqual({
      max_file_size_bytes: 100000,
      chunk_size_default_bytes: 1000,
      chunk_size_min_bytes: 10,
      chunk_size_max_bytes: 10000,
      allowed_content_types: ["application/octet-stream", "text/plain", "image/*"],
      session_ttl_seconds: 3600
    })
    expect(reply.body.quota.reserved_bytes).toBeGreaterThanOrEqual(500)
    expect(reply.body.quota.remaining_bytes).toBe(
      reply.body.quota.limit_bytes - reply.body.quota.used_bytes - reply.body.quota.reserved_bytes
    )
  })

  it("answers 413 above the maximum file size", async () => {
    const reply = await app.createSession(alice.token, { total_size_bytes: 100001 })
    expect(reply.status).toBe(413)
    expect(reply.body).toMatchObject({ _tag: "FileTooLarge", max_file_size_bytes: 100000 })
  })

  it("answers 415 for a content type outside the allow-list, accepting type/* matches", async () => {
    const refused = await app.createSession(alice.token, { total_size_bytes: 10, content_type: "video/mp4" })
    expect(refused.status).toBe(415)
    expect(refused.body._tag).toBe("UnsupportedContentType")
    const accepted = await app.createSession(alice.token, { total_size_bytes: 10, content_type: "image/png" })
    expect(accepted.status).toBe(201)
  })

  it("answers 400 for sizes that are zero, negative or not integers", async () => {
    for (const total_size_bytes of [0, -5, 1.5, "12"]) {
      const reply = await app.createSession(alice.token, { total_size_bytes })
      expect(reply.status).toBe(400)
      expect(reply.body._tag).toBe("HttpApiDecodeError")
    }
  })

  it("answers 400 for chunk sizes outside the configured bounds", async () => {
    for (const chunk_size_bytes of [9, 10001]) {
      const reply = await app.createSession(alice.token, { total_size_bytes: 100, chunk_size_bytes })
      expect(reply.status).toBe(400)
      expect(reply.body).toMatchObject({ _tag: "ChunkSizeOutOfBounds", min_bytes: 10, max_bytes: 10000 })
    }
  })

  it("answers 400 for a body that is not JSON, and never echoes a large body", async () => {
    const broken = await app.request("POST", "/uploads/sessions", {
      token: alice.token,
      headers: { "content-type": "application/json" },
      body: "{not json"
    })
    expect(broken.status).toBe(400)
    const huge = await app.createSession(alice.token, { total_size_bytes: "9".repeat(200_000) })
    expect(huge.status).toBe(400)
    expect(JSON.stringify(huge.body).length).toBeLessThan(2000)
  })

  it("answers 400 for metadata above 16 KiB of JSON", async () => {
    const reply = await app.createSession(alice.token, { total_size_bytes: 10, metadata: { notes: "x".repeat(17 * 1024) } })
    expect(reply.status).toBe(400)
    expect(reply.body._tag).toBe("HttpApiDecodeError")
    expect(reply.body.message).toContain("16384 bytes")
    expect((await app.createSession(alice.token, { total_size_bytes: 10, metadata: { notes: "x".repeat(1000) } })).status).toBe(201)
  })

  it("needs a token", async () => {
    const reply = await app.request("POST", "/uploads/sessions", { json: { filename: "a", content_type: "text/plain", total_size_bytes: 1 } })
    expect(reply.status).toBe(401)
    expect(reply.body._tag).toBe("Unauthorized")
  })
})

describe("Idempotency-Key", () => {
  const request = { total_size_bytes: 100, chunk_size_bytes: 10, metadata: { a: 1, b: [1, 2] } }

  it("returns the same session with 200 when the same request is replayed", async () => {
    const first = await app.createSession(alice.token, request, { "idempotency-key": "replay-1" })
    const again = await app.createSession(alice.token, { ...request, metadata: { b: [1, 2], a: 1 } }, { "idempotency-key": "replay-1" })
    expect(first.status).toBe(201)
    expect(again.status).toBe(200)
    expect(again.body.id).toBe(first.body.id)
  })

  it("answers 409 when the key is reused for another request", async () => {
    const first = await app.createSession(alice.token, request, { "idempotency-key": "reuse-1" })
    const other = await app.createSession(alice.token, { ...request, total_size_bytes: 101 }, { "idempotency-key": "reuse-1" })
    expect(other.status).toBe(409)
    expect(other.body).toMatchObject({ _tag: "IdempotencyConflict", session_id: first.body.id })
  })

  it("keeps keys per user", async () => {
    const mine = await app.createSession(alice.token, request, { "idempotency-key": "shared-key" })
    const theirs = await app.createSession(bob.token, request, { "idempotency-key": "shared-key" })
    expect(theirs.status).toBe(201)
    expect(theirs.body.id).not.toBe(mine.body.id)
  })

  it("creates exactly one session when the same request races with itself", async () => {
    const replies = await Promise.all(
      Array.from({ length: 10 }, () => app.createSession(alice.token, request, { "idempotency-key": "race-same" }))
    )
    expect(replies.filter((r) => r.status === 201)).toHaveLength(1)
    expect(replies.filter((r) => r.status === 200)).toHaveLength(9)
    expect(new Set(replies.map((r) => r.body.id)).size).toBe(1)
    const [row] = await app.sql("SELECT count(*)::int AS n FROM upload_sessions WHERE idempotency_key = 'race-same'")
    expect(row?.n).toBe(1)
  })

  it("lets one of two different racing requests win and refuses the other with 409", async () => {
    const replies = await Promise.all(
      [100, 200, 100, 200, 100, 200].map((total_size_bytes) =>
        app.createSession(alice.token, { total_size_bytes }, { "idempotency-key": "race-diff" }))
    )
    const winners = replies.filter((r) => r.status === 201)
    expect(winners).toHaveLength(1)
    const winnerSize = winners[0]?.body.total_size_bytes
    for (const reply of replies) {
      if (reply.status === 201) continue
      const sameRequest = reply.status === 200
      expect(reply.status).toBe(sameRequest ? 200 : 409)
    }
    expect(replies.filter((r) => r.status === 200).every((r) => r.body.total_size_bytes === winnerSize)).toBe(true)
    expect(replies.filter((r) => r.status === 409)).toHaveLength(3)
  })
})

describe("GET /uploads/sessions/{id}", () => {
  it("shows the owner everything needed to resume", async () => {
    const created = await app.createSession(alice.token, { total_size_bytes: 30, chunk_size_bytes: 10 })
    await app.putPart(alice.token, created.body.id, 2, new Uint8Array(10))
    const reply = await app.getSession(alice.token, created.body.id)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      status: "IN_PROGRESS",
      received_parts_count: 1,
      received_bytes: 10,
      received_parts: [[2, 2]],
      missing_parts: [[1, 1], [3, 3]],
      expired: false
    })
    expect(Date.parse(reply.body.expires_at)).toBeGreaterThan(Date.now())
  })

  it("answers 403 to another user, lets an admin read it, and 404 for unknown ids", async () => {
    const created = await app.createSession(alice.token, { total_size_bytes: 30 })
    expect((await app.getSession(bob.token, created.body.id)).status).toBe(403)
    expect((await app.getSession(admin.token, created.body.id)).status).toBe(200)
    const missing = await app.getSession(alice.token, "01a1fe79-aff9-7194-bb7c-cfa96a14c98f")
    expect(missing.status).toBe(404)
    expect(missing.body).toMatchObject({ _tag: "NotFound", resource: "session" })
    expect((await app.getSession(alice.token, "not-a-uuid")).status).toBe(400)
  })

  it("keeps 10,000 parts compact", async () => {
    const wide = await startTestApp({ env: { UPLOAD_CHUNK_SIZE_MIN: "1", UPLOAD_CHUNK_SIZE_DEFAULT: "1" } })
    try {
      const { token } = await wide.createUser()
      const created = await wide.createSession(token, { total_size_bytes: 10_000, chunk_size_bytes: 1 })
      expect(created.body.total_parts).toBe(10_000)
      await Promise.all([1, 2, 5000, 10_000].map((n) => wide.putPart(token, created.body.id, n, new Uint8Array(1))))
      const reply = await wide.getSession(token, created.body.id)
      expect(reply.body.received_parts).toEqual([[1, 2], [5000, 5000], [10_000, 10_000]])
      expect(reply.body.missing_parts).toEqual([[3, 4999], [5001, 9999]])
      expect(JSON.stringify(reply.body).length).toBeLessThan(3000)
      const tooMany = await wide.createSession(token, { total_size_bytes: 10_001, chunk_size_bytes: 1 })
      expect(tooMany.status).toBe(400)
    } finally {
      await wide.close()
    }
  })
})

describe("GET /uploads/sessions", () => {
  it("lists the caller's sessions newest first, filtered and paginated", async () => {
    const carol = await app.createUser()
    const ids: Array<string> = []
    for (let i = 0; i < 5; i++) ids.push((await app.createSession(carol.token, { total_size_bytes: 10 })).body.id)
    await app.request("DELETE", `/uploads/sessions/${ids[0]}`, { token: carol.token })

    const page1 = await app.request("GET", "/uploads/sessions?limit=2", { token: carol.token })
    expect(page1.body.items.map((s: { id: string }) => s.id)).toEqual([ids[4], ids[3]])
    const page2 = await app.request("GET", `/uploads/sessions?limit=2&cursor=${page1.body.next_cursor}`, { token: carol.token })
    expect(page2.body.items.map((s: { id: string }) => s.id)).toEqual([ids[2], ids[1]])
    const page3 = await app.request("GET", `/uploads/sessions?limit=2&cursor=${page2.body.next_cursor}`, { token: carol.token })
    expect(page3.body.items.map((s: { id: string }) => s.id)).toEqual([ids[0]])
    expect(page3.body.next_cursor).toBeNull()

    const aborted = await app.request("GET", "/uploads/sessions?status=ABORTED", { token: carol.token })
    expect(aborted.body.items.map((s: { id: string }) => s.id)).toEqual([ids[0]])
    const active = await app.request("GET", "/uploads/sessions?status=active", { token: carol.token })
    expect(active.body.items).toHaveLength(4)
    expect(active.body.items[0]).toMatchObject({ filename: "file.bin", status: "INIT", expired: false })
  })

  it("shows another user's sessions to admins only", async () => {
    const dave = await app.createUser()
    await app.createSession(dave.token, { total_size_bytes: 10 })
    const asAdmin = await app.request("GET", `/uploads/sessions?user_id=${dave.user.id}`, { token: admin.token })
    expect(asAdmin.status).toBe(200)
    expect(asAdmin.body.items).toHaveLength(1)
    const asBob = await app.request("GET", `/uploads/sessions?user_id=${dave.user.id}`, { token: bob.token })
    expect(asBob.status).toBe(403)
  })
})
