/**
 * Where bytes live. Callers speak in parts and objects, never in paths or buckets, so the
 * local-filesystem implementation and an object-store one are interchangeable (tusd's
 * DataStore split: the protocol handler above, pluggable stores below).
 */
import { Context, Data, Effect, type Option } from "effect"

/** Where a part's bytes are: `size` bytes from `offset` in the object `key`. */
export interface PartLocation {
  readonly key: string
  readonly offset: number
  readonly size: number
}

/** A part that has been written completely and durably. */
export interface StoredPart extends PartLocation {
  readonly sha256: string
}

/** The final object of a file, assembled from its parts. */
export interface StoredObject {
  readonly backend: string
  readonly bucket: Option.Option<string>
  readonly key: string
  readonly size: number
  readonly sha256: string
}

/**
 * A final object being built by appending parts in order, hashing as it goes. It may be
 * started long before completion (parts are appended as they become contiguous), so that
 * completing a session only has to append what is left.
 */
export interface Assembly {
  /** Appends the part found at `location`. */
  readonly append: (location: PartLocation) => Effect.Effect<void, StorageError>
  /** Makes the object durable and visible under its final key. */
  readonly finish: Effect.Effect<StoredObject, StorageError>
  /** Throws the work away. */
  readonly abort: Effect.Effect<void>
}

export interface ByteWindow {
  readonly offset: number
  readonly length: number
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

export interface StorageShape {
  /**
   * Streams `body` to the part's place while computing its SHA-256 and size, and makes it
   * durable. Fails with BodyTooLarge as soon as more than `maxBytes` arrive. The caller must
   * hold the part's claim (no one else writes that place meanwhile). A failed write may
   * leave bytes at the place; they are never part of anything until a later write of the
   * part succeeds and overwrites them.
   */
  readonly writePart: (input: {
    readonly sessionId: string
    readonly partNumber: number
    /** Where the part starts in the file. */
    readonly offset: number
    /** The bytes as they arrive: a web stream, consumed without per-chunk Effect overhead. */
    readonly body: ReadableStream<Uint8Array>
    readonly maxBytes: number
    /** Sees the size of every chunk as it arrives. */
    readonly observe?: (bytes: number) => void
  }) => Effect.Effect<StoredPart, BodyTooLarge | BodyUnreadable | StorageError>
  /** Removes everything staged for a session (its parts, unfinished assemblies). */
  readonly deleteSessionParts: (sessionId: string) => Effect.Effect<void, StorageError>
  /** Session ids that still have part objects, for garbage collection. */
  readonly listSessionsWithParts: Effect.Effect<ReadonlyArray<string>, StorageError>
  /**
   * Starts the final object of a file, from the session's parts. Work in progress belongs to
   * the session: removing the session's staging removes it too. Finishing twice (e.g. after
   * a crash between finishing and recording it) yields the same object.
   */
  readonly beginAssembly: (input: {
    readonly fileId: string
    readonly sessionId: string
  }) => Effect.Effect<Assembly, StorageError>
  /**
   * The bytes of an object, or of a window of it, as a Blob: the HTTP layer can hand it to
   * the runtime as is (a file slice is sent with sendfile, an object-store file streamed),
   * and its size is known up front. Fails if the object is missing or shorter than asked.
   */
  readonly read: (key: string, window?: ByteWindow) => Effect.Effect<Blob, StorageError>
  readonly deleteObject: (key: string) => Effect.Effect<void, StorageError>
  /** Readiness: can we write and read right now? */
  readonly check: Effect.Effect<void, StorageError>
}

export class Storage extends Context.Tag("Portal/Storage")<Storage, StorageShape>() {}

/** Concatenates `parts` in order into the file's final object, hashing it; all or nothing. */
export const assembleAll = (
  storage: StorageShape,
  input: {
    readonly fileId: string
    readonly sessionId: string
    readonly parts: ReadonlyArray<PartLocation>
  }
) =>
  Effect.flatMap(storage.beginAssembly(input), (assembly) =>
    Effect.forEach(input.parts, assembly.append, { discard: true }).pipe(
      Effect.zipRight(assembly.finish),
      Effect.onError(() => assembly.abort)
    ))
