import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect } from "effect"
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import type { StorageShape } from "../src/Storage/Storage"
import { bytes, localObjectBytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

/** Final objects completed (however many parts were appended in the background before). */
let assemblies = 0
const countAssemblies = (storage: StorageShape): StorageShape => ({
  ...storage,
  complete: (input) => Effect.zipRight(Effect.sync(() => assemblies++), storage.complete(input))
})

let app: TestApp
let alice: { token: string }
let bob: { token: string }

beforeAll(async () => {
  app = await startTestApp({ wrapStorage: countAssemblies })
  alice = await app.createUser()
  bob = await app.createUser()
})
afterAll(() => app.close())

/** Creates a session over `data` in parts of `chunk` bytes and uploads every part but `skip`. */
const upload = async (
  target: TestApp,
  token: string,
  data: Uint8Array,
  chunk: number,
  options: { readonly skip?: ReadonlyArray<number>; readonly sha256?: string } = {}
) => {
  const created = await target.createSession(token, {
    total_size_bytes: data.byteLength,
    chunk_size_bytes: chunk,
    ...(options.sha256 === undefined ? {} : { sha256: options.sha256 })
  })
  expect(created.status).toBe(201)
  const id: string = created.body.id
  const parts = Math.ceil(data.byteLength / chunk)
  // reverse order, to show assembly follows part numbers and not arrival
  for (let n = parts; n >= 1; n--) {
    if (options.skip?.includes(n)) continue
    const reply = await target.putPart(token, id, n, data.subarray((n - 1) * chunk, n * chunk))
    expect(reply.status).toBe(200)
  }
  return id
}

const partFiles = (sessionId: string) =>
  readdir(join(app.dataDir, "storage", "parts", sessionId)).catch(() => [] as Array<string>)

describe("POST /uploads/sessions/{id}/complete", () => {
  it("assembles the parts in order, stores the file with its SHA-256 and deletes the parts", async () => {
    const data = bytes(1000, 42)
    const id = await upload(app, alice.token, data, 64)
    const reply = await app.complete(alice.token, id)
    expect(reply.status).toBe(200)
    expect(reply.body).toMatchObject({
      status: "COMPLETE",
      received_parts_count: 16,
      missing_parts: [],
      file: { status: "STORED", sha256: sha256Hex(data), size_bytes: 1000, storage_backend: "local" }
    })
    const key: string = reply.body.file.storage_key
    expect(sha256Hex(await localObjectBytes(app.dataDir, key))).toBe(sha256Hex(data))
    expect(await partFiles(id)).toEqual([])

    const [file] = await app.sql("SELECT status, sha256, size_bytes, storage_key, stored_at IS NOT NULL AS stamped FROM files WHERE id = $1", [reply.body.file_id])
    expect(file).toEqual({ status: "STORED", sha256: sha256Hex(data), size_bytes: 1000, storage_key: key, stamped: true })
    const events = await app.sql("SELECT event_type, idempotency_key, status, payload FROM outbox_events WHERE file_id = $1", [reply.body.file_id])
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ event_type: "file.stored", idempotency_key: reply.body.file_id, status: "PENDING" })
    expect(events[0]?.payload.file).toMatchObject({ id: reply.body.file_id, sha256: sha256Hex(data), status: "STORED" })
  })

  it("accepts an empty body, {} or a matching sha256", async () => {
    const data = bytes(20, 1)
    const id = await upload(app, alice.token, data, 10)
    const reply = await app.request("POST", `/uploads/sessions/${id}/complete`, {
      token: alice.token,
      json: { sha256: sha256Hex(data).toUpperCase() }
    })
    expect(reply.status).toBe(200)
    expect((await app.complete(alice.token, id, {})).status).toBe(200)
  })

  it("answers 409 listing the missing parts", async () => {
    const id = await upload(app, alice.token, bytes(100), 10, { skip: [2, 3, 7] })
    const reply = await app.complete(alice.token, id)
    expect(reply.status).toBe(409)
    expect(reply.body).toMatchObject({ _tag: "MissingParts", missing_parts: [[2, 3], [7, 7]], missing_count: 3 })
    expect((await app.getSession(alice.token, id)).body.status).toBe("IN_PROGRESS")
  })

  it("fails the file and the session with 422 when the whole-file SHA-256 differs", async () => {
    const data = bytes(30, 5)
    const expected = sha256Hex(bytes(30, 6))
    const id = await upload(app, alice.token, data, 10, { sha256: expected })
    const reply = await app.complete(alice.token, id)
    expect(reply.status).toBe(422)
    expect(reply.body).toMatchObject({ _tag: "ChecksumMismatch", scope: "file", expected_sha256: expected, actual_sha256: sha256Hex(data) })
    const view = await app.getSession(alice.token, id)
    expect(view.body).toMatchObject({ status: "FAILED", failure_reason: "checksum_mismatch", file: { status: "FAILED" } })
    expect(await partFiles(id)).toEqual([])
    const again = await app.complete(alice.token, id)
    expect(again.status).toBe(422)
    expect(again.body.actual_sha256).toBe(sha256Hex(data))
    expect(await app.sql("SELECT 1 FROM outbox_events WHERE file_id = $1", [view.body.file_id])).toHaveLength(0)
  })

  it("verifies a sha256 first given at complete, and refuses one that contradicts creation", async () => {
    const data = bytes(30, 8)
    const late = await upload(app, alice.token, data, 10)
    const mismatch = await app.complete(alice.token, late, { sha256: sha256Hex(bytes(30, 9)) })
    expect(mismatch.status).toBe(422)
    expect(mismatch.body).toMatchObject({ scope: "file", actual_sha256: sha256Hex(data) })
    // a digest given only at complete may be a typo: the session stays completable with the right one
    expect((await app.getSession(alice.token, late)).body.status).toBe("IN_PROGRESS")
    const corrected = await app.complete(alice.token, late, { sha256: sha256Hex(data) })
    expect(corrected.status).toBe(200)
    expect(corrected.body.file).toMatchObject({ status: "STORED", sha256: sha256Hex(data) })

    const declared = await upload(app, alice.token, data, 10, { sha256: sha256Hex(data) })
    const contradiction = await app.complete(alice.token, declared, { sha256: sha256Hex(bytes(30, 9)) })
    expect(contradiction.status).toBe(400)
    expect((await app.getSession(alice.token, declared)).body.status).toBe("IN_PROGRESS")
    expect((await app.complete(alice.token, declared)).status).toBe(200)
  })

  it("returns the same result when called again, without assembling again", async () => {
    const id = await upload(app, alice.token, bytes(50, 3), 10)
    const before = assemblies
    const first = await app.complete(alice.token, id)
    const second = await app.complete(alice.token, id)
    expect(second.status).toBe(200)
    expect(second.body.file).toEqual(first.body.file)
    expect(assemblies - before).toBe(1)
  })

  it("assembles once when ten completes arrive at the same moment", async () => {
    const data = bytes(4096, 77)
    const id = await upload(app, alice.token, data, 256)
    const before = assemblies
    const replies = await Promise.all(Array.from({ length: 10 }, () => app.complete(alice.token, id)))
    expect(replies.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(new Set(replies.map((r) => JSON.stringify(r.body.file))).size).toBe(1)
    expect(assemblies - before).toBe(1)
    const events = await app.sql("SELECT count(*)::int AS n FROM outbox_events WHERE file_id = $1", [replies[0]?.body.file_id])
    expect(events[0]?.n).toBe(1)
  })

  it("assembles once when two instances complete the same session at the same moment", async () => {
    const second = await startTestApp({
      wrapStorage: countAssemblies,
      shareWith: { database: app.database, dataDir: app.dataDir }
    })
    try {
      const data = bytes(8192, 78)
      const id = await upload(app, alice.token, data, 512)
      const before = assemblies
      const replies = await Promise.all([
        app.complete(alice.token, id),
        second.complete(alice.token, id),
        app.complete(alice.token, id),
        second.complete(alice.token, id)
      ])
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200])
      expect(new Set(replies.map((r) => r.body.file.sha256))).toEqual(new Set([sha256Hex(data)]))
      expect(assemblies - before).toBe(1)
    } finally {
      await second.close()
    }
  })

  it("answers 409 after abort, and refuses to abort a completed session", async () => {
    const aborted = await upload(app, alice.token, bytes(20), 10)
    const abort = await app.request("DELETE", `/uploads/sessions/${aborted}`, { token: alice.token })
    expect(abort.status).toBe(200)
    expect(abort.body).toMatchObject({ status: "ABORTED", file: { status: "FAILED" } })
    expect(await partFiles(aborted)).toEqual([])
    const complete = await app.complete(alice.token, aborted)
    expect(complete.status).toBe(409)
    expect(complete.body).toMatchObject({ _tag: "SessionNotWritable", status: "ABORTED" })

    const done = await upload(app, alice.token, bytes(20), 10)
    await app.complete(alice.token, done)
    const late = await app.request("DELETE", `/uploads/sessions/${done}`, { token: alice.token })
    expect(late.status).toBe(409)
    expect((await app.getSession(alice.token, done)).body.file.status).toBe("STORED")
  })

  it("answers 403 for another user's session", async () => {
    const id = await upload(app, alice.token, bytes(20), 10)
    expect((await app.complete(bob.token, id)).status).toBe(403)
    expect((await app.request("DELETE", `/uploads/sessions/${id}`, { token: bob.token })).status).toBe(403)
  })
})

describe("a finalize whose instance died", () => {
  it("is taken over by another complete once its lease has lapsed in database time", async () => {
    const { token } = await app.createUser()
    const data = bytes(100, 9)
    const id = await upload(app, token, data, 10)
    // as if another instance had started assembling and then been killed
    const [held] = await app.sql<{ until: string }>(
      `UPDATE upload_sessions SET finalize_holder = $2, finalize_lease_until = now() + interval '1200 milliseconds'
        WHERE id = $1 RETURNING finalize_lease_until AS until`,
      [id, Bun.randomUUIDv7()]
    )
    const before = assemblies
    const reply = await app.complete(token, id)
    const [after] = await app.sql<{ at: string }>("SELECT now() AS at")
    // complete waited for the dead holder's lease, then took over and assembled once
    expect(new Date(after?.at ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(held?.until ?? Infinity).getTime())
    expect(reply.status).toBe(200)
    expect(reply.body.file.sha256).toBe(sha256Hex(data))
    expect(assemblies - before).toBe(1)
  })

  it("answers 409 FinalizeInProgress with Retry-After while a live holder keeps its lease", async () => {
    const { token } = await app.createUser()
    const id = await upload(app, token, bytes(30, 4), 10)
    const holder = Bun.randomUUIDv7()
    await app.sql(
      "UPDATE upload_sessions SET finalize_holder = $2, finalize_lease_until = now() + interval '1 hour' WHERE id = $1",
      [id, holder]
    )
    const waiting = await startTestApp({
      shareWith: { database: app.database, dataDir: app.dataDir },
      env: { UPLOAD_FINALIZE_WAIT: "1" }
    })
    try {
      const reply = await waiting.complete(token, id)
      expect(reply.status).toBe(409)
      expect(reply.body._tag).toBe("FinalizeInProgress")
      expect(Number(reply.headers.get("retry-after"))).toBeGreaterThan(0)
      expect((await app.getSession(token, id)).body.status).toBe("IN_PROGRESS")
    } finally {
      await waiting.close()
    }
  })
})
