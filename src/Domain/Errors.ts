/**
 * Every error a client can see (each declared as ApiError.ts says): a stable `_tag`, a human
 * `message`, the fields that help (missing parts, remaining quota) and its HTTP status.
 * Handlers, the OpenAPI document and the typed client all share these classes.
 */
import { DateTime, Schema } from "effect"
import { ApiError } from "./ApiError"
import { ByteCount, Count, Integer } from "./Common"

/** Inclusive ranges of part numbers, e.g. [[1, 3], [7, 7]]. */
export const PartRanges = Schema.Array(Schema.Tuple(Integer, Integer)).annotations({
  identifier: "PartRanges",
  description: "Inclusive ranges of part numbers, e.g. [[1,3],[7,7]] for parts 1, 2, 3 and 7"
})

// 400 ------------------------------------------------------------------------------------------

export class InvalidRequest extends ApiError<InvalidRequest>()(
  "InvalidRequest", 400, "The request is well-formed JSON but not acceptable"
) {}

export class ChunkSizeOutOfBounds extends ApiError<ChunkSizeOutOfBounds>()(
  "ChunkSizeOutOfBounds", 400, "chunk_size_bytes outside the configured bounds",
  { chunk_size_bytes: ByteCount, min_bytes: ByteCount, max_bytes: ByteCount }
) {}

// 401 / 403 / 404 ------------------------------------------------------------------------------

export class Unauthorized extends ApiError<Unauthorized>()(
  "Unauthorized", 401, "Missing, malformed, unknown or revoked API token, or a JWT that failed verification (signature, expiry, issuer, audience)"
) {}

export class Forbidden extends ApiError<Forbidden>()(
  "Forbidden", 403, "The resource belongs to another user"
) {}

export class NotFound extends ApiError<NotFound>()(
  "NotFound", 404, "No such resource",
  { resource: Schema.Literal("session", "file", "batch", "event", "user", "token"), id: Schema.String }
) {
  static session = (id: string) => new NotFound({ message: `no upload session ${id}`, resource: "session", id })
  static file = (id: string) => new NotFound({ message: `no file ${id}`, resource: "file", id })
  static batch = (id: string) => new NotFound({ message: `no batch ${id}`, resource: "batch", id })
  static event = (id: string) => new NotFound({ message: `no outbox event ${id}`, resource: "event", id })
  static user = (name: string) => new NotFound({ message: `no user named ${JSON.stringify(name)}`, resource: "user", id: name })
  static token = (id: string) => new NotFound({ message: `no token ${id}`, resource: "token", id })
}

// 409 ------------------------------------------------------------------------------------------

export class PartConflict extends ApiError<PartConflict>()(
  "PartConflict", 409, "The part was already received with other bytes",
  { part_number: Integer, stored_sha256: Schema.String, received_sha256: Schema.String }
) {}

export class PartInProgress extends ApiError<PartInProgress>()(
  "PartInProgress", 409, "Another upload of this part is still in progress; retry later",
  { part_number: Integer }
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

export class IdempotencyConflict extends ApiError<IdempotencyConflict>()(
  "IdempotencyConflict", 409, "The Idempotency-Key was used for another request",
  { idempotency_key: Schema.String, session_id: Schema.String }
) {}

export class SessionNotWritable extends ApiError<SessionNotWritable>()(
  "SessionNotWritable", 409, "The session is COMPLETE, ABORTED or FAILED",
  { session_id: Schema.String, status: Schema.String }
) {
  static of = (session: { readonly id: string; readonly status: string }, message?: string) =>
    new SessionNotWritable({
      message: message ?? `session ${session.id} is ${session.status} and accepts no more changes`,
      session_id: session.id,
      status: session.status
    })
}

export class MissingParts extends ApiError<MissingParts>()(
  "MissingParts", 409, "Some parts have not been received yet",
  { session_id: Schema.String, missing_parts: PartRanges, missing_count: Count }
) {}

export class FinalizeInProgress extends ApiError<FinalizeInProgress>()(
  "FinalizeInProgress", 409, "Another complete of this session is still assembling it; retry after Retry-After seconds",
  { session_id: Schema.String, retry_after_seconds: Integer }
) {}

export class BatchFull extends ApiError<BatchFull>()(
  "BatchFull", 409, "The batch already has total_files files",
  { batch_id: Schema.String, total_files: Count }
) {}

export class BatchClosed extends ApiError<BatchClosed>()(
  "BatchClosed", 409, "The batch is not open",
  { batch_id: Schema.String, status: Schema.String }
) {}

export class EventNotRetryable extends ApiError<EventNotRetryable>()(
  "EventNotRetryable", 409, "Only FAILED events can be retried",
  { event_id: Schema.String, status: Schema.String }
) {}

export class UserNameTaken extends ApiError<UserNameTaken>()(
  "UserNameTaken", 409, "Another user already has this name",
  { user_name: Schema.String }
) {
  static of = (name: string) =>
    new UserNameTaken({ message: `a user named ${JSON.stringify(name)} already exists`, user_name: name })
}

// 410 / 413 / 415 ------------------------------------------------------------------------------

export class SessionExpired extends ApiError<SessionExpired>()(
  "SessionExpired", 410, "The session expired; start a new one",
  { session_id: Schema.String, expired_at: Schema.String }
) {
  static of = (session: { readonly id: string; readonly expires_at: DateTime.Utc }) =>
    new SessionExpired({
      message: `session ${session.id} expired at ${DateTime.formatIso(session.expires_at)}`,
      session_id: session.id,
      expired_at: DateTime.formatIso(session.expires_at)
    })
}

export class FileTooLarge extends ApiError<FileTooLarge>()(
  "FileTooLarge", 413, "total_size_bytes exceeds the maximum file size",
  { total_size_bytes: ByteCount, max_file_size_bytes: ByteCount }
) {}

export class RequestTooLarge extends ApiError<RequestTooLarge>()(
  "RequestTooLarge", 413, "A JSON request body is larger than the server accepts (1 MiB)",
  { max_bytes: ByteCount }
) {}

export class PartTooLarge extends ApiError<PartTooLarge>()(
  "PartTooLarge", 413, "The part body is longer than the part's size",
  { part_number: Integer, expected_size_bytes: ByteCount }
) {}

export class UnsupportedContentType extends ApiError<UnsupportedContentType>()(
  "UnsupportedContentType", 415, "content_type is not in the allow-list",
  { content_type: Schema.String, allowed_content_types: Schema.Array(Schema.String) }
) {}

// 422 ------------------------------------------------------------------------------------------

export class PartSizeMismatch extends ApiError<PartSizeMismatch>()(
  "PartSizeMismatch", 422, "The part body is not the part's expected size",
  { part_number: Integer, expected_size_bytes: ByteCount, received_size_bytes: ByteCount }
) {}

export class PartNumberOutOfRange extends ApiError<PartNumberOutOfRange>()(
  "PartNumberOutOfRange", 422, "The part number is outside 1..total_parts",
  { part_number: Integer, total_parts: Count }
) {}

export class ChecksumMismatch extends ApiError<ChecksumMismatch>()(
  "ChecksumMismatch", 422, "The bytes do not match the declared SHA-256",
  {
    scope: Schema.Literal("part", "file"),
    part_number: Schema.optional(Integer),
    expected_sha256: Schema.String,
    actual_sha256: Schema.String
  }
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

export class QuotaExceeded extends ApiError<QuotaExceeded>()(
  "QuotaExceeded", 429, "The upload would exceed the caller's quota",
  {
    limit_bytes: ByteCount,
    used_bytes: ByteCount,
    reserved_bytes: ByteCount,
    remaining_bytes: ByteCount,
    requested_bytes: ByteCount
  }
) {}

export class TooManyUploads extends ApiError<TooManyUploads>()(
  "TooManyUploads", 429, "The caller already has UPLOAD_MAX_CONCURRENT_PER_USER part uploads in flight; retry after Retry-After seconds",
  { limit: Count, retry_after_seconds: Integer }
) {}

export class BodyStalled extends ApiError<BodyStalled>()(
  "BodyStalled", 408, "The body stopped arriving for longer than UPLOAD_BODY_IDLE_TIMEOUT; nothing of it was counted",
  { idle_seconds: Schema.Number }
) {}

export class InternalError extends ApiError<InternalError>()(
  "InternalError", 500, "An unexpected failure; it has been logged"
) {}

export class ServiceUnavailable extends ApiError<ServiceUnavailable>()(
  "ServiceUnavailable", 503, "The database or the storage is unavailable",
  { component: Schema.Literal("database", "storage") }
) {}

export class ShuttingDown extends ApiError<ShuttingDown>()(
  "ShuttingDown", 503, "The instance is shutting down; send the request again (to another instance)"
) {}

// download ----------------------------------------------------------------------------------------

export class FileNotStored extends ApiError<FileNotStored>()(
  "FileNotStored", 409, "The file has no content: it is still uploading, or failed",
  { file_id: Schema.String, status: Schema.String }
) {}

export class RangeNotSatisfiable extends ApiError<RangeNotSatisfiable>()(
  "RangeNotSatisfiable", 416, "The Range lies outside the file",
  { size_bytes: ByteCount }
) {}
