/**
 * A worker thread that computes SHA-256 digests of file regions, so whole-file hashing runs
 * beside the request handling instead of on its thread. Messages: begin (a new digest),
 * append (hash `size` bytes at `offset` of `path`), digest (finish and forget), drop; and
 * region (the digest of one region, in one message).
 * A `quiet` append is not answered; if it fails, the digest request reports the failure.
 */
import { closeSync, openSync, readSync } from "node:fs"

declare const self: Worker

export type HashRequest =
  | { readonly seq: number; readonly op: "begin"; readonly id: number }
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
  | { readonly seq: number; readonly op: "region"; readonly path: string; readonly offset: number; readonly size: number }
  | { readonly seq: number; readonly op: "drop"; readonly id: number }

export type HashReply =
  | { readonly seq: number; readonly ok: true; readonly digest?: string }
  | { readonly seq: number; readonly ok: false; readonly error: string }

const hashers = new Map<number, Bun.CryptoHasher>()
/** Failures of quiet appends, reported when the digest is asked for. */
const failures = new Map<number, string>()
const buffer = Buffer.allocUnsafe(1024 * 1024)

const hasherOf = (id: number) => {
  const hasher = hashers.get(id)
  if (hasher === undefined) throw new Error(`no digest ${id} in progress`)
  return hasher
}

const hashRegion = (hasher: Bun.CryptoHasher, path: string, offset: number, size: number) => {
  const fd = openSync(path, "r")
  try {
    let position = offset
    const end = offset + size
    while (position < end) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.byteLength, end - position), position)
      if (read === 0) throw new Error(`${path} ends at byte ${position}, before ${end}`)
      hasher.update(buffer.subarray(0, read))
      position += read
    }
  } finally {
    closeSync(fd)
  }
}

const forget = (id: number) => {
  hashers.delete(id)
  failures.delete(id)
}

const handle = (request: HashRequest): HashReply => {
  switch (request.op) {
    case "begin":
      hashers.set(request.id, new Bun.CryptoHasher("sha256"))
      return { seq: request.seq, ok: true }
    case "append":
      hashRegion(hasherOf(request.id), request.path, request.offset, request.size)
      return { seq: request.seq, ok: true }
    case "digest": {
      const failure = failures.get(request.id)
      const digest = hasherOf(request.id).digest("hex")
      forget(request.id)
      return failure === undefined ? { seq: request.seq, ok: true, digest } : { seq: request.seq, ok: false, error: failure }
    }
    case "drop":
      forget(request.id)
      return { seq: request.seq, ok: true }
    case "region": {
      const hasher = new Bun.CryptoHasher("sha256")
      hashRegion(hasher, request.path, request.offset, request.size)
      return { seq: request.seq, ok: true, digest: hasher.digest("hex") }
    }
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
