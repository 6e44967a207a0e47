/**
 * SQL for upload sessions. Counters move only by `x = x + n` statements and statuses only
 * from the states they may leave, so concurrent requests (on any number of instances) can
 * neither double-count a part nor resurrect a finished session.
 */
import { Data, Effect, Schema } from "effect"
import { Timestamp } from "../Domain/Common"
import { IngestFile } from "../Domain/File"
import { FileId, SessionId, UserId } from "../Domain/Ids"
import { SessionStatus, UploadSession } from "../Domain/Session"
import { leaseEnd, LeaseSeconds } from "../Lease"
import { findAll, findOne, findRowById, insertUnique, repository, sessionIsOpen } from "../Repo"

/** Where a session's bytes are in the store: what storage calls an UploadTarget. */
export const UploadLocation = Schema.Struct({
  id: SessionId,
  file_id: FileId,
  storage_upload_ref: Schema.NullOr(Schema.String)
})
export type UploadLocation = typeof UploadLocation.Type

/** Another request created a session with the same (owner, Idempotency-Key) first. */
export class IdempotencyKeyTaken extends Data.TaggedError("IdempotencyKeyTaken") {}

/** A session together with its file: what every session response shows. */
export const SessionWithFile = Schema.Struct({ session: UploadSession, file: IngestFile })
export type SessionWithFile = typeof SessionWithFile.Type

const NewSession = Schema.Struct({
  ...UploadSession.fields,
  request_fingerprint: Schema.NullOr(Schema.String)
})

const FinalizeLease = Schema.Struct({ id: SessionId, holder: Schema.String, lease: LeaseSeconds })

export class SessionsRepo extends Effect.Service<SessionsRepo>()("Portal/SessionsRepo", {
  effect: repository((sql) => {
    const open = sessionIsOpen(sql)

    return {
      insert: insertUnique(
        {
          Request: NewSession,
          Result: UploadSession,
          execute: (session) => sql`INSERT INTO upload_sessions ${sql.insert(session)} RETURNING *`
        },
        "upload_sessions_idempotency",
        () => new IdempotencyKeyTaken()
      ),

      findById: findRowById(sql, "upload_sessions", SessionId, UploadSession),

      /** Where these sessions' bytes are in the store. */
      uploadLocations: findAll({
        Request: Schema.Array(SessionId),
        Result: UploadLocation,
        execute: (ids) =>
          sql`SELECT id, file_id, storage_upload_ref FROM upload_sessions WHERE id = ANY(${ids}::uuid[])`
      }),

      findWithFile: findOne({
        Request: SessionId,
        Result: SessionWithFile,
        execute: (id) =>
          sql`SELECT to_jsonb(s.*) AS session, to_jsonb(f.*) AS file
                FROM upload_sessions s JOIN files f ON f.id = s.file_id
               WHERE s.id = ${id}`
      }),

      findByIdempotencyKey: findOne({
        Request: Schema.Struct({ ownerId: UserId, key: Schema.String }),
        Result: Schema.Struct({ id: SessionId, request_fingerprint: Schema.NullOr(Schema.String) }),
        execute: ({ key, ownerId }) =>
          sql`SELECT id, request_fingerprint FROM upload_sessions
               WHERE created_by = ${ownerId} AND idempotency_key = ${key}`
      }),

      /** Newest first (ids are UUIDv7, so id order is creation order); keyset pagination. */
      list: findAll({
        Request: Schema.Struct({
          ownerId: Schema.NullOr(UserId),
          statuses: Schema.NullOr(Schema.Array(SessionStatus)),
          /** Only sessions that have not expired at this time. */
          unexpiredAt: Schema.NullOr(Timestamp),
          beforeId: Schema.NullOr(SessionId),
          limit: Schema.Int
        }),
        Result: SessionWithFile,
        execute: ({ beforeId, limit, ownerId, statuses, unexpiredAt }) => {
          const conditions = [
            ...(ownerId === null ? [] : [sql`s.created_by = ${ownerId}`]),
            ...(statuses === null ? [] : [sql.in("s.status", statuses)]),
            ...(unexpiredAt === null ? [] : [sql`s.expires_at > ${unexpiredAt}`]),
            ...(beforeId === null ? [] : [sql`s.id < ${beforeId}`])
          ]
          // the page's sessions first, then their files: the planner cannot tell how many open
          // sessions are unexpired, and would otherwise join the files of all of them
          return sql`SELECT to_jsonb(s.*) AS session, to_jsonb(f.*) AS file
                       FROM (SELECT * FROM upload_sessions s
                             ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
                             ORDER BY s.id DESC LIMIT ${limit}) s
                       JOIN files f ON f.id = s.file_id
                      ORDER BY s.id DESC`
        }
      }),

      /** Received part numbers as inclusive ranges (first, last), computed in SQL (gaps and islands). */
      receivedRanges: findAll({
        Request: SessionId,
        Result: Schema.Struct({ first: Schema.Int, last: Schema.Int }),
        execute: (id) =>
          sql`SELECT min(part_number) AS first, max(part_number) AS last
                FROM (SELECT part_number, part_number - row_number() OVER (ORDER BY part_number) AS island
                        FROM upload_parts WHERE session_id = ${id} AND status = 'RECEIVED') numbered
               GROUP BY island ORDER BY first`
      }),

      /**
       * Takes the right to assemble a session, unless another finalize holds it: what makes
       * two concurrent completes assemble once, across instances. False when it is taken.
       */
      claimFinalize: findOne({
        Request: FinalizeLease,
        Result: Schema.Struct({ id: SessionId }),
        execute: ({ holder, id, lease }) =>
          sql`UPDATE upload_sessions SET finalize_holder = ${holder}, finalize_lease_until = ${leaseEnd(sql, lease)}
               WHERE id = ${id} AND ${open}
                 AND (finalize_lease_until IS NULL OR finalize_lease_until < now())
           RETURNING id`
      }),

      /** Keeps the finalize lease; None when it is no longer this holder's. */
      renewFinalize: findOne({
        Request: FinalizeLease,
        Result: Schema.Struct({ id: SessionId }),
        execute: ({ holder, id, lease }) =>
          sql`UPDATE upload_sessions SET finalize_lease_until = ${leaseEnd(sql, lease)}
               WHERE id = ${id} AND finalize_holder = ${holder}
           RETURNING id`
      }),

      releaseFinalize: (id: SessionId, holder: string) =>
        sql`UPDATE upload_sessions SET finalize_holder = NULL, finalize_lease_until = NULL
             WHERE id = ${id} AND finalize_holder = ${holder}`.pipe(Effect.asVoid, Effect.orDie),

      /** Open → COMPLETE, only for the holder of the finalize lease (a stale one changes nothing). */
      markComplete: findOne({
        Request: Schema.Struct({ id: SessionId, holder: Schema.String, now: Timestamp }),
        Result: UploadSession,
        execute: ({ holder, id, now }) =>
          sql`UPDATE upload_sessions
                 SET status = 'COMPLETE', finalize_holder = NULL, finalize_lease_until = NULL, updated_at = ${now}
               WHERE id = ${id} AND ${open} AND finalize_holder = ${holder}
           RETURNING *`
      }),

      /** Open → FAILED or ABORTED; None if the session had already left the open states. */
      terminate: findOne({
        Request: Schema.Struct({
          id: SessionId,
          status: Schema.Literal("FAILED", "ABORTED"),
          reason: Schema.String,
          now: Timestamp
        }),
        Result: UploadSession,
        execute: ({ id, now, reason, status }) =>
          sql`UPDATE upload_sessions
                 SET status = ${status}, failure_reason = ${reason}, finalize_holder = NULL, finalize_lease_until = NULL,
                     updated_at = ${now}
               WHERE id = ${id} AND ${open}
           RETURNING *`
      }),

      /**
       * Locks up to `limit` open sessions past their expiry that no complete is assembling, and
       * that no other sweeper has locked (SKIP LOCKED: concurrent sweepers take disjoint sets).
       */
      lockExpired: findAll({
        Request: Schema.Struct({ now: Timestamp, limit: Schema.Int }),
        Result: Schema.Struct({ id: SessionId }),
        execute: ({ limit, now }) =>
          sql`SELECT id FROM upload_sessions
               WHERE ${open} AND expires_at <= ${now}
                 AND (finalize_lease_until IS NULL OR finalize_lease_until < now())
               ORDER BY expires_at
               LIMIT ${limit}
                 FOR UPDATE SKIP LOCKED`
      })
    } as const
  })
}) {}
