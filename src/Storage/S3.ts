/**
 * Storage on an S3-compatible object store (AWS, Ceph RGW, MinIO, R2), in one bucket under
 * S3_PREFIX:
 *
 *   <prefix>files/<file>      the final object of a file: also the key of its session's
 *                             multipart upload, so completing the upload makes the object
 *   <prefix>files/<file>.tus/ fragments of parts of a tus upload (src/Tus), until each part is
 *                             whole; the garbage collection removes those of ended sessions
 *
 * A session is one multipart upload, started by its first part. Part n is UploadPart n,
 * streamed from the request as it arrives (its SHA-256 computed on the way) with nothing
 * buffered beyond a chunk; the part's ETag is recorded with it. Completing sends every part
 * with its recorded ETag, so S3 itself refuses a part that a stalled writer replaced after it
 * was recorded (InvalidPart; those parts are then sent again). The whole-file SHA-256 is
 * of the bytes of exactly the parts S3 assembled: carried on as they passed through, on any
 * instance (S3Digest.ts), and for whatever was not, read back from the completed object.
 */
import { Effect, Layer, Option } from "effect"
import { PortalConfig, type S3Settings } from "../Config"
import { makeS3Client, type S3Client, type S3Failure } from "./S3Client"
import { DEFAULT_DIGEST_BUFFER, makeS3Digests, type PartCapture, type S3Digests } from "./S3Digest"
import {
  BodyTooLarge,
  BodyUnreadable,
  PartsReplaced,
  type ReceivedPart,
  Storage,
  StorageError,
  type StorageShape,
  type UploadTarget
} from "./Storage"

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const GiB = 1024 ** 3
/** What follows a file's key in the keys of its tus fragments. */
const FRAGMENTS = ".tus/"

const storageError = (operation: string, key: string) => (failure: S3Failure) =>
  new StorageError({ operation, key, cause: failure.message })

/** Why the store cannot be used, in words an operator can act on. */
const startupProblem = (settings: { readonly bucket: string }, bucketUrl: string, failure: S3Failure) => {
  if (failure.status === 0) return `the S3 endpoint at ${new URL(bucketUrl).origin} cannot be reached (${failure.detail})`
  if (failure.status === 404) return `the S3 bucket ${settings.bucket} does not exist at ${new URL(bucketUrl).origin}; create it first`
  if (failure.status === 403 || failure.status === 401) {
    return `S3 refused the credentials for bucket ${settings.bucket} (${failure.status} ${failure.code}); check S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY`
  }
  return `the S3 bucket ${settings.bucket} is not usable: ${failure.message}`
}

export const makeS3Storage = (
  client: S3Client,
  settings: { readonly bucket: string; readonly prefix: string; readonly minPartSize: number },
  /** Carries the whole-file digest on as parts pass (S3Digest.ts); without it, completion reads the object back. */
  digests?: S3Digests
) => {
  const filesPrefix = `${settings.prefix}files/`
  const objectKey = (fileId: string) => `${filesPrefix}${fileId}`

  /**
   * Passes `body` (exactly `size` bytes) to `upload` as it arrives, counted and hashed on the
   * way; `upload` answers how completion names what it stored. A body that ends early is
   * answered with its size and stored nowhere.
   */
  const streamed = (
    key: string,
    operation: string,
    size: number,
    body: ReadableStream<Uint8Array>,
    upload: (passed: ReadableStream<Uint8Array>) => Effect.Effect<string, S3Failure>,
    observe?: (bytes: number) => void,
    capture?: PartCapture
  ) =>
    Effect.suspend(() => {
      const hasher = new Bun.CryptoHasher("sha256")
      const reader = body.getReader()
      let received = 0
      let refusal: BodyTooLarge | BodyUnreadable | "short" | undefined
      // the request body, passed through to S3 as it arrives, counted and hashed on the way
      const passed = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          let next: Awaited<ReturnType<typeof reader.read>>
          try {
            next = await reader.read()
          } catch (cause) {
            refusal = new BodyUnreadable({ cause })
            return controller.error(refusal)
          }
          if (next.done) {
            if (received < size) {
              refusal = "short"
              return controller.error(new Error("the body ended before the part did"))
            }
            return controller.close()
          }
          received += next.value.byteLength
          observe?.(next.value.byteLength)
          if (received > size) {
            refusal = new BodyTooLarge({ limit: size })
            void reader.cancel().catch(() => undefined)
            return controller.error(refusal)
          }
          hasher.update(next.value)
          capture?.push(next.value)
          controller.enqueue(next.value)
        },
        cancel: (reason) => reader.cancel(reason)
      })
      return upload(passed).pipe(
        Effect.either,
        Effect.flatMap((uploaded) =>
          Effect.gen(function*() {
            if (refusal instanceof BodyTooLarge || refusal instanceof BodyUnreadable) return yield* refusal
            // S3 kept nothing of a body that ended early: its size tells the caller what is wrong
            if (refusal === "short") return { size: received, sha256: hasher.digest("hex"), locator: "" }
            if (uploaded._tag === "Left") return yield* storageError(operation, key)(uploaded.left)
            // S3 took exactly `size` bytes; a body that goes on beyond them is too long
            const more = yield* Effect.promise(() => reader.read().catch(() => ({ done: true, value: undefined })))
            if (!more.done) {
              void reader.cancel().catch(() => undefined)
              return yield* new BodyTooLarge({ limit: size })
            }
            capture?.written(uploaded.right)
            return { size: received, sha256: hasher.digest("hex"), locator: uploaded.right }
          })),
        Effect.onInterrupt(() => Effect.sync(() => void reader.cancel().catch(() => undefined))),
        Effect.tap((written) => written.locator === "" ? Effect.sync(() => capture?.drop()) : Effect.void),
        Effect.onError(() => Effect.sync(() => capture?.drop()))
      )
    })

  const writePart: StorageShape["writePart"] = ({ body, observe, partNumber, size, target }) => {
    const key = objectKey(target.fileId)
    const capture = digests?.capture(target, partNumber, size)
    return streamed(key, "upload part", size, body, (passed) => client.uploadPart(key, target.ref, partNumber, size, passed), observe, capture)
  }

  /** A fragment is an object of its own beside the file's, `files/<file>.tus/<n>.<offset>.<id>`. */
  const writeFragment: StorageShape["writeFragment"] = ({ body, partNumber, partOffset, size, target }) => {
    const key = `${objectKey(target.fileId)}${FRAGMENTS}${partNumber}.${partOffset}.${Bun.randomUUIDv7()}`
    return streamed(key, "write fragment", size, body, (passed) => Effect.as(client.putObject(key, size, passed), key)).pipe(
      Effect.filterOrFail(
        (written) => written.size === size,
        (written) => new BodyUnreadable({ cause: `the fragment ended after ${written.size} of ${size} bytes` })
      )
    )
  }

  /**
   * SHA-256 of what the store holds under `key`: `hasher` (which has seen the first `offset`
   * bytes already) fed with the rest, read back in one pass. Answers the object's size too.
   */
  const digestFrom = (key: string, total: number, start: { readonly hasher: { update(chunk: Uint8Array): unknown; digest(): string }; readonly offset: number }) =>
    start.offset >= total
      ? Effect.sync(() => ({ size: start.offset, sha256: start.hasher.digest() }))
      : client.getObject(key, start.offset === 0 ? undefined : { offset: start.offset, length: total - start.offset }).pipe(
        Effect.mapError(storageError("read back", key)),
        Effect.flatMap((response) =>
          Effect.tryPromise({
            try: async () => {
              let size = start.offset
              if (response.body !== null) {
                for await (const chunk of response.body) {
                  start.hasher.update(chunk)
                  size += chunk.byteLength
                }
              }
              return { size, sha256: start.hasher.digest() }
            },
            catch: (cause) => new StorageError({ operation: "read back", key, cause })
          })
        )
      )

  /** Where the digest of a completed upload starts: the parts digested as they passed, or byte 0. */
  const digestStart = (target: UploadTarget, parts: ReadonlyArray<ReceivedPart>) =>
    (digests === undefined ? Effect.succeedNone : digests.startFor(target, parts)).pipe(
      Effect.map(Option.getOrElse(() => {
        const hasher = new Bun.CryptoHasher("sha256")
        return { hasher: { update: (chunk: Uint8Array) => hasher.update(chunk), digest: () => hasher.digest("hex") }, offset: 0 }
      }))
    )

  /** Which parts the store holds other bytes of than those recorded (their ETags differ). */
  const replacedParts = (key: string, uploadId: string, recorded: ReadonlyArray<{ readonly partNumber: number; readonly etag: string }>) =>
    client.listParts(key, uploadId).pipe(
      Effect.mapError(storageError("complete", key)),
      Effect.flatMap((held): Effect.Effect<never, StorageError | PartsReplaced> => {
        const etags = new Map(held.map((part) => [part.partNumber, part.etag]))
        const replaced = recorded.filter((part) => etags.get(part.partNumber) !== part.etag).map((part) => part.partNumber)
        return replaced.length > 0
          ? Effect.fail(new PartsReplaced({ partNumbers: replaced }))
          : Effect.fail(new StorageError({ operation: "complete", key, cause: "InvalidPart, yet every part matches" }))
      })
    )

  /** A completed upload is gone from the list; its object must be there, whole. */
  const alreadyComplete = (key: string, uploadId: string, total: number) =>
    client.headObject(key).pipe(
      Effect.mapError(storageError("complete", key)),
      Effect.flatMap((size) =>
        Option.contains(size, total)
          ? Effect.void
          : Effect.fail(new StorageError({ operation: "complete", key, cause: `upload ${uploadId} is gone and no object of ${total} bytes is there` })))
    )

  const complete: StorageShape["complete"] = ({ parts, target }) =>
    Effect.gen(function*() {
      const key = objectKey(target.fileId)
      const total = parts.reduce((sum, part) => sum + part.size, 0)
      const uploaded = parts.map((part) => ({ partNumber: part.partNumber, etag: part.locator }))
      yield* client.completeMultipartUpload(key, target.ref, uploaded).pipe(
        Effect.catchAll((failure): Effect.Effect<void, StorageError | PartsReplaced> => {
          if (failure.code === "InvalidPart") return replacedParts(key, target.ref, uploaded)
          // completed before (a crash after completing, or a checksum refused at complete): the object is there
          if (failure.code === "NoSuchUpload" || failure.code === "NoSuchKey") return alreadyComplete(key, target.ref, total)
          return Effect.fail(storageError("complete", key)(failure))
        })
      )
      const ordered = [...parts].sort((a, b) => a.partNumber - b.partNumber)
      const held = yield* digestFrom(key, total, yield* digestStart(target, ordered))
      if (digests !== undefined) yield* digests.forget(target.ref)
      if (held.size !== total) {
        return yield* new StorageError({ operation: "complete", key, cause: `the object has ${held.size} bytes, the parts ${total}` })
      }
      return { backend: "s3" as const, bucket: Option.some(settings.bucket), key, size: held.size, sha256: held.sha256 }
    })

  /** The file an object of ours was made for: its final object, or a fragment of its tus upload. */
  const fileIdOf = (key: string) => {
    const name = key.startsWith(filesPrefix) ? key.slice(filesPrefix.length) : ""
    const fragment = name.indexOf(FRAGMENTS)
    const fileId = fragment === -1 ? name : name.slice(0, fragment)
    return UUID.test(fileId) ? Option.some(fileId) : Option.none()
  }

  const storage: StorageShape = {
    backend: "s3",
    bucket: Option.some(settings.bucket),
    limits: { minPartSize: settings.minPartSize, maxPartSize: 5 * GiB, maxParts: 10_000 },
    createUpload: ({ fileId }) =>
      client.createMultipartUpload(objectKey(fileId)).pipe(Effect.mapError(storageError("create upload", objectKey(fileId)))),
    writePart,
    writeFragment,
    partRecorded: (target, part) => digests?.recorded(target, part) ?? Effect.void,
    followedSessions: digests?.followedSessions ?? Effect.succeed([]),
    release: (sessionId) => digests?.release(sessionId) ?? Effect.void,
    complete,
    discardUpload: (target: UploadTarget) =>
      client.abortMultipartUpload(objectKey(target.fileId), target.ref).pipe(
        Effect.mapError(storageError("abort upload", objectKey(target.fileId))),
        Effect.zipLeft(digests?.forget(target.ref) ?? Effect.void)
      ),
    deleteObject: (key) => client.deleteObject(key).pipe(Effect.mapError(storageError("delete", key))),
    // ours are only the keys of files/ under the prefix that name a file: nothing else is touched
    listUploads: client.listMultipartUploads(filesPrefix).pipe(
      Effect.mapError(storageError("list uploads", filesPrefix)),
      Effect.map((uploads) =>
        uploads.flatMap((upload) =>
          Option.match(fileIdOf(upload.key), {
            onNone: () => [],
            onSome: (fileId) => [{ target: { sessionId: "", fileId, ref: upload.uploadId }, startedAt: upload.initiated }]
          })
        )
      )
    ),
    listObjects: client.listObjects(filesPrefix).pipe(
      Effect.mapError(storageError("list objects", filesPrefix)),
      Effect.map((objects) =>
        objects.flatMap((object) =>
          Option.match(fileIdOf(object.key), {
            onNone: () => [],
            onSome: (fileId) => [{ key: object.key, fileId, lastModified: object.lastModified }]
          })
        )
      )
    ),
    open: (key, window) =>
      client.getObject(key, window).pipe(
        Effect.mapError(storageError("read", key)),
        Effect.flatMap((response) =>
          response.body === null
            ? Effect.fail(new StorageError({ operation: "read", key, cause: "no body" }))
            : Effect.succeed({
              body: response.body,
              length: window?.length ?? Number(response.headers.get("content-length") ?? "0")
            })
        )
      ),
    check: client.headBucket.pipe(Effect.mapError(storageError("check", settings.bucket)))
  }
  return storage
}

/** The configured S3 bucket; a missing bucket or refused credentials stop the start with a clear message. */
export const S3StorageLive = Layer.scoped(
  Storage,
  Effect.gen(function*() {
    const { s3 } = yield* PortalConfig
    const settings = yield* requiredSettings(s3)
    const client = makeS3Client(settings)
    yield* client.headBucket.pipe(
      Effect.mapError((failure) =>
        new StorageError({ operation: "start", key: settings.bucket, cause: startupProblem(settings, client.bucketUrl, failure) })
      )
    )
    return makeS3Storage(client, settings, yield* makeS3Digests({ budget: DEFAULT_DIGEST_BUFFER }))
  })
)

const requiredSettings = (s3: S3Settings) =>
  Effect.gen(function*() {
    const missing = (name: string) =>
      new StorageError({ operation: "start", key: "", cause: `STORAGE_BACKEND=s3 needs ${name}` })
    const bucket = yield* Option.match(s3.bucket, { onNone: () => Effect.fail(missing("S3_BUCKET")), onSome: Effect.succeed })
    const accessKeyId = yield* Option.match(s3.accessKeyId, {
      onNone: () => Effect.fail(missing("S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID)")),
      onSome: Effect.succeed
    })
    if (Option.isNone(s3.secretAccessKey)) return yield* missing("S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)")
    return { ...s3, bucket, accessKeyId }
  })
