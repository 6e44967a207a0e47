import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { Effect, TestClock } from "effect"
import { Storage } from "../src/Storage/Storage"
import { mkdir, readdir, utimes } from "node:fs/promises"
import { join } from "node:path"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let alice: { token: string }
let admin: { token: string }

beforeAll(async () => {
  app = await startTestApp({ testClock: true, env: { UPLOAD_SESSION_TTL: "600" } })
  alice = await app.createUser({ quota: 10_000 })
  admin = await app.createUser({ admin: true })
})
afterAll(() => app.close())

const sweep = (token = admin.token) => app.request("POST", "/admin/sweep", { token })
/** The part files staged for a session (not the assembly that follows them). */
const staged = async (sessionId: string) =>
  (await readdir(join(app.dataDir, "storage", "parts", sessionId)).catch(() => [] as Array<string>))
    .filter((name) => !name.startsWith("assembly."))

describe("the sweeper", () => {
  it("fails expired sessions and their files, counts them in their batch, releases quota and staged bytes", async () => {
    const batch = (await app.request("POST", "/batches", { token: alice.token, json: { total_files: 2 } })).body
    const started = await app.createSession(alice.token, { total_size_bytes: 20, chunk_size_bytes: 10, batch_id: batch.id })
    await app.putPart(alice.token, started.body.id, 1, bytes(10))
    const idle = await app.createSession(alice.token, { total_size_bytes: 20, chunk_size_bytes: 10, batch_id: batch.id })
    expect(await staged(started.body.id)).toHaveLength(1)

    await app.advance("599 seconds")
    expect((await sweep()).body).toEqual({ expired_sessions: 0, staging_removed: 0, objects_removed: 0 })
    await app.advance("1 second")
    // expired but not swept yet: already refused, and no longer reserving quota
    expect((await app.putPart(alice.token, started.body.id, 2, bytes(10))).status).toBe(410)
    expect((await app.request("GET", "/quota", { token: alice.token })).body.reserved_bytes).toBe(0)
    const active = await app.request("GET", "/uploads/sessions?status=active", { token: alice.token })
    expect(active.body.items.map((s: { id: string }) => s.id)).not.toContain(started.body.id)
    const open = await app.request("GET", "/uploads/sessions?status=IN_PROGRESS", { token: alice.token })
    expect(open.body.items.find((s: { id: string }) => s.id === started.body.id)).toMatchObject({ expired: true })

    expect((await sweep()).body).toEqual({ expired_sessions: 2, staging_removed: 0, objects_removed: 0 })
    // released once: by the sweep, not again on top of the expiry already subtracted
    expect((await app.request("GET", "/quota", { token: alice.token })).body.reserved_bytes).toBe(0)
    const next = await app.createSession(alice.token, { total_size_bytes: 30, chunk_size_bytes: 10 })
    expect(next.body.quota.reserved_bytes).toBe(30)
    expect((await app.request("DELETE", `/uploads/sessions/${next.body.id}`, { token: alice.token })).status).toBe(200)
    for (const id of [started.body.id, idle.body.id]) {
      const view = await app.getSession(alice.token, id)
      expect(view.body).toMatchObject({ status: "FAILED", failure_reason: "expired", expired: false, file: { status: "FAILED" } })
      expect((await app.putPart(alice.token, id, 1, bytes(10))).status).toBe(410)
      expect((await app.complete(alice.token, id)).status).toBe(410)
    }
    expect(await staged(started.body.id)).toEqual([])
    expect((await app.request("GET", `/batches/${batch.id}`, { token: alice.token })).body)
      .toMatchObject({ status: "COMPLETED", stored_count: 0, failed_count: 2 })
    expect((await sweep()).body.expired_sessions).toBe(0)
  })

  it("counts each session once when several sweeps run at the same moment", async () => {
    const batch = (await app.request("POST", "/batches", { token: alice.token, json: { total_files: 30 } })).body
    await Promise.all(Array.from({ length: 30 }, () =>
      app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10, batch_id: batch.id })))
    await app.advance("601 seconds")
    const reports = await Promise.all(Array.from({ length: 5 }, () => sweep()))
    expect(reports.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    expect(reports.reduce((sum, r) => sum + r.body.expired_sessions, 0)).toBe(30)
    expect((await app.request("GET", `/batches/${batch.id}`, { token: alice.token })).body)
      .toMatchObject({ status: "COMPLETED", failed_count: 30 })
    const events = await app.sql("SELECT count(*)::int AS n FROM outbox_events WHERE batch_id = $1", [batch.id])
    expect(events[0]?.n).toBe(1)
  })

  it("leaves a session alone while a complete is assembling it", async () => {
    const created = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    await app.putPart(alice.token, created.body.id, 1, bytes(10))
    const now = await app.run(TestClock.currentTimeMillis)
    await app.sql("UPDATE upload_sessions SET finalize_lease_until = $2 WHERE id = $1", [created.body.id, new Date(now + 3_600_000)])
    await app.advance("601 seconds")
    await sweep()
    expect((await app.getSession(alice.token, created.body.id)).body.status).toBe("IN_PROGRESS")
  })

  it("removes staging left behind by sessions that ended, once it is an hour old", async () => {
    const created = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    await app.request("DELETE", `/uploads/sessions/${created.body.id}`, { token: alice.token })
    // as if the instance had died between ending the session and removing its staging
    await mkdir(join(app.dataDir, "storage", "parts", created.body.id, "1.claim"), { recursive: true })
    expect((await sweep()).body.staging_removed).toBe(0)
    await app.advance("61 minutes")
    const open = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    await app.putPart(alice.token, open.body.id, 1, bytes(10))
    // an open session's staging stays, however old
    await utimes(join(app.dataDir, "storage", "parts", open.body.id), new Date(0), new Date(0))
    expect((await sweep()).body.staging_removed).toBe(1)
    expect(await staged(created.body.id)).toEqual([])
    expect(await staged(open.body.id)).toHaveLength(1)
  })

  it("removes objects no stored file owns (a crash between making an object and storing it), once an hour old", async () => {
    const stored = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    await app.putPart(alice.token, stored.body.id, 1, bytes(10, 3))
    const done = await app.complete(alice.token, stored.body.id)
    expect(done.status).toBe(200)
    const failed = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10 })
    await app.request("DELETE", `/uploads/sessions/${failed.body.id}`, { token: alice.token })
    // what a kill between assembling and committing leaves: the object of a file that then failed,
    // and a second object of the stored file that another completer made
    const shard = (fileId: string) => join(app.dataDir, "storage", "files", fileId.slice(-2))
    const leftovers = [join(shard(failed.body.file_id), `${failed.body.file_id}.aaaaaaaaaaaa`), join(shard(done.body.file_id), `${done.body.file_id}.bbbbbbbbbbbb`)]
    for (const path of leftovers) {
      await mkdir(join(path, ".."), { recursive: true })
      await Bun.write(path, "leftover")
      await utimes(path, new Date(0), new Date(0))
    }
    const report = (await sweep()).body
    expect(report.objects_removed).toBe(2)
    for (const path of leftovers) expect(await Bun.file(path).exists()).toBe(false)
    // the stored file is untouched
    const download = await fetch(`${app.baseUrl}/files/${done.body.file_id}/content`, { headers: { authorization: `Bearer ${alice.token}` } })
    expect(sha256Hex(new Uint8Array(await download.arrayBuffer()))).toBe(sha256Hex(bytes(10, 3)))
  })

  it("is for admins only", async () => {
    expect((await sweep(alice.token)).status).toBe(403)
  })
})

describe("the background sweeper", () => {
  it("sweeps every SWEEP_INTERVAL", async () => {
    const timed = await startTestApp({ testClock: true, background: true, env: { UPLOAD_SESSION_TTL: "100", SWEEP_INTERVAL: "30" } })
    try {
      const { token } = await timed.createUser()
      const created = await timed.createSession(token, { total_size_bytes: 10, chunk_size_bytes: 10 })
      const status = async () => (await timed.getSession(token, created.body.id)).body.status
      await timed.advanceWhileParked("90 seconds", "30 seconds")
      expect(await status()).toBe("INIT")
      await timed.advanceWhileParked("30 seconds", "30 seconds")
      // the sweep the clock just started runs its queries in real time
      for (let i = 0; i < 200 && (await status()) !== "FAILED"; i++) await Bun.sleep(5)
      expect(await status()).toBe("FAILED")
    } finally {
      await timed.close()
    }
  })
})

describe("sessions followed in the background", () => {
  it("are forgotten by a sweep once another instance has completed them", async () => {
    const first = await startTestApp()
    const second = await startTestApp({ shareWith: { database: first.database, dataDir: first.dataDir } })
    try {
      const { token } = await first.createUser()
      const sweeper = (await first.createUser({ admin: true })).token
      const created = await first.createSession(token, { total_size_bytes: 20, chunk_size_bytes: 10 })
      for (const n of [1, 2]) await first.putPart(token, created.body.id, n, bytes(10, n))
      const followed = () => first.run(Effect.flatMap(Storage, (storage) => storage.followedSessions))
      for (let i = 0; i < 100 && !(await followed()).includes(created.body.id); i++) await Bun.sleep(5)
      expect(await followed()).toContain(created.body.id)
      expect((await second.complete(token, created.body.id)).status).toBe(200)
      await first.request("POST", "/admin/sweep", { token: sweeper })
      expect(await followed()).not.toContain(created.body.id)
    } finally {
      await second.close()
      await first.close()
    }
  })
})
