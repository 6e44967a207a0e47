/** Branded UUIDv7 identifiers: a SessionId cannot be passed where a FileId is expected. */
import { Effect, Schema } from "effect"

/** A branded UUID, documented as a component of its own name (`SessionId`, not a bare UUID). */
const uuidOf = <B extends string>(brand: B, what: string) =>
  Schema.UUID.pipe(
    Schema.brand(brand),
    Schema.annotations({ identifier: brand, jsonSchema: { type: "string", format: "uuid", description: `${what}'s id (UUIDv7)` } })
  )

export const UserId = uuidOf("UserId", "A user")
export type UserId = typeof UserId.Type

export const TokenId = uuidOf("TokenId", "An API token")
export type TokenId = typeof TokenId.Type

export const FileId = uuidOf("FileId", "A file")
export type FileId = typeof FileId.Type

export const SessionId = uuidOf("SessionId", "An upload session")
export type SessionId = typeof SessionId.Type

export const PartId = uuidOf("PartId", "A received part")
export type PartId = typeof PartId.Type

export const BatchId = uuidOf("BatchId", "A batch")
export type BatchId = typeof BatchId.Type

export const EventId = uuidOf("EventId", "An outbox event")
export type EventId = typeof EventId.Type

/** A fresh, time-ordered id (UUIDv7), so primary-key indexes stay append-mostly. */
export const newId = <S extends Schema.Schema<any, string>>(schema: S): Effect.Effect<S["Type"]> =>
  Effect.sync(() => Schema.decodeSync(schema)(Bun.randomUUIDv7()))
