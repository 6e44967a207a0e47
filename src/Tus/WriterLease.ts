/**
 * The writer lease of a tus upload: one request at a time may append to an upload, on any
 * instance. The lease lives in the database (TusRepo), is renewed while its holder works and
 * lapses when its holder dies, so a PATCH that finds it held waits (UPLOAD_PART_WAIT at most)
 * for the other to finish or for its lease to lapse, then answers 423 Locked.
 */
import { Effect, Option } from "effect"
import { PortalConfig } from "../Config"
import type { SessionId } from "../Domain/Ids"
import { leaseTiming, newHolder, waitFor, whileHeld } from "../Lease"
import { UploadLocked } from "./Errors"
import { TusRepo } from "./TusRepo"

export interface Held {
  readonly holder: string
  /** The size of the previous append, when one ended normally. */
  readonly lastAppend: Option.Option<number>
  /** Remembers the size of this append, for the next one's guess. */
  readonly appended: (bytes: number) => void
}

const locked = (sessionId: SessionId) =>
  new UploadLocked({ message: `another request is appending to upload ${sessionId}; retry shortly`, session_id: sessionId })

export class TusWriterLease extends Effect.Service<TusWriterLease>()("Portal/TusWriterLease", {
  effect: Effect.gen(function*() {
    const config = yield* PortalConfig
    const repo = yield* TusRepo
    const lease = leaseTiming(config.uploadLease)

    /** Runs `use` holding the lease; None when it could not be had at once (`wait: false`) or in time. */
    const attempt = <A, E, R>(sessionId: SessionId, wait: boolean, use: (held: Held) => Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const holder = newHolder()
        const take = repo.acquire({ sessionId, holder, lease: lease.duration })
        const acquired = wait ? yield* waitFor(take, { within: config.partWait }) : yield* take
        if (Option.isNone(acquired)) return Option.none<A>()
        let appended: number | null = null
        const held: Held = {
          holder,
          lastAppend: Option.fromNullable(acquired.value.last_append_bytes),
          appended: (bytes) => {
            appended = bytes
          }
        }
        return yield* use(held).pipe(
          whileHeld({
            timing: lease,
            renew: Effect.map(repo.renew({ sessionId, holder, lease: lease.duration }), Option.isSome),
            lost: () => locked(sessionId)
          }),
          Effect.map(Option.some),
          Effect.ensuring(Effect.suspend(() => repo.release({ sessionId, holder, appended })))
        )
      })

    /** Runs `use` holding the lease, waiting for it; 423 UploadLocked when it stays taken. */
    const holding = <A, E, R>(sessionId: SessionId, use: (held: Held) => Effect.Effect<A, E, R>) =>
      attempt(sessionId, true, use).pipe(
        Effect.flatMap(Option.match({ onNone: () => Effect.fail(locked(sessionId)), onSome: Effect.succeed }))
      )

    /** Runs `use` if the lease is free now; None otherwise. */
    const ifFree = <A, E, R>(sessionId: SessionId, use: (held: Held) => Effect.Effect<A, E, R>) => attempt(sessionId, false, use)

    return { holding, ifFree } as const
  }),
  dependencies: [TusRepo.Default]
}) {}
