/** SQL for the transactional outbox. */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { Metadata } from "../Domain/Common"
import { BatchId, EventId, FileId } from "../Domain/Ids"
import { EventType, OutboxEvent, OutboxStatus } from "../Domain/Outbox"

export const NewEvent = Schema.Struct({
  id: EventId,
  event_type: EventType,
  event_id: EventId,
  idempotency_key: Schema.String,
  payload: Metadata,
  status: Schema.Literal("PENDING"),
  next_attempt_at: Schema.DateFromSelf,
  file_id: Schema.NullOr(FileId),
  batch_id: Schema.NullOr(BatchId),
  occurred_at: Schema.DateFromSelf,
  created_at: Schema.DateFromSelf
})

export class OutboxRepo extends Effect.Service<OutboxRepo>()("Portal/OutboxRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    /** Idempotent: the same (event_type, idempotency_key) is written once. */
    const insert = SqlSchema.findOne({
      Request: NewEvent,
      Result: OutboxEvent,
      execute: (event) =>
        sql`INSERT INTO outbox_events ${sql.insert(event)}
            ON CONFLICT ON CONSTRAINT outbox_events_idempotency DO NOTHING
            RETURNING *`
    })

    const findByKey = SqlSchema.findOne({
      Request: Schema.Struct({ event_type: EventType, idempotency_key: Schema.String }),
      Result: OutboxEvent,
      execute: ({ event_type, idempotency_key }) =>
        sql`SELECT * FROM outbox_events WHERE event_type = ${event_type} AND idempotency_key = ${idempotency_key}`
    })

    /**
     * Claims up to `limit` events to send: PENDING ones that are due, and SENDING ones whose
     * sender's lease ran out (it died mid-send). SKIP LOCKED gives concurrent relays disjoint
     * rows, so no event is being sent by two of them at once.
     */
    const claimDue = SqlSchema.findAll({
      Request: Schema.Struct({ relay: Schema.String, now: Schema.DateFromSelf, until: Schema.DateFromSelf, limit: Schema.Int }),
      Result: OutboxEvent,
      execute: ({ limit, now, relay, until }) =>
        sql`WITH due AS (
              SELECT id FROM outbox_events
               WHERE (status = 'PENDING' AND next_attempt_at <= ${now})
                  OR (status = 'SENDING' AND lease_expires_at < ${now})
               ORDER BY next_attempt_at
               LIMIT ${limit}
                 FOR UPDATE SKIP LOCKED
            )
            UPDATE outbox_events e
               SET status = 'SENDING', lease_expires_at = ${until}, leased_by = ${relay}
              FROM due WHERE e.id = due.id
         RETURNING e.*`
    })

    /** The attempt succeeded. Only the lease holder may say so; None when the lease was lost. */
    const markDelivered = SqlSchema.findOne({
      Request: Schema.Struct({ id: EventId, relay: Schema.String, now: Schema.DateFromSelf }),
      Result: OutboxEvent,
      execute: ({ id, now, relay }) =>
        sql`UPDATE outbox_events
               SET status = 'DELIVERED', delivered_at = ${now}, attempt_count = attempt_count + 1,
                   last_error = NULL, lease_expires_at = NULL, leased_by = NULL
             WHERE id = ${id} AND status = 'SENDING' AND leased_by = ${relay}
         RETURNING *`
    })

    /** The attempt failed: try again at `retryAt`, or give up (FAILED) after the last attempt. */
    const markAttemptFailed = SqlSchema.findOne({
      Request: Schema.Struct({
        id: EventId,
        relay: Schema.String,
        error: Schema.String,
        retryAt: Schema.DateFromSelf,
        maxAttempts: Schema.Int
      }),
      Result: OutboxEvent,
      execute: ({ error, id, maxAttempts, relay, retryAt }) =>
        sql`UPDATE outbox_events
               SET attempt_count = attempt_count + 1, last_error = ${error},
                   status = CASE WHEN attempt_count + 1 >= ${maxAttempts} THEN 'FAILED' ELSE 'PENDING' END,
                   next_attempt_at = ${retryAt}, lease_expires_at = NULL, leased_by = NULL
             WHERE id = ${id} AND status = 'SENDING' AND leased_by = ${relay}
         RETURNING *`
    })

    const findById = SqlSchema.findOne({
      Request: EventId,
      Result: OutboxEvent,
      execute: (id) => sql`SELECT * FROM outbox_events WHERE id = ${id}`
    })

    /** Newest first, keyset pagination, optionally one status. */
    const list = SqlSchema.findAll({
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
    })

    /** FAILED → PENDING, due now, with a full set of attempts again. */
    const retryFailed = SqlSchema.findOne({
      Request: Schema.Struct({ id: EventId, now: Schema.DateFromSelf }),
      Result: OutboxEvent,
      execute: ({ id, now }) =>
        sql`UPDATE outbox_events SET status = 'PENDING', next_attempt_at = ${now}, attempt_count = 0
             WHERE id = ${id} AND status = 'FAILED'
         RETURNING *`
    })

    return {
      insert: (event: typeof NewEvent.Type) => Effect.orDie(insert(event)),
      claimDue: (relay: string, now: Date, until: Date, limit: number) => Effect.orDie(claimDue({ relay, now, until, limit })),
      markDelivered: (id: EventId, relay: string, now: Date) => Effect.orDie(markDelivered({ id, relay, now })),
      markAttemptFailed: (attempt: {
        readonly id: EventId
        readonly relay: string
        readonly error: string
        readonly retryAt: Date
        readonly maxAttempts: number
      }) => Effect.orDie(markAttemptFailed(attempt)),
      findById: (id: EventId) => Effect.orDie(findById(id)),
      list: (status: OutboxStatus | null, beforeId: EventId | null, limit: number) =>
        Effect.orDie(list({ status, beforeId, limit })),
      retryFailed: (id: EventId, now: Date) => Effect.orDie(retryFailed({ id, now })),
      findByKey: (eventType: EventType, idempotencyKey: string) =>
        Effect.orDie(findByKey({ event_type: eventType, idempotency_key: idempotencyKey }))
    } as const
  })
}) {}
