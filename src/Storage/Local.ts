/**
 * Storage on the local filesystem, under `<root>/parts/<session>/` for parts and
 * `<root>/files/<xx>/<file>` for final objects. Every object is written to a temporary
 * name, fsynced (unless disabled), then renamed, so a reader never sees half an object.
 */
import { Effect, Layer, Option } from "effect"
import { constants } from "node:fs"
import type { FileHandle } from "node:fs/promises"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { PortalConfig } from "../Config"
import { consumeBody } from "./Body"
import { type Assembly, Storage, StorageError, type StorageShape } from "./Storage"

/** Size of each read when assembling. */
const READ_CHUNK = 1024 * 1024

export interface LocalStorageOptions {
  readonly root: string
  readonly fsync: boolean
}

const attempt = <A>(operation: string, key: string, run: () => Promise<A>) =>
  Effect.tryPromise({ try: run, catch: (cause) => new StorageError({ operation, key, cause }) })

const writeFully = async (handle: FileHandle, chunk: Uint8Array) => {
  let written = 0
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written)
    written += bytesWritten
  }
}

const closeQuietly = (handle: FileHandle) => Effect.promise(() => handle.close().catch(() => undefined))

const removeQuietly = (path: string) => Effect.promise(() => fsp.rm(path, { force: true }).catch(() => undefined))

/**
 * A temporary file being filled: every chunk is hashed while the previous one is still
 * being written, so hashing and the disk overlap (one write in flight at a time).
 */
interface Sink {
  readonly key: string
  readonly temporary: string
  readonly handle: FileHandle
  readonly hasher: Bun.CryptoHasher
  size: number
  inFlight: Promise<void>
}

const appendChunks = async (sink: Sink, chunks: Iterable<Uint8Array>) => {
  for (const chunk of chunks) {
    sink.hasher.update(chunk)
    sink.size += chunk.byteLength
    await sink.inFlight
    sink.inFlight = writeFully(sink.handle, chunk)
    // observed here so a failure after an interruption is not an unhandled rejection
    sink.inFlight.catch(() => undefined)
  }
}


/** Lets the write in flight settle, then closes; used whenever a sink is let go. */
const release = (sink: Sink) =>
  Effect.promise(() => sink.inFlight.catch(() => undefined)).pipe(Effect.zipRight(closeQuietly(sink.handle)))

export const makeLocalStorage = (options: LocalStorageOptions): Effect.Effect<StorageShape, StorageError> =>
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

    const syncDirectory = (directory: string, key: string) =>
      options.fsync
        ? Effect.acquireUseRelease(
          attempt("open", key, () => fsp.open(directory, "r")),
          (handle) => attempt("fsync", key, () => handle.sync()),
          closeQuietly
        )
        : Effect.void

    /** A sink for `key`, its temporary file `.<label>.<random>.tmp` in `directory` (by default the key's). */
    const openSink = (key: string, directory = NodePath.dirname(pathOf(key)), label = NodePath.basename(key)) =>
      Effect.gen(function*() {
        const temporary = NodePath.join(directory, `.${label}.${Bun.randomUUIDv7()}.tmp`)
        yield* attempt("mkdir", key, () => fsp.mkdir(directory, { recursive: true }))
        const handle = yield* attempt("open", key, () => fsp.open(temporary, "wx"))
        const sink: Sink = { key, temporary, handle, hasher: new Bun.CryptoHasher("sha256"), size: 0, inFlight: Promise.resolve() }
        return sink
      })

    /** Makes the sink's bytes durable and visible under its key; the temporary file is gone either way. */
    const seal = (sink: Sink) =>
      Effect.gen(function*() {
        yield* attempt("write", sink.key, () => sink.inFlight)
        if (options.fsync) yield* attempt("fsync", sink.key, () => sink.handle.datasync())
        yield* release(sink)
        const finalPath = pathOf(sink.key)
        yield* attempt("mkdir", sink.key, () => fsp.mkdir(NodePath.dirname(finalPath), { recursive: true }))
        yield* attempt("rename", sink.key, () => fsp.rename(sink.temporary, finalPath))
        yield* syncDirectory(NodePath.dirname(finalPath), sink.key)
        return { key: sink.key, size: sink.size, sha256: sink.hasher.digest("hex") }
      }).pipe(Effect.onError(() => Effect.zipRight(release(sink), removeQuietly(sink.temporary))))

    const discard = (sink: Sink) => Effect.zipRight(release(sink), removeQuietly(sink.temporary))

    /** Streams `body` into a new object under `key`; BodyTooLarge as soon as it exceeds `maxBytes`. */
    const writeObject = (key: string, body: ReadableStream<Uint8Array>, maxBytes: number) =>
      Effect.acquireUseRelease(
        openSink(key),
        (sink) =>
          consumeBody(body, maxBytes, (chunk) =>
            appendChunks(sink, [chunk]).catch((cause) => {
              throw new StorageError({ operation: "write", key, cause })
            })).pipe(Effect.zipRight(seal(sink))),
        (sink, exit) => (exit._tag === "Failure" ? discard(sink) : Effect.void)
      )

    /** Appends exactly `size` bytes of a part to `sink`, reading ahead while the previous block is written. */
    const copyPart = (sink: Sink, part: { readonly key: string; readonly size: number }) =>
      Effect.acquireUseRelease(
        attempt("open", part.key, () => fsp.open(pathOf(part.key), "r")),
        (handle) =>
          attempt("read", part.key, async () => {
            let position = 0
            while (position < part.size) {
              const block = Buffer.allocUnsafe(Math.min(READ_CHUNK, part.size - position))
              let filled = 0
              while (filled < block.byteLength) {
                const { bytesRead } = await handle.read(block, filled, block.byteLength - filled, position + filled)
                if (bytesRead === 0) throw new Error(`part ${part.key} ends at byte ${position + filled} of ${part.size}`)
                filled += bytesRead
              }
              position += filled
              // returns once the block's write is under way: the next read overlaps it
              await appendChunks(sink, [block])
            }
          }),
        closeQuietly
      )

    const beginAssembly = (fileId: string, workDirectory: string) =>
      Effect.map(openSink(`files/${fileId.slice(-2)}/${fileId}`, workDirectory, "assembly"), (sink): Assembly => ({
        appended: () => sink.size,
        append: (part) => copyPart(sink, part),
        finish: Effect.map(seal(sink), (object) => ({ backend: "local", bucket: Option.none<string>(), ...object })),
        abort: discard(sink)
      }))

    const storage: StorageShape = {
      backend: "local",

      writePart: ({ body, maxBytes, partNumber, sessionId }) =>
        writeObject(`parts/${sessionId}/${partNumber}-${Bun.randomUUIDv7()}`, body, maxBytes),

      deletePart: (key) => attempt("delete", key, () => fsp.rm(pathOf(key), { force: true })),

      deleteSessionParts: (sessionId) =>
        attempt("delete", `parts/${sessionId}`, () =>
          fsp.rm(pathOf(`parts/${sessionId}`), { recursive: true, force: true })),

      listSessionsWithParts: attempt("list", "parts", async () => {
        const entries = await fsp.readdir(partsRoot, { withFileTypes: true })
        return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name)
      }),

      // the work file lives with the session's parts, so whatever removes those removes it too
      beginAssembly: ({ fileId, sessionId }) => beginAssembly(fileId, pathOf(`parts/${sessionId}`)),

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

/** Local storage under DATA_DIR/storage, as configured. */
export const LocalStorageLive = Layer.effect(
  Storage,
  Effect.flatMap(PortalConfig, (config) =>
    makeLocalStorage({ root: NodePath.join(config.dataDir, "storage"), fsync: config.storageFsync }))
)
