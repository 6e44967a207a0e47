/** SQL for the transactional outbox. Send leases are kept in database time (see Lease.ts). */
import { Effect, Schema } from "effect"
import { Metadata, Timestamp } from "../Domain/Common"
import { BatchId, EventId, FileId } from "../Domain/Ids"
import { EventType, OutboxEvent, OutboxStatus } from "../Domain/Outbox"
import { leaseEnd, LeaseSeconds } from "../Lease"
import { command, findAll, findOne, findRowById, repository } from "../Repo"

export const NewEvent = Schema.Struct({
  id: EventId,
  event_type: EventType,
  event_id: EventId,
  idempotency_key: Schema.String,
  payload: Metadata,
  status: Schema.Literal("PENDING"),
  next_attempt_at: Timestamp,
  file_id: Schema.NullOr(FileId),
  batch_id: Schema.NullOr(BatchId),
  occurred_at: Timestamp,
  created_at: Timestamp
})

const Relayed = Schema.Struct({ id: EventId, relay: Schema.String })

export class OutboxRepo extends Effect.Service<OutboxRepo>()("Portal/OutboxRepo", {
  effect: repository((sql) => ({
    /** Idempotent: the same (event_type, idempotency_key) is written once. */
    insert: findOne({
      Request: NewEvent,
      Result: OutboxEvent,
      execute: (event) =>
        sql`INSERT INTO outbox_events ${sql.insert(event)}
            ON CONFLICT ON CONSTRAINT outbox_events_idempotency DO NOTHING
            RETURNING *`
    }),

    /**
     * Claims up to `limit` events to send: PENDING ones that are due, and SENDING ones whose
     * sender's lease ran out (it died mid-send). SKIP LOCKED gives concurrent relays disjoint
     * rows, so no event is being sent by two of them at once. Each kind is taken by its own
     * partial index in order, so the claim stays cheap however many events are due.
     */
    claimDue: findAll({
      Request: Schema.Struct({ relay: Schema.String, now: Timestamp, limit: Schema.Int, lease: LeaseSeconds }),
      Result: OutboxEvent,
      execute: ({ lease, limit, now, relay }) =>
        sql`WITH lapsed AS (
              SELECT id FROM outbox_events
               WHERE status = 'SENDING' AND lease_expires_at < now()
               ORDER BY lease_expires_at LIMIT ${limit}
                 FOR UPDATE SKIP LOCKED
            ), pending AS (
              SELECT id FROM outbox_events
               WHERE status = 'PENDING' AND next_attempt_at <= ${now}
               ORDER BY next_attempt_at LIMIT ${limit}
                 FOR UPDATE SKIP LOCKED
            ), due AS (
              SELECT id FROM lapsed UNION ALL SELECT id FROM pending LIMIT ${limit}
            )
            UPDATE outbox_events e
               SET status = 'SENDING', lease_expires_at = ${leaseEnd(sql, lease)}, leased_by = ${relay}
              FROM due WHERE e.id = due.id
         RETURNING e.*`
    }),

    /** Keeps this relay's leases on the events it is still sending. */
    renewLeases: command({
      Request: Schema.Struct({ relay: Schema.String, ids: Schema.Array(EventId), lease: LeaseSeconds }),
      execute: ({ ids, lease, relay }) =>
        sql`UPDATE outbox_events SET lease_expires_at = ${leaseEnd(sql, lease)}
             WHERE status = 'SENDING' AND leased_by = ${relay} AND ${sql.in("id", ids)}`
    }),

    /** The attempt succeeded. Only the lease holder may say so; None when the lease was lost. */
    markDelivered: findOne({
      Request: Schema.Struct({ ...Relayed.fields, now: Timestamp }),
      Result: OutboxEvent,
      execute: ({ id, now, relay }) =>
        sql`UPDATE outbox_events
               SET status = 'DELIVERED', delivered_at = ${now}, attempt_count = attempt_count + 1,
                   last_error = NULL, lease_expires_at = NULL, leased_by = NULL
             WHERE id = ${id} AND status = 'SENDING' AND leased_by = ${relay}
         RETURNING *`
    }),

    /** The attempt failed: try again at `retryAt`, or give up (FAILED) after the last attempt. */
    markAttemptFailed: findOne({
      Request: Schema.Struct({ ...Relayed.fields, error: Schema.String, retryAt: Timestamp, maxAttempts: Schema.Int }),
      Result: OutboxEvent,
      execute: ({ error, id, maxAttempts, relay, retryAt }) =>
        sql`UPDATE outbox_events
               SET attempt_count = attempt_count + 1, last_error = ${error},
                   status = CASE WHEN attempt_count + 1 >= ${maxAttempts} THEN 'FAILED' ELSE 'PENDING' END,
                   next_attempt_at = ${retryAt}, lease_expires_at = NULL, leased_by = NULL
             WHERE id = ${id} AND status = 'SENDING' AND leased_by = ${relay}
         RETURNING *`
    }),

    /** How many events are in each status (GET /metrics; the (status, id) index answers it). */
    countByStatus: findAll({
      Request: Schema.Void,
      Result: Schema.Struct({ status: OutboxStatus, count: Schema.Number }),
      execute: () => sql`SELECT status, count(*)::int AS count FROM outbox_events GROUP BY status`
    }),

    findById: findRowById(sql, "outbox_events", EventId, OutboxEvent),

    /** Newest first, keyset pagination, optionally one status. */
    list: findAll({
      Request: Schema.Struct({ status: Schema.NullOr(OutboxStatus), beforeId: Schema.NullOr(EventId), limit: Schema.Int }),
      Result: OutboxEvent,
      execute: ({ beforeId, limit, status }) => {
        const conditions = [
          ...(status === null ? [] : [sql`status = ${status}`]),
          ...(beforeId === null ? [] : [sql`id < ${beforeId}`])
        ]
        return sql`SELECT * FROM outbox_events
                    ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
                    ORDER BY id DESC LIMIT ${limit}`
      }
    }),

    /** FAILED → PENDING, due now, with a full set of attempts again. */
    retryFailed: findOne({
      Request: Schema.Struct({ id: EventId, now: Timestamp }),
      Result: OutboxEvent,
      execute: ({ id, now }) =>
        sql`UPDATE outbox_events SET status = 'PENDING', next_attempt_at = ${now}, attempt_count = 0
             WHERE id = ${id} AND status = 'FAILED'
         RETURNING *`
    })
  }) as const)
}) {}
