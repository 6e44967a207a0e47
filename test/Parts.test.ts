import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { readdir } from "node:fs/promises"
import { connect } from "node:net"
import { join } from "node:path"
import { contentDigestOf } from "../src/Domain/Checksum"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let alice: { token: string }
let bob: { token: string }

beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_CHUNK_SIZE_MIN: "4" } })
  alice = await app.createUser()
  bob = await app.createUser()
})
afterAll(() => app.close())

/** A session of `parts` parts of `chunk` bytes each (the last may be shorter via `total`). */
const newSession = async (total: number, chunk: number, token = alice.token) => {
  const reply = await app.createSession(token, { total_size_bytes: total, chunk_size_bytes: chunk })
  expect(reply.status).toBe(201)
  return reply.body.id as string
}

/** The session's parts as recorded: received ones, and claims of uploads in progress. */
const partRows = (sessionId: string) =>
  app.sql<{ part_number: number; status: string; sha256: string; temp_key: string; byte_offset: number }>(
    "SELECT part_number, status, sha256, temp_key, byte_offset FROM upload_parts WHERE session_id = $1 ORDER BY part_number",
    [sessionId]
  )

const counters = async (sessionId: string) =>
  (await app.sql("SELECT status, received_parts_count, received_bytes FROM upload_sessions WHERE id = $1", [sessionId]))[0]

/** What the session's staging folder holds. */
const stagedFiles = async (sessionId: string) =>
  readdir(join(app.dataDir, "storage", "parts", sessionId)).catch(() => [] as Array<string>)

/** The bytes at a recorded part's place. */
/** The bytes of a recorded part: its claim wrote them into a file of its own. */
const storedBytes = async (part: { temp_key: string }, size: number) =>
  Bun.file(join(app.dataDir, "storage", part.temp_key)).slice(0, size).bytes()

describe("PUT /uploads/sessions/{id}/parts/{n}", () => {
  it("stores a part, hashes it and moves the session to IN_PROGRESS", async () => {
    const id = await newSession(30, 10)
    const data = bytes(10, 1)
    const reply = await app.putPart(alice.token, id, 1, data)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      part_number: 1,
      size_bytes: 10,
      sha256: sha256Hex(data),
      already_received: false,
      session_status: "IN_PROGRESS",
      received_parts_count: 1,
      received_bytes: 10,
      total_parts: 3
    })
    expect(reply.headers.get("etag")).toBe(`"${sha256Hex(data)}"`)
    expect(await counters(id)).toEqual({ status: "IN_PROGRESS", received_parts_count: 1, received_bytes: 10 })
  })

  it("accepts part 5 before part 1", async () => {
    const id = await newSession(50, 10)
    expect((await app.putPart(alice.token, id, 5, bytes(10, 5))).status).toBe(200)
    expect((await app.putPart(alice.token, id, 1, bytes(10, 1))).status).toBe(200)
    expect((await partRows(id)).map((p) => p.part_number)).toEqual([1, 5])
  })

  it("accepts the same part with the same bytes again, counted once", async () => {
    const id = await newSession(30, 10)
    const data = bytes(10, 7)
    await app.putPart(alice.token, id, 2, data)
    const again = await app.putPart(alice.token, id, 2, data)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ already_received: true, received_parts_count: 1, received_bytes: 10 })
    expect(await counters(id)).toMatchObject({ received_parts_count: 1, received_bytes: 10 })
    expect(await partRows(id)).toHaveLength(1)
  })

  it("answers 409 naming both hashes when the part arrives with other bytes, and keeps the stored part", async () => {
    const id = await newSession(30, 10)
    const original = bytes(10, 1)
    const other = bytes(10, 2)
    await app.putPart(alice.token, id, 1, original)
    const [before] = await partRows(id)
    const reply = await app.putPart(alice.token, id, 1, other)
    expect(reply.status).toBe(409)
    expect(reply.body).toMatchObject({
      _tag: "PartConflict",
      part_number: 1,
      stored_sha256: sha256Hex(original),
      received_sha256: sha256Hex(other)
    })
    expect(await partRows(id)).toEqual([before!])
    expect(sha256Hex(await storedBytes(before!, 10))).toBe(sha256Hex(original))
    expect(await counters(id)).toMatchObject({ received_parts_count: 1, received_bytes: 10 })
  })

  it("answers 422 when a part is not its expected size, and 413 when it is longer", async () => {
    const id = await newSession(25, 10)
    const short = await app.putPart(alice.token, id, 1, bytes(9))
    expect(short.status).toBe(422)
    expect(short.body).toMatchObject({ _tag: "PartSizeMismatch", expected_size_bytes: 10, received_size_bytes: 9 })
    const long = await app.putPart(alice.token, id, 1, bytes(11))
    expect(long.status).toBe(413)
    expect(long.body).toMatchObject({ _tag: "PartTooLarge", expected_size_bytes: 10 })
    const lastTooLong = await app.putPart(alice.token, id, 3, bytes(10))
    expect(lastTooLong.status).toBe(413)
    const empty = await app.putPart(alice.token, id, 3, new Uint8Array(0))
    expect(empty.status).toBe(422)
    expect((await app.putPart(alice.token, id, 3, bytes(5))).status).toBe(200)
    expect(await partRows(id)).toHaveLength(1)
  })

  it("answers 422 for part numbers outside 1..total_parts and 400 for ones that are not integers", async () => {
    const id = await newSession(20, 10)
    for (const n of [0, 3, -1]) {
      const reply = await app.putPart(alice.token, id, n, bytes(10))
      expect(reply.status).toBe(422)
      expect(reply.body).toMatchObject({ _tag: "PartNumberOutOfRange", total_parts: 2 })
    }
    expect((await app.putPart(alice.token, id, "one", bytes(10))).status).toBe(400)
    expect((await app.putPart(alice.token, id, "1.5", bytes(10))).status).toBe(400)
    expect(await partRows(id)).toHaveLength(0)
    expect(await stagedFiles(id)).toEqual([])
  })

  it("verifies a Content-Digest or X-Part-Sha256 header", async () => {
    const id = await newSession(20, 10)
    const data = bytes(10, 3)
    const wrong = await app.putPart(alice.token, id, 1, data, { "content-digest": contentDigestOf(sha256Hex(bytes(10, 4))) })
    expect(wrong.status).toBe(422)
    expect(wrong.body).toMatchObject({ _tag: "ChecksumMismatch", scope: "part", actual_sha256: sha256Hex(data) })
    const wrongHex = await app.putPart(alice.token, id, 1, data, { "x-part-sha256": sha256Hex(bytes(10, 4)) })
    expect(wrongHex.status).toBe(422)
    const malformed = await app.putPart(alice.token, id, 1, data, { "x-part-sha256": "abc" })
    expect(malformed.status).toBe(400)
    expect(await partRows(id)).toHaveLength(0)
    const right = await app.putPart(alice.token, id, 1, data, { "content-digest": contentDigestOf(sha256Hex(data)) })
    expect(right.status).toBe(200)
    const rightHex = await app.putPart(alice.token, id, 2, bytes(10, 5), { "x-part-sha256": sha256Hex(bytes(10, 5)).toUpperCase() })
    expect(rightHex.status).toBe(200)
  })

  it("counts 20 concurrently uploaded parts exactly", async () => {
    const id = await newSession(20 * 64 - 7, 64)
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => app.putPart(alice.token, id, i + 1, bytes(i === 19 ? 57 : 64, i + 1)))
    )
    expect(replies.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(await counters(id)).toEqual({ status: "IN_PROGRESS", received_parts_count: 20, received_bytes: 20 * 64 - 7 })
    expect(await partRows(id)).toHaveLength(20)
  })

  it("counts the same part sent concurrently with the same bytes once", async () => {
    const id = await newSession(20, 10)
    const data = bytes(10, 9)
    const replies = await Promise.all(Array.from({ length: 8 }, () => app.putPart(alice.token, id, 1, data)))
    expect(replies.every((r) => r.status === 200)).toBe(true)
    expect(replies.filter((r) => r.body.already_received === false)).toHaveLength(1)
    expect(await counters(id)).toMatchObject({ received_parts_count: 1, received_bytes: 10 })
    expect(await partRows(id)).toHaveLength(1)
  })

  it("keeps exactly one version when the same part races with different bytes", async () => {
    const id = await newSession(20, 10)
    const versions = Array.from({ length: 6 }, (_, i) => bytes(10, 100 + i))
    const replies = await Promise.all(versions.map((data) => app.putPart(alice.token, id, 2, data)))
    const winners = replies.filter((r) => r.status === 200)
    expect(winners).toHaveLength(1)
    expect(replies.filter((r) => r.status === 409)).toHaveLength(5)
    const [row] = await partRows(id)
    expect(row?.sha256).toBe(winners[0]?.body.sha256)
    expect(sha256Hex(await storedBytes(row!, 10))).toBe(row!.sha256)
  })

  it("leaves nothing behind when the body is cut off mid-way", async () => {
    const id = await newSession(1000, 500)
    const url = new URL(app.baseUrl)
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT /uploads/sessions/${id}/parts/1 HTTP/1.1\r\nHost: ${url.host}\r\n` +
            `Authorization: Bearer ${alice.token}\r\nContent-Type: application/octet-stream\r\nContent-Length: 500\r\n\r\n`
        )
        socket.write(bytes(200))
        setTimeout(() => socket.destroy(), 200)
      })
      socket.on("close", () => resolve())
      socket.on("error", reject)
    })
    // the server learns of the disconnect asynchronously; wait until its handler gave the part up
    for (let i = 0; i < 100 && (await partRows(id)).length > 0; i++) await Bun.sleep(20)
    expect(await partRows(id)).toHaveLength(0)
    expect((await app.getSession(alice.token, id)).body.received_parts).toEqual([])
    expect(await counters(id)).toEqual({ status: "INIT", received_parts_count: 0, received_bytes: 0 })
    expect((await app.putPart(alice.token, id, 1, bytes(500))).status).toBe(200)
  })

  it("answers 413 to an endless body without reading it all", async () => {
    const id = await newSession(1 << 20, 1 << 20)
    let sent = 0
    const limit = 256 << 20
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= limit) return controller.close()
        sent += 64 << 10
        controller.enqueue(new Uint8Array(64 << 10))
      }
    })
    const response = await fetch(`${app.baseUrl}/uploads/sessions/${id}/parts/1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${alice.token}` },
      body
    })
    expect(response.status).toBe(413)
    expect(sent).toBeLessThan(limit)
    expect(await partRows(id)).toHaveLength(0)
  })

  it("answers 409 after abort and after completion, and 403 for another user's session", async () => {
    const aborted = await newSession(20, 10)
    await app.request("DELETE", `/uploads/sessions/${aborted}`, { token: alice.token })
    const afterAbort = await app.putPart(alice.token, aborted, 1, bytes(10))
    expect(afterAbort.status).toBe(409)
    expect(afterAbort.body).toMatchObject({ _tag: "SessionNotWritable", status: "ABORTED" })

    const done = await newSession(10, 10)
    await app.putPart(alice.token, done, 1, bytes(10))
    expect((await app.complete(alice.token, done)).status).toBe(200)
    const afterComplete = await app.putPart(alice.token, done, 1, bytes(10))
    expect(afterComplete.status).toBe(409)
    expect(afterComplete.body).toMatchObject({ _tag: "SessionNotWritable", status: "COMPLETE" })

    const theirs = await newSession(10, 10, bob.token)
    expect((await app.putPart(alice.token, theirs, 1, bytes(10))).status).toBe(403)
  })
})

describe("session expiry (TestClock)", () => {
  let timed: TestApp
  let carol: { token: string }
  beforeAll(async () => {
    timed = await startTestApp({ testClock: true, env: { UPLOAD_SESSION_TTL: "600" } })
    carol = await timed.createUser()
  })
  afterAll(() => timed.close())

  it("refreshes expires_at with each received part and answers 410 once it has passed", async () => {
    const created = await timed.createSession(carol.token, { total_size_bytes: 20, chunk_size_bytes: 10 })
    const id = created.body.id
    const createdExpiry = Date.parse(created.body.expires_at)
    await timed.advance("500 seconds")
    const first = await timed.putPart(carol.token, id, 1, bytes(10))
    expect(Date.parse(first.body.expires_at)).toBe(createdExpiry + 500_000)

    await timed.advance("599 seconds")
    expect((await timed.getSession(carol.token, id)).body.expired).toBe(false)
    await timed.advance("1 second")
    const late = await timed.putPart(carol.token, id, 2, bytes(10))
    expect(late.status).toBe(410)
    expect(late.body).toMatchObject({ _tag: "SessionExpired", session_id: id })
    const complete = await timed.complete(carol.token, id)
    expect(complete.status).toBe(410)
    const view = await timed.getSession(carol.token, id)
    expect(view.status).toBe(200)
    expect(view.body).toMatchObject({ status: "IN_PROGRESS", expired: true, received_parts_count: 1 })
  })
})

describe("one upload at a time per part", () => {
  it("lets a retry that arrives mid-upload wait for it, then compare", async () => {
    const id = await newSession(20, 10)
    const data = bytes(10, 41)
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    // the first upload sends half the part, then stalls until released
    let step = 0
    const slow = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (step === 0) controller.enqueue(data.subarray(0, 5))
        else if (step === 1) {
          await released
          controller.enqueue(data.subarray(5))
        } else controller.close()
        step++
      }
    })
    const first = fetch(`${app.baseUrl}/uploads/sessions/${id}/parts/1`, {
      method: "PUT",
      headers: { authorization: `Bearer ${alice.token}` },
      body: slow
    })
    // wait until the first upload holds the part's claim
    for (let i = 0; i < 200 && (await partRows(id)).length === 0; i++) await Bun.sleep(5)
    expect((await partRows(id))[0]?.status).toBe("PENDING")
    const same = app.putPart(alice.token, id, 1, data)
    const other = app.putPart(alice.token, id, 1, bytes(10, 42))
    release()
    expect((await first).status).toBe(200)
    const [sameReply, otherReply] = await Promise.all([same, other])
    expect(sameReply.status).toBe(200)
    expect(sameReply.body.already_received).toBe(true)
    expect(otherReply.status).toBe(409)
    expect(await counters(id)).toMatchObject({ received_parts_count: 1, received_bytes: 10 })
  })
})

describe("a claim left by an upload that died", () => {
  it("holds the part until it lapses in database time; then the part can be sent again", async () => {
    const id = await newSession(20, 10)
    // as if an instance had started writing part 1 and then been killed
    const [held] = await app.sql<{ until: string }>(
      `INSERT INTO upload_parts (id, session_id, part_number, status, byte_offset, claim_token, claim_expires_at, created_at)
       VALUES ($1, $2, 1, 'PENDING', 0, $3, now() + interval '1200 milliseconds', now())
       RETURNING claim_expires_at AS until`,
      [Bun.randomUUIDv7(), id, Bun.randomUUIDv7()]
    )
    const reply = await app.putPart(alice.token, id, 1, bytes(10, 3))
    const [after] = await app.sql<{ at: string }>("SELECT now() AS at")
    expect(new Date(after?.at ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(held?.until ?? Infinity).getTime())
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({ already_received: false, received_parts_count: 1 })
  })

  it("answers 409 PartInProgress when a live upload keeps the part past the wait", async () => {
    const id = await newSession(20, 10)
    await app.sql(
      `INSERT INTO upload_parts (id, session_id, part_number, status, byte_offset, claim_token, claim_expires_at, created_at)
       VALUES ($1, $2, 1, 'PENDING', 0, $3, now() + interval '1 hour', now())`,
      [Bun.randomUUIDv7(), id, Bun.randomUUIDv7()]
    )
    const impatient = await startTestApp({ shareWith: { database: app.database, dataDir: app.dataDir }, env: { UPLOAD_PART_WAIT: "1" } })
    try {
      const reply = await impatient.putPart(alice.token, id, 1, bytes(10, 3))
      expect(reply.status).toBe(409)
      expect(reply.body._tag).toBe("PartInProgress")
      expect(await counters(id)).toMatchObject({ received_parts_count: 0 })
    } finally {
      await impatient.close()
    }
  })
})
