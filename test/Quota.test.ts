import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
beforeAll(async () => {
  app = await startTestApp({ env: { UPLOAD_DEFAULT_QUOTA: "1000" } })
})
afterAll(() => app.close())

const quota = async (token: string) => (await app.request("GET", "/quota", { token })).body

describe("quota", () => {
  it("starts at the configured default", async () => {
    const { token } = await app.createUser()
    expect(await quota(token)).toEqual({ limit_bytes: 1000, used_bytes: 0, reserved_bytes: 0, remaining_bytes: 1000 })
  })

  it("accepts a session exactly at the limit and refuses one byte over with 429", async () => {
    const { token } = await app.createUser({ quota: 100 })
    const over = await app.createSession(token, { total_size_bytes: 101, chunk_size_bytes: 101 })
    expect(over.status).toBe(429)
    expect(over.body).toMatchObject({
      _tag: "QuotaExceeded",
      limit_bytes: 100,
      used_bytes: 0,
      reserved_bytes: 0,
      remaining_bytes: 100,
      requested_bytes: 101
    })
    const exact = await app.createSession(token, { total_size_bytes: 100, chunk_size_bytes: 100 })
    expect(exact.status).toBe(201)
    expect(exact.body.quota).toEqual({ limit_bytes: 100, used_bytes: 0, reserved_bytes: 100, remaining_bytes: 0 })
    const anyMore = await app.createSession(token, { total_size_bytes: 1 })
    expect(anyMore.status).toBe(429)
    expect(anyMore.body).toMatchObject({ reserved_bytes: 100, remaining_bytes: 0 })
  })

  it("lets exactly 5 of 10 concurrent creations through when the quota fits 5", async () => {
    const { token } = await app.createUser({ quota: 50 })
    const replies = await Promise.all(Array.from({ length: 10 }, () => app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })))
    expect(replies.filter((r) => r.status === 201)).toHaveLength(5)
    expect(replies.filter((r) => r.status === 429)).toHaveLength(5)
    expect(await quota(token)).toEqual({ limit_bytes: 50, used_bytes: 0, reserved_bytes: 50, remaining_bytes: 0 })
  })

  it("gives reserved bytes back on abort, and keeps a stored file's bytes as used", async () => {
    const { token } = await app.createUser({ quota: 100 })
    const aborted = await app.createSession(token, { total_size_bytes: 60, chunk_size_bytes: 60 })
    expect((await quota(token)).reserved_bytes).toBe(60)
    await app.request("DELETE", `/uploads/sessions/${aborted.body.id}`, { token })
    expect(await quota(token)).toEqual({ limit_bytes: 100, used_bytes: 0, reserved_bytes: 0, remaining_bytes: 100 })

    const stored = await app.createSession(token, { total_size_bytes: 40, chunk_size_bytes: 40 })
    await app.putPart(token, stored.body.id, 1, bytes(40))
    await app.complete(token, stored.body.id)
    expect(await quota(token)).toEqual({ limit_bytes: 100, used_bytes: 40, reserved_bytes: 0, remaining_bytes: 60 })
    expect((await app.createSession(token, { total_size_bytes: 61, chunk_size_bytes: 61 })).status).toBe(429)
    expect((await app.createSession(token, { total_size_bytes: 60, chunk_size_bytes: 60 })).status).toBe(201)
  })

  it("gives reserved bytes back when a session fails its checksum", async () => {
    const { token } = await app.createUser({ quota: 100 })
    const created = await app.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10, sha256: "0".repeat(64) })
    await app.putPart(token, created.body.id, 1, bytes(10))
    expect((await app.complete(token, created.body.id)).status).toBe(422)
    expect(await quota(token)).toEqual({ limit_bytes: 100, used_bytes: 0, reserved_bytes: 0, remaining_bytes: 100 })
  })

  it("keeps the reserved counter equal to the open sessions' sizes, whatever ends them", async () => {
    const { token, user } = await app.createUser({ quota: 1000 })
    const counter = async () => {
      const [row] = await app.sql(
        `SELECT u.reserved_bytes::int AS counted,
                (SELECT coalesce(sum(total_size_bytes), 0)::int FROM upload_sessions s
                  WHERE s.created_by = u.id AND s.status IN ('INIT', 'IN_PROGRESS')) AS summed
           FROM users u WHERE u.id = $1`,
        [user.id]
      )
      return row
    }
    const sizes = [10, 20, 30, 40, 50]
    const sessions = await Promise.all(sizes.map((size) => app.createSession(token, { total_size_bytes: size, chunk_size_bytes: size })))
    expect(await counter()).toEqual({ counted: 150, summed: 150 })
    const [stored, aborted, failed, started] = sessions.map((created) => created.body.id)
    await app.putPart(token, stored, 1, bytes(10))
    expect((await app.complete(token, stored)).status).toBe(200)
    expect((await app.request("DELETE", `/uploads/sessions/${aborted}`, { token })).status).toBe(200)
    await app.sql("UPDATE upload_sessions SET status = 'FAILED', failure_reason = 'expired' WHERE id = $1", [failed])
    await app.putPart(token, started, 1, bytes(40))
    expect(await counter()).toEqual({ counted: 90, summed: 90 })
    expect(await quota(token)).toEqual({ limit_bytes: 1000, used_bytes: 10, reserved_bytes: 90, remaining_bytes: 900 })
  })

  it("follows a quota changed while the user is working", async () => {
    const { token, user } = await app.createUser({ quota: 10 })
    await app.sql("UPDATE users SET quota_bytes = 500 WHERE id = $1", [user.id])
    expect((await quota(token)).limit_bytes).toBe(500)
    expect((await app.createSession(token, { total_size_bytes: 400, chunk_size_bytes: 400 })).status).toBe(201)
  })
})
