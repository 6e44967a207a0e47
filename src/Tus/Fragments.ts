/**
 * Fragments in the storage: keeping the bytes of a spool as one (recorded under the writer
 * lease, or held back until a checksum is verified), reading a part's fragments back in
 * order ahead of the rest of the part, and forgetting them once their part is whole.
 */
import { DateTime, Effect, Option, Runtime, Schema } from "effect"
import { PortalConfig } from "../Config"
import { newId, type SessionId } from "../Domain/Ids"
import { writeRefusal } from "../Domain/Session"
import { someOrDie } from "../Repo"
import { Storage, StorageError, type UploadTarget } from "../Storage/Storage"
import type { Spool } from "./Spool"
import { UploadGone, UploadLocked } from "./Errors"
import { type Fragment, TusRepo } from "./TusRepo"

/** A part's bytes as one stream: its fragments read back from the storage, then `rest`. */
export interface Joined {
  readonly stream: ReadableStream<Uint8Array>
  /** Reading a fragment back failed: the storage's fault, not the client's. */
  readonly storageFailed: () => boolean
}

const readerOf = (body: ReadableStream<Uint8Array>) => body.getReader()
type Reader = ReturnType<typeof readerOf>

export class TusFragments extends Effect.Service<TusFragments>()("Portal/TusFragments", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const storage = yield* Storage
    const repo = yield* TusRepo
    const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())

    /** Writes `spool` as the fragment of `partNumber` starting `partOffset` bytes into it; not recorded yet. */
    const write = (target: UploadTarget, partNumber: number, partOffset: number, spool: Spool) =>
      Effect.gen(function*() {
        const size = spool.size()
        const written = yield* storage.writeFragment({ target, partNumber, partOffset, size, body: spool.read() })
        const fragment: Fragment = {
          id: yield* newId(Schema.UUID),
          part_number: partNumber,
          part_offset: partOffset,
          size_bytes: written.size,
          sha256: written.sha256,
          storage_key: written.locator
        }
        return fragment
      }).pipe(Effect.catchTags({
        // the spool is on our disk: a fragment that cannot be read from it is a storage failure
        BodyTooLarge: (error) => Effect.die(error),
        StorageError: (error) => Effect.die(error),
        BodyUnreadable: (error) => Effect.die(new StorageError({ operation: "spool", key: spool.path, cause: error.cause }))
      }))

    /** The session's fragments, in the order of the bytes. */
    const ofSession = (sessionId: SessionId) => repo.fragments(sessionId)

    /** Forgets fragments: their rows, then their objects (an object left behind is the GC's). */
    const forget = (fragments: ReadonlyArray<Fragment>) =>
      fragments.length === 0 ? Effect.void : repo.forget(fragments.map((fragment) => fragment.id)).pipe(
        Effect.zipRight(Effect.forEach(fragments, (fragment) => Effect.ignore(storage.deleteObject(fragment.storage_key)), {
          discard: true
        }))
      )

    /**
     * Records fragments for the writer lease's `holder`. When that records nothing, the
     * session stopped accepting bytes or the lease was lost: their objects go, and why is told.
     */
    const record = (sessionId: SessionId, holder: string, fragments: ReadonlyArray<Fragment>) =>
      Effect.gen(function*() {
        if (fragments.length === 0) return
        const now = yield* DateTime.now
        const recorded = yield* repo.record({
          sessionId,
          holder,
          fragments,
          now,
          expiresAt: DateTime.addDuration(now, config.sessionTtl)
        })
        if (recorded.length === fragments.length) return
        yield* Effect.forEach(fragments, (fragment) => Effect.ignore(storage.deleteObject(fragment.storage_key)), { discard: true })
        const session = yield* repo.session(sessionId).pipe(someOrDie(() => `session ${sessionId} vanished`))
        const refusal = writeRefusal(session, now)
        if (Option.isSome(refusal)) {
          return yield* refusal.value._tag === "SessionExpired"
            ? refusal.value
            : new UploadGone({ message: `upload ${sessionId} is ${session.status}`, session_id: sessionId, status: session.status })
        }
        return yield* new UploadLocked({ message: "another request took over this upload", session_id: sessionId })
      })

    /** Gives up fragments written but never recorded (a checksum that did not match). */
    const drop = (fragments: ReadonlyArray<Fragment>) =>
      Effect.forEach(fragments, (fragment) => Effect.ignore(storage.deleteObject(fragment.storage_key)), { discard: true })

    const joined = (fragments: ReadonlyArray<Fragment>, rest?: ReadableStream<Uint8Array>): Joined => {
      let failed = false
      const queue = [...fragments]
      let restTaken = false
      let current: { readonly reader: Reader; readonly stored: boolean } | undefined
      const stream = new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          while (true) {
            if (current === undefined) {
              const fragment = queue.shift()
              if (fragment !== undefined) {
                try {
                  const { body } = await runPromise(storage.open(fragment.storage_key))
                  current = { reader: readerOf(body instanceof Blob ? body.stream() : body), stored: true }
                } catch (cause) {
                  failed = true
                  return controller.error(cause)
                }
              } else if (rest !== undefined && !restTaken) {
                restTaken = true
                current = { reader: readerOf(rest), stored: false }
              } else {
                return controller.close()
              }
            }
            const { reader, stored } = current
            let next: Awaited<ReturnType<Reader["read"]>>
            try {
              next = await reader.read()
            } catch (cause) {
              if (stored) failed = true
              return controller.error(cause)
            }
            if (!next.done) return controller.enqueue(next.value)
            current = undefined
          }
        },
        cancel: async (reason) => {
          await current?.reader.cancel(reason).catch(() => undefined)
        }
      }, { highWaterMark: 0 })
      return { stream, storageFailed: () => failed }
    }

    return { ofSession, write, record, forget, drop, joined } as const
  }),
  dependencies: [TusRepo.Default]
}) {}
