/**
 * Where bytes live. Callers speak of a session's upload, its numbered parts and the final
 * object, never of paths or buckets, so the local filesystem and an S3-compatible object
 * store are interchangeable (tusd's DataStore split: the protocol above, pluggable stores
 * below). Local.ts and S3.ts implement it; test/StorageContract.test.ts holds both to it.
 *
 * The write path is fenced: a part is written where only the request holding its claim
 * writes (local: a file of its own; S3: UploadPart n, checked by its ETag at completion), and
 * what becomes STORED is assembled or completed by the finalize lease's holder alone, so a
 * writer that stalled past its claim can never change bytes that a STORED file serves.
 */
import { Context, Data, type Effect, type Option } from "effect"

/** What the backend accepts; sessions are planned within these limits. */
export interface StorageLimits {
  /** The smallest part but the last (S3: 5 MiB). */
  readonly minPartSize: number
  readonly maxPartSize: number
  readonly maxParts: number
}

/** A session's upload in the store. */
export interface UploadTarget {
  readonly sessionId: string
  readonly fileId: string
  /** What createUpload returned for the session (S3: the UploadId), as the session row keeps it. */
  readonly ref: string
}

/** A part written completely and durably. */
export interface WrittenPart {
  readonly size: number
  readonly sha256: string
  /** How completion names the part: local, the file holding it; S3, the ETag of UploadPart n. */
  readonly locator: string
}

export interface ReceivedPart extends WrittenPart {
  readonly partNumber: number
}

/** The final object of a file. */
export interface StoredObject {
  readonly backend: "local" | "s3"
  readonly bucket: Option.Option<string>
  readonly key: string
  readonly size: number
  /** SHA-256 of the bytes the store holds under `key`. */
  readonly sha256: string
}

/** Bytes of an object, ready to be a response body: a Blob (files, sent with sendfile) or a stream. */
export interface ObjectBody {
  readonly body: Blob | ReadableStream<Uint8Array>
  readonly length: number
}

export interface ByteWindow {
  readonly offset: number
  readonly length: number
}

/** An upload the store still has, for garbage collection: what discardUpload needs of it, and its age. */
export interface PendingUpload {
  readonly target: UploadTarget
  readonly startedAt: Date
}

/** An object of ours in the store, for garbage collection. */
export interface ObjectInfo {
  readonly key: string
  /** The file it was made for, read from its key. */
  readonly fileId: string
  readonly lastModified: Date
}

/** The body delivered more bytes than the part may have; reading stopped there. */
export class BodyTooLarge extends Data.TaggedError("BodyTooLarge")<{ readonly limit: number }> {}

/** The body could not be read to its end: the client went away, or sent a broken encoding. */
export class BodyUnreadable extends Data.TaggedError("BodyUnreadable")<{ readonly cause: unknown }> {}

/** The storage itself failed (disk full, permissions, object store down): not the client's fault. */
export class StorageError extends Data.TaggedError("StorageError")<{
  readonly operation: string
  readonly key: string
  readonly cause: unknown
}> {
  override get message() {
    return `storage ${this.operation} failed for ${this.key}: ${String(this.cause)}`
  }
}

/**
 * A part that completion found changed in the store since it was recorded (S3: another
 * writer's UploadPart replaced it): it has to be sent again.
 */
export class PartsReplaced extends Data.TaggedError("PartsReplaced")<{ readonly partNumbers: ReadonlyArray<number> }> {}

export interface StorageShape {
  readonly backend: "local" | "s3"
  readonly bucket: Option.Option<string>
  readonly limits: StorageLimits

  /**
   * Starts the upload of a session. Parts of one session may race to call it: the caller
   * records the first answer on the session row and gives up (discardUpload) any other.
   */
  readonly createUpload: (session: { readonly sessionId: string; readonly fileId: string }) => Effect.Effect<string, StorageError>

  /**
   * Streams `body` into part `partNumber` while computing its SHA-256, and makes it durable.
   * The caller holds the part's claim `claim`. Fails with BodyTooLarge as soon as more than
   * `size` bytes arrive; a shorter body is written nowhere that counts and answered with its
   * size, for the caller to refuse.
   */
  readonly writePart: (input: {
    readonly target: UploadTarget
    readonly partNumber: number
    readonly claim: string
    /** The part's exact size. */
    readonly size: number
    readonly body: ReadableStream<Uint8Array>
    /** Sees the size of every chunk as it arrives (progress, stall detection). */
    readonly observe?: (bytes: number) => void
  }) => Effect.Effect<WrittenPart, BodyTooLarge | BodyUnreadable | StorageError>

  /**
   * tus: keeps exactly `size` bytes of `body` durably as a fragment of part `partNumber`,
   * starting `partOffset` bytes into the part, under a key of its own (read back with `open`,
   * removed with `deleteObject`; what is left when the session ends goes with its upload or
   * with the garbage collection of objects). Fails with BodyTooLarge past `size`; a shorter
   * body is kept nowhere and fails with BodyUnreadable.
   */
  readonly writeFragment: (input: {
    readonly target: UploadTarget
    readonly partNumber: number
    readonly partOffset: number
    readonly size: number
    readonly body: ReadableStream<Uint8Array>
  }) => Effect.Effect<WrittenPart, BodyTooLarge | BodyUnreadable | StorageError>

  /** A part was recorded as received: a hint for work that can start early (never fails). */
  readonly partRecorded: (target: UploadTarget, part: ReceivedPart) => Effect.Effect<void>

  /** Sessions this process does work for in the background (local: assemblies under way). */
  readonly followedSessions: Effect.Effect<ReadonlyArray<string>>

  /** Stops background work for a session that ended (perhaps on another instance). */
  readonly release: (sessionId: string) => Effect.Effect<void>

  /**
   * The final object from all `parts`, in order, with the SHA-256 of the bytes it holds. Only
   * the finalize lease's `holder` calls it; calling it again (after a crash, or after a
   * checksum refused at complete) yields the same bytes.
   */
  readonly complete: (input: {
    readonly target: UploadTarget
    readonly holder: string
    readonly parts: ReadonlyArray<ReceivedPart>
  }) => Effect.Effect<StoredObject, StorageError | PartsReplaced>

  /** Gives up what a session's upload holds (its parts; S3: aborts the multipart upload). */
  readonly discardUpload: (target: UploadTarget) => Effect.Effect<void, StorageError>

  readonly deleteObject: (key: string) => Effect.Effect<void, StorageError>

  /** Uploads the store still has (local: parts folders; S3: unfinished multipart uploads of ours). */
  readonly listUploads: Effect.Effect<ReadonlyArray<PendingUpload>, StorageError>

  /** Final objects of ours (others' objects in the same bucket are never listed). */
  readonly listObjects: Effect.Effect<ReadonlyArray<ObjectInfo>, StorageError>

  /** The bytes of an object, or of a window of it; fails if the object is missing or shorter. */
  readonly open: (key: string, window?: ByteWindow) => Effect.Effect<ObjectBody, StorageError>

  /** Readiness: can we write and read right now? */
  readonly check: Effect.Effect<void, StorageError>
}

export class Storage extends Context.Tag("Portal/Storage")<Storage, StorageShape>() {}
