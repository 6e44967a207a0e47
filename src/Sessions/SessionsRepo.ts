/**
 * SQL for upload sessions and their parts. Counters move only by `x = x + n` statements and
 * statuses only from the states they may leave, so concurrent requests (on any number of
 * instances) can neither double-count a part nor resurrect a finished session.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Data, Effect, Option, Schema } from "effect"
import { IngestFile } from "../Domain/File"
import { FileId, SessionId, UserId } from "../Domain/Ids"
import { type PartRange, SessionStatus, UploadPart, UploadSession } from "../Domain/Session"
import { isUniqueViolation } from "../Sql"

/** Another request created a session with the same (owner, Idempotency-Key) first. */
export class IdempotencyKeyTaken extends Data.TaggedError("IdempotencyKeyTaken") {}

/** A session together with its file: what every session response shows. */
export const SessionWithFile = Schema.Struct({ session: UploadSession, file: IngestFile })
export type SessionWithFile = typeof SessionWithFile.Type

const NewSession = Schema.Struct({
  ...UploadSession.fields,
  request_fingerprint: Schema.NullOr(Schema.String)
})

const Terminate = Schema.Struct({
  id: SessionId,
  status: Schema.Literal("FAILED", "ABORTED"),
  reason: Schema.String,
  expectedSha256: Schema.NullOr(Schema.String),
  now: Schema.DateFromSelf
})

const ListRequest = Schema.Struct({
  ownerId: Schema.NullOr(UserId),
  statuses: Schema.NullOr(Schema.Array(SessionStatus)),
  beforeId: Schema.NullOr(SessionId),
  limit: Schema.Int
})

export class SessionsRepo extends Effect.Service<SessionsRepo>()("Portal/SessionsRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insert = SqlSchema.single({
      Request: NewSession,
      Result: UploadSession,
      execute: (session) => sql`INSERT INTO upload_sessions ${sql.insert(session)} RETURNING *`
    })

    const findById = SqlSchema.findOne({
      Request: SessionId,
      Result: UploadSession,
      execute: (id) => sql`SELECT * FROM upload_sessions WHERE id = ${id}`
    })

    /** Row lock for the rest of the transaction: serializes changes of one session's status. */
    const lock = SqlSchema.findOne({
      Request: SessionId,
      Result: UploadSession,
      execute: (id) => sql`SELECT * FROM upload_sessions WHERE id = ${id} FOR UPDATE`
    })

    const findWithFile = SqlSchema.findOne({
      Request: SessionId,
      Result: SessionWithFile,
      execute: (id) =>
        sql`SELECT to_jsonb(s.*) AS session, to_jsonb(f.*) AS file
              FROM upload_sessions s JOIN files f ON f.id = s.file_id
             WHERE s.id = ${id}`
    })

    const findByIdempotencyKey = SqlSchema.findOne({
      Request: Schema.Struct({ ownerId: UserId, key: Schema.String }),
      Result: Schema.Struct({ id: SessionId, request_fingerprint: Schema.NullOr(Schema.String) }),
      execute: ({ key, ownerId }) =>
        sql`SELECT id, request_fingerprint FROM upload_sessions
             WHERE created_by = ${ownerId} AND idempotency_key = ${key}`
    })

    /** Newest first (ids are UUIDv7, so id order is creation order); keyset pagination. */
    const list = SqlSchema.findAll({
      Request: ListRequest,
      Result: SessionWithFile,
      execute: ({ beforeId, limit, ownerId, statuses }) => {
        const conditions = [
          ...(ownerId === null ? [] : [sql`s.created_by = ${ownerId}`]),
          ...(statuses === null ? [] : [sql.in("s.status", statuses)]),
          ...(beforeId === null ? [] : [sql`s.id < ${beforeId}`])
        ]
        return sql`SELECT to_jsonb(s.*) AS session, to_jsonb(f.*) AS file
                     FROM upload_sessions s JOIN files f ON f.id = s.file_id
                    ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
                    ORDER BY s.id DESC LIMIT ${limit}`
      }
    })

    /** Received part numbers as inclusive ranges, computed in SQL (gaps and islands). */
    const receivedRanges = (id: SessionId) =>
      sql<{ first: number; last: number }>`
        SELECT min(part_number) AS first, max(part_number) AS last
          FROM (SELECT part_number, part_number - row_number() OVER (ORDER BY part_number) AS island
                  FROM upload_parts WHERE session_id = ${id} AND status = 'RECEIVED') numbered
         GROUP BY island ORDER BY first`.pipe(
        Effect.map((rows) => rows.map(({ first, last }): PartRange => [first, last]))
      )

    const findPart = SqlSchema.findOne({
      Request: Schema.Struct({ sessionId: SessionId, partNumber: Schema.Int }),
      Result: UploadPart,
      execute: ({ partNumber, sessionId }) =>
        sql`SELECT * FROM upload_parts WHERE session_id = ${sessionId} AND part_number = ${partNumber}`
    })

    /** Inserts the part unless that number is already taken; None when it was. */
    const insertPart = SqlSchema.findOne({
      Request: UploadPart,
      Result: UploadPart,
      execute: (part) =>
        sql`INSERT INTO upload_parts ${sql.insert(part)}
            ON CONFLICT ON CONSTRAINT upload_parts_session_part DO NOTHING
            RETURNING *`
    })

    /** Counts one newly received part: atomic increments, first part moves INIT → IN_PROGRESS. */
    const countPart = SqlSchema.single({
      Request: Schema.Struct({
        id: SessionId,
        size: Schema.Int,
        now: Schema.DateFromSelf,
        expiresAt: Schema.DateFromSelf
      }),
      Result: UploadSession,
      execute: ({ expiresAt, id, now, size }) =>
        sql`UPDATE upload_sessions
               SET received_parts_count = received_parts_count + 1,
                   received_bytes = received_bytes + ${size},
                   status = 'IN_PROGRESS', expires_at = ${expiresAt}, updated_at = ${now}
             WHERE id = ${id} AND status IN ('INIT', 'IN_PROGRESS')
         RETURNING *`
    })

    /** The stored parts in order, as assembly reads them. */
    const partsInOrder = SqlSchema.findAll({
      Request: SessionId,
      Result: Schema.Struct({ part_number: Schema.Int, key: Schema.String, size: Schema.Int }),
      execute: (id) =>
        sql`SELECT part_number, temp_key AS key, size_bytes AS size FROM upload_parts
             WHERE session_id = ${id} AND status = 'RECEIVED' ORDER BY part_number`
    })

    /**
     * Takes the right to assemble a session until `until`, unless another finalize holds it.
     * This is what makes two concurrent completes assemble once, across instances.
     */
    const claimFinalize = (id: SessionId, now: Date, until: Date) =>
      sql`UPDATE upload_sessions SET finalize_lease_until = ${until}
           WHERE id = ${id} AND status IN ('INIT', 'IN_PROGRESS')
             AND (finalize_lease_until IS NULL OR finalize_lease_until < ${now})
       RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

    const extendFinalize = (id: SessionId, until: Date) =>
      sql`UPDATE upload_sessions SET finalize_lease_until = ${until}
           WHERE id = ${id} AND finalize_lease_until IS NOT NULL`.pipe(Effect.asVoid)

    const releaseFinalize = (id: SessionId) =>
      sql`UPDATE upload_sessions SET finalize_lease_until = NULL WHERE id = ${id}`.pipe(Effect.asVoid)

    const markComplete = SqlSchema.findOne({
      Request: Schema.Struct({ id: SessionId, now: Schema.DateFromSelf }),
      Result: UploadSession,
      execute: ({ id, now }) =>
        sql`UPDATE upload_sessions
               SET status = 'COMPLETE', finalize_lease_until = NULL, updated_at = ${now}
             WHERE id = ${id} AND status IN ('INIT', 'IN_PROGRESS')
         RETURNING *`
    })

    /** Open → FAILED or ABORTED; None if the session had already left the open states. */
    const terminate = SqlSchema.findOne({
      Request: Terminate,
      Result: UploadSession,
      execute: ({ expectedSha256, id, now, reason, status }) =>
        sql`UPDATE upload_sessions
               SET status = ${status}, failure_reason = ${reason}, finalize_lease_until = NULL,
                   expected_sha256 = coalesce(expected_sha256, ${expectedSha256}), updated_at = ${now}
             WHERE id = ${id} AND status IN ('INIT', 'IN_PROGRESS')
         RETURNING *`
    })

    /** Bytes reserved by the user's open sessions. */
    const reservedBytes = (ownerId: UserId) =>
      sql<{ bytes: number }>`SELECT coalesce(sum(total_size_bytes), 0)::bigint AS bytes
                               FROM upload_sessions
                              WHERE created_by = ${ownerId} AND status IN ('INIT', 'IN_PROGRESS')`.pipe(
        Effect.map((rows) => rows[0]?.bytes ?? 0)
      )

    return {
      insert: (session: typeof NewSession.Type) =>
        insert(session).pipe(
          Effect.catchTag("SqlError", (error) =>
            isUniqueViolation(error, "upload_sessions_idempotency")
              ? Effect.fail(new IdempotencyKeyTaken())
              : Effect.die(error)),
          Effect.catchTags({ ParseError: Effect.die, NoSuchElementException: Effect.die })
        ),
      findById: (id: SessionId) => Effect.orDie(findById(id)),
      lock: (id: SessionId) => Effect.orDie(lock(id)),
      findWithFile: (id: SessionId) => Effect.orDie(findWithFile(id)),
      findByIdempotencyKey: (ownerId: UserId, key: string) => Effect.orDie(findByIdempotencyKey({ ownerId, key })),
      list: (request: typeof ListRequest.Type) => Effect.orDie(list(request)),
      receivedRanges: (id: SessionId) => Effect.orDie(receivedRanges(id)),
      findPart: (sessionId: SessionId, partNumber: number) => Effect.orDie(findPart({ sessionId, partNumber })),
      insertPart: (part: UploadPart) => Effect.orDie(insertPart(part)),
      countPart: (id: SessionId, size: number, now: Date, expiresAt: Date) =>
        Effect.orDie(countPart({ id, size, now, expiresAt })),
      partsInOrder: (id: SessionId) => Effect.orDie(partsInOrder(id)),
      claimFinalize: (id: SessionId, now: Date, until: Date) => Effect.orDie(claimFinalize(id, now, until)),
      extendFinalize: (id: SessionId, until: Date) => Effect.orDie(extendFinalize(id, until)),
      releaseFinalize: (id: SessionId) => Effect.orDie(releaseFinalize(id)),
      markComplete: (id: SessionId, now: Date) => Effect.orDie(markComplete({ id, now })),
      terminate: (request: typeof Terminate.Type) => Effect.orDie(terminate(request)),
      reservedBytes: (ownerId: UserId) => Effect.orDie(reservedBytes(ownerId)),
      fileOf: (id: SessionId) =>
        sql<{ file_id: FileId }>`SELECT file_id FROM upload_sessions WHERE id = ${id}`.pipe(
          Effect.map((rows) => Option.fromNullable(rows[0]?.file_id)),
          Effect.orDie
        )
    } as const
  })
}) {}
