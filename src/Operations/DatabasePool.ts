/**
 * The PgClient over a pg.Pool built here rather than inside @effect/sql-pg, which keeps its own
 * pool to itself: the pool's counts (open, idle, waiting) are then there for GET /metrics.
 * Connecting is checked once at start-up, as PgClient.layer does, and the pool ends with the
 * layer.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { Context, Duration, Effect, Layer } from "effect"
import Pg from "pg"

export interface PoolStats {
  /** Connections open, in use or idle. */
  readonly total: number
  readonly idle: number
  /** Queries and transactions waiting for a connection. */
  readonly waiting: number
  readonly max: number
}

export class DatabasePool extends Context.Tag("Portal/DatabasePool")<
  DatabasePool,
  { readonly stats: () => PoolStats }
>() {}

const CONNECT_TIMEOUT = Duration.seconds(5)

/** A PgClient (and SqlClient) over a pool with `config`, and that pool's DatabasePool. */
export const pooledPgLayer = (config: Pg.PoolConfig & { readonly application_name: string }) =>
  Layer.scopedContext(
    Effect.gen(function*() {
      const pool = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const pool = new Pg.Pool(config)
          // an idle connection that breaks is dropped by the pool; whoever needs one next gets a new one
          pool.on("error", () => undefined)
          return pool
        }),
        (pool) => Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000))
      )
      yield* Effect.tryPromise({
        try: () => pool.query("SELECT 1"),
        catch: (cause) => new SqlError({ cause, message: "PgClient: Failed to connect" })
      }).pipe(Effect.timeoutFail({
        duration: CONNECT_TIMEOUT,
        onTimeout: () => new SqlError({ cause: new Error("Connection timed out"), message: "PgClient: Connection timed out" })
      }))
      const client = yield* PgClient.fromPool({
        acquire: Effect.succeed(pool),
        applicationName: config.application_name,
        types: config.types
      })
      const stats = (): PoolStats => ({
        total: pool.totalCount,
        idle: pool.idleCount,
        waiting: pool.waitingCount,
        max: pool.options.max
      })
      return Context.make(PgClient.PgClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(DatabasePool, { stats })
      )
    })
  ).pipe(Layer.provide(Reactivity.layer))
