/**
 * Storage on the local filesystem. A session's parts are written in place into one staging
 * file, `<root>/parts/<session>/data`, each at its own offset, so every byte is written once.
 * Completing links that file, fully written and fsynced, to `<root>/files/<xx>/<file>` in one
 * atomic step: a reader sees the whole object or nothing, never a half-written part.
 */
import { Effect, Layer, Option } from "effect"
import { constants } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { PortalConfig } from "../Config"
import { consumeBody } from "./Body"
import { makeRegionHasher, type RegionHasher } from "./RegionHasher"
import { type Assembly, Storage, StorageError, type StorageShape } from "./Storage"

export interface LocalStorageOptions {
  readonly root: string
  readonly fsync: boolean
}

const attempt = <A>(operation: string, key: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new StorageError({ operation, key, cause }) })

const closeQuietly = (handle: FileHandle) => Effect.promise(() => handle.close().catch(() => undefined))

const removeQuietly = (path: string) => Effect.promise(() => fsp.rm(path, { force: true }).catch(() => undefined))

/** Writes all of `chunk` at `position`. */
const writeAt = async (handle: FileHandle, chunk: Uint8Array, position: number) => {
  let written = 0
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written, position + written)
    written += bytesWritten
  }
}

/** Local storage whose hashing worker lives until the process ends (see LocalStorageLive for a scoped one). */
export const makeLocalStorage = (options: LocalStorageOptions): Effect.Effect<StorageShape, StorageError> =>
  makeLocalStorageWith(options, makeRegionHasher())

const makeLocalStorageWith = (options: LocalStorageOptions, hasher: RegionHasher): Effect.Effect<StorageShape, StorageError> =>
  Effect.gen(function*() {
    const root = NodePath.resolve(options.root)
    const partsRoot = NodePath.join(root, "parts")
    yield* attempt("mkdir", "parts", () => fsp.mkdir(partsRoot, { recursive: true }))
    yield* attempt("mkdir", "files", () => fsp.mkdir(NodePath.join(root, "files"), { recursive: true }))

    /** Keys are made by this module; anything that could escape the root is a bug. */
    const pathOf = (key: string) => {
      if (key.startsWith("/") || key.split("/").some((segment) => segment === ".." || segment === "")) {
        throw new Error(`invalid storage key ${JSON.stringify(key)}`)
      }
      return NodePath.join(root, key)
    }

    const stagingKey = (sessionId: string) => `parts/${sessionId}/data`
    const objectKey = (fileId: string) => `files/${fileId.slice(-2)}/${fileId}`

    const syncDirectory = (directory: string, key: string) =>
      options.fsync
        ? Effect.acquireUseRelease(
          attempt("open", key, () => fsp.open(directory, "r")),
          (handle) => attempt("fsync", key, () => handle.sync()),
          closeQuietly
        )
        : Effect.void

    /** The session's staging file, created on first use (never truncated: other parts live in it). */
    const openStaging = (key: string) =>
      Effect.gen(function*() {
        const path = pathOf(key)
        yield* attempt("mkdir", key, () => fsp.mkdir(NodePath.dirname(path), { recursive: true }))
        const handle = yield* attempt("open", key, () => fsp.open(path, constants.O_RDWR | constants.O_CREAT, 0o644))
        // the file's own directory entry must survive a crash too
        yield* syncDirectory(NodePath.dirname(path), key).pipe(Effect.onError(() => closeQuietly(handle)))
        return { handle, inFlight: Promise.resolve() }
      })

    /** Regions of a part are handed to the hashing worker once this many new bytes are written. */
    const FEED_BYTES = 1024 * 1024

    /**
     * Receives the body into the part's place. This thread only moves bytes (one write in
     * flight while the next chunk arrives); the hashing worker reads each written MiB back
     * from the page cache and hashes it meanwhile, so the digest is of what is on disk and
     * is ready as soon as the last write lands.
     */
    const writePart: StorageShape["writePart"] = ({ body, maxBytes, observe, offset, sessionId }) => {
      const key = stagingKey(sessionId)
      const path = pathOf(key)
      const failed = (operation: string) => (cause: unknown) => new StorageError({ operation, key, cause })
      return Effect.acquireUseRelease(
        Effect.zip(openStaging(key), hasher.begin.pipe(Effect.mapError(failed("hash")))),
        ([file, digest]) =>
          Effect.gen(function*() {
            let position = offset
            let durable = offset
            let fed = offset
            const feed = () => {
              if (durable > fed) digest.feed(path, fed, durable - fed)
              fed = durable
            }
            const size = yield* consumeBody(body, maxBytes, async (chunk) => {
              try {
                await file.inFlight
              } catch (cause) {
                throw failed("write")(cause)
              }
              const end = position + chunk.byteLength
              file.inFlight = writeAt(file.handle, chunk, position).then(() => {
                durable = end
                if (durable - fed >= FEED_BYTES) feed()
              })
              // observed here so a failure after an interruption is not an unhandled rejection
              file.inFlight.catch(() => undefined)
              position = end
            }, observe)
            yield* attempt("write", key, () => file.inFlight)
            feed()
            const sha256 = yield* digest.digest.pipe(Effect.mapError(failed("hash")))
            if (options.fsync) yield* attempt("fsync", key, () => file.handle.datasync())
            return { key, offset, size, sha256 }
          }),
        ([file, digest]) =>
          Effect.promise(() => file.inFlight.catch(() => undefined)).pipe(
            Effect.zipRight(closeQuietly(file.handle)),
            Effect.zipRight(digest.drop)
          )
      )
    }

    /**
     * The final object is the staging file itself: assembling hashes the parts in order (on
     * the hashing worker's thread), then links the file into place. Linking, not renaming,
     * keeps finishing repeatable.
     */
    const beginAssembly = ({ fileId, sessionId }: { readonly fileId: string; readonly sessionId: string }) =>
      Effect.map(
        hasher.begin.pipe(Effect.mapError((cause) => new StorageError({ operation: "assemble", key: objectKey(fileId), cause }))),
        (digest): Assembly => {
          const staging = stagingKey(sessionId)
          const key = objectKey(fileId)
          let appended = 0
          return {
            append: (location) =>
              location.key !== staging || location.offset !== appended
                ? Effect.fail(new StorageError({ operation: "assemble", key, cause: `part at ${location.key}@${location.offset} is out of order` }))
                : digest.append(pathOf(location.key), location.offset, location.size).pipe(
                  Effect.mapError((cause) => new StorageError({ operation: "read", key: location.key, cause })),
                  Effect.tap(() => {
                    appended += location.size
                  })
                ),
            finish: Effect.gen(function*() {
              const stagingPath = pathOf(staging)
              const finalPath = pathOf(key)
              const { size } = yield* attempt("stat", staging, () => fsp.stat(stagingPath))
              if (size !== appended) {
                return yield* new StorageError({ operation: "assemble", key, cause: `staged ${size} bytes, assembled ${appended}` })
              }
              const sha256 = yield* digest.digest.pipe(
                Effect.mapError((cause) => new StorageError({ operation: "assemble", key, cause }))
              )
              if (options.fsync) {
                yield* Effect.acquireUseRelease(
                  attempt("open", staging, () => fsp.open(stagingPath, "r")),
                  (handle) => attempt("fsync", staging, () => handle.datasync()),
                  closeQuietly
                )
              }
              yield* attempt("mkdir", key, () => fsp.mkdir(NodePath.dirname(finalPath), { recursive: true }))
              const temporary = `${finalPath}.${Bun.randomUUIDv7()}.tmp`
              yield* attempt("link", key, () => fsp.link(stagingPath, temporary))
              yield* attempt("rename", key, () => fsp.rename(temporary, finalPath)).pipe(
                Effect.onError(() => removeQuietly(temporary))
              )
              yield* syncDirectory(NodePath.dirname(finalPath), key)
              return { backend: "local", bucket: Option.none<string>(), key, size, sha256 }
            }),
            abort: digest.drop
          }
        }
      )

    const storage: StorageShape = {
      writePart,
      deleteSessionParts: (sessionId) =>
        attempt("delete", `parts/${sessionId}`, () =>
          fsp.rm(pathOf(`parts/${sessionId}`), { recursive: true, force: true })),
      listSessionsWithParts: attempt("list", "parts", async () => {
        const entries = await fsp.readdir(partsRoot, { withFileTypes: true })
        return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)
      }),
      beginAssembly,
      read: (key, window) =>
        attempt("read", key, async () => {
          const path = pathOf(key)
          const { size } = await fsp.stat(path)
          if (window === undefined) return Bun.file(path)
          if (window.offset + window.length > size) {
            throw new Error(`window ${window.offset}+${window.length} exceeds the object's ${size} bytes`)
          }
          return Bun.file(path).slice(window.offset, window.offset + window.length)
        }),
      deleteObject: (key) => attempt("delete", key, () => fsp.rm(pathOf(key), { force: true })),
      check: attempt("check", ".", () => fsp.access(root, constants.R_OK | constants.W_OK))
    }
    return storage
  })

/** Local storage under DATA_DIR/storage, as configured; its hashing worker stops with the layer. */
export const LocalStorageLive = Layer.scoped(
  Storage,
  Effect.gen(function*() {
    const config = yield* PortalConfig
    const hasher = yield* Effect.acquireRelease(Effect.sync(makeRegionHasher), (started) => Effect.sync(started.close))
    return yield* makeLocalStorageWith({ root: NodePath.join(config.dataDir, "storage"), fsync: config.storageFsync }, hasher)
  })
)
