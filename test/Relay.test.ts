import { afterEach, describe, expect, it, spyOn } from "bun:test"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { Relay, backoffMillis } from "../src/Outbox/Relay"
import { verifySignature } from "../src/Outbox/Webhook"
import { startReceiver, type Receiver } from "./support/Receiver"
import { bytes, sha256Hex, startTestApp, type TestApp } from "./support/TestApp"

const SECRET = "webhook-secret-for-tests"

const running: Array<{ close: () => Promise<void> } | Receiver> = []
afterEach(async () => {
  for (const thing of running.splice(0).reverse()) {
    if ("close" in thing) await thing.close()
    else thing.stop()
  }
})

const appFor = async (receiverUrl: string, options: { testClock?: boolean; background?: boolean; env?: Record<string, string> } = {}) => {
  const app = await startTestApp({
    testClock: options.testClock ?? true,
    background: options.background ?? false,
    env: { WEBHOOK_URL: receiverUrl, WEBHOOK_SECRET: SECRET, ...options.env }
  })
  running.push(app)
  return app
}

const receiver = (options: Parameters<typeof startReceiver>[0] = {}) => {
  const started = startReceiver(options)
  running.push(started)
  return started
}

/** Uploads and completes a small file: its file.stored event is now in the outbox. */
const storeFile = async (app: TestApp, token: string, batchId?: string) => {
  const data = bytes(10, Math.floor(Math.random() * 1000) + 1)
  const created = await app.createSession(token, {
    total_size_bytes: 10,
    chunk_size_bytes: 10,
    ...(batchId === undefined ? {} : { batch_id: batchId })
  })
  await app.putPart(token, created.body.id, 1, data)
  const done = await app.complete(token, created.body.id)
  expect(done.status).toBe(200)
  return { fileId: done.body.file_id as string, sha256: sha256Hex(data) }
}

const deliverDue = (app: TestApp) => app.run(Effect.flatMap(Relay, (relay) => relay.deliverDue))

const eventRow = async (app: TestApp, fileId: string) =>
  (await app.sql("SELECT * FROM outbox_events WHERE file_id = $1", [fileId]))[0]

describe("the relay", () => {
  it("delivers a stored file's event once, signed, in the background", async () => {
    const hooks = receiver()
    const app = await appFor(hooks.url, { background: true })
    const { token } = await app.createUser()
    const batch = (await app.request("POST", "/batches", { token, json: { total_files: 1 } })).body
    const { fileId, sha256 } = await storeFile(app, token, batch.id)

    await app.advanceWhileParked("1 second", "1 second")
    for (let i = 0; i < 200 && hooks.deliveries.length < 2; i++) await Bun.sleep(5)
    await app.advanceWhileParked("10 seconds", "1 second")

    expect(hooks.deliveries.map((d) => d.eventType).sort()).toEqual(["batch.completed", "file.stored"])
    const delivery = hooks.deliveries.find((d) => d.eventType === "file.stored")!
    expect(verifySignature(SECRET, delivery.timestamp, delivery.body, delivery.signature ?? "")).toBe(true)
    expect(verifySignature("another secret", delivery.timestamp, delivery.body, delivery.signature ?? "")).toBe(false)
    const body = JSON.parse(delivery.body)
    expect(body).toMatchObject({
      event_id: delivery.eventId,
      event_type: "file.stored",
      data: { file: { id: fileId, sha256, status: "STORED", batch_id: batch.id } }
    })
    expect(Date.parse(body.occurred_at)).toBeGreaterThan(0)
    const row = await eventRow(app, fileId)
    expect(row).toMatchObject({ status: "DELIVERED", attempt_count: 1, event_id: delivery.eventId, lease_expires_at: null })
    expect(row?.delivered_at).not.toBeNull()
  })

  it("retries with growing backoff: 500 three times then 200 is delivered after 4 attempts", async () => {
    const hooks = receiver({ status: (n) => (n <= 3 ? 500 : 200) })
    const app = await appFor(hooks.url)
    const { token } = await app.createUser()
    const { fileId } = await storeFile(app, token)

    const waits: Array<number> = []
    for (let attempt = 1; attempt <= 3; attempt++) {
      const before = await app.run(TestClock.currentTimeMillis)
      expect(await deliverDue(app)).toBe(1)
      const row = await eventRow(app, fileId)
      expect(row).toMatchObject({ status: "PENDING", attempt_count: attempt, last_error: "HTTP 500" })
      const wait = Date.parse(row?.next_attempt_at) - before
      waits.push(wait)
      // not due before its time
      expect(await deliverDue(app)).toBe(0)
      await app.advance(Duration.millis(wait))
    }
    expect(waits[0]).toBeGreaterThanOrEqual(1500)
    expect(waits[0]).toBeLessThanOrEqual(2000)
    expect(waits[1]).toBeGreaterThan(waits[0]!)
    expect(waits[2]).toBeGreaterThan(waits[1]!)
    expect(await deliverDue(app)).toBe(1)
    expect(await eventRow(app, fileId)).toMatchObject({ status: "DELIVERED", attempt_count: 4, last_error: null })
    expect(hooks.deliveries).toHaveLength(4)
    expect(new Set(hooks.deliveries.map((d) => d.eventId)).size).toBe(1)
  })

  it("keeps an event PENDING while the receiver is down and delivers it when it is back", async () => {
    const probe = receiver()
    const port = probe.port
    probe.stop()
    const app = await appFor(`http://127.0.0.1:${port}/hooks/portal`)
    const { token } = await app.createUser()
    const { fileId } = await storeFile(app, token)

    await deliverDue(app)
    const down = await eventRow(app, fileId)
    expect(down).toMatchObject({ status: "PENDING", attempt_count: 1 })
    expect(down?.last_error).not.toBeNull()

    const hooks = receiver({ port })
    await app.advance("1 minute")
    expect(await deliverDue(app)).toBe(1)
    expect(await eventRow(app, fileId)).toMatchObject({ status: "DELIVERED", attempt_count: 2 })
    expect(hooks.deliveries).toHaveLength(1)
  })

  it("logs failed attempts as one summary line a minute, not a line per attempt", async () => {
    const probe = receiver()
    const port = probe.port
    probe.stop()
    const app = await appFor(`http://127.0.0.1:${port}/hooks/portal`, { env: { LOG_LEVEL: "warning" } })
    const { token } = await app.createUser()
    for (let i = 0; i < 3; i++) await storeFile(app, token)
    const lines: Array<string> = []
    const spy = spyOn(console, "error").mockImplementation((...parts: Array<unknown>) => {
      lines.push(parts.map(String).join(" "))
    })
    try {
      const summaries = () => lines.filter((line) => line.includes("webhook deliveries failed")).length
      expect(await deliverDue(app)).toBe(3)
      expect(summaries()).toBe(1)
      expect(lines.find((line) => line.includes("webhook deliveries failed"))).toContain("failed_attempts=3")
      // the retries fail again within the minute: counted, not logged
      await app.advance("10 seconds")
      expect(await deliverDue(app)).toBe(3)
      expect(summaries()).toBe(1)
      // a minute later, the next failure brings one line for all attempts since
      await app.advance("61 seconds")
      expect(await deliverDue(app)).toBe(3)
      expect(summaries()).toBe(2)
      expect(lines.filter((line) => line.includes("webhook deliveries failed"))[1]).toContain("failed_attempts=6")
      expect(lines.filter((line) => line.includes("message=\"webhook delivery\""))).toEqual([])
    } finally {
      spy.mockRestore()
    }
  })

  it("gives up after WEBHOOK_MAX_ATTEMPTS, and an admin can list and retry the event", async () => {
    let failing = true
    const hooks = receiver({ status: () => (failing ? 503 : 200) })
    const app = await appFor(hooks.url, { env: { WEBHOOK_MAX_ATTEMPTS: "2" } })
    const { token } = await app.createUser()
    const admin = await app.createUser({ admin: true })
    const { fileId } = await storeFile(app, token)
    await deliverDue(app)
    await app.advance("1 minute")
    await deliverDue(app)
    const failed = await eventRow(app, fileId)
    expect(failed).toMatchObject({ status: "FAILED", attempt_count: 2, last_error: "HTTP 503" })
    await app.advance("1 hour")
    expect(await deliverDue(app)).toBe(0)

    const list = await app.request("GET", "/admin/outbox?status=FAILED", { token: admin.token })
    expect(list.status).toBe(200)
    expect(list.body.items.map((e: { id: string }) => e.id)).toEqual([failed?.id])
    expect((await app.request("GET", "/admin/outbox", { token })).status).toBe(403)

    expect((await app.request("POST", `/admin/outbox/${failed?.id}/retry`, { token })).status).toBe(403)
    const retried = await app.request("POST", `/admin/outbox/${failed?.id}/retry`, { token: admin.token })
    expect(retried.status).toBe(200)
    expect(retried.body).toMatchObject({ status: "PENDING", attempt_count: 0 })
    const again = await app.request("POST", `/admin/outbox/${failed?.id}/retry`, { token: admin.token })
    expect(again.status).toBe(409)
    expect(again.body._tag).toBe("EventNotRetryable")
    expect((await app.request("POST", "/admin/outbox/01a1fe79-aff9-7194-bb7c-cfa96a14c98f/retry", { token: admin.token })).status).toBe(404)

    failing = false
    expect(await deliverDue(app)).toBe(1)
    expect(await eventRow(app, fileId)).toMatchObject({ status: "DELIVERED", attempt_count: 1 })
  })

  it("shares 200 events between two relays without sending one event twice at the same time", async () => {
    const hooks = receiver({ status: async () => {
      await Bun.sleep(2)
      return 200
    } })
    const first = await appFor(hooks.url, { testClock: false, env: { WEBHOOK_BATCH_SIZE: "7" } })
    const second = await startTestApp({
      shareWith: { database: first.database, dataDir: first.dataDir },
      env: { WEBHOOK_URL: hooks.url, WEBHOOK_SECRET: SECRET, WEBHOOK_BATCH_SIZE: "7" }
    })
    running.push(second)
    const { token } = await first.createUser()
    const batch = (await first.request("POST", "/batches", { token, json: { total_files: 1 } })).body
    // 200 events at once; batch events need no stored file, which keeps this quick
    await first.sql(
      `INSERT INTO outbox_events (id, event_type, event_id, idempotency_key, payload, next_attempt_at, batch_id, occurred_at, created_at)
       SELECT gen_random_uuid(), 'batch.completed', gen_random_uuid(), 'load-' || n, jsonb_build_object('n', n), now(), $1, now(), now()
         FROM generate_series(1, 200) AS n`,
      [batch.id]
    )
    const drain = async (app: TestApp) => {
      let handled = 0
      for (let round = 0; round < 200; round++) {
        const n = await deliverDue(app)
        handled += n
        if (n === 0 && (await app.sql("SELECT 1 FROM outbox_events WHERE status <> 'DELIVERED' LIMIT 1")).length === 0) break
      }
      return handled
    }
    const [byFirst, bySecond] = await Promise.all([drain(first), drain(second)])
    expect(byFirst + bySecond).toBe(200)
    expect(byFirst).toBeGreaterThan(0)
    expect(bySecond).toBeGreaterThan(0)
    expect(hooks.overlaps).toEqual([])
    expect(hooks.deliveries).toHaveLength(200)
    expect(new Set(hooks.deliveries.map((d) => d.eventId)).size).toBe(200)
    const states = await first.sql("SELECT status, count(*)::int AS n FROM outbox_events GROUP BY status")
    expect(states).toEqual([{ status: "DELIVERED", n: 200 }])
  })

  it("delivers an event whose relay was killed mid-send once its lease runs out", async () => {
    let release: () => void = () => undefined
    const stuck = new Promise<number>((resolve) => {
      release = () => resolve(200)
    })
    // the first request never gets an answer: its relay is killed while it waits
    const hooks = receiver({ status: (n) => (n === 1 ? stuck : 200) })
    const doomed = await appFor(hooks.url, { env: { WEBHOOK_LEASE: "1" } })
    const survivor = await startTestApp({
      testClock: true,
      shareWith: { database: doomed.database, dataDir: doomed.dataDir },
      env: { WEBHOOK_URL: hooks.url, WEBHOOK_SECRET: SECRET, WEBHOOK_LEASE: "1" }
    })
    running.push(survivor)
    const { token } = await doomed.createUser()
    const { fileId } = await storeFile(doomed, token)

    const sending = doomed.runtime.runFork(Effect.flatMap(Relay, (relay) => relay.deliverDue))
    for (let i = 0; i < 400 && hooks.deliveries.length === 0; i++) await Bun.sleep(5)
    expect(hooks.deliveries).toHaveLength(1)
    await doomed.runtime.runPromise(Fiber.interrupt(sending))
    release()
    const [held] = await doomed.sql<{ status: string; attempt_count: number; until: string }>(
      "SELECT status, attempt_count, lease_expires_at AS until FROM outbox_events WHERE file_id = $1",
      [fileId]
    )
    expect(held).toMatchObject({ status: "SENDING", attempt_count: 0 })

    // another instance: nothing to do while the lease holds (database time), the event once it has run out
    expect(await deliverDue(survivor)).toBe(0)
    let handled = 0
    for (let i = 0; i < 100 && handled === 0; i++) {
      handled = await deliverDue(survivor)
      if (handled === 0) await Bun.sleep(50)
    }
    const [after] = await survivor.sql<{ at: string }>("SELECT now() AS at")
    expect(handled).toBe(1)
    expect(new Date(after?.at ?? 0).getTime()).toBeGreaterThanOrEqual(new Date(held?.until ?? Infinity).getTime())
    expect(await eventRow(survivor, fileId)).toMatchObject({ status: "DELIVERED", attempt_count: 1 })
    expect(hooks.deliveries).toHaveLength(2)
    expect(new Set(hooks.deliveries.map((d) => d.eventId)).size).toBe(1)
  })
})

describe("backoff", () => {
  it("doubles from WEBHOOK_BACKOFF_BASE with jitter in [0.75, 1], up to WEBHOOK_BACKOFF_MAX", () => {
    const base = Duration.seconds(2)
    const max = Duration.seconds(60)
    expect(backoffMillis(base, max, 1, 0)).toBe(1500)
    expect(backoffMillis(base, max, 1, 1)).toBe(2000)
    expect(backoffMillis(base, max, 3, 1)).toBe(8000)
    expect(backoffMillis(base, max, 10, 1)).toBe(60000)
    // consecutive attempts never overlap: the shortest next wait exceeds the longest previous one
    for (let attempt = 1; attempt < 5; attempt++) {
      expect(backoffMillis(base, max, attempt + 1, 0)).toBeGreaterThan(backoffMillis(base, max, attempt, 1))
    }
  })
})

