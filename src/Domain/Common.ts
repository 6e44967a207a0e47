/** Small schemas shared by several entities. */
import { Schema } from "effect"

/** A lowercase hex SHA-256 digest, as stored and returned. */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/),
  Schema.annotations({ identifier: "Sha256Hex", description: "SHA-256 digest, 64 lowercase hex characters" })
)

/** Accepts a SHA-256 digest in either case and normalizes it to lowercase. */
export const Sha256HexInput = Schema.compose(Schema.Lowercase, Sha256Hex).annotations({
  description: "SHA-256 digest, 64 hex characters (any case)"
})

export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  identifier: "Metadata",
  description: "Free-form JSON object kept with the resource"
})
export type Metadata = typeof Metadata.Type

export const MAX_METADATA_BYTES = 16 * 1024

/** Metadata as a client may send it: at most MAX_METADATA_BYTES of JSON. */
export const MetadataInput = Metadata.pipe(
  Schema.filter((metadata) => JSON.stringify(metadata).length <= MAX_METADATA_BYTES, {
    message: () => `metadata may be at most ${MAX_METADATA_BYTES} bytes of JSON`
  })
)

/** ISO-8601 on the wire, `DateTime.Utc` in code; the database layer hands rows over as ISO strings. */
export const Timestamp = Schema.DateTimeUtc

export const ByteCount = Schema.Int.pipe(Schema.nonNegative())
