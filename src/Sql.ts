/**
 * The database: PostgreSQL when DATABASE_URL is set, otherwise the embedded PGlite under
 * DATA_DIR (EmbeddedDatabase.ts), reached through the same `@effect/sql-pg` client. One set
 * of SQL migrations serves both.
 */
import { FileSystem, Path } from "@effect/platform"
import { Migrator, SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer, Option, Redacted, Schedule } from "effect"
import { fileURLToPath } from "node:url"
import { PortalConfig } from "./Config"
import { embeddedLayer } from "./EmbeddedDatabase"
import { pooledPgLayer } from "./Operations/DatabasePool"
import { pgTypes } from "./PgTypes"

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

/** A PostgreSQL server reached through a URL (production, CI and tests), over a pool GET /metrics can see. */
export const postgresLayer = (url: Redacted.Redacted<string>, maxConnections: number) =>
  pooledPgLayer({ connectionString: Redacted.value(url), max: maxConnections, types: pgTypes, application_name: "ingest-portal" })

/** The SqlClient of the configured database, without migrations. */
export const SqlClientLive = Layer.unwrapEffect(
  Effect.gen(function*() {
    const config = yield* PortalConfig
    return Option.match(config.databaseUrl, {
      onSome: (url) =>
        postgresLayer(url, config.databasePoolSize).pipe(
          // PostgreSQL may still be starting next to us (compose, CI): retry briefly, then fail loudly
          Layer.retry(Schedule.exponential("250 millis").pipe(Schedule.intersect(Schedule.recurs(5))))
        ),
      onNone: () => embeddedLayer({ dataDir: config.dataDir, fsync: config.storageFsync })
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
