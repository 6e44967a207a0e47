/**
 * A worker thread that computes SHA-256 digests of file regions, so hashing runs beside the
 * request handling instead of on its thread. Messages: begin (a new digest, optionally
 * copying what it hashes into a new `output` file), append (hash `size` bytes at `offset` of
 * `path`), digest (finish, sync and close the output, forget), drop (forget, remove the output).
 * A `quiet` append is not answered; if it fails, the digest request reports the failure.
 */
import { closeSync, fsyncSync, openSync, readSync, rmSync, writeSync } from "node:fs"

declare const self: Worker

export type HashRequest =
  | {
    readonly seq: number
    readonly op: "begin"
    readonly id: number
    /** A file to create and fill with every byte appended, in order. */
    readonly output?: string
    readonly fsync?: boolean
  }
  | {
    readonly seq: number
    readonly op: "append"
    readonly id: number
    readonly path: string
    readonly offset: number
    readonly size: number
    readonly quiet: boolean
  }
  | { readonly seq: number; readonly op: "digest"; readonly id: number }
  | { readonly seq: number; readonly op: "drop"; readonly id: number }

export type HashReply =
  | { readonly seq: number; readonly ok: true; readonly digest?: string }
  | { readonly seq: number; readonly ok: false; readonly error: string }

interface Output {
  readonly path: string
  readonly fd: number
  readonly fsync: boolean
}

const hashers = new Map<number, Bun.CryptoHasher>()
const outputs = new Map<number, Output>()
/** Failures of quiet appends, reported when the digest is asked for. */
const failures = new Map<number, string>()
const buffer = Buffer.allocUnsafe(1024 * 1024)

const hasherOf = (id: number) => {
  const hasher = hashers.get(id)
  if (hasher === undefined) throw new Error(`no digest ${id} in progress`)
  return hasher
}

const writeAll = (fd: number, bytes: Uint8Array) => {
  let written = 0
  while (written < bytes.byteLength) written += writeSync(fd, bytes, written, bytes.byteLength - written)
}

const hashRegion = (hasher: Bun.CryptoHasher, output: Output | undefined, path: string, offset: number, size: number) => {
  const fd = openSync(path, "r")
  try {
    let position = offset
    const end = offset + size
    while (position < end) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.byteLength, end - position), position)
      if (read === 0) throw new Error(`${path} ends at byte ${position}, before ${end}`)
      const bytes = buffer.subarray(0, read)
      hasher.update(bytes)
      if (output !== undefined) writeAll(output.fd, bytes)
      position += read
    }
  } finally {
    closeSync(fd)
  }
}

const closeOutput = (id: number, keep: boolean) => {
  const output = outputs.get(id)
  if (output === undefined) return
  outputs.delete(id)
  try {
    if (keep && output.fsync) fsyncSync(output.fd)
  } finally {
    closeSync(output.fd)
    if (!keep) rmSync(output.path, { force: true })
  }
}

const forget = (id: number) => {
  hashers.delete(id)
  failures.delete(id)
}

const handle = (request: HashRequest): HashReply => {
  switch (request.op) {
    case "begin":
      if (request.output !== undefined) {
        // O_EXCL: the output is a new file of this digest's own, never one someone else writes
        outputs.set(request.id, { path: request.output, fd: openSync(request.output, "wx", 0o644), fsync: request.fsync ?? false })
      }
      hashers.set(request.id, new Bun.CryptoHasher("sha256"))
      return { seq: request.seq, ok: true }
    case "append":
      hashRegion(hasherOf(request.id), outputs.get(request.id), request.path, request.offset, request.size)
      return { seq: request.seq, ok: true }
    case "digest": {
      const failure = failures.get(request.id)
      const digest = hasherOf(request.id).digest("hex")
      forget(request.id)
      closeOutput(request.id, failure === undefined)
      return failure === undefined ? { seq: request.seq, ok: true, digest } : { seq: request.seq, ok: false, error: failure }
    }
    case "drop":
      forget(request.id)
      closeOutput(request.id, false)
      return { seq: request.seq, ok: true }
  }
}

self.onmessage = (event: MessageEvent<HashRequest>) => {
  const request = event.data
  let reply: HashReply
  try {
    reply = handle(request)
  } catch (error) {
    reply = { seq: request.seq, ok: false, error: error instanceof Error ? error.message : String(error) }
  }
  if (request.op === "append" && request.quiet) {
    if (!reply.ok && !failures.has(request.id)) failures.set(request.id, reply.error)
    return
  }
  self.postMessage(reply)
}
