/**
 * The database: PostgreSQL when DATABASE_URL is set, otherwise an embedded PGlite (a real
 * PostgreSQL compiled to wasm) under DATA_DIR, served over a loopback socket to the same
 * `@effect/sql-pg` client. One set of SQL migrations serves both.
 */
import { FileSystem, Path } from "@effect/platform"
import { Migrator, SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { PgClient } from "@effect/sql-pg"
import { PGlite } from "@electric-sql/pglite"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { Effect, Layer, Option, Redacted, Schedule } from "effect"
import { fileURLToPath } from "node:url"
import pg from "pg"
import { PortalConfig } from "./Config"

const INT8_OID = 20
const TIMESTAMPTZ_OID = 1184

const parseTimestamptz = pg.types.getTypeParser(TIMESTAMPTZ_OID, "text")

/**
 * Row values as the domain schemas expect them: int8 as a number (sizes stay far below 2^53)
 * and timestamptz as an ISO-8601 string, so one `Schema.DateTimeUtc` decodes rows and JSON alike.
 */
export const pgTypes = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8_OID) return (value: string) => Number(value)
    if (oid === TIMESTAMPTZ_OID) return (value: string) => new Date(parseTimestamptz(value)).toISOString()
    return pg.types.getTypeParser(oid, format)
  }) as typeof pg.types.getTypeParser
}

const migrationsDirectory = fileURLToPath(new URL("../migrations", import.meta.url))

/** Loads `migrations/NNNN_name.sql`; each file runs as one multi-statement script. */
const sqlFileLoader = (directory: string): Migrator.Loader<FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const files = yield* fs.readDirectory(directory)
    return files
      .flatMap((file) => {
        const match = file.match(/^(\d+)_([^.]+)\.sql$/)
        return match ? [{ id: Number(match[1]), name: match[2] ?? file, file }] : []
      })
      .sort((a, b) => a.id - b.id)
      .map(({ file, id, name }): Migrator.ResolvedMigration => [
        id,
        name,
        Effect.succeed(
          Effect.flatMap(
            Effect.zip(SqlClient.SqlClient, fs.readFileString(path.join(directory, file))),
            ([sql, text]) => sql.unsafe(text).raw
          )
        )
      ])
  }).pipe(
    Effect.mapError((cause) =>
      new Migrator.MigrationError({ reason: "import-error", message: `cannot read migrations: ${cause}`, cause })
    )
  )

const runMigrator = Migrator.make({})

/** Applies every migration not yet applied; safe to run from several instances at once. */
export const migrate = runMigrator({ loader: sqlFileLoader(migrationsDirectory), table: "portal_migrations" })

export const MigrationsLive = Layer.effectDiscard(
  migrate.pipe(
    Effect.tap((applied) =>
      applied.length > 0
        ? Effect.logInfo(`applied migrations: ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}`)
        : Effect.void
    )
  )
)

/** A PostgreSQL server reached through a URL (production, CI and tests). */
export const postgresLayer = (url: Redacted.Redacted<string>, maxConnections: number) =>
  PgClient.layer({ url, maxConnections, types: pgTypes, applicationName: "ingest-portal" })

/** Refuses a second process on the same embedded database: PGlite is single-process. */
const lockDataDirectory = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const lockFile = path.join(directory, "portal.pid")
    const holder = yield* fs.readFileString(lockFile).pipe(
      Effect.map((text) => Number(text.trim())),
      Effect.orElseSucceed(() => NaN)
    )
    if (Number.isInteger(holder) && holder !== process.pid && processAlive(holder)) {
      return yield* new SqlError({
        message: `the embedded database in ${directory} is in use by process ${holder}; ` +
          `stop it first, or set DATABASE_URL to use a PostgreSQL server`
      })
    }
    yield* Effect.acquireRelease(
      fs.writeFileString(lockFile, String(process.pid)),
      () => fs.remove(lockFile).pipe(Effect.ignore)
    )
  }).pipe(Effect.catchTag("SystemError", "BadArgument", (cause) =>
    new SqlError({ cause, message: `cannot lock ${directory}` })
  ))

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * Embedded PostgreSQL (PGlite) under `directory`, exposed on a loopback port to the stock
 * PgClient. One connection on both sides: pglite-socket runs one session, and a pool of
 * several would interleave extended-protocol messages of different connections.
 */
export const embeddedLayer = (directory: string) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      yield* fs.makeDirectory(directory, { recursive: true }).pipe(
        Effect.mapError((cause) => new SqlError({ cause, message: `cannot create ${directory}` }))
      )
      yield* lockDataDirectory(directory)
      const { server } = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const db = await PGlite.create({ dataDir: directory })
            const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 })
            await server.start()
            return { db, server }
          },
          catch: (cause) => new SqlError({ cause, message: `embedded PostgreSQL (PGlite) failed to start in ${directory}` })
        }),
        ({ db, server }) => Effect.promise(async () => {
          await server.stop()
          await db.close()
        })
      )
      return PgClient.layer({
        url: Redacted.make(`postgres://postgres@${server.getServerConn()}/postgres`),
        maxConnections: 1,
        types: pgTypes,
        applicationName: "ingest-portal"
      })
    })
  )

/** The SqlClient of the configured database, without migrations. */
export const SqlClientLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* PortalConfig
    const path = yield* Path.Path
    return Option.match(config.databaseUrl, {
      onSome: (url) =>
        postgresLayer(url, config.databasePoolSize).pipe(
          // PostgreSQL may still be starting next to us (compose, CI): retry briefly, then fail loudly
          Layer.retry(Schedule.exponential("250 millis").pipe(Schedule.intersect(Schedule.recurs(5))))
        ),
      onNone: () => embeddedLayer(path.resolve(config.dataDir, "db"))
    })
  })
)

/** The configured database, migrated. */
export const DatabaseLive = MigrationsLive.pipe(Layer.provideMerge(SqlClientLive))

/** The SQLSTATE of a failed statement, when PostgreSQL gave one. */
export const sqlState = (error: SqlError): string | undefined => {
  const cause: unknown = error.cause
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined
}

/** A unique_violation, optionally of one named constraint. */
export const isUniqueViolation = (error: SqlError, constraint?: string): boolean => {
  const cause: unknown = error.cause
  return sqlState(error) === "23505" &&
    (constraint === undefined ||
      (typeof cause === "object" && cause !== null && "constraint" in cause && cause.constraint === constraint))
}

/**
 * Runs `effect` in a transaction (a savepoint when nested). Failures of BEGIN/COMMIT are
 * infrastructure, so they become defects; the effect's own typed errors roll back and pass.
 */
export const inTransaction = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, SqlError>, R | SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql.withTransaction(effect)).pipe(
    Effect.catchIf((error: E | SqlError): error is SqlError => error instanceof SqlError, Effect.die)
  )
