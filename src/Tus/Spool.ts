/**
 * Spool files: the bytes of one part of a PATCH body, copied to local disk (DATA_DIR/tmp/tus)
 * as they pass, so that what arrived can still be kept when the body breaks off while it is
 * streamed elsewhere. One per part being received, removed when its part is settled: at most
 * a part of disk per PATCH, never memory.
 */
import { Effect } from "effect"
import { closeSync, constants, openSync, rmSync, writeSync } from "node:fs"
import * as fsp from "node:fs/promises"
import * as NodePath from "node:path"
import { StorageError } from "../Storage/Storage"

export interface Spool {
  readonly path: string
  readonly size: () => number
  readonly append: (chunk: Uint8Array) => void
  /** Its bytes so far, read back. */
  readonly read: () => ReadableStream<Uint8Array>
}

/** A new spool file in `directory`, removed when the scope closes. */
export const spoolIn = (directory: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const path = NodePath.join(directory, Bun.randomUUIDv7())
        return { path, fd: openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600) }
      },
      catch: (cause) => new StorageError({ operation: "spool", key: directory, cause })
    }),
    ({ fd, path }) =>
      Effect.sync(() => {
        closeSync(fd)
        rmSync(path, { force: true })
      })
  ).pipe(Effect.map(({ fd, path }): Spool => {
    let size = 0
    return {
      path,
      size: () => size,
      append: (chunk) => {
        for (let written = 0; written < chunk.byteLength;) {
          written += writeSync(fd, chunk, written, chunk.byteLength - written, size + written)
        }
        size += chunk.byteLength
      },
      read: () => Bun.file(path).slice(0, size).stream()
    }
  }))

/** Spools older than this were left by a process that died mid-append. */
const STALE_MILLIS = 24 * 60 * 60 * 1000

/** Makes the spool directory, and removes what a process that died left in it. */
export const prepareSpools = (directory: string) =>
  Effect.promise(async () => {
    await fsp.mkdir(directory, { recursive: true, mode: 0o700 })
    const cutoff = Date.now() - STALE_MILLIS
    for (const name of await fsp.readdir(directory)) {
      const path = NodePath.join(directory, name)
      const stat = await fsp.stat(path).catch(() => undefined)
      if (stat !== undefined && stat.mtimeMs < cutoff) await fsp.rm(path, { force: true })
    }
  })
