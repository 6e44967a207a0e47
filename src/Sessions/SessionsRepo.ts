/**
 * SQL for upload sessions and their parts. Counters move only by `x = x + n` statements and
 * statuses only from the states they may leave, so concurrent requests (on any number of
 * instances) can neither double-count a part nor resurrect a finished session.
 */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Data, Effect, Schema } from "effect"
import { IngestFile } from "../Domain/File"
import { PartId, SessionId, UserId } from "../Domain/Ids"
import { PartClaim, type PartRange, SessionStatus, UploadPart, UploadSession } from "../Domain/Session"
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

const PartClaimRequest = Schema.Struct({
  id: PartId,
  sessionId: SessionId,
  partNumber: Schema.Int,
  offset: Schema.Int,
  token: Schema.String,
  now: Schema.DateFromSelf,
  until: Schema.DateFromSelf
})

const ListRequest = Schema.Struct({
  ownerId: Schema.NullOr(UserId),
  statuses: Schema.NullOr(Schema.Array(SessionStatus)),
  /** Only sessions that have not expired at this time. */
  unexpiredAt: Schema.NullOr(Schema.DateFromSelf),
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
      execute: ({ beforeId, limit, ownerId, statuses, unexpiredAt }) => {
        const conditions = [
          ...(ownerId === null ? [] : [sql`s.created_by = ${ownerId}`]),
          ...(statuses === null ? [] : [sql.in("s.status", statuses)]),
          ...(unexpiredAt === null ? [] : [sql`s.expires_at > ${unexpiredAt}`]),
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

    /** The part as it stands: received, or claimed by a request writing it. */
    const findPart = SqlSchema.findOne({
      Request: Schema.Struct({ sessionId: SessionId, partNumber: Schema.Int }),
      Result: Schema.Union(UploadPart, PartClaim),
      execute: ({ partNumber, sessionId }) =>
        sql`SELECT * FROM upload_parts WHERE session_id = ${sessionId} AND part_number = ${partNumber}`
    })

    /**
     * Takes the right to write a part: granted when nobody has the part, or when the claim
     * of the request that had it lapsed (that request died). Never for a received part.
     */
    const claimPart = (claim: typeof PartClaimRequest.Type) =>
      sql`INSERT INTO upload_parts (id, session_id, part_number, status, byte_offset, claim_token, claim_expires_at, created_at)
          VALUES (${claim.id}, ${claim.sessionId}, ${claim.partNumber}, 'PENDING', ${claim.offset},
                  ${claim.token}, ${claim.until}, ${claim.now})
          ON CONFLICT ON CONSTRAINT upload_parts_session_part DO UPDATE
             SET claim_token = EXCLUDED.claim_token, claim_expires_at = EXCLUDED.claim_expires_at
           WHERE upload_parts.status = 'PENDING' AND upload_parts.claim_expires_at < ${claim.now}
          RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

    /** Keeps a claim alive; false when it is no longer ours. */
    const extendClaim = (sessionId: SessionId, partNumber: number, token: string, until: Date) =>
      sql`UPDATE upload_parts SET claim_expires_at = ${until}
           WHERE session_id = ${sessionId} AND part_number = ${partNumber}
             AND status = 'PENDING' AND claim_token = ${token}
       RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

    /** Gives a claim up after a failed write, so the part can be sent again at once. */
    const releaseClaim = (sessionId: SessionId, partNumber: number, token: string) =>
      sql`DELETE FROM upload_parts
           WHERE session_id = ${sessionId} AND part_number = ${partNumber}
             AND status = 'PENDING' AND claim_token = ${token}`.pipe(Effect.asVoid)

    /**
     * In ONE statement: the claim's holder records its part as received, and the session
     * counts it (atomic increments; the first part moves INIT → IN_PROGRESS; expiry refreshed).
     * The session row is locked first, which orders this against completion, abort and the
     * sweeper. None when the session no longer accepts parts or the claim was lost.
     */
    const receivePart = SqlSchema.findOne({
      Request: Schema.Struct({
        sessionId: SessionId,
        partNumber: Schema.Int,
        token: Schema.String,
        key: Schema.String,
        size: Schema.Int,
        sha256: Schema.String,
        now: Schema.DateFromSelf,
        expiresAt: Schema.DateFromSelf
      }),
      Result: Schema.Struct({ part: UploadPart, session: UploadSession }),
      execute: ({ expiresAt, key, now, partNumber, sessionId, sha256, size, token }) =>
        sql`WITH open_session AS (
              SELECT id FROM upload_sessions
               WHERE id = ${sessionId} AND status IN ('INIT', 'IN_PROGRESS') AND expires_at > ${now}
                 FOR UPDATE
            ), received AS (
              UPDATE upload_parts
                 SET status = 'RECEIVED', temp_key = ${key}, size_bytes = ${size}, sha256 = ${sha256},
                     claim_token = NULL, claim_expires_at = NULL, created_at = ${now}
               WHERE session_id = (SELECT id FROM open_session) AND part_number = ${partNumber}
                 AND status = 'PENDING' AND claim_token = ${token}
           RETURNING *
            ), counted AS (
              UPDATE upload_sessions
                 SET received_parts_count = received_parts_count + 1,
                     received_bytes = received_bytes + (SELECT size_bytes FROM received),
                     status = 'IN_PROGRESS', expires_at = ${expiresAt}, updated_at = ${now}
               WHERE id = (SELECT session_id FROM received)
           RETURNING *
            )
            SELECT to_jsonb(received.*) AS part, to_jsonb(counted.*) AS session FROM received, counted`
    })

    /** The received parts in order, where assembly finds them. */
    const partsInOrder = SqlSchema.findAll({
      Request: SessionId,
      Result: Schema.Struct({ part_number: Schema.Int, key: Schema.String, offset: Schema.Int, size: Schema.Int }),
      execute: (id) =>
        sql`SELECT part_number, temp_key AS key, byte_offset AS "offset", size_bytes AS size FROM upload_parts
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

    /**
     * Locks up to `limit` open sessions past their expiry that no complete is assembling, and
     * that no other sweeper has locked (SKIP LOCKED: concurrent sweepers take disjoint sets).
     */
    const lockExpired = (now: Date, limit: number) =>
      sql<{ id: SessionId }>`
        SELECT id FROM upload_sessions
         WHERE status IN ('INIT', 'IN_PROGRESS') AND expires_at <= ${now}
           AND (finalize_lease_until IS NULL OR finalize_lease_until < ${now})
         ORDER BY expires_at
         LIMIT ${limit}
           FOR UPDATE SKIP LOCKED`.pipe(Effect.map((rows) => rows.map((row) => row.id)))

    /** Of these session ids, those that are not open (ended, or unknown). */
    const notOpenAmong = (ids: ReadonlyArray<string>) =>
      sql<{ id: string }>`
        SELECT candidate AS id FROM unnest(${ids}::uuid[]) AS candidate
         WHERE NOT EXISTS (SELECT 1 FROM upload_sessions s
                            WHERE s.id = candidate AND s.status IN ('INIT', 'IN_PROGRESS'))`.pipe(
        Effect.map((rows) => rows.map((row) => row.id))
      )

    /** Bytes reserved by the user's open sessions; an expired one reserves nothing, swept or not. */
    const reservedBytes = (ownerId: UserId, now: Date) =>
      sql<{ bytes: number }>`SELECT coalesce(sum(total_size_bytes), 0)::bigint AS bytes
                               FROM upload_sessions
                              WHERE created_by = ${ownerId} AND status IN ('INIT', 'IN_PROGRESS')
                                AND expires_at > ${now}`.pipe(
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
      claimPart: (claim: typeof PartClaimRequest.Type) => Effect.orDie(claimPart(claim)),
      extendClaim: (sessionId: SessionId, partNumber: number, token: string, until: Date) =>
        Effect.orDie(extendClaim(sessionId, partNumber, token, until)),
      releaseClaim: (sessionId: SessionId, partNumber: number, token: string) =>
        Effect.orDie(releaseClaim(sessionId, partNumber, token)),
      receivePart: (received: Parameters<typeof receivePart>[0]) => Effect.orDie(receivePart(received)),
      partsInOrder: (id: SessionId) => Effect.orDie(partsInOrder(id)),
      claimFinalize: (id: SessionId, now: Date, until: Date) => Effect.orDie(claimFinalize(id, now, until)),
      extendFinalize: (id: SessionId, until: Date) => Effect.orDie(extendFinalize(id, until)),
      releaseFinalize: (id: SessionId) => Effect.orDie(releaseFinalize(id)),
      markComplete: (id: SessionId, now: Date) => Effect.orDie(markComplete({ id, now })),
      terminate: (request: typeof Terminate.Type) => Effect.orDie(terminate(request)),
      reservedBytes: (ownerId: UserId, now: Date) => Effect.orDie(reservedBytes(ownerId, now)),
      lockExpired: (now: Date, limit: number) => Effect.orDie(lockExpired(now, limit)),
      notOpenAmong: (ids: ReadonlyArray<string>) => Effect.orDie(notOpenAmong(ids))
    } as const
  })
}) {}
