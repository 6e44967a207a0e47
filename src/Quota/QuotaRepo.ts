/**
 * SQL for quotas. What a user has spent for good is the stored_bytes counter of their row,
 * kept by the transaction that stores a file; what they have reserved is the reserved_bytes
 * counter, kept by triggers on upload_sessions (migration 0005), less their open sessions
 * already past expiry that the sweeper has not ended yet (few, found through a partial index).
 */
import { Effect, Schema } from "effect"
import { Timestamp } from "../Domain/Common"
import { UserId } from "../Domain/Ids"
import { command, findOne, repository, sessionIsOpen } from "../Repo"

const Usage = Schema.Struct({ limit: Schema.Number, used: Schema.Number, reserved: Schema.Number })

export class QuotaRepo extends Effect.Service<QuotaRepo>()("Portal/QuotaRepo", {
  effect: repository((sql) => ({
    usage: findOne({
      Request: Schema.Struct({ userId: UserId, now: Timestamp }),
      Result: Usage,
      execute: ({ now, userId }) =>
        sql`SELECT u.quota_bytes AS limit, u.stored_bytes AS used,
                   u.reserved_bytes - (SELECT coalesce(sum(s.total_size_bytes), 0)::bigint FROM upload_sessions s
                     WHERE s.created_by = u.id AND ${sessionIsOpen(sql, "s.status")} AND s.expires_at <= ${now}
                   ) AS reserved
              FROM users u WHERE u.id = ${userId}`
    }),

    /**
     * Locks the user's row until the transaction ends: concurrent reservations by one user
     * are decided one after the other. Read the usage in a later statement, whose snapshot
     * then includes what the previous holder of the lock committed.
     */
    lock: command({
      Request: UserId,
      execute: (userId) => sql`SELECT id FROM users WHERE id = ${userId} FOR UPDATE`
    }),
    /** A file of the user's was stored: its bytes are spent. */
    addStored: command({
      Request: Schema.Struct({ userId: UserId, bytes: Schema.Number }),
      execute: ({ bytes, userId }) => sql`UPDATE users SET stored_bytes = stored_bytes + ${bytes} WHERE id = ${userId}`
    })
  }) as const)
}) {}
