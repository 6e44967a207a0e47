/**
 * The embedded default database: PGlite (PostgreSQL compiled to wasm) keeping its data under
 * `DATA_DIR/db`, served to the stock `@effect/sql-pg` client over a Unix socket in
 * `DATA_DIR/run`, so one set of SQL serves it and PostgreSQL alike.
 *
 * - Durable as the files are: with STORAGE_FSYNC on, PostgreSQL runs with fsync on (PGlite's
 *   default start parameters turn it off with `-F`), and its fsync calls reach the disk: the
 *   wasm build maps files onto the host with emscripten's NODEFS, whose fsync does nothing, so
 *   DurableNodeFS gives it one, and WAL is synced with fsync() (its fdatasync is a no-op).
 * - Reachable by this process alone: no TCP port; the socket's directory is mode 0700, so
 *   no other local user can even reach the socket.
 * - One process at a time: an exclusive flock on `DATA_DIR/run/portal.lock`, taken
 *   atomically and released by the kernel when the process dies, however it dies.
 */
import { SqlError } from "@effect/sql/SqlError"
import { PGlite } from "@electric-sql/pglite"
import { NodeFS } from "@electric-sql/pglite/nodefs"
import { PGLiteSocketServer } from "@electric-sql/pglite-socket"
import { dlopen } from "bun:ffi"
import { Effect, Layer } from "effect"
import fs, { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as NodePath from "node:path"
import { pooledPgLayer } from "./Operations/DatabasePool"
import { pgTypes } from "./PgTypes"

export interface EmbeddedOptions {
  /** DATA_DIR: the database goes to `db/`, its socket and lock to `run/`. */
  readonly dataDir: string
  readonly fsync: boolean
}

/** PGlite's own start parameters, less `-F` (fsync off) when the data must survive a crash. */
const PGLITE_START_PARAMS = [
  "--single",
  "-O",
  "-j",
  "-c", "search_path=public",
  "-c", "exit_on_error=false",
  "-c", "log_checkpoints=false",
  "-c", "max_worker_processes=0",
  "-c", "max_parallel_workers=0",
  "-c", "max_parallel_workers_per_gather=0",
  "-c", "io_method=sync",
  "-c", "max_parallel_maintenance_workers=0"
]

export const startParams = (fsync: boolean): Array<string> =>
  fsync
    ? [...PGLITE_START_PARAMS, "-c", "wal_sync_method=fsync"]
    : [...PGLITE_START_PARAMS.slice(0, 1), "-F", ...PGLITE_START_PARAMS.slice(1)]

interface NodeStream {
  readonly nfd?: number
}

/** PGlite's NodeFS, with an fsync that really syncs the host file. */
class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, options: Parameters<NodeFS["init"]>[1]) {
    const { emscriptenOpts } = await super.init(pg, options)
    const preRun = emscriptenOpts.preRun ?? []
    return {
      emscriptenOpts: {
        ...emscriptenOpts,
        preRun: [
          ...preRun,
          (mod: Parameters<(typeof preRun)[number]>[0]) => {
            const nodefs: { stream_ops: { fsync?: (stream: NodeStream) => void } } = mod.FS.filesystems.NODEFS
            nodefs.stream_ops.fsync = (stream) => {
              if (stream.nfd !== undefined) fs.fsyncSync(stream.nfd)
            }
          }
        ]
      }
    }
  }
}

const LOCK_EX = 2
const LOCK_NB = 4

const libc = () => dlopen(process.platform === "darwin" ? "libc.dylib" : "libc.so.6", {
  flock: { args: ["i32", "i32"], returns: "i32" }
})

/** A private directory: created if missing, mode 0700 either way. */
const privateDirectory = (path: string) => {
  mkdirSync(path, { recursive: true, mode: 0o700 })
  chmodSync(path, 0o700)
}

/**
 * Takes the exclusive lock on a data directory's database, or fails at once if another
 * process holds it. The kernel drops the lock with the process, so a crash leaves no stale lock.
 */
export const lockDataDirectory = (runDirectory: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        privateDirectory(runDirectory)
        const path = NodePath.join(runDirectory, "portal.lock")
        const fd = openSync(path, "a+", 0o600)
        if (libc().symbols.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
          closeSync(fd)
          throw new Error("locked")
        }
        // for operators: who holds it (the lock itself is the flock, not this content)
        writeFileSync(path, `${process.pid}\n`)
        return fd
      },
      catch: (cause) =>
        new SqlError({
          cause,
          message: cause instanceof Error && cause.message === "locked"
            ? `the embedded database in ${NodePath.dirname(runDirectory)} is in use by another process; ` +
              `stop it first, or set DATABASE_URL to use a PostgreSQL server`
            : `cannot lock ${runDirectory}`
        })
    }),
    (fd) => Effect.sync(() => closeSync(fd))
  )

/** Longest Unix socket path the kernel takes (sun_path is 108 bytes on Linux, 104 on macOS). */
const MAX_SOCKET_PATH = 100
const SOCKET_NAME = ".s.PGSQL.5432"

/** Where the socket goes: `run/` when its path fits a sun_path, else a fresh private temp directory. */
const socketDirectory = (runDirectory: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      if (NodePath.join(runDirectory, SOCKET_NAME).length <= MAX_SOCKET_PATH) return { path: runDirectory, temporary: false }
      return { path: mkdtempSync(NodePath.join(tmpdir(), "portal-db-")), temporary: true }
    }),
    ({ path, temporary }) => Effect.sync(() => (temporary ? rmSync(path, { recursive: true, force: true }) : undefined))
  )

/** PgClient on the embedded database: one connection, as pglite-socket runs one session. */
export const embeddedLayer = (options: EmbeddedOptions) =>
  Layer.unwrapScoped(
    Effect.gen(function*() {
      const dataDirectory = NodePath.resolve(options.dataDir, "db")
      const runDirectory = NodePath.resolve(options.dataDir, "run")
      yield* lockDataDirectory(runDirectory)
      const socket = yield* socketDirectory(runDirectory)
      const socketPath = NodePath.join(socket.path, SOCKET_NAME)
      yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            privateDirectory(dataDirectory)
            // a socket left by a process that died; the lock says nobody else uses it
            rmSync(socketPath, { force: true })
            const db = await PGlite.create({
              fs: options.fsync ? new DurableNodeFS(dataDirectory) : new NodeFS(dataDirectory),
              startParams: startParams(options.fsync)
            })
            const server = new PGLiteSocketServer({ db, path: socketPath, maxConnections: 1 })
            await server.start()
            return { db, server }
          },
          catch: (cause) => new SqlError({ cause, message: `embedded PostgreSQL (PGlite) failed to start in ${dataDirectory}` })
        }),
        ({ db, server }) => Effect.promise(async () => {
          await server.stop()
          await db.close()
        })
      )
      return pooledPgLayer({
        host: socket.path,
        port: 5432,
        user: "postgres",
        database: "postgres",
        password: "",
        max: 1,
        types: pgTypes,
        application_name: "ingest-portal"
      })
    })
  )
