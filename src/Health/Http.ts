import { HttpApiBuilder } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect } from "effect"
import { Api } from "../Api"
import { Storage, type StorageShape } from "../Storage/Storage"
import { HealthReport, Unhealthy } from "./Api"

const CHECK_TIMEOUT = Duration.seconds(3)

/** Runs one probe with a deadline and reports its outcome instead of failing. */
const probe = <E>(check: Effect.Effect<unknown, E>) =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    const outcome = yield* check.pipe(
      Effect.timeoutFail({ duration: CHECK_TIMEOUT, onTimeout: () => `no answer within ${Duration.format(CHECK_TIMEOUT)}` }),
      Effect.either
    )
    const latency_ms = (yield* Clock.currentTimeMillis) - started
    return outcome._tag === "Right"
      ? { status: "ok" as const, latency_ms }
      : { status: "unavailable" as const, latency_ms, error: String(outcome.left) }
  })

/** Probes the database and the storage at once (also read by GET /metrics). */
export const checkDependencies = (sql: SqlClient.SqlClient, storage: StorageShape) =>
  Effect.all([probe(sql`SELECT 1`), probe(storage.check)], { concurrency: 2 })

export const HealthLive = HttpApiBuilder.group(Api, "health", (handlers) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const storage = yield* Storage
    return handlers.handle("health", () =>
      Effect.gen(function*() {
        const [database, files] = yield* checkDependencies(sql, storage)
        const healthy = database.status === "ok" && files.status === "ok"
        const report = new HealthReport({
          status: healthy ? "ok" : "unavailable",
          checks: { database, storage: files }
        })
        return healthy ? report : yield* new Unhealthy({ message: "a dependency is unavailable", report })
      })
    )
  })
)
