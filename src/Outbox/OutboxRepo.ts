/** SQL for the transactional outbox. */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Schema } from "effect"
import { Metadata } from "../Domain/Common"
import { BatchId, EventId, FileId } from "../Domain/Ids"
import { EventType, OutboxEvent } from "../Domain/Outbox"

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

    return {
      insert: (event: typeof NewEvent.Type) => Effect.orDie(insert(event)),
      findByKey: (eventType: EventType, idempotencyKey: string) =>
        Effect.orDie(findByKey({ event_type: eventType, idempotency_key: idempotencyKey }))
    } as const
  })
}) {}
