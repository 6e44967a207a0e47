/** Branded UUIDv7 identifiers: a SessionId cannot be passed where a FileId is expected. */
import { Effect, Schema } from "effect"

export const UserId = Schema.UUID.pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

export const TokenId = Schema.UUID.pipe(Schema.brand("TokenId"))
export type TokenId = typeof TokenId.Type

export const FileId = Schema.UUID.pipe(Schema.brand("FileId"))
export type FileId = typeof FileId.Type

export const SessionId = Schema.UUID.pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

export const PartId = Schema.UUID.pipe(Schema.brand("PartId"))
export type PartId = typeof PartId.Type

export const BatchId = Schema.UUID.pipe(Schema.brand("BatchId"))
export type BatchId = typeof BatchId.Type

export const EventId = Schema.UUID.pipe(Schema.brand("EventId"))
export type EventId = typeof EventId.Type

/** A fresh, time-ordered id (UUIDv7), so primary-key indexes stay append-mostly. */
export const newId = <S extends Schema.Schema<any, string>>(schema: S): Effect.Effect<S["Type"]> =>
  Effect.sync(() => Schema.decodeSync(schema)(Bun.randomUUIDv7()))
