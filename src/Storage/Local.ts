/**
 * Storage on the local filesystem, under `<root>/parts/<session>/` for parts and
 * `<root>/files/<xx>/<file>` for final objects. Every object is written to a temporary
 * name, fsynced (unless disabled), then renamed, so a reader never sees half an object.
 */
import { Effect, Layer, Option, Stream } from "effect"
import type { FileHandle } from "node:fs/promises"
import * as fsp from "node:fs/promises"
import { constants } from "node:fs"
import * as NodePath from "node:path"
import { PortalConfig } from "../Config"
import { BodyTooLarge, type ByteWindow, Storage, StorageError, type StorageShape } from "./Storage"

/** Size of each read when assembling or downloading. */
const READ_CHUNK = 1024 * 1024
/** Chunks that may be read and hashed ahead of the disk write they wait for. */
const WRITE_AHEAD = 4

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

export const makeLocalStorage = (options: LocalStorageOptions): Effect.Effect<StorageShape, StorageError> =>
  Effect.gen(function*() {
    const root = NodePath.resolve(options.root)
    const partsRoot = NodePath.join(root, "parts")
    const filesRoot = NodePath.join(root, "files")
    yield* attempt("mkdir", "parts", () => fsp.mkdir(partsRoot, { recursive: true }))
    yield* attempt("mkdir", "files", () => fsp.mkdir(filesRoot, { recursive: true }))

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

    /**
     * Writes `body` to a temporary file beside `finalPath`, hashing as it goes, then makes
     * it durable and renames it into place. Reading and hashing run a few chunks ahead
     * of the disk writes, so the socket and the disk work at the same time.
     */
    const writeObject = <E>(key: string, body: Stream.Stream<Uint8Array, E>, maxBytes: number) =>
      Effect.gen(function*() {
        const finalPath = pathOf(key)
        const directory = NodePath.dirname(finalPath)
        const temporary = NodePath.join(directory, `.${NodePath.basename(finalPath)}.${Bun.randomUUIDv7()}.tmp`)
        yield* attempt("mkdir", key, () => fsp.mkdir(directory, { recursive: true }))
        const written = yield* Effect.acquireUseRelease(
          attempt("open", key, () => fsp.open(temporary, "wx")),
          (handle) =>
            Effect.gen(function*() {
              const hasher = new Bun.CryptoHasher("sha256")
              let size = 0
              yield* body.pipe(
                Stream.tap((chunk) => {
                  size += chunk.byteLength
                  if (size > maxBytes) return Effect.fail(new BodyTooLarge({ limit: maxBytes }))
                  hasher.update(chunk)
                  return Effect.void
                }),
                Stream.buffer({ capacity: WRITE_AHEAD }),
                Stream.runForEach((chunk) => attempt("write", key, () => writeFully(handle, chunk)))
              )
              if (options.fsync) yield* attempt("fsync", key, () => handle.datasync())
              return { size, sha256: hasher.digest("hex") }
            }),
          closeQuietly
        ).pipe(Effect.onError(() => removeQuietly(temporary)))
        yield* attempt("rename", key, () => fsp.rename(temporary, finalPath)).pipe(
          Effect.onError(() => removeQuietly(temporary))
        )
        yield* syncDirectory(directory, key)
        return { key, ...written }
      })

    /** Reads `[offset, offset + length)` of a file; fails if the file is shorter. */
    const readWindow = (key: string, window: Option.Option<ByteWindow>) =>
      Stream.acquireRelease(attempt("open", key, () => fsp.open(pathOf(key), "r")), closeQuietly).pipe(
        Stream.flatMap((handle) =>
          Stream.fromEffect(
            Option.match(window, {
              onNone: () => Effect.map(attempt("stat", key, () => handle.stat()), (s) => ({ offset: 0, end: s.size })),
              onSome: (w) => Effect.succeed({ offset: w.offset, end: w.offset + w.length })
            })
          ).pipe(
            Stream.flatMap(({ end, offset }) =>
              Stream.unfoldEffect(offset, (position) =>
                position >= end
                  ? Effect.succeed(Option.none())
                  : attempt("read", key, async () => {
                    const buffer = Buffer.allocUnsafe(Math.min(READ_CHUNK, end - position))
                    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, position)
                    if (bytesRead === 0) throw new Error(`unexpected end of object at byte ${position} of ${end}`)
                    const chunk: Uint8Array = buffer.subarray(0, bytesRead)
                    return Option.some([chunk, position + bytesRead] as const)
                  }))
            )
          )
        )
      )

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

      assemble: ({ fileId, parts }) => {
        const key = `files/${fileId.slice(-2)}/${fileId}`
        const total = parts.reduce((sum, part) => sum + part.size, 0)
        const body = Stream.fromIterable(parts).pipe(
          Stream.flatMap((part) => readWindow(part.key, Option.some({ offset: 0, length: part.size })))
        )
        return writeObject(key, body, total).pipe(
          Effect.catchTag("BodyTooLarge", (cause) => new StorageError({ operation: "assemble", key, cause })),
          Effect.flatMap((object) =>
            object.size === total
              ? Effect.succeed({ backend: "local", bucket: Option.none<string>(), ...object })
              : new StorageError({ operation: "assemble", key, cause: `assembled ${object.size} of ${total} bytes` })
          )
        )
      },

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
