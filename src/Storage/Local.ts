/**
 * Storage on the local filesystem, under `<root>` (DATA_DIR/storage):
 *
 *   parts/<session>/<n>.<claim>        part n as written by the request holding claim <claim>
 *   files/<xx>/<file>.<holder>/        a final object, made by the finalize lease's holder: its
 *                                      parts linked as 1, 2, … and their sizes in manifest.json
 *
 * Every claim writes a file of its own (O_EXCL), so a writer that stalled past its claim only
 * ever writes into a file nobody will use; a final object links the recorded part files
 * (LocalAssembler.ts), copying nothing, under a name no other completer uses, so nothing can
 * write into a STORED file. Directories that a crash must not lose are fsynced into their
 * parents. (A final object stored before objects were directories is a plain file, and reads
 * as one.)
 */
import { Effect, Layer, Option, Schema } from "effect"
import { closeSync, constants, fdatasync, openSync, rmSync, writeSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { PortalConfig } from "../Config"
import { consumeBody } from "./Body"
import { Durable, fsyncDirectory } from "./Durable"
import { makeLocalAssembler, MANIFEST, ObjectManifest } from "./LocalAssembler"
import { makeRegionHasher, type RegionHasher } from "./RegionHasher"
import { BodyUnreadable, Storage, StorageError, type StorageShape } from "./Storage"

export interface LocalStorageOptions {
  readonly root: string
  readonly fsync: boolean
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const attempt = <A>(operation: string, key: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new StorageError({ operation, key, cause }) })

const decodeManifest = Schema.decodeUnknownSync(ObjectManifest)

/** The bytes of `pieces`, one after the other, read as they are sent. */
const concatenated = (pieces: ReadonlyArray<Blob>): ReadableStream<Uint8Array> => {
  const chunks = (async function*() {
    for (const piece of pieces) yield* piece.stream()
  })()
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const next = await chunks.next()
      if (next.done === true) controller.close()
      else controller.enqueue(next.value)
    },
    cancel: async () => {
      await chunks.return(undefined)
    }
  })
}

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/** Parts up to this size are hashed on the event loop as they arrive (a few hundred microseconds). */
const INLINE_HASH_MAX = 1024 * 1024

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

    /** The claim's own file, new (O_EXCL): nobody else ever writes into it. */
    const createClaimFile = (directory: string, key: string) =>
      attempt("open", key, async () => {
        const path = pathOf(key)
        await durable.directory(directory)
        const create = () => openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644)
        try {
          return create()
        } catch (error) {
          // the folder was removed since it was made (its session ended, perhaps on another instance)
          if (!(error instanceof Error && "code" in error && error.code === "ENOENT")) throw error
          durable.removed(directory)
          await durable.directory(directory)
          return create()
        }
      })

    /**
     * Receives the body into the claim's own file, one write per chunk as it arrives (writes
     * land in the page cache, so they do not hold the event loop up). The digest of a large
     * part is then computed by the hashing worker from what the file holds, beside the event
     * loop; a small one's on the way in.
     */
    const writeOwnFile = (
      directory: string,
      key: string,
      size: number,
      body: ReadableStream<Uint8Array>,
      observe?: (bytes: number) => void
    ) => {
      const path = pathOf(key)
      const failed = (operation: string) => (cause: unknown) => new StorageError({ operation, key, cause })
      return Effect.acquireUseRelease(
        createClaimFile(directory, key),
        (fd) =>
          Effect.gen(function*() {
            let position = 0
            // a small part is hashed as it arrives: cheaper than a round trip to the worker
            const inline = size <= INLINE_HASH_MAX ? new Bun.CryptoHasher("sha256") : undefined
            const received = yield* consumeBody(body, size, (chunk) => {
              inline?.update(chunk)
              try {
                let written = 0
                while (written < chunk.byteLength) {
                  written += writeSync(fd, chunk, written, chunk.byteLength - written, position + written)
                }
              } catch (cause) {
                throw failed("write")(cause)
              }
              position += chunk.byteLength
            }, observe)
            if (options.fsync) yield* attempt("fsync", key, () => new Promise<void>((resolve, reject) => fdatasync(fd, (error) => (error === null ? resolve() : reject(error)))))
            const sha256 = inline !== undefined
              ? inline.digest("hex")
              : received === 0
              ? EMPTY_SHA256
              : yield* hasher.digestOf(path, 0, received).pipe(Effect.mapError(failed("hash")))
            return { size: received, sha256, locator: key }
          }),
        (fd) => Effect.sync(() => closeSync(fd))
      ).pipe(Effect.onError(() => Effect.sync(() => rmSync(path, { force: true }))))
    }

    const writePart: StorageShape["writePart"] = ({ body, claim, observe, partNumber, size, target }) =>
      writeOwnFile(target.ref, `${target.ref}/${partNumber}.${claim}`, size, body, observe)

    /** A fragment is a file of its own in the session's parts folder, so it goes with the upload. */
    const writeFragment: StorageShape["writeFragment"] = ({ body, partNumber, partOffset, size, target }) => {
      const key = `${target.ref}/fragment.${partNumber}.${partOffset}.${Bun.randomUUIDv7()}`
      return Effect.flatMap(writeOwnFile(target.ref, key, size, body), (written) =>
        written.size === size
          ? Effect.succeed(written)
          : Effect.sync(() => rmSync(pathOf(key), { force: true })).pipe(
            Effect.zipRight(Effect.fail(new BodyUnreadable({ cause: `the fragment ended after ${written.size} of ${size} bytes` })))
          ))
    }

    const open: StorageShape["open"] = (key, window) =>
      attempt("read", key, async () => {
        const path = pathOf(key)
        const stat = await fsp.stat(path)
        const sizes = stat.isDirectory()
          ? decodeManifest(JSON.parse(await Bun.file(NodePath.join(path, MANIFEST)).text())).sizes
          : [stat.size]
        const files = stat.isDirectory() ? sizes.map((_, i) => NodePath.join(path, String(i + 1))) : [path]
        const size = sizes.reduce((sum, partSize) => sum + partSize, 0)
        const { length, offset } = window ?? { offset: 0, length: size }
        if (offset + length > size) throw new Error(`window ${offset}+${length} exceeds the object's ${size} bytes`)
        // the pieces of the parts that the window covers
        const pieces: Array<Blob> = []
        let start = 0
        sizes.forEach((partSize, i) => {
          const from = Math.max(offset, start)
          const to = Math.min(offset + length, start + partSize)
          if (from < to) pieces.push(Bun.file(files[i] ?? "").slice(from - start, to - start))
          start += partSize
        })
        // one piece is sent as a file (sendfile); several are streamed one after the other
        const [only] = pieces
        return { body: pieces.length === 1 && only !== undefined ? only : concatenated(pieces), length }
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
      writeFragment,
      partRecorded: assembler.partRecorded,
      followedSessions: assembler.followedSessions,
      release: assembler.forget,
      complete: ({ holder, parts, target }) => assembler.assemble(target, holder, parts),
      discardUpload: (target) =>
        assembler.forget(target.sessionId).pipe(
          Effect.zipRight(attempt("delete", target.ref, async () => {
            await fsp.rm(pathOf(target.ref), { recursive: true, force: true })
            durable.removed(target.ref)
          }))
        ),
      deleteObject: (key) => attempt("delete", key, () => fsp.rm(pathOf(key), { recursive: true, force: true })),
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
