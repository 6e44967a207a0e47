/**
 * SQL for the parts of upload sessions. A part is RECEIVED once its bytes are complete,
 * durable and hashed; before that, the one request allowed to write it holds a PENDING
 * claim: a lease in database time (see Lease.ts), renewed while it writes.
 */
import { Effect, Schema } from "effect"
import { Sha256Hex, Timestamp } from "../Domain/Common"
import { PartId, SessionId } from "../Domain/Ids"
import { PartClaim, UploadPart, UploadSession } from "../Domain/Session"
import { leaseEnd, LeaseSeconds } from "../Lease"
import { command, findAll, findOne, repository, sessionIsOpen, single } from "../Repo"

const Claim = Schema.Struct({ sessionId: SessionId, partNumber: Schema.Int, token: Schema.String })

export class PartsRepo extends Effect.Service<PartsRepo>()("Portal/PartsRepo", {
  effect: repository((sql) => ({
    /** The session a part is sent to, with where its bytes go in the store. */
    session: findOne({
      Request: SessionId,
      Result: Schema.Struct({ session: UploadSession, storage_upload_ref: Schema.NullOr(Schema.String) }),
      execute: (id) =>
        sql`SELECT to_jsonb(s.*) AS session, s.storage_upload_ref FROM upload_sessions s WHERE s.id = ${id}`
    }),

    /**
     * Records the session's storage upload, unless one is recorded already: answers the one
     * that counts (ours, or that of a part that got there first).
     */
    setUploadRef: single({
      Request: Schema.Struct({ id: SessionId, ref: Schema.String }),
      Result: Schema.Struct({ storage_upload_ref: Schema.String }),
      execute: ({ id, ref }) =>
        sql`UPDATE upload_sessions SET storage_upload_ref = coalesce(storage_upload_ref, ${ref})
             WHERE id = ${id} RETURNING storage_upload_ref`
    }),

    /**
     * Parts found replaced in the store when completing (another writer's bytes under their
     * number): they no longer count as received, so the client sends them again.
     */
    unreceive: command({
      Request: Schema.Struct({ sessionId: SessionId, partNumbers: Schema.Array(Schema.Int) }),
      execute: ({ partNumbers, sessionId }) =>
        sql`WITH gone AS (
              DELETE FROM upload_parts
               WHERE session_id = ${sessionId} AND status = 'RECEIVED' AND part_number = ANY(${partNumbers}::int[])
           RETURNING size_bytes
            )
            UPDATE upload_sessions
               SET received_parts_count = received_parts_count - (SELECT count(*) FROM gone),
                   received_bytes = received_bytes - (SELECT coalesce(sum(size_bytes), 0) FROM gone)
             WHERE id = ${sessionId}`
    }),

    /** The part as it stands: received, or claimed by a request writing it. */
    find: findOne({
      Request: Schema.Struct({ sessionId: SessionId, partNumber: Schema.Int }),
      Result: Schema.Union(UploadPart, PartClaim),
      execute: ({ partNumber, sessionId }) =>
        sql`SELECT * FROM upload_parts WHERE session_id = ${sessionId} AND part_number = ${partNumber}`
    }),

    /**
     * Takes the right to write a part: granted when nobody has the part, or when the claim
     * of the request that had it lapsed (that request died). Never for a received part.
     */
    claim: findOne({
      Request: Schema.Struct({
        ...Claim.fields,
        id: PartId,
        offset: Schema.Int,
        now: Timestamp,
        lease: LeaseSeconds
      }),
      Result: Schema.Struct({ id: PartId }),
      execute: (claim) =>
        sql`INSERT INTO upload_parts (id, session_id, part_number, status, byte_offset, claim_token, claim_expires_at, created_at)
            VALUES (${claim.id}, ${claim.sessionId}, ${claim.partNumber}, 'PENDING', ${claim.offset},
                    ${claim.token}, ${leaseEnd(sql, claim.lease)}, ${claim.now})
            ON CONFLICT ON CONSTRAINT upload_parts_session_part DO UPDATE
               SET claim_token = EXCLUDED.claim_token, claim_expires_at = EXCLUDED.claim_expires_at
             WHERE upload_parts.status = 'PENDING' AND upload_parts.claim_expires_at < now()
            RETURNING id`
    }),

    /** Keeps a claim alive; None when it is no longer this token's. */
    renewClaim: findOne({
      Request: Schema.Struct({ ...Claim.fields, lease: LeaseSeconds }),
      Result: Schema.Struct({ id: PartId }),
      execute: ({ lease, partNumber, sessionId, token }) =>
        sql`UPDATE upload_parts SET claim_expires_at = ${leaseEnd(sql, lease)}
             WHERE session_id = ${sessionId} AND part_number = ${partNumber}
               AND status = 'PENDING' AND claim_token = ${token}
         RETURNING id`
    }),

    /** Gives a claim up after a failed write, so the part can be sent again at once. */
    releaseClaim: findAll({
      Request: Claim,
      Result: Schema.Struct({ id: PartId }),
      execute: ({ partNumber, sessionId, token }) =>
        sql`DELETE FROM upload_parts
             WHERE session_id = ${sessionId} AND part_number = ${partNumber}
               AND status = 'PENDING' AND claim_token = ${token}
         RETURNING id`
    }),

    /**
     * In ONE statement: the claim's holder records its part as received, and the session
     * counts it (atomic increments; the first part moves INIT → IN_PROGRESS; expiry refreshed).
     * The session row is locked first, which orders this against completion, abort and the
     * sweeper. None when the session no longer accepts parts or the claim was lost.
     */
    receive: findOne({
      Request: Schema.Struct({
        ...Claim.fields,
        key: Schema.String,
        size: Schema.Int,
        sha256: Sha256Hex,
        now: Timestamp,
        expiresAt: Timestamp
      }),
      Result: Schema.Struct({ part: UploadPart, session: UploadSession }),
      execute: ({ expiresAt, key, now, partNumber, sessionId, sha256, size, token }) =>
        sql`WITH open_session AS (
              SELECT id FROM upload_sessions
               WHERE id = ${sessionId} AND ${sessionIsOpen(sql)} AND expires_at > ${now}
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
    }),

    /** The received parts in order, with how the store names them. */
    receivedInOrder: findAll({
      Request: SessionId,
      Result: Schema.Struct({ partNumber: Schema.Int, locator: Schema.String, size: Schema.Int, sha256: Sha256Hex }),
      execute: (id) =>
        sql`SELECT part_number AS "partNumber", temp_key AS locator, size_bytes AS size, sha256 FROM upload_parts
             WHERE session_id = ${id} AND status = 'RECEIVED' ORDER BY part_number`
    })
  }) as const)
}) {}
