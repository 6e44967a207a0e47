/**
 * Appending a PATCH body to a tus upload, part by part, for the holder of its writer lease.
 * A part the body is expected to cover to its end goes straight through the part write path
 * (Parts: streamed to the storage, hashed, recorded), preceded by the fragments that already
 * start it; its bytes are also spooled to local disk on the way, so that when the body breaks
 * off inside the part, what arrived is kept as a fragment. A body expected to end inside a
 * part is spooled and kept as a fragment. With Upload-Checksum every byte becomes a fragment
 * held back until the whole body is verified: a mismatch keeps nothing.
 */
import { Duration, Effect, Option } from "effect"
import { BodyStalled, InvalidRequest } from "../Domain/Errors"
import type { SessionId } from "../Domain/Ids"
import { Parts } from "../Parts/Parts"
import { PortalConfig } from "../Config"
import { StorageError, type UploadTarget } from "../Storage/Storage"
import type { BodyCursor } from "./Cursor"
import { type TusFailure, UploadChecksumMismatch, UploadLengthExceeded } from "./Errors"
import { TusFragments } from "./Fragments"
import { type Layout, positionOf } from "./Offset"
import type { DeclaredChecksum } from "./Protocol"
import { type Spool, spoolIn } from "./Spool"
import type { Fragment } from "./TusRepo"

export interface Append {
  readonly session: Layout & { readonly id: SessionId }
  readonly target: UploadTarget
  /** The writer lease's holder. */
  readonly holder: string
  /** The upload's offset, where the body's first byte goes. */
  readonly offset: number
  /** The fragments that start the part at `offset`. */
  readonly started: ReadonlyArray<Fragment>
  readonly cursor: BodyCursor
  /** How many bytes the body probably holds: its Content-Length, or the size of the previous append. */
  readonly expected: number
  readonly checksum: Option.Option<DeclaredChecksum>
  /** Where spool files go (local disk). */
  readonly spools: string
}

interface Step {
  /** Bytes kept, or held back for the checksum. */
  readonly kept: number
  /** The append ends here: the body ended or broke off, or a part could not be written. */
  readonly last: boolean
  readonly failure: Option.Option<TusFailure>
}

export class TusAppender extends Effect.Service<TusAppender>()("Portal/TusAppender", {
  effect: Effect.gen(function*() {
    const { bodyIdleTimeout } = yield* PortalConfig
    const parts = yield* Parts
    const fragments = yield* TusFragments

    /** Why a body that stopped early stopped: nothing when it simply ended. */
    const bodyFailure = (cursor: BodyCursor): Option.Option<TusFailure> =>
      cursor.stalled
        ? Option.some(new BodyStalled({
          message: `no byte of the body arrived for ${Duration.format(bodyIdleTimeout)}; the bytes before are kept`,
          idle_seconds: Duration.toSeconds(bodyIdleTimeout)
        }))
        : cursor.broken
        ? Option.some(new InvalidRequest({ message: "the request body could not be read to its end" }))
        : Option.none()

    const spoolFailed = (append: Append) =>
      Option.match(append.cursor.spoolFailure, {
        onNone: () => Effect.void,
        onSome: (cause) => Effect.die(new StorageError({ operation: "spool", key: append.spools, cause }))
      })

    /** Keeps what `spool` holds as a fragment at `partNumber`+`partOffset`, recorded now. */
    const keep = (append: Append, partNumber: number, partOffset: number, spool: Spool) =>
      Effect.flatMap(
        fragments.write(append.target, partNumber, partOffset, spool),
        (fragment) => fragments.record(append.session.id, append.holder, [fragment])
      )

    /** A part written through the part write path: `started` read back, then the body's next bytes. */
    const direct = (append: Append, at: ReturnType<typeof positionOf>, started: ReadonlyArray<Fragment>) =>
      Effect.scoped(Effect.gen(function*() {
        const spool = yield* Effect.orDie(spoolIn(append.spools))
        const body = fragments.joined(started, append.cursor.segment(at.rest, spool))
        const written = yield* Effect.either(parts.uploadInHeldSlot({
          sessionId: append.session.id,
          partNumber: at.partNumber,
          body: body.stream,
          contentLength: Option.none(),
          contentDigest: Option.none(),
          partSha256: Option.none()
        }))
        if (written._tag === "Right") {
          yield* fragments.forget(started)
          return { kept: at.rest, last: false, failure: Option.none() } satisfies Step
        }
        yield* spoolFailed(append)
        const { cursor } = append
        const stalled = written.left._tag === "BodyStalled"
        const cutShort = cursor.ended || cursor.broken || stalled
        const failure = stalled ? Option.some<TusFailure>(written.left) : bodyFailure(cursor)
        // nothing more is read: what arrived of this part is all there is to keep
        cursor.cutOff()
        const salvage = spool.size() > 0 && (cutShort || body.storageFailed())
        if (salvage) yield* keep(append, at.partNumber, at.partOffset, spool)
        if (body.storageFailed()) {
          return yield* Effect.die(new StorageError({ operation: "read fragment", key: `part ${at.partNumber}`, cause: written.left }))
        }
        if (!cutShort) return { kept: 0, last: true, failure: Option.some<TusFailure>(written.left) } satisfies Step
        return { kept: spool.size(), last: true, failure } satisfies Step
      }))

    /** The body's next bytes up to the end of the part, kept as a fragment (held back for a checksum). */
    const spooled = (append: Append, at: ReturnType<typeof positionOf>, held: Array<Fragment>) =>
      Effect.scoped(Effect.gen(function*() {
        const spool = yield* Effect.orDie(spoolIn(append.spools))
        const filled = yield* Effect.promise(() => append.cursor.fill(at.rest, spool).catch(() => -1))
        yield* spoolFailed(append)
        const failure = bodyFailure(append.cursor)
        if (filled > 0) {
          if (Option.isNone(append.checksum)) yield* keep(append, at.partNumber, at.partOffset, spool)
          else if (Option.isNone(failure)) held.push(yield* fragments.write(append.target, at.partNumber, at.partOffset, spool))
        }
        return { kept: Math.max(filled, 0), last: filled < at.rest, failure } satisfies Step
      }))

    /** Verifies the checksum over the whole body, then records what was held back for it. */
    const settleChecksum = (append: Append, checksum: DeclaredChecksum, held: ReadonlyArray<Fragment>, failed: boolean) =>
      Effect.gen(function*() {
        if (failed) return yield* fragments.drop(held)
        if (Buffer.compare(append.cursor.digest(), checksum.digest) !== 0) {
          yield* fragments.drop(held)
          return yield* new UploadChecksumMismatch({
            message: `the body does not match its Upload-Checksum (${checksum.algorithm}); none of it was kept`,
            algorithm: checksum.algorithm,
            upload_offset: append.offset
          })
        }
        yield* fragments.record(append.session.id, append.holder, held)
      })

    /** Appends the body; answers why it stopped early, if it did for another reason than its end. */
    const append = (input: Append) =>
      Effect.gen(function*() {
        const total = input.session.total_size_bytes
        const held: Array<Fragment> = []
        let position = input.offset
        let started = input.started
        let failure = Option.none<TusFailure>()
        // (a body known to be over starts no part it cannot bring a byte to)
        while (position < total && !input.cursor.ended) {
          const at = positionOf(input.session, position)
          const coversPart = Option.isNone(input.checksum) && input.expected - (position - input.offset) >= at.rest
          const step: Step = coversPart ? yield* direct(input, at, started) : yield* spooled(input, at, held)
          position += step.kept
          started = []
          failure = step.failure
          if (step.last) break
        }
        if (position >= total && Option.isNone(failure) && (yield* Effect.promise(() => input.cursor.hasMore()))) {
          failure = Option.some(new UploadLengthExceeded({
            message: `the body goes past Upload-Length (${total} bytes)`,
            upload_length: total,
            upload_offset: input.offset
          }))
        }
        if (Option.isSome(input.checksum)) yield* settleChecksum(input, input.checksum.value, held, Option.isSome(failure))
        return failure
      })

    return { append } as const
  }),
  dependencies: [TusFragments.Default, Parts.Default]
}) {}
