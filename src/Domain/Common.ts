/** Small schemas shared by several entities. */
import { Schema } from "effect"

/** A lowercase hex SHA-256 digest, as stored and returned. */
export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/),
  Schema.annotations({ identifier: "Sha256Hex", description: "SHA-256 digest, 64 lowercase hex characters" })
)

/** Accepts a SHA-256 digest in either case and normalizes it to lowercase. */
export const Sha256HexInput = Schema.compose(Schema.Lowercase, Sha256Hex).annotations({
  description: "SHA-256 digest, 64 hex characters (any case)",
  jsonSchema: { type: "string", pattern: "^[0-9a-fA-F]{64}$", description: "SHA-256 digest, 64 hex characters (any case)" }
})

export const Metadata = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({
  identifier: "Metadata",
  description: "Free-form JSON object kept with the resource",
  jsonSchema: { type: "object", additionalProperties: true, description: "Free-form JSON object kept with the resource" }
})
export type Metadata = typeof Metadata.Type

export const MAX_METADATA_BYTES = 16 * 1024

/** C0 controls, DEL and the Unicode line separators: never in a name or a header value. */
const CONTROL = /[\u0000-\u001f\u007f\u2028\u2029]/

/** Text that goes into headers or the database as it is: no control characters, no NUL. */
export const PlainText = Schema.String.pipe(
  Schema.filter((text) => !CONTROL.test(text), { message: () => "control characters (and NUL) are not allowed" })
)

/** Why a metadata value cannot be kept as sent, if it cannot: NUL (PostgreSQL refuses it) or a `__proto__` key. */
const metadataProblem = (value: unknown): string | undefined => {
  if (typeof value === "string") return value.includes("\u0000") ? "metadata may not contain NUL characters" : undefined
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = metadataProblem(item)
      if (problem !== undefined) return problem
    }
    return undefined
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "__proto__") return "metadata keys may not be __proto__"
      const problem = metadataProblem(key) ?? metadataProblem(item)
      if (problem !== undefined) return problem
    }
  }
  return undefined
}

/**
 * Metadata as a client may send it: at most MAX_METADATA_BYTES of JSON, without NUL and
 * without `__proto__` keys (which a JavaScript object would silently drop).
 */
export const MetadataInput = Schema.declare(
  (input: unknown): input is Record<string, unknown> =>
    input !== null && typeof input === "object" && !Array.isArray(input),
  { jsonSchema: { type: "object", additionalProperties: true }, description: "a JSON object" }
).pipe(
  Schema.filter((metadata) => metadataProblem(metadata) ?? true),
  Schema.filter((metadata) => JSON.stringify(metadata).length <= MAX_METADATA_BYTES, {
    message: () => `metadata may be at most ${MAX_METADATA_BYTES} bytes of JSON`
  }),
  Schema.compose(Metadata),
  Schema.annotations({ identifier: "MetadataInput", description: "Free-form JSON object kept with the resource (at most 16 KiB)" })
)

/** ISO-8601 on the wire, `DateTime.Utc` in code; the database layer hands rows over as ISO strings. */
export const Timestamp = Schema.DateTimeUtc.annotations({
  identifier: "Timestamp",
  jsonSchema: { type: "string", format: "date-time", description: "An instant, ISO-8601 in UTC" }
})

// The integers below state their JSON Schema outright: Effect's own rendering of `Schema.Int`
// refinements is an `Int` component with generated titles (`nonNegative`), which generated
// clients repeat. The checks, and what a failed one says, stay Effect's. A field that needs its
// own description annotates its property signature (`Schema.propertySignature(Count).annotations`).

/** Any whole number. */
export const Integer = Schema.compose(Schema.Number, Schema.Int).annotations({ jsonSchema: { type: "integer" } })

/** How many of something: parts, files, attempts. */
export const Count = Schema.Int.pipe(Schema.nonNegative({ jsonSchema: { type: "integer", minimum: 0 } }))

export const ByteCount = Schema.Int.pipe(
  Schema.nonNegative({ jsonSchema: { type: "integer", minimum: 0, description: "A size in bytes" } })
)
