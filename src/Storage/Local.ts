/**
 * Storage on the local filesystem, under `<root>` (DATA_DIR/storage):
 *
 *   parts/<session>/<n>.<claim>        part n as written by the request holding claim <claim>
 *   parts/<session>/assembly.<id>      the final object being assembled (LocalAssembler.ts)
 *   files/<xx>/<file>.<holder>         a final object, made by the finalize lease's holder
 *
 * Every claim writes a file of its own (O_EXCL), so a writer that stalled past its claim only
 * ever writes into a file nobody will use; a final object is assembled by copying recorded
 * parts, and gets a name no other completer uses, so nothing can write into a STORED file.
 * Directories that a crash must not lose are fsynced into their parents.
 */
import { Effect, Layer, Option } from "effect"
import { constants } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { PortalConfig } from "../Config"
import { consumeBody } from "./Body"
import { Durable, fsyncDirectory } from "./Durable"
import { makeLocalAssembler } from "./LocalAssembler"
import { makeRegionHasher, type RegionHasher } from "./RegionHasher"
import { Storage, StorageError, type StorageShape } from "./Storage"

export interface LocalStorageOptions {
  readonly root: string
  readonly fsync: boolean
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const attempt = <A>(operation: string, key: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new StorageError({ operation, key, cause }) })

const closeQuietly = (handle: FileHandle) => Effect.promise(() => handle.close().catch(() => undefined))

/** Writes all of `chunk` at `position`. */
const writeAt = async (handle: FileHandle, chunk: Uint8Array, position: number) => {
  let written = 0
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written, position + written)
    written += bytesWritten
  }
}

/** Regions of a part are handed to the hashing worker once this many new bytes are written. */
const FEED_BYTES = 1024 * 1024

/**
 * Local storage over `hasher`, a hashing worker the caller owns. `onDirectorySync` sees every
 * directory synced (for tests).
 */
export const makeLocalStorage = (
  options: LocalStorageOptions,
  hasher: RegionHasher,
  onDirectorySync?: (path: string) => void
) =>
  Effect.gen(function*() {
    const root = NodePath.resolve(options.root)
    const durable = new Durable(root, options.fsync, async (path) => {
      onDirectorySync?.(path)
      await fsyncDirectory(path)
    })
    yield* attempt("mkdir", ".", () => fsp.mkdir(root, { recursive: true }))
    yield* attempt("mkdir", "parts", () => durable.directory("parts"))
    yield* attempt("mkdir", "files", () => durable.directory("files"))

    /** Keys are made by this module; anything that could escape the root is a bug. */
    const pathOf = (key: string) => {
      if (key.startsWith("/") || key.split("/").some((segment) => segment === ".." || segment === "" || segment === ".")) {
        throw new Error(`invalid storage key ${JSON.stringify(key)}`)
      }
      return NodePath.join(root, key)
    }

    const uploadKey = (sessionId: string) => `parts/${sessionId}`
    const objectKey = (fileId: string, holder: string) => `files/${fileId.slice(-2)}/${fileId}.${holder.replaceAll("-", "").slice(-12)}`

    const assembler = yield* makeLocalAssembler({ hasher, durable, pathOf, objectKey, fsync: options.fsync })

    /**
     * Receives the body into the claim's own file. This thread only moves bytes (one write in
     * flight while the next chunk arrives); the hashing worker reads each written MiB back
     * from the page cache and hashes it meanwhile, so the digest is of what is on disk and is
     * ready as soon as the last write lands.
     */
    const writePart: StorageShape["writePart"] = ({ body, claim, observe, partNumber, size, target }) => {
      const key = `${target.ref}/${partNumber}.${claim}`
      const failed = (operation: string) => (cause: unknown) => new StorageError({ operation, key, cause })
      return Effect.gen(function*() {
        const path = pathOf(key)
        yield* attempt("mkdir", target.ref, () => durable.directory(target.ref))
        const handle = yield* attempt("open", key, () => fsp.open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644))
        return yield* Effect.acquireUseRelease(
          Effect.map(hasher.begin().pipe(Effect.mapError(failed("hash"))), (digest) => ({ digest, inFlight: Promise.resolve() })),
          (file) =>
            Effect.gen(function*() {
              let position = 0
              let durableEnd = 0
              let fed = 0
              const feed = () => {
                if (durableEnd > fed) file.digest.feed(path, fed, durableEnd - fed)
                fed = durableEnd
              }
              const received = yield* consumeBody(body, size, async (chunk) => {
                try {
                  await file.inFlight
                } catch (cause) {
                  throw failed("write")(cause)
                }
                const end = position + chunk.byteLength
                file.inFlight = writeAt(handle, chunk, position).then(() => {
                  durableEnd = end
                  if (durableEnd - fed >= FEED_BYTES) feed()
                })
                // observed here so a failure after an interruption is not an unhandled rejection
                file.inFlight.catch(() => undefined)
                position = end
              }, observe)
              yield* attempt("write", key, () => file.inFlight)
              feed()
              const sha256 = yield* file.digest.digest.pipe(Effect.mapError(failed("hash")))
              if (options.fsync) yield* attempt("fsync", key, () => handle.datasync())
              return { size: received, sha256, locator: key }
            }),
          (file) =>
            Effect.promise(() => file.inFlight.catch(() => undefined)).pipe(
              Effect.zipRight(closeQuietly(handle)),
              Effect.zipRight(file.digest.drop)
            )
        ).pipe(Effect.onError(() => Effect.promise(() => fsp.rm(path, { force: true }).catch(() => undefined))))
      })
    }

    const open: StorageShape["open"] = (key, window) =>
      attempt("read", key, async () => {
        const path = pathOf(key)
        const { size } = await fsp.stat(path)
        if (window === undefined) return { body: Bun.file(path), length: size }
        if (window.offset + window.length > size) {
          throw new Error(`window ${window.offset}+${window.length} exceeds the object's ${size} bytes`)
        }
        return { body: Bun.file(path).slice(window.offset, window.offset + window.length), length: window.length }
      })

    const listUploads: StorageShape["listUploads"] = attempt("list", "parts", async () => {
      const entries = await fsp.readdir(NodePath.join(root, "parts"), { withFileTypes: true })
      const sessions = entries.filter((entry) => entry.isDirectory() && UUID.test(entry.name))
      return Promise.all(sessions.map(async (entry) => ({
        // the file is not needed to give a parts folder up
        target: { sessionId: entry.name, fileId: "", ref: uploadKey(entry.name) },
        startedAt: (await fsp.stat(NodePath.join(root, "parts", entry.name))).mtime
      })))
    })

    const listObjects: StorageShape["listObjects"] = attempt("list", "files", async () => {
      const shards = await fsp.readdir(NodePath.join(root, "files"), { withFileTypes: true })
      const listed = await Promise.all(shards.filter((shard) => shard.isDirectory()).map(async (shard) => {
        const names = await fsp.readdir(NodePath.join(root, "files", shard.name))
        return Promise.all(names.flatMap((name) => {
          const fileId = name.split(".")[0] ?? ""
          if (!UUID.test(fileId)) return []
          const key = `files/${shard.name}/${name}`
          return [fsp.stat(NodePath.join(root, key)).then((stat) => ({ key, fileId, lastModified: stat.mtime }))]
        }))
      }))
      return listed.flat()
    })

    const storage: StorageShape = {
      backend: "local",
      bucket: Option.none(),
      limits: { minPartSize: 1, maxPartSize: Number.MAX_SAFE_INTEGER, maxParts: 10_000 },
      createUpload: ({ sessionId }) =>
        Effect.as(attempt("mkdir", uploadKey(sessionId), () => durable.directory(uploadKey(sessionId))), uploadKey(sessionId)),
      writePart,
      partRecorded: assembler.partRecorded,
      followedSessions: assembler.followedSessions,
      release: assembler.forget,
      complete: ({ holder, parts, target }) => assembler.assemble(target, holder, parts),
      discardUpload: (target) =>
        assembler.forget(target.sessionId).pipe(
          Effect.zipRight(attempt("delete", target.ref, () => fsp.rm(pathOf(target.ref), { recursive: true, force: true })))
        ),
      deleteObject: (key) => attempt("delete", key, () => fsp.rm(pathOf(key), { force: true })),
      listUploads,
      listObjects,
      open,
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
    return yield* makeLocalStorage({ root: NodePath.join(config.dataDir, "storage"), fsync: config.storageFsync }, hasher)
  })
)
