/**
 * The whole-file SHA-256 of an S3 upload, carried on while its parts pass through, so that
 * completing does not have to read the object back. SHA-256 is sequential and parts arrive in
 * any order, on any instance, so:
 *
 * - while a part streams to S3, its bytes are also kept in memory (within a budget; a part
 *   that does not fit is simply not kept);
 * - once it is recorded, and the upload's digest stands at the part before it, the kept
 *   bytes advance the digest, whose saved state (ResumableSha256) goes to the database
 *   (upload_digests, migration 0007) with the part: any instance continues from there;
 * - a part whose predecessor is not digested yet waits in memory, and the instance looks
 *   again now and then (another instance may advance the digest meanwhile); a part kept too
 *   long is dropped.
 *
 * Completing takes the state for the parts it names (the digest of their ETags must match)
 * and reads back from the object only the bytes after them. So the digest is always of the
 * bytes of exactly the parts S3 assembled (it checks every ETag at completion), and with
 * nothing kept or no libcrypto, it is of the whole object read back.
 */
import { SqlClient } from "@effect/sql"
import { Deferred, Duration, Effect, FiberSet, Option, Schema } from "effect"
import { onRealClock } from "../Lease"
import { command, findOne } from "../Repo"
import { type ResumableSha256, resumableSha256, type ResumableSha256Factory } from "./ResumableSha256"
import type { ReceivedPart, UploadTarget } from "./Storage"

/** Bytes of parts kept in memory at most, over all uploads of this instance. */
export const DEFAULT_DIGEST_BUFFER = 64 * 1024 * 1024
/** How often parts waiting for their predecessor look at the database again. */
const RECHECK = Duration.millis(200)
/** A kept part that could not be used in this time is dropped (completion reads it back). */
const KEEP_AT_MOST = 5 * 60_000

interface Kept {
  readonly sessionId: string
  readonly size: number
  readonly chunks: Array<Uint8Array>
  readonly since: number
  /** The ETag S3 answered for it, once written. */
  etag?: string
  recorded: boolean
}

/** Watches one part on its way to S3. */
export interface PartCapture {
  readonly push: (chunk: Uint8Array) => void
  readonly written: (etag: string) => void
  readonly drop: () => void
}

const Digested = Schema.Struct({
  through_part: Schema.Number,
  through_bytes: Schema.Number,
  state: Schema.Uint8ArrayFromSelf,
  etag_chain: Schema.String
})
type Digested = typeof Digested.Type

/** The digest of the ETags of the parts digested, in order: what names them in a row. */
export const chainEtag = (chain: string, etag: string) =>
  new Bun.CryptoHasher("sha256").update(`${chain}\n${etag}`).digest("hex")

const makeLedger = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return {
    find: findOne({
      Request: Schema.String,
      Result: Digested,
      execute: (ref) =>
        sql`SELECT through_part, through_bytes, state, etag_chain FROM upload_digests WHERE upload_ref = ${ref}`
    }),
    /** Moves the digest from part `from` to `to.through_part`; nothing if it is not at `from` (any more). */
    advance: findOne({
      Request: Schema.Struct({ ref: Schema.String, from: Schema.Number, to: Digested }),
      Result: Schema.Struct({ through_part: Schema.Number }),
      execute: ({ from, ref, to }) =>
        from === 0
          ? sql`INSERT INTO upload_digests (upload_ref, through_part, through_bytes, state, etag_chain)
                VALUES (${ref}, ${to.through_part}, ${to.through_bytes}, ${Buffer.from(to.state)}, ${to.etag_chain})
                ON CONFLICT (upload_ref) DO NOTHING RETURNING through_part`
          : sql`UPDATE upload_digests
                   SET through_part = ${to.through_part}, through_bytes = ${to.through_bytes}, state = ${Buffer.from(to.state)},
                       etag_chain = ${to.etag_chain}, updated_at = now()
                 WHERE upload_ref = ${ref} AND through_part = ${from}
             RETURNING through_part`
    }),
    forget: command({ Request: Schema.String, execute: (ref) => sql`DELETE FROM upload_digests WHERE upload_ref = ${ref}` })
  }
})

export const makeS3Digests = (options: { readonly budget: number }) =>
  Effect.gen(function*() {
    const ledger = yield* makeLedger
    const background = yield* FiberSet.make()
    const sha: Option.Option<ResumableSha256Factory> = resumableSha256()
    const kept = new Map<string, Map<number, Kept>>()
    const running = new Map<string, Deferred.Deferred<void>>()
    const rechecking = new Set<string>()
    let held = 0

    const dropKept = (ref: string, partNumber: number) => {
      const parts = kept.get(ref)
      const part = parts?.get(partNumber)
      if (parts === undefined || part === undefined) return
      parts.delete(partNumber)
      held -= part.size
      if (parts.size === 0) kept.delete(ref)
    }

    const dropStale = (now: number) => {
      for (const [ref, parts] of kept) {
        for (const [partNumber, part] of parts) if (now - part.since > KEEP_AT_MOST) dropKept(ref, partNumber)
      }
    }

    /** Keeps the part's bytes as they pass, if the budget allows; undefined if not. */
    const capture = (target: UploadTarget, partNumber: number, size: number): PartCapture | undefined => {
      if (Option.isNone(sha)) return undefined
      dropStale(Date.now())
      dropKept(target.ref, partNumber)
      if (held + size > options.budget) return undefined
      const part: Kept = { sessionId: target.sessionId, size, chunks: [], since: Date.now(), recorded: false }
      const parts = kept.get(target.ref) ?? new Map<number, Kept>()
      kept.set(target.ref, parts)
      parts.set(partNumber, part)
      held += size
      return {
        // the chunk itself, not a copy: a request body delivers a new buffer every time, and the
        // request to S3 only reads it (the S3 and tus tests check the digests end to end)
        push: (chunk) => void part.chunks.push(chunk),
        written: (etag) => {
          part.etag = etag
        },
        drop: () => {
          if (kept.get(target.ref)?.get(partNumber) === part) dropKept(target.ref, partNumber)
        }
      }
    }

    const resumeOrFresh = (factory: ResumableSha256Factory, row: Option.Option<Digested>): ResumableSha256 =>
      Option.match(row, { onNone: factory.fresh, onSome: (digested) => factory.resume(digested.state) })

    /** Advances the upload's digest with every kept, recorded part that follows it. */
    const advanceOnce = (factory: ResumableSha256Factory, ref: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        while (true) {
          const row = yield* ledger.find(ref)
          const through = Option.match(row, { onNone: () => 0, onSome: (digested) => digested.through_part })
          const parts = kept.get(ref)
          if (parts === undefined) return
          for (const partNumber of parts.keys()) if (partNumber <= through) dropKept(ref, partNumber)
          const next = parts.get(through + 1)
          if (next === undefined || !next.recorded || next.etag === undefined) return
          const hasher = resumeOrFresh(factory, row)
          for (const chunk of next.chunks) hasher.update(chunk)
          yield* ledger.advance({
            ref,
            from: through,
            to: {
              through_part: through + 1,
              through_bytes: Option.match(row, { onNone: () => 0, onSome: (digested) => digested.through_bytes }) + next.size,
              state: hasher.save(),
              etag_chain: chainEtag(Option.match(row, { onNone: () => "", onSome: (digested) => digested.etag_chain }), next.etag)
            }
          })
          // advanced by us, or by another instance meanwhile: either way this part is done
          dropKept(ref, through + 1)
        }
      })

    /** One advance at a time per upload in this process; parts left waiting look again later. */
    const advance = (ref: string): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (Option.isNone(sha)) return
        const under = running.get(ref)
        if (under !== undefined) return yield* Deferred.await(under)
        const done = yield* Deferred.make<void>()
        running.set(ref, done)
        yield* advanceOnce(sha.value, ref).pipe(
          Effect.catchAllCause((cause) => Effect.logWarning("the digest of an upload could not advance; completion reads it back", cause)),
          Effect.ensuring(Effect.zipRight(Effect.sync(() => running.delete(ref)), Deferred.succeed(done, undefined)))
        )
        if (kept.has(ref) && !rechecking.has(ref)) {
          rechecking.add(ref)
          yield* FiberSet.run(
            background,
            onRealClock(Effect.sleep(RECHECK)).pipe(
              Effect.zipRight(Effect.sync(() => rechecking.delete(ref))),
              Effect.zipRight(Effect.suspend(() => advance(ref)))
            )
          )
        }
      })

    /** A part was recorded: if it was kept here, it may advance the digest now (in the background). */
    const recorded = (target: UploadTarget, part: ReceivedPart) =>
      Effect.suspend(() => {
        const mine = kept.get(target.ref)?.get(part.partNumber)
        if (mine === undefined || mine.etag !== part.locator) return Effect.void
        mine.recorded = true
        return Effect.asVoid(FiberSet.run(background, advance(target.ref)))
      })

    /**
     * Where completing starts: the saved digest of the leading parts it names (their ETags
     * must be the ones digested) and how many bytes those are; else a fresh digest at byte 0.
     */
    const startFor = (target: UploadTarget, parts: ReadonlyArray<ReceivedPart>) =>
      Effect.gen(function*() {
        if (Option.isNone(sha)) return Option.none<{ readonly hasher: ResumableSha256; readonly offset: number }>()
        yield* advance(target.ref)
        const row = yield* ledger.find(target.ref)
        const factory = sha.value
        const fresh = Option.some({ hasher: factory.fresh(), offset: 0 })
        if (Option.isNone(row) || row.value.through_part > parts.length) return fresh
        const leading = parts.slice(0, row.value.through_part)
        const chain = leading.reduce((chain, part) => chainEtag(chain, part.locator), "")
        const bytes = leading.reduce((sum, part) => sum + part.size, 0)
        if (chain !== row.value.etag_chain || bytes !== row.value.through_bytes) return fresh
        return Option.some({ hasher: factory.resume(row.value.state), offset: bytes })
      })

    /** The upload completed or was given up: its saved digest and kept parts go. */
    const forget = (ref: string) =>
      Effect.suspend(() => {
        for (const partNumber of [...(kept.get(ref)?.keys() ?? [])]) dropKept(ref, partNumber)
        return ledger.forget(ref)
      })

    /** A session ended (perhaps elsewhere): what is kept for it here goes. */
    const release = (sessionId: string) =>
      Effect.sync(() => {
        for (const [ref, parts] of kept) {
          for (const [partNumber, part] of parts) if (part.sessionId === sessionId) dropKept(ref, partNumber)
        }
      })

    const followedSessions = Effect.sync(() => [...new Set([...kept.values()].flatMap((parts) => [...parts.values()].map((part) => part.sessionId)))])

    return { capture, recorded, startFor, forget, release, followedSessions, keptBytes: () => held } as const
  })

export type S3Digests = Effect.Effect.Success<ReturnType<typeof makeS3Digests>>
