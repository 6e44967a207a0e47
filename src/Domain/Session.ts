/**
 * The upload session and its parts, and the pure rules about them: how many parts a file
 * has, which bytes a part number covers, which statuses accept writes.
 */
import { DateTime, Option, Schema } from "effect"
import { ByteCount, Count, Sha256Hex, Timestamp } from "./Common"
import { SessionExpired, SessionNotWritable } from "./Errors"
import { FileId, PartId, SessionId, UserId } from "./Ids"

export const SessionStatus = Schema.Literal("INIT", "IN_PROGRESS", "COMPLETE", "FAILED", "ABORTED")
export type SessionStatus = typeof SessionStatus.Type

/** Statuses that still reserve quota and accept parts (in SQL: `sessionIsOpen` of Repo.ts). */
export const OPEN_STATUSES = ["INIT", "IN_PROGRESS"] as const satisfies ReadonlyArray<SessionStatus>

export const isOpen = (status: SessionStatus): boolean => OPEN_STATUSES.some((open) => open === status)

export class UploadSession extends Schema.Class<UploadSession>("UploadSession")({
  id: SessionId,
  file_id: FileId,
  status: SessionStatus,
  total_size_bytes: ByteCount,
  chunk_size_bytes: ByteCount,
  total_parts: Count,
  received_parts_count: Count,
  received_bytes: ByteCount,
  idempotency_key: Schema.OptionFromNullOr(Schema.String),
  expected_sha256: Schema.OptionFromNullOr(Sha256Hex),
  failure_reason: Schema.OptionFromNullOr(Schema.String),
  expires_at: Timestamp,
  created_by: UserId,
  created_at: Timestamp,
  updated_at: Timestamp
}) {}

/** Why a session ended, as recorded in failure_reason. */
export const FailureReason = {
  expired: "expired",
  checksumMismatch: "checksum_mismatch",
  aborted: "aborted by client"
} as const

export const isExpired = (session: Pick<UploadSession, "status" | "expires_at">, now: DateTime.Utc): boolean =>
  isOpen(session.status) && DateTime.lessThanOrEqualTo(session.expires_at, now)

/**
 * Why a session refuses parts and completion, if it does: 410 once it has expired (whether
 * or not the sweeper got to it yet), 409 once it is COMPLETE, ABORTED or FAILED otherwise.
 */
export const writeRefusal = (
  session: Pick<UploadSession, "id" | "status" | "failure_reason" | "expires_at">,
  now: DateTime.Utc
): Option.Option<SessionExpired | SessionNotWritable> => {
  const expired = isExpired(session, now) ||
    (session.status === "FAILED" && Option.contains(session.failure_reason, FailureReason.expired))
  if (expired) return Option.some(SessionExpired.of(session))
  if (!isOpen(session.status)) return Option.some(SessionNotWritable.of(session))
  return Option.none()
}

/** A received part: its bytes are complete, durable and hashed. */
export class UploadPart extends Schema.Class<UploadPart>("UploadPart")({
  id: PartId,
  session_id: SessionId,
  part_number: Schema.Int,
  status: Schema.Literal("RECEIVED"),
  temp_key: Schema.String,
  byte_offset: ByteCount,
  size_bytes: ByteCount,
  sha256: Sha256Hex,
  created_at: Timestamp
}) {}

/** A part being written: the one request holding the claim may write it, until it lapses. */
export class PartClaim extends Schema.Class<PartClaim>("PartClaim")({
  id: PartId,
  session_id: SessionId,
  part_number: Schema.Int,
  status: Schema.Literal("PENDING"),
  claim_expires_at: Timestamp,
  created_at: Timestamp
}) {}

/** total_parts = ceil(total_size_bytes / chunk_size_bytes). */
export const totalParts = (totalSizeBytes: number, chunkSizeBytes: number): number =>
  Math.ceil(totalSizeBytes / chunkSizeBytes)

export interface ByteRange {
  /** Offset of the part's first byte in the file. */
  readonly offset: number
  /** Exact size of the part: chunk_size_bytes, or the remainder for the last part. */
  readonly size: number
}

/** The single place that turns a part number (1-based) into the bytes it covers. */
export const partByteRange = (
  session: { readonly total_size_bytes: number; readonly chunk_size_bytes: number },
  partNumber: number
): ByteRange => {
  const offset = (partNumber - 1) * session.chunk_size_bytes
  return { offset, size: Math.min(session.chunk_size_bytes, session.total_size_bytes - offset) }
}

export type PartRange = readonly [first: number, last: number]

/** Sorted, distinct part numbers → inclusive ranges: [1,2,3,7] → [[1,3],[7,7]]. */
export const toRanges = (sortedNumbers: ReadonlyArray<number>): Array<PartRange> => {
  const ranges: Array<[number, number]> = []
  for (const n of sortedNumbers) {
    const last = ranges[ranges.length - 1]
    if (last !== undefined && n === last[1] + 1) last[1] = n
    else ranges.push([n, n])
  }
  return ranges
}

/** The complement of `received` within 1..total: the part numbers still missing. */
export const missingRanges = (received: ReadonlyArray<PartRange>, total: number): Array<PartRange> => {
  const missing: Array<PartRange> = []
  let next = 1
  for (const [first, last] of received) {
    if (first > next) missing.push([next, first - 1])
    next = Math.max(next, last + 1)
  }
  if (next <= total) missing.push([next, total])
  return missing
}

export const countInRanges = (ranges: ReadonlyArray<PartRange>): number =>
  ranges.reduce((sum, [first, last]) => sum + (last - first + 1), 0)
