import { afterAll, beforeAll, describe, expect, it } from "bun:test"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

let app: TestApp
let alice: { token: string; user: { id: string } }
let bob: { token: string }
let admin: { token: string }

beforeAll(async () => {
  app = await startTestApp()
  alice = await app.createUser()
  bob = await app.createUser()
  admin = await app.createUser({ admin: true })
})
afterAll(() => app.close())

const createBatch = (token: string, json: Record<string, unknown>) => app.request("POST", "/batches", { token, json })
const getBatch = (token: string, id: string) => app.request("GET", `/batches/${id}`, { token })

/** A session of one 10-byte part in the batch, with the part uploaded. */
const uploadedInBatch = async (batchId: string, seed: number) => {
  const created = await app.createSession(alice.token, { total_size_bytes: 10, chunk_size_bytes: 10, batch_id: batchId })
  expect(created.status).toBe(201)
  expect((await app.putPart(alice.token, created.body.id, 1, bytes(10, seed))).status).toBe(200)
  return created.body.id as string
}

describe("batches", () => {
  it("is created OPEN with its counters at zero, 201 and Location", async () => {
    const reply = await createBatch(alice.token, { total_files: 5, name: "nightly", metadata: { source: "cam-1" } })
    expect(reply.status).toBe(201)
    expect(reply.headers.get("location")).toBe(`/batches/${reply.body.id}`)
    expect(reply.body).toMatchObject({
      status: "OPEN",
      name: "nightly",
      total_files: 5,
      file_count: 0,
      stored_count: 0,
      failed_count: 0,
      metadata: { source: "cam-1" },
      completed_at: null
    })
    expect((await createBatch(alice.token, { total_files: 0 })).status).toBe(400)
  })

  it("counts stored files: 3 of 5 finalized gives stored_count 3, and lists its files", async () => {
    const batch = (await createBatch(alice.token, { total_files: 5 })).body
    const sessions = await Promise.all([1, 2, 3, 4].map((seed) => uploadedInBatch(batch.id, seed)))
    for (const id of sessions.slice(0, 3)) expect((await app.complete(alice.token, id)).status).toBe(200)
    const reply = await getBatch(alice.token, batch.id)
    expect(reply.body).toMatchObject({ status: "OPEN", file_count: 4, stored_count: 3, failed_count: 0 })

    const page1 = await app.request("GET", `/batches/${batch.id}/files?limit=3`, { token: alice.token })
    expect(page1.body.items).toHaveLength(3)
    const page2 = await app.request("GET", `/batches/${batch.id}/files?limit=3&cursor=${page1.body.next_cursor}`, { token: alice.token })
    expect(page2.body.items).toHaveLength(1)
    expect(page2.body.next_cursor).toBeNull()
    const statuses = [...page1.body.items, ...page2.body.items].map((f: { status: string }) => f.status).sort()
    expect(statuses).toEqual(["STORED", "STORED", "STORED", "UPLOADING"])
  })

  it("counts two files finalized at the same moment", async () => {
    const batch = (await createBatch(alice.token, { total_files: 3 })).body
    const [first, second] = await Promise.all([uploadedInBatch(batch.id, 11), uploadedInBatch(batch.id, 12)])
    const replies = await Promise.all([app.complete(alice.token, first!), app.complete(alice.token, second!)])
    expect(replies.map((r) => r.status)).toEqual([200, 200])
    expect((await getBatch(alice.token, batch.id)).body).toMatchObject({ stored_count: 2, failed_count: 0, status: "OPEN" })
  })

  it("counts a failed file in failed_count, and completes when every file has an outcome", async () => {
    const batch = (await createBatch(alice.token, { total_files: 3 })).body
    const stored = await uploadedInBatch(batch.id, 21)
    const aborted = await uploadedInBatch(batch.id, 22)
    const created = await app.createSession(alice.token, {
      total_size_bytes: 10,
      chunk_size_bytes: 10,
      batch_id: batch.id,
      sha256: "0".repeat(64)
    })
    await app.putPart(alice.token, created.body.id, 1, bytes(10, 23))
    await app.complete(alice.token, stored)
    await app.request("DELETE", `/uploads/sessions/${aborted}`, { token: alice.token })
    expect((await getBatch(alice.token, batch.id)).body).toMatchObject({ status: "OPEN", stored_count: 1, failed_count: 1 })
    expect((await app.complete(alice.token, created.body.id)).status).toBe(422)
    const done = (await getBatch(alice.token, batch.id)).body
    expect(done).toMatchObject({ status: "COMPLETED", stored_count: 1, failed_count: 2 })
    expect(done.completed_at).not.toBeNull()
    const events = await app.sql("SELECT event_type, payload FROM outbox_events WHERE batch_id = $1", [batch.id])
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({ event_type: "batch.completed", payload: { batch: { id: batch.id, status: "COMPLETED" } } })
  })

  it("refuses more files than total_files with 409, also when they race", async () => {
    const batch = (await createBatch(alice.token, { total_files: 2 })).body
    const replies = await Promise.all([1, 2, 3, 4, 5].map(() =>
      app.createSession(alice.token, { total_size_bytes: 10, batch_id: batch.id })))
    expect(replies.filter((r) => r.status === 201)).toHaveLength(2)
    const refused = replies.filter((r) => r.status === 409)
    expect(refused).toHaveLength(3)
    expect(refused[0]?.body).toMatchObject({ _tag: "BatchFull", total_files: 2 })
    expect((await getBatch(alice.token, batch.id)).body.file_count).toBe(2)
  })

  it("refuses new files once completed", async () => {
    const batch = (await createBatch(alice.token, { total_files: 1 })).body
    await app.complete(alice.token, await uploadedInBatch(batch.id, 31))
    const late = await app.createSession(alice.token, { total_size_bytes: 10, batch_id: batch.id })
    expect(late.status).toBe(409)
    expect(late.body._tag).toMatch(/BatchFull|BatchClosed/)
  })

  it("answers 403 for another user's batch, 404 for none, and shows it to admins", async () => {
    const batch = (await createBatch(alice.token, { total_files: 2 })).body
    expect((await getBatch(bob.token, batch.id)).status).toBe(403)
    expect((await app.request("GET", `/batches/${batch.id}/files`, { token: bob.token })).status).toBe(403)
    const join = await app.createSession(bob.token, { total_size_bytes: 10, batch_id: batch.id })
    expect(join.status).toBe(403)
    expect((await getBatch(admin.token, batch.id)).status).toBe(200)
    expect((await getBatch(alice.token, "01a1fe79-aff9-7194-bb7c-cfa96a14c98f")).status).toBe(404)
    const missing = await app.createSession(alice.token, { total_size_bytes: 10, batch_id: "01a1fe79-aff9-7194-bb7c-cfa96a14c98f" })
    expect(missing.status).toBe(404)
  })

  it("lists the caller's batches, newest first", async () => {
    const carol = await app.createUser()
    const ids = []
    for (let i = 0; i < 3; i++) ids.push((await createBatch(carol.token, { total_files: 1 })).body.id)
    const page = await app.request("GET", "/batches?limit=2", { token: carol.token })
    expect(page.body.items.map((b: { id: string }) => b.id)).toEqual([ids[2], ids[1]])
    const rest = await app.request("GET", `/batches?cursor=${page.body.next_cursor}`, { token: carol.token })
    expect(rest.body.items.map((b: { id: string }) => b.id)).toEqual([ids[0]])
    expect((await app.request("GET", `/batches?user_id=${alice.user.id}`, { token: carol.token })).status).toBe(403)
  })
})
