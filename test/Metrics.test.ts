/**
 * GET /metrics, read with a real Prometheus text parser: after a real upload (create, parts,
 * complete) the counters move by exactly what happened, requests are labelled by route
 * template (never a raw id), what the database knows is read at most every 10 s, and
 * METRICS_TOKEN guards the page when set.
 */
import { afterEach, describe, expect, it } from "bun:test"
import { ConfigProvider, Effect, Exit } from "effect"
import parsePrometheusTextFormat, { type MetricFamily } from "parse-prometheus-text-format"
import { settingsConfig } from "../src/Config"
import { Relay } from "../src/Outbox/Relay"
import { Sweeper } from "../src/Sweeper/Sweeper"
import { startReceiver } from "./support/Receiver"
import { bytes, startTestApp, type TestApp } from "./support/TestApp"

const running: Array<{ close: () => unknown }> = []
afterEach(async () => {
  for (const closable of running.splice(0).reverse()) await closable.close()
})

const start = async (options: Parameters<typeof startTestApp>[0] = {}) => {
  const app = await startTestApp(options)
  running.push(app)
  return app
}

type Labels = Readonly<Record<string, string>>

class Scrape {
  readonly families: ReadonlyArray<MetricFamily>
  /**
   * The parser (1.1.1) folds a histogram's labelled series into one, losing their labels and
   * counts; without the histograms' TYPE lines it reads `<name>_count{…}` as plain samples.
   */
  private readonly plain: ReadonlyArray<MetricFamily>

  constructor(text: string) {
    this.families = parsePrometheusTextFormat(text)
    this.plain = parsePrometheusTextFormat(text.replace(/^# TYPE \S+ histogram$/gm, ""))
  }

  private static sample(families: ReadonlyArray<MetricFamily>, name: string, labels: Labels) {
    // without TYPE lines, a histogram's series come as many families of the same name
    const samples = families.filter((family) => family.name === name).flatMap((family) => family.metrics) as ReadonlyArray<
      { readonly value?: string; readonly labels?: Labels }
    >
    return samples.find((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value))
  }

  /** A counter's or gauge's value for these labels; 0 when the series does not exist (yet). */
  value(name: string, labels: Labels = {}): number {
    return Number(Scrape.sample(this.families, name, labels)?.value ?? 0)
  }

  has(name: string): boolean {
    return this.families.some((family) => family.name === name)
  }

  /** A histogram's observation count for these labels. */
  count(name: string, labels: Labels = {}): number {
    expect(this.families.find((family) => family.name === name)?.type).toBe("HISTOGRAM")
    return Number(Scrape.sample(this.plain, `${name}_count`, labels)?.value ?? 0)
  }

  /** Every label value of every series. */
  labelValues(): Array<string> {
    return this.plain.flatMap((family) =>
      (family.metrics as ReadonlyArray<{ readonly labels?: Labels }>).flatMap((sample) => Object.values(sample.labels ?? {}))
    )
  }
}

const scrape = async (app: TestApp, headers: Record<string, string> = {}) => {
  const response = await fetch(`${app.baseUrl}/metrics`, { headers })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toStartWith("text/plain; version=0.0.4")
  return new Scrape(await response.text())
}

const PART_ROUTE = "/uploads/sessions/:id/parts/:part_number"

describe("GET /metrics", () => {
  it("counts an upload: requests by route template and status, bytes and parts exactly, the session, its finalize", async () => {
    const app = await start()
    const { token } = await app.createUser()
    const before = await scrape(app)

    const created = await app.createSession(token, { total_size_bytes: 25, chunk_size_bytes: 10 })
    expect(created.status).toBe(201)
    const id: string = created.body.id
    const sizes = [10, 10, 5]
    for (const [i, size] of sizes.entries()) expect((await app.putPart(token, id, i + 1, bytes(size, i + 1))).status).toBe(200)
    // the same part again with the same bytes: accepted, counted apart
    expect((await app.putPart(token, id, 1, bytes(10, 1))).body.already_received).toBe(true)
    expect((await app.complete(token, id)).status).toBe(200)
    expect((await app.getSession(token, "01900000-0000-7000-8000-000000000000")).status).toBe(404)
    expect((await app.request("GET", `/no/such/path/${id}`)).status).toBe(404)
    const after = await scrape(app)

    const moved = (name: string, labels: Labels = {}) => after.value(name, labels) - before.value(name, labels)
    expect(moved("http_requests_total", { method: "POST", route: "/uploads/sessions", status: "201" })).toBe(1)
    expect(moved("http_requests_total", { method: "PUT", route: PART_ROUTE, status: "200" })).toBe(4)
    expect(moved("http_requests_total", { method: "POST", route: "/uploads/sessions/:id/complete", status: "200" })).toBe(1)
    expect(moved("http_requests_total", { method: "GET", route: "/uploads/sessions/:id", status: "404" })).toBe(1)
    expect(moved("http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1)
    expect(before.value("http_requests_total", { method: "GET", route: "/metrics", status: "200" })).toBe(0)
    expect(after.value("http_requests_total", { method: "GET", route: "/metrics", status: "200" })).toBe(1)
    expect(after.count("http_request_duration_seconds", { method: "PUT", route: PART_ROUTE, status: "200" })).toBe(4)
    expect(after.labelValues().filter((value) => value.includes(id))).toEqual([])

    expect(moved("portal_part_bytes_received_total", { outcome: "stored" })).toBe(25)
    expect(moved("portal_parts_received_total", { outcome: "stored" })).toBe(3)
    expect(moved("portal_part_bytes_received_total", { outcome: "already_received" })).toBe(10)
    expect(moved("portal_parts_received_total", { outcome: "already_received" })).toBe(1)
    expect(moved("portal_sessions_created_total")).toBe(1)
    expect(moved("portal_sessions_completed_total")).toBe(1)
    expect(moved("portal_sessions_aborted_total")).toBe(0)
    expect(after.count("portal_finalize_duration_seconds") - before.count("portal_finalize_duration_seconds")).toBe(1)

    expect(after.value("portal_database_up")).toBe(1)
    expect(after.value("portal_storage_up")).toBe(1)
    expect(after.value("portal_db_pool_max_connections")).toBe(10)
    expect(after.value("portal_db_pool_connections")).toBeGreaterThanOrEqual(1)
    expect(after.has("portal_db_pool_waiting_clients")).toBe(true)
    expect(after.value("process_resident_memory_bytes")).toBeGreaterThan(0)
  })

  it("counts a refusal for quota, and sessions aborted and expired", async () => {
    const app = await start({ testClock: true, env: { UPLOAD_SESSION_TTL: "60" } })
    const small = await app.createUser({ quota: 10 })
    const { token } = await app.createUser()
    const before = await scrape(app)

    expect((await app.createSession(small.token, { total_size_bytes: 11, chunk_size_bytes: 11 })).status).toBe(429)
    const aborted = (await app.createSession(token, { total_size_bytes: 4, chunk_size_bytes: 4 })).body.id
    expect((await app.request("DELETE", `/uploads/sessions/${aborted}`, { token })).status).toBe(200)
    // aborting again changes nothing, and counts nothing
    expect((await app.request("DELETE", `/uploads/sessions/${aborted}`, { token })).status).toBe(200)
    await app.createSession(token, { total_size_bytes: 4, chunk_size_bytes: 4 })
    await app.advance("61 seconds")
    expect((await app.run(Effect.flatMap(Sweeper, (sweeper) => sweeper.sweep()))).expired_sessions).toBe(1)
    const after = await scrape(app)

    const moved = (name: string, labels: Labels = {}) => after.value(name, labels) - before.value(name, labels)
    expect(moved("portal_quota_refusals_total")).toBe(1)
    expect(moved("http_requests_total", { method: "POST", route: "/uploads/sessions", status: "429" })).toBe(1)
    expect(moved("portal_sessions_created_total")).toBe(2)
    expect(moved("portal_sessions_aborted_total")).toBe(1)
    expect(moved("portal_sessions_expired_total")).toBe(1)
    expect(moved("portal_sessions_completed_total")).toBe(0)
  })

  it("reports outbox events by status from the database, read at most every 10 s, and delivery attempts", async () => {
    const receiver = startReceiver({ status: (n) => (n === 1 ? 500 : 200) })
    running.push({ close: () => receiver.stop() })
    const app = await start({ testClock: true, env: { WEBHOOK_URL: receiver.url, WEBHOOK_BACKOFF_BASE: "1" } })
    const { token } = await app.createUser()
    const first = await scrape(app)
    expect(first.value("portal_outbox_events", { status: "pending" })).toBe(0)

    const id = (await app.createSession(token, { total_size_bytes: 4, chunk_size_bytes: 4 })).body.id
    await app.putPart(token, id, 1, bytes(4))
    expect((await app.complete(token, id)).status).toBe(200)
    // within the cache's 10 s the database is not asked again
    expect((await scrape(app)).value("portal_outbox_events", { status: "pending" })).toBe(0)
    await app.advance("11 seconds")
    const stored = await scrape(app)
    expect(stored.value("portal_outbox_events", { status: "pending" })).toBe(1)
    expect(stored.value("portal_outbox_events", { status: "delivered" })).toBe(0)

    const deliverDue = app.run(Effect.flatMap(Relay, (relay) => relay.deliverDue))
    expect(await deliverDue).toBe(1) // answered 500: to be retried
    await app.advance("11 seconds")
    expect(await app.run(Effect.flatMap(Relay, (relay) => relay.deliverDue))).toBe(1)
    await app.advance("11 seconds")
    const delivered = await scrape(app)
    expect(delivered.value("portal_outbox_delivery_attempts_total", { outcome: "failed" })).toBe(1)
    expect(delivered.value("portal_outbox_delivery_attempts_total", { outcome: "delivered" })).toBe(1)
    expect(delivered.value("portal_outbox_events", { status: "pending" })).toBe(0)
    expect(delivered.value("portal_outbox_events", { status: "delivered" })).toBe(1)
  })

  it("with METRICS_TOKEN set, answers 401 without that bearer token and 200 with it", async () => {
    const METRICS_TOKEN = "metrics-token-0123456789"
    const app = await start({ env: { METRICS_TOKEN } })
    const admin = await app.createUser({ admin: true })
    for (const headers of [{}, { authorization: "Bearer metrics-token-012345678" }, { authorization: `Bearer ${admin.token}` }, {
      authorization: `Basic ${btoa(`x:${METRICS_TOKEN}`)}`
    }]) {
      const refused = await app.request("GET", "/metrics", { headers })
      expect(refused.status).toBe(401)
      expect(refused.headers.get("www-authenticate")).toStartWith("Bearer")
      expect(refused.body).toMatchObject({ _tag: "Unauthorized", request_id: refused.headers.get("x-request-id") })
    }
    const scraped = await scrape(app, { authorization: `Bearer ${METRICS_TOKEN}` })
    expect(scraped.value("http_requests_total", { route: "/metrics", status: "401" })).toBe(4)
  })

  it("is not in the OpenAPI document, which documents request_id on error bodies", async () => {
    const app = await start()
    const spec = (await app.request("GET", "/openapi.json")).body
    expect(Object.keys(spec.paths)).not.toContain("/metrics")
    expect(spec.components.schemas.NotFound.properties.request_id).toMatchObject({ type: "string" })
    expect(spec.components.schemas.NotFound.additionalProperties).toBe(false)
  })

  it("refuses a METRICS_TOKEN that is short or holds spaces, and accepts a plain long one", () => {
    const failure = (token: string) => {
      const exit = Effect.runSyncExit(
        Effect.withConfigProvider(settingsConfig, ConfigProvider.fromMap(new Map([["METRICS_TOKEN", token]])))
      )
      return Exit.isFailure(exit) ? String(exit.cause) : "accepted"
    }
    expect(failure("short-token")).toContain("METRICS_TOKEN")
    expect(failure("has a space in it, and long enough")).toContain("METRICS_TOKEN")
    expect(failure("a-plain-token-of-32-characters!!")).toBe("accepted")
  })
})
