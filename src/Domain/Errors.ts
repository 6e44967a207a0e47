/**
 * Every error a client can see: a `Schema.TaggedError` with a stable `_tag`, a human
 * `message`, the fields that help (missing parts, remaining quota) and its HTTP status.
 * Handlers, the OpenAPI document and the typed client all share these classes.
 */
import { HttpApiSchema } from "@effect/platform"
import { DateTime, Schema } from "effect"
import { ByteCount, Count, Integer } from "./Common"

const Message = { message: Schema.String }

/** Inclusive ranges of part numbers, e.g. [[1, 3], [7, 7]]. */
export const PartRanges = Schema.Array(Schema.Tuple(Integer, Integer)).annotations({
  identifier: "PartRanges",
  description: "Inclusive ranges of part numbers, e.g. [[1,3],[7,7]] for parts 1, 2, 3 and 7"
})

// 400 ------------------------------------------------------------------------------------------

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()(
  "InvalidRequest",
  { ...Message },
  HttpApiSchema.annotations({ status: 400, description: "The request is well-formed JSON but not acceptable" })
) {}

export class ChunkSizeOutOfBounds extends Schema.TaggedError<ChunkSizeOutOfBounds>()(
  "ChunkSizeOutOfBounds",
  { ...Message, chunk_size_bytes: ByteCount, min_bytes: ByteCount, max_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 400, description: "chunk_size_bytes outside the configured bounds" })
) {}

// 401 / 403 / 404 ------------------------------------------------------------------------------

export class Unauthorized extends Schema.TaggedError<Unauthorized>()(
  "Unauthorized",
  { ...Message },
  HttpApiSchema.annotations({ status: 401, description: "Missing, malformed, unknown or revoked API token, or a JWT that failed verification (signature, expiry, issuer, audience)" })
) {}

export class Forbidden extends Schema.TaggedError<Forbidden>()(
  "Forbidden",
  { ...Message },
  HttpApiSchema.annotations({ status: 403, description: "The resource belongs to another user" })
) {}

export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { ...Message, resource: Schema.Literal("session", "file", "batch", "event", "user", "token"), id: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "No such resource" })
) {
  static session = (id: string) => new NotFound({ message: `no upload session ${id}`, resource: "session", id })
  static file = (id: string) => new NotFound({ message: `no file ${id}`, resource: "file", id })
  static batch = (id: string) => new NotFound({ message: `no batch ${id}`, resource: "batch", id })
  static event = (id: string) => new NotFound({ message: `no outbox event ${id}`, resource: "event", id })
  static user = (name: string) => new NotFound({ message: `no user named ${JSON.stringify(name)}`, resource: "user", id: name })
  static token = (id: string) => new NotFound({ message: `no token ${id}`, resource: "token", id })
}

// 409 ------------------------------------------------------------------------------------------

export class PartConflict extends Schema.TaggedError<PartConflict>()(
  "PartConflict",
  {
    ...Message,
    part_number: Integer,
    stored_sha256: Schema.String,
    received_sha256: Schema.String
  },
  HttpApiSchema.annotations({ status: 409, description: "The part was already received with other bytes" })
) {}

export class PartInProgress extends Schema.TaggedError<PartInProgress>()(
  "PartInProgress",
  { ...Message, part_number: Integer },
  HttpApiSchema.annotations({ status: 409, description: "Another upload of this part is still in progress; retry later" })
) {
  /** Another request holds the part and did not finish while this one waited. */
  static busy = (partNumber: number) =>
    new PartInProgress({
      message: `another upload of part ${partNumber} is still in progress; retry later`,
      part_number: partNumber
    })
  /** This request's claim lapsed while it wrote (it stalled); what it wrote does not count. */
  static claimLost = (partNumber: number) =>
    new PartInProgress({
      message: `the claim on part ${partNumber} lapsed while it was written; send it again`,
      part_number: partNumber
    })
}

export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()(
  "IdempotencyConflict",
  { ...Message, idempotency_key: Schema.String, session_id: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The Idempotency-Key was used for another request" })
) {}

export class SessionNotWritable extends Schema.TaggedError<SessionNotWritable>()(
  "SessionNotWritable",
  { ...Message, session_id: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The session is COMPLETE, ABORTED or FAILED" })
) {
  static of = (session: { readonly id: string; readonly status: string }, message?: string) =>
    new SessionNotWritable({
      message: message ?? `session ${session.id} is ${session.status} and accepts no more changes`,
      session_id: session.id,
      status: session.status
    })
}

export class MissingParts extends Schema.TaggedError<MissingParts>()(
  "MissingParts",
  { ...Message, session_id: Schema.String, missing_parts: PartRanges, missing_count: Count },
  HttpApiSchema.annotations({ status: 409, description: "Some parts have not been received yet" })
) {}

export class FinalizeInProgress extends Schema.TaggedError<FinalizeInProgress>()(
  "FinalizeInProgress",
  { ...Message, session_id: Schema.String, retry_after_seconds: Integer },
  HttpApiSchema.annotations({
    status: 409,
    description: "Another complete of this session is still assembling it; retry after Retry-After seconds"
  })
) {}

export class BatchFull extends Schema.TaggedError<BatchFull>()(
  "BatchFull",
  { ...Message, batch_id: Schema.String, total_files: Count },
  HttpApiSchema.annotations({ status: 409, description: "The batch already has total_files files" })
) {}

export class BatchClosed extends Schema.TaggedError<BatchClosed>()(
  "BatchClosed",
  { ...Message, batch_id: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The batch is not open" })
) {}

export class EventNotRetryable extends Schema.TaggedError<EventNotRetryable>()(
  "EventNotRetryable",
  { ...Message, event_id: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "Only FAILED events can be retried" })
) {}

export class UserNameTaken extends Schema.TaggedError<UserNameTaken>()(
  "UserNameTaken",
  { ...Message, user_name: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "Another user already has this name" })
) {
  static of = (name: string) =>
    new UserNameTaken({ message: `a user named ${JSON.stringify(name)} already exists`, user_name: name })
}

// 410 / 413 / 415 ------------------------------------------------------------------------------

export class SessionExpired extends Schema.TaggedError<SessionExpired>()(
  "SessionExpired",
  { ...Message, session_id: Schema.String, expired_at: Schema.String },
  HttpApiSchema.annotations({ status: 410, description: "The session expired; start a new one" })
) {
  static of = (session: { readonly id: string; readonly expires_at: DateTime.Utc }) =>
    new SessionExpired({
      message: `session ${session.id} expired at ${DateTime.formatIso(session.expires_at)}`,
      session_id: session.id,
      expired_at: DateTime.formatIso(session.expires_at)
    })
}

export class FileTooLarge extends Schema.TaggedError<FileTooLarge>()(
  "FileTooLarge",
  { ...Message, total_size_bytes: ByteCount, max_file_size_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 413, description: "total_size_bytes exceeds the maximum file size" })
) {}

export class RequestTooLarge extends Schema.TaggedError<RequestTooLarge>()(
  "RequestTooLarge",
  { ...Message, max_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 413, description: "A JSON request body is larger than the server accepts (1 MiB)" })
) {}

export class PartTooLarge extends Schema.TaggedError<PartTooLarge>()(
  "PartTooLarge",
  { ...Message, part_number: Integer, expected_size_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 413, description: "The part body is longer than the part's size" })
) {}

export class UnsupportedContentType extends Schema.TaggedError<UnsupportedContentType>()(
  "UnsupportedContentType",
  { ...Message, content_type: Schema.String, allowed_content_types: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 415, description: "content_type is not in the allow-list" })
) {}

// 422 ------------------------------------------------------------------------------------------

export class PartSizeMismatch extends Schema.TaggedError<PartSizeMismatch>()(
  "PartSizeMismatch",
  { ...Message, part_number: Integer, expected_size_bytes: ByteCount, received_size_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 422, description: "The part body is not the part's expected size" })
) {}

export class PartNumberOutOfRange extends Schema.TaggedError<PartNumberOutOfRange>()(
  "PartNumberOutOfRange",
  { ...Message, part_number: Integer, total_parts: Count },
  HttpApiSchema.annotations({ status: 422, description: "The part number is outside 1..total_parts" })
) {}

export class ChecksumMismatch extends Schema.TaggedError<ChecksumMismatch>()(
  "ChecksumMismatch",
  {
    ...Message,
    scope: Schema.Literal("part", "file"),
    part_number: Schema.optional(Integer),
    expected_sha256: Schema.String,
    actual_sha256: Schema.String
  },
  HttpApiSchema.annotations({ status: 422, description: "The bytes do not match the declared SHA-256" })
) {
  static part = (partNumber: number, expected: string, actual: string) =>
    new ChecksumMismatch({
      message: `part ${partNumber} has SHA-256 ${actual}, not the declared ${expected}`,
      scope: "part",
      part_number: partNumber,
      expected_sha256: expected,
      actual_sha256: actual
    })
  static file = (expected: string, actual: string) =>
    new ChecksumMismatch({
      message: `the assembled file has SHA-256 ${actual}, not the expected ${expected}`,
      scope: "file",
      expected_sha256: expected,
      actual_sha256: actual
    })
}

// 429 / 500 / 503 ------------------------------------------------------------------------------

export class QuotaExceeded extends Schema.TaggedError<QuotaExceeded>()(
  "QuotaExceeded",
  {
    ...Message,
    limit_bytes: ByteCount,
    used_bytes: ByteCount,
    reserved_bytes: ByteCount,
    remaining_bytes: ByteCount,
    requested_bytes: ByteCount
  },
  HttpApiSchema.annotations({ status: 429, description: "The upload would exceed the caller's quota" })
) {}

export class TooManyUploads extends Schema.TaggedError<TooManyUploads>()(
  "TooManyUploads",
  { ...Message, limit: Count, retry_after_seconds: Integer },
  HttpApiSchema.annotations({
    status: 429,
    description: "The caller already has UPLOAD_MAX_CONCURRENT_PER_USER part uploads in flight; retry after Retry-After seconds"
  })
) {}

export class BodyStalled extends Schema.TaggedError<BodyStalled>()(
  "BodyStalled",
  { ...Message, idle_seconds: Schema.Number },
  HttpApiSchema.annotations({
    status: 408,
    description: "The body stopped arriving for longer than UPLOAD_BODY_IDLE_TIMEOUT; nothing of it was counted"
  })
) {}

export class InternalError extends Schema.TaggedError<InternalError>()(
  "InternalError",
  { ...Message },
  HttpApiSchema.annotations({ status: 500, description: "An unexpected failure; it has been logged" })
) {}

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  { ...Message, component: Schema.Literal("database", "storage") },
  HttpApiSchema.annotations({ status: 503, description: "The database or the storage is unavailable" })
) {}

export class ShuttingDown extends Schema.TaggedError<ShuttingDown>()(
  "ShuttingDown",
  { ...Message },
  HttpApiSchema.annotations({ status: 503, description: "The instance is shutting down; send the request again (to another instance)" })
) {}

// download ----------------------------------------------------------------------------------------

export class FileNotStored extends Schema.TaggedError<FileNotStored>()(
  "FileNotStored",
  { ...Message, file_id: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 409, description: "The file has no content: it is still uploading, or failed" })
) {}

export class RangeNotSatisfiable extends Schema.TaggedError<RangeNotSatisfiable>()(
  "RangeNotSatisfiable",
  { ...Message, size_bytes: ByteCount },
  HttpApiSchema.annotations({ status: 416, description: "The Range lies outside the file" })
) {}
