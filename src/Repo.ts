/**
 * How repositories run SQL. A query is declared once, where the repository exposes it, with
 * the schemas of its request and its rows; whatever the database or a schema fails with is
 * infrastructure and becomes a defect here, so a repository's signatures carry only the
 * outcomes its callers decide on (absence, a taken unique key).
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option, type Schema } from "effect"
import { OPEN_STATUSES } from "./Domain/Session"
import { isUniqueViolation } from "./Sql"

/** A repository: the queries `make` declares with the SQL client. */
export const repository = <Queries>(make: (sql: SqlClient.SqlClient) => Queries) => Effect.map(SqlClient.SqlClient, make)

interface Query<IA, II, IR, A, AI, AR, R, E> {
  readonly Request: Schema.Schema<IA, II, IR>
  readonly Result: Schema.Schema<A, AI, AR>
  readonly execute: (request: II) => Effect.Effect<ReadonlyArray<unknown>, E, R>
}

/** The first row, if any. */
export const findOne = <IA, II, IR, A, AI, AR, R, E>(query: Query<IA, II, IR, A, AI, AR, R, E>) => {
  const run = SqlSchema.findOne(query)
  return (request: IA) => Effect.orDie(run(request))
}

/** Every row. */
export const findAll = <IA, II, IR, A, AI, AR, R, E>(query: Query<IA, II, IR, A, AI, AR, R, E>) => {
  const run = SqlSchema.findAll(query)
  return (request: IA) => Effect.orDie(run(request))
}

/** Exactly one row (an INSERT … RETURNING); no row is a defect. */
export const single = <IA, II, IR, A, AI, AR, R, E>(query: Query<IA, II, IR, A, AI, AR, R, E>) => {
  const run = SqlSchema.single(query)
  return (request: IA) => Effect.orDie(run(request))
}

/** A statement whose rows do not matter. */
export const command = <IA, II, IR, R, E>(query: {
  readonly Request: Schema.Schema<IA, II, IR>
  readonly execute: (request: II) => Effect.Effect<unknown, E, R>
}) => {
  const run = SqlSchema.void(query)
  return (request: IA) => Effect.orDie(run(request))
}

/** The row of `table` whose id is `id`, if there is one. */
export const findRowById = <IdA, IdI extends string, IdR, A, I, R>(
  sql: SqlClient.SqlClient,
  table: string,
  Id: Schema.Schema<IdA, IdI, IdR>,
  Row: Schema.Schema<A, I, R>
) => findOne({ Request: Id, Result: Row, execute: (id) => sql`SELECT * FROM ${sql(table)} WHERE id = ${id}` })

/** Inserts one row into `table`, answering it as stored. */
export const insertRow = <A, I extends Record<string, unknown>, R>(
  sql: SqlClient.SqlClient,
  table: string,
  Row: Schema.Schema<A, I, R>
) => single({ Request: Row, Result: Row, execute: (row) => sql`INSERT INTO ${sql(table)} ${sql.insert(row)} RETURNING *` })

/** Like `single`, but a unique violation of `constraint` fails with `onTaken` instead of dying. */
export const insertUnique = <IA, II, IR, A, AI, AR, R, T>(
  query: Query<IA, II, IR, A, AI, AR, R, SqlError>,
  constraint: string,
  onTaken: (request: IA) => T
) => {
  const run = SqlSchema.single(query)
  return (request: IA): Effect.Effect<A, T, R | IR | AR> =>
    run(request).pipe(
      Effect.catchAll((error) =>
        error._tag === "SqlError" && isUniqueViolation(error, constraint) ? Effect.fail(onTaken(request)) : Effect.die(error)
      )
    )
}

/** A repository's Option turned into the value, or into the failure that "nothing" means there. */
export const someOrFail = <E>(onNone: () => E) =>
<A, E1, R>(self: Effect.Effect<Option.Option<A>, E1, R>): Effect.Effect<A, E | E1, R> =>
  Effect.flatMap(self, Option.match({ onNone: () => Effect.fail(onNone()), onSome: Effect.succeed }))

/** For an Option that cannot be None unless the code is wrong. */
export const someOrDie = (message: () => string) =>
<A, E1, R>(self: Effect.Effect<Option.Option<A>, E1, R>): Effect.Effect<A, E1, R> =>
  Effect.flatMap(self, Option.match({ onNone: () => Effect.dieMessage(message()), onSome: Effect.succeed }))

/** SQL for "the session in `column` is open": the one SQL spelling of OPEN_STATUSES. */
export const sessionIsOpen = (sql: SqlClient.SqlClient, column = "status") => sql.in(column, OPEN_STATUSES)
