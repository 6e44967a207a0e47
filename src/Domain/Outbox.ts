import { Schema } from "effect"
import { Count, Timestamp } from "./Common"
import { BatchId, EventId, FileId } from "./Ids"

export const EventType = Schema.Literal("file.stored", "batch.completed")
export type EventType = typeof EventType.Type

export const OutboxStatus = Schema.Literal("PENDING", "SENDING", "DELIVERED", "FAILED")
export type OutboxStatus = typeof OutboxStatus.Type

/** A row of the transactional outbox: written in the same transaction as the state change it reports. */
export class OutboxEvent extends Schema.Class<OutboxEvent>("OutboxEvent")({
  id: EventId,
  event_type: EventType,
  event_id: EventId,
  idempotency_key: Schema.String,
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
    jsonSchema: { type: "object", additionalProperties: true, description: "The JSON body the webhook receives" }
  }),
  status: OutboxStatus,
  next_attempt_at: Timestamp,
  attempt_count: Count,
  last_error: Schema.OptionFromNullOr(Schema.String),
  lease_expires_at: Schema.OptionFromNullOr(Timestamp),
  file_id: Schema.OptionFromNullOr(FileId),
  batch_id: Schema.OptionFromNullOr(BatchId),
  occurred_at: Timestamp,
  created_at: Timestamp,
  delivered_at: Schema.OptionFromNullOr(Timestamp)
}, { description: "An event of the transactional outbox and its delivery state" }) {}
