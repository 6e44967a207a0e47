/**
 * Client of the hashing worker (HashWorker.ts): SHA-256 digests of file regions, computed
 * on another thread. The worker is started on first use, does not keep the process alive,
 * and is started again if it ever dies.
 */
import { Effect } from "effect"
import type { HashReply, HashRequest } from "./HashWorker"

type Request = HashRequest extends infer R ? (R extends { readonly seq: number } ? Omit<R, "seq"> : never) : never

export interface RegionDigest {
  readonly append: (path: string, offset: number, size: number) => Effect.Effect<void, Error>
  /** Queues a region without waiting; a failure shows when the digest is asked for. */
  readonly feed: (path: string, offset: number, size: number) => void
  /** The hex digest of everything appended; the digest cannot be used afterwards. */
  readonly digest: Effect.Effect<string, Error>
  readonly drop: Effect.Effect<void>
}

export const makeRegionHasher = () => {
  let worker: Worker | undefined
  let seq = 0
  let ids = 0
  const pending = new Map<number, { readonly resolve: (reply: HashReply) => void; readonly reject: (error: Error) => void }>()

  const start = () => {
    const started = new Worker(new URL("./HashWorker.ts", import.meta.url))
    started.unref()
    started.onmessage = (event: MessageEvent<HashReply>) => {
      const waiter = pending.get(event.data.seq)
      pending.delete(event.data.seq)
      waiter?.resolve(event.data)
    }
    started.onerror = (event) => {
      // everything in flight on the dead worker fails; the next request starts a new one
      worker = undefined
      for (const waiter of pending.values()) waiter.reject(new Error(`hashing worker failed: ${event.message}`))
      pending.clear()
    }
    return started
  }

  const post = (request: Request) => {
    worker ??= start()
    worker.postMessage({ ...request, seq: ++seq })
  }

  const call = (request: Request) =>
    Effect.async<HashReply, Error>((resume) => {
      worker ??= start()
      const current = ++seq
      pending.set(current, {
        resolve: (reply) => resume(reply.ok ? Effect.succeed(reply) : Effect.fail(new Error(reply.error))),
        reject: (error) => resume(Effect.fail(error))
      })
      worker.postMessage({ ...request, seq: current })
    })

  /** A new digest, fed region by region, in order. */
  const begin = (): Effect.Effect<RegionDigest, Error> =>
    Effect.suspend(() => {
      const id = ++ids
      return Effect.as(call({ op: "begin", id }), {
        append: (path: string, offset: number, size: number) =>
          Effect.asVoid(call({ op: "append", id, path, offset, size, quiet: false })),
        feed: (path: string, offset: number, size: number) => post({ op: "append", id, path, offset, size, quiet: true }),
        digest: Effect.flatMap(call({ op: "digest", id }), (reply) =>
          reply.ok && reply.digest !== undefined ? Effect.succeed(reply.digest) : Effect.fail(new Error("no digest"))),
        drop: Effect.ignore(call({ op: "drop", id }))
      })
    })

  /** The digest of `size` bytes at `offset` of `path`, in one round trip. */
  const digestOf = (path: string, offset: number, size: number): Effect.Effect<string, Error> =>
    Effect.flatMap(call({ op: "region", path, offset, size }), (reply) =>
      reply.ok && reply.digest !== undefined ? Effect.succeed(reply.digest) : Effect.fail(new Error("no digest")))

  /** Stops the worker; a later request would start a new one. */
  const close = () => {
    worker?.terminate()
    worker = undefined
  }

  return { begin, digestOf, close }
}

export type RegionHasher = ReturnType<typeof makeRegionHasher>
