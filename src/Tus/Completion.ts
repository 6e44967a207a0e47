/**
 * Making a tus upload's stored bytes whole: parts that fragments now cover completely are
 * written as parts (their fragments streamed back through the part write path, then
 * forgotten), fragments that count for nothing are forgotten, and once every part is in the
 * session is completed by the Finalizer, as `POST …/complete` does (SHA-256 of the whole file,
 * STORED, the `file.stored` event). Runs under the upload's writer lease.
 */
import { Effect, Option } from "effect"
import type { SessionId } from "../Domain/Ids"
import { Parts } from "../Parts/Parts"
import { Finalizer } from "../Sessions/Finalizer"
import { Sessions } from "../Sessions/Sessions"
import { StorageError } from "../Storage/Storage"
import { TusFragments } from "./Fragments"
import { type Layout, standing } from "./Offset"

export class TusCompletion extends Effect.Service<TusCompletion>()("Portal/TusCompletion", {
  effect: Effect.gen(function*() {
    const sessions = yield* Sessions
    const parts = yield* Parts
    const finalizer = yield* Finalizer
    const fragments = yield* TusFragments

    /** Where the upload stands now, from the database. */
    const standingOf = (session: Layout & { readonly id: SessionId }) =>
      Effect.gen(function*() {
        const received = yield* sessions.receivedRanges(session.id)
        return standing(session, received, yield* fragments.ofSession(session.id))
      })

    /** Writes whole parts from their fragments and completes the session once all its bytes are in. */
    const settle = (session: Layout & { readonly id: SessionId }) =>
      Effect.gen(function*() {
        const now = yield* standingOf(session)
        for (const { fragments: covering, partNumber } of now.whole) {
          const body = fragments.joined(covering)
          yield* parts.uploadInHeldSlot({
            sessionId: session.id,
            partNumber,
            body: body.stream,
            contentLength: Option.none(),
            contentDigest: Option.none(),
            partSha256: Option.none()
          }).pipe(
            Effect.catchAll((error) =>
              body.storageFailed()
                ? Effect.die(new StorageError({ operation: "read fragment", key: `part ${partNumber}`, cause: error }))
                : Effect.fail(error)
            )
          )
          yield* fragments.forget(covering)
        }
        yield* fragments.forget(now.stale)
        if (now.offset < session.total_size_bytes) return Option.none()
        return Option.some(yield* finalizer.complete(session.id, Option.none()))
      }).pipe(Effect.withSpan("TusCompletion.settle", { attributes: { session: session.id } }))

    return { standingOf, settle } as const
  }),
  dependencies: [Sessions.Default, Parts.Default, Finalizer.Default, TusFragments.Default]
}) {}
