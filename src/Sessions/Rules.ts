/**
 * What a new session must satisfy before anything is written, as pure rules: its size, its
 * content type, its chunk size and the number of parts that makes.
 */
import { Either, Option } from "effect"
import type { UploadSettings } from "../Config"
import { ChunkSizeOutOfBounds, FileTooLarge, UnsupportedContentType } from "../Domain/Errors"
import { totalParts } from "../Domain/Session"
import type { StorageLimits } from "../Storage/Storage"
import type { CreateSessionRequest } from "./Api"

/** S3 multipart allows 10,000 parts; refusing more up front keeps every backend possible. */
export const MAX_PARTS = 10_000

/** `video/mp4; codecs=…` → `video/mp4` */
const essence = (contentType: string) => (contentType.split(";")[0] ?? "").trim().toLowerCase()

export const contentTypeAllowed = (allowed: ReadonlyArray<string>, contentType: string): boolean => {
  const type = essence(contentType)
  return allowed.some((pattern) => pattern.endsWith("/*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern)
}

export type CreationRefusal = FileTooLarge | UnsupportedContentType | ChunkSizeOutOfBounds

/** The chunk sizes and part counts a session may have: the settings', within what the storage takes. */
export const effectiveLimits = (limits: UploadSettings, storage: StorageLimits): UploadSettings & { readonly maxParts: number } => ({
  ...limits,
  chunkSizeMin: Math.max(limits.chunkSizeMin, storage.minPartSize),
  chunkSizeMax: Math.min(limits.chunkSizeMax, storage.maxPartSize),
  maxParts: Math.min(MAX_PARTS, storage.maxParts)
})

/**
 * The chunk size and part count of a new session, or why it is refused. A file larger than
 * the maximum is 413 first, whatever else is wrong with the request.
 */
export const planSession = (
  settings: UploadSettings,
  storage: StorageLimits,
  request: Pick<CreateSessionRequest, "total_size_bytes" | "content_type" | "chunk_size_bytes">
): Either.Either<{ readonly chunkSize: number; readonly parts: number }, CreationRefusal> => {
  const limits = effectiveLimits(settings, storage)
  if (request.total_size_bytes > limits.maxFileSize) {
    return Either.left(
      new FileTooLarge({
        message: `total_size_bytes ${request.total_size_bytes} exceeds the maximum of ${limits.maxFileSize}`,
        total_size_bytes: request.total_size_bytes,
        max_file_size_bytes: limits.maxFileSize
      })
    )
  }
  if (Option.isSome(limits.allowedContentTypes) && !contentTypeAllowed(limits.allowedContentTypes.value, request.content_type)) {
    return Either.left(
      new UnsupportedContentType({
        message: `content type ${request.content_type} is not allowed`,
        content_type: request.content_type,
        allowed_content_types: limits.allowedContentTypes.value
      })
    )
  }
  const chunkSize = request.chunk_size_bytes ?? limits.chunkSizeDefault
  const parts = totalParts(request.total_size_bytes, chunkSize)
  if (chunkSize < limits.chunkSizeMin || chunkSize > limits.chunkSizeMax || parts > limits.maxParts) {
    const smallest = Math.max(limits.chunkSizeMin, Math.ceil(request.total_size_bytes / limits.maxParts))
    return Either.left(
      new ChunkSizeOutOfBounds({
        message: parts > limits.maxParts && chunkSize >= limits.chunkSizeMin && chunkSize <= limits.chunkSizeMax
          ? `${parts} parts is more than the ${limits.maxParts} allowed; use a chunk_size_bytes of at least ${smallest}`
          : `chunk_size_bytes must be between ${limits.chunkSizeMin} and ${limits.chunkSizeMax}`,
        chunk_size_bytes: chunkSize,
        min_bytes: smallest,
        max_bytes: limits.chunkSizeMax
      })
    )
  }
  return Either.right({ chunkSize, parts })
}
