/**
 * The errors of the tus protocol itself, as tagged errors with their status (tus keeps some
 * statuses of its own: 412, 423, 460), and the status of every error a tus request can end
 * with, domain errors included, read from their annotations.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import {
  BatchClosed,
  BatchFull,
  BodyStalled,
  ChecksumMismatch,
  ChunkSizeOutOfBounds,
  FileTooLarge,
  FinalizeInProgress,
  Forbidden,
  IdempotencyConflict,
  InvalidRequest,
  MissingParts,
  NotFound,
  PartConflict,
  PartInProgress,
  PartNumberOutOfRange,
  PartSizeMismatch,
  PartTooLarge,
  QuotaExceeded,
  SessionExpired,
  SessionNotWritable,
  TooManyUploads,
  Unauthorized,
  UnsupportedContentType
} from "../Domain/Errors"

const Message = { message: Schema.String }

export class TusVersionUnsupported extends Schema.TaggedError<TusVersionUnsupported>()(
  "TusVersionUnsupported",
  { ...Message, supported: Schema.String },
  HttpApiSchema.annotations({ status: 412, description: "Tus-Resumable is missing or names a version this server does not speak" })
) {}

export class TusExtensionUnsupported extends Schema.TaggedError<TusExtensionUnsupported>()(
  "TusExtensionUnsupported",
  { ...Message, extension: Schema.String },
  HttpApiSchema.annotations({ status: 400, description: "The request needs a tus extension this server does not offer" })
) {}

export class ChecksumAlgorithmUnsupported extends Schema.TaggedError<ChecksumAlgorithmUnsupported>()(
  "ChecksumAlgorithmUnsupported",
  { ...Message, algorithm: Schema.String, supported: Schema.Array(Schema.String) },
  HttpApiSchema.annotations({ status: 400, description: "Upload-Checksum names an algorithm other than sha1 or sha256" })
) {}

export class UploadChecksumMismatch extends Schema.TaggedError<UploadChecksumMismatch>()(
  "UploadChecksumMismatch",
  { ...Message, algorithm: Schema.String, upload_offset: Schema.Int },
  HttpApiSchema.annotations({ status: 460, description: "The body does not match Upload-Checksum; none of it was kept" })
) {}

export class UploadOffsetMismatch extends Schema.TaggedError<UploadOffsetMismatch>()(
  "UploadOffsetMismatch",
  { ...Message, upload_offset: Schema.Int, requested_offset: Schema.Int },
  HttpApiSchema.annotations({ status: 409, description: "Upload-Offset is not the upload's offset; HEAD it and resume from there" })
) {}

export class UploadLocked extends Schema.TaggedError<UploadLocked>()(
  "UploadLocked",
  { ...Message, session_id: Schema.String },
  HttpApiSchema.annotations({ status: 423, description: "Another request is appending to this upload; retry shortly" })
) {}

export class NotAnOffsetStream extends Schema.TaggedError<NotAnOffsetStream>()(
  "NotAnOffsetStream",
  { ...Message, content_type: Schema.String },
  HttpApiSchema.annotations({ status: 415, description: "A PATCH body must be application/offset+octet-stream" })
) {}

export class UploadGone extends Schema.TaggedError<UploadGone>()(
  "UploadGone",
  { ...Message, session_id: Schema.String, status: Schema.String },
  HttpApiSchema.annotations({ status: 410, description: "The upload was terminated or failed" })
) {}

export class UploadLengthExceeded extends Schema.TaggedError<UploadLengthExceeded>()(
  "UploadLengthExceeded",
  { ...Message, upload_length: Schema.Int, upload_offset: Schema.Int },
  HttpApiSchema.annotations({ status: 413, description: "The body goes past Upload-Length" })
) {}

/** Every error a tus request may answer with. */
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
  InvalidRequest,
  Unauthorized,
  Forbidden,
  NotFound,
  ChunkSizeOutOfBounds,
  FileTooLarge,
  UnsupportedContentType,
  QuotaExceeded,
  TooManyUploads,
  BodyStalled,
  PartConflict,
  PartInProgress,
  PartSizeMismatch,
  PartTooLarge,
  PartNumberOutOfRange,
  SessionNotWritable,
  SessionExpired,
  MissingParts,
  FinalizeInProgress,
  ChecksumMismatch,
  BatchFull,
  BatchClosed,
  IdempotencyConflict
] as const

export type TusFailure = InstanceType<(typeof ERRORS)[number]>

const STATUS = new Map<string, number>(ERRORS.map((error) => [error._tag, HttpApiSchema.getStatusError(error)]))

export const statusOf = (error: TusFailure): number => STATUS.get(error._tag) ?? 500
