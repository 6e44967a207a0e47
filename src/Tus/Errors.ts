/**
 * The errors of the tus protocol itself, as tagged errors with their status (tus keeps some
 * statuses of its own: 412, 423, 460), and the status of every error a tus request can end
 * with, domain errors included, read from their annotations.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { ApiError } from "../Domain/ApiError"
import { ByteCount } from "../Domain/Common"
import * as Domain from "../Domain/Errors"

export class TusVersionUnsupported extends ApiError<TusVersionUnsupported>()(
  "TusVersionUnsupported", 412, "Tus-Resumable is missing or names a version this server does not speak",
  { supported: Schema.String }
) {}

export class TusExtensionUnsupported extends ApiError<TusExtensionUnsupported>()(
  "TusExtensionUnsupported", 400, "The request needs a tus extension this server does not offer",
  { extension: Schema.String }
) {}

export class ChecksumAlgorithmUnsupported extends ApiError<ChecksumAlgorithmUnsupported>()(
  "ChecksumAlgorithmUnsupported", 400, "Upload-Checksum names an algorithm other than sha1 or sha256",
  { algorithm: Schema.String, supported: Schema.Array(Schema.String) }
) {}

export class UploadChecksumMismatch extends ApiError<UploadChecksumMismatch>()(
  "UploadChecksumMismatch", 460, "The body does not match Upload-Checksum; none of it was kept",
  { algorithm: Schema.String, upload_offset: ByteCount }
) {}

export class UploadOffsetMismatch extends ApiError<UploadOffsetMismatch>()(
  "UploadOffsetMismatch", 409, "Upload-Offset is not the upload's offset; HEAD it and resume from there",
  { upload_offset: ByteCount, requested_offset: ByteCount }
) {}

export class UploadLocked extends ApiError<UploadLocked>()(
  "UploadLocked", 423, "Another request is appending to this upload; retry shortly",
  { session_id: Schema.String }
) {}

export class NotAnOffsetStream extends ApiError<NotAnOffsetStream>()(
  "NotAnOffsetStream", 415, "A PATCH body must be application/offset+octet-stream",
  { content_type: Schema.String }
) {}

export class UploadGone extends ApiError<UploadGone>()(
  "UploadGone", 410, "The upload was terminated or failed",
  { session_id: Schema.String, status: Schema.String }
) {}

export class UploadLengthExceeded extends ApiError<UploadLengthExceeded>()(
  "UploadLengthExceeded", 413, "The body goes past Upload-Length",
  { upload_length: ByteCount, upload_offset: ByteCount }
) {}

/** Every error a tus request may answer with: tus's own, and those of the domain its requests reach. */
const ERRORS = [
  TusVersionUnsupported,
  TusExtensionUnsupported,
  ChecksumAlgorithmUnsupported,
  UploadChecksumMismatch,
  UploadOffsetMismatch,
  UploadLocked,
  NotAnOffsetStream,
  UploadGone,
  UploadLengthExceeded,
  Domain.InvalidRequest,
  Domain.Unauthorized,
  Domain.Forbidden,
  Domain.NotFound,
  Domain.ChunkSizeOutOfBounds,
  Domain.FileTooLarge,
  Domain.UnsupportedContentType,
  Domain.QuotaExceeded,
  Domain.TooManyUploads,
  Domain.BodyStalled,
  Domain.PartConflict,
  Domain.PartInProgress,
  Domain.PartSizeMismatch,
  Domain.PartTooLarge,
  Domain.PartNumberOutOfRange,
  Domain.SessionNotWritable,
  Domain.SessionExpired,
  Domain.MissingParts,
  Domain.FinalizeInProgress,
  Domain.ChecksumMismatch,
  Domain.BatchFull,
  Domain.BatchClosed,
  Domain.IdempotencyConflict
] as const

export type TusFailure = InstanceType<(typeof ERRORS)[number]>

const STATUS = new Map<string, number>(ERRORS.map((error) => [error._tag, HttpApiSchema.getStatusError(error)]))

export const statusOf = (error: TusFailure): number => STATUS.get(error._tag) ?? 500
