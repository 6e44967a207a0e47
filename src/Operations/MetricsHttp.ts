/**
 * GET /metrics: this instance's metrics (Metrics.ts) in the Prometheus text format. It is not
 * part of the API contract, so it is not in the OpenAPI document. With METRICS_TOKEN set it
 * needs `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).
 *
 * What only the database knows (outbox events by status) and whether the database and the
 * storage answer (the health probes of GET /health) is read at most once per SCRAPE_CACHE,
 * however many scrapers ask how often; the pool's counts come from memory on every scrape.
 */
import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { Gauge } from "prom-client"
import { PortalConfig } from "../Config"
import { OutboxStatus } from "../Domain/Outbox"
import { checkDependencies } from "../Health/Http"
import { Outbox } from "../Outbox/Outbox"
import { Storage } from "../Storage/Storage"
import { DatabasePool, type PoolStats } from "./DatabasePool"
import { Metrics } from "./Metrics"

export const METRICS_PATH = "/metrics"

const SCRAPE_CACHE = Duration.seconds(10)
const QUERY_TIMEOUT = Duration.seconds(3)

const digest = (text: string) => createHash("sha256").update(text).digest()

/** Compares digests, so the time taken says nothing about the token, not even its length. */
const bearerMatches = (expected: Buffer, authorization: string | undefined) =>
  authorization !== undefined && /^bearer /i.test(authorization) &&
  timingSafeEqual(digest(authorization.slice(7).trim()), expected)

const unauthorized = () =>
  HttpServerResponse.unsafeJson(
    { _tag: "Unauthorized", message: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>" },
    { status: 401, headers: { "www-authenticate": "Bearer realm=\"metrics\"" } }
  )

export const MetricsRouteLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const metrics = yield* Metrics
    const { metricsToken } = yield* PortalConfig
    const sql = yield* SqlClient.SqlClient
    const storage = yield* Storage
    const outbox = yield* Outbox
    const pool = yield* Effect.serviceOption(DatabasePool)
    const registers = [metrics.registry]
    const expected = Option.map(metricsToken, (token) => digest(Redacted.value(token)))

    const outboxEvents = new Gauge({ name: "portal_outbox_events", help: "Outbox events by status", labelNames: ["status"], registers })
    const databaseUp = new Gauge({ name: "portal_database_up", help: "1 when the database answers its health probe", registers })
    const storageUp = new Gauge({ name: "portal_storage_up", help: "1 when the storage answers its health probe", registers })
    if (Option.isSome(pool)) {
      const stats = pool.value.stats
      const poolGauge = (name: string, help: string, read: (stats: PoolStats) => number) =>
        new Gauge({
          name,
          help,
          registers,
          collect() {
            this.set(read(stats()))
          }
        })
      poolGauge("portal_db_pool_connections", "Database connections open in the pool", (stats) => stats.total)
      poolGauge("portal_db_pool_idle_connections", "Open database connections not in use", (stats) => stats.idle)
      poolGauge("portal_db_pool_waiting_clients", "Queries and transactions waiting for a connection", (stats) => stats.waiting)
      poolGauge("portal_db_pool_max_connections", "The pool's connection limit", (stats) => stats.max)
    }

    const countOutbox = outbox.countByStatus.pipe(
      Effect.timeout(QUERY_TIMEOUT),
      Effect.map(Option.some),
      Effect.catchAllCause(() => Effect.succeedNone)
    )
    const readDatabase = yield* Effect.cachedWithTTL(
      Effect.all([countOutbox, checkDependencies(sql, storage)], { concurrency: 2 }).pipe(
        Effect.map(([counts, [database, files]]) => {
          databaseUp.set(database.status === "ok" ? 1 : 0)
          storageUp.set(files.status === "ok" ? 1 : 0)
          // no numbers rather than old ones while the database does not answer
          if (Option.isNone(counts)) return outboxEvents.reset()
          for (const status of OutboxStatus.literals) {
            const row = counts.value.find((candidate) => candidate.status === status)
            outboxEvents.set({ status: status.toLowerCase() }, row?.count ?? 0)
          }
        })
      ),
      SCRAPE_CACHE
    )

    yield* router.get(
      METRICS_PATH,
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (Option.isSome(expected) && !bearerMatches(expected.value, request.headers["authorization"])) {
          return unauthorized()
        }
        yield* readDatabase
        const { contentType, text } = yield* metrics.render
        return HttpServerResponse.text(text, { contentType, headers: { "cache-control": "no-store" } })
      })
    )
  })
).pipe(Layer.provide(Outbox.Default))
