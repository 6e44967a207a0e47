/**
 * Part uploads in flight, per user, on this instance: each holds an open connection, a file
 * and buffers while its body arrives, so one user may have at most
 * UPLOAD_MAX_CONCURRENT_PER_USER of them (429 with Retry-After beyond that), however slowly
 * they send. The count is per instance because what it protects is the instance.
 */
import { Effect } from "effect"
import { PortalConfig } from "../Config"
import { TooManyUploads } from "../Domain/Errors"
import type { UserId } from "../Domain/Ids"

const RETRY_AFTER_SECONDS = 1

export class UploadSlots extends Effect.Service<UploadSlots>()("Portal/UploadSlots", {
  effect: Effect.gen(function*() {
    const { maxConcurrentPerUser } = yield* PortalConfig
    const inFlight = new Map<UserId, number>()

    const take = (userId: UserId) =>
      Effect.suspend(() => {
        const held = inFlight.get(userId) ?? 0
        if (held >= maxConcurrentPerUser) {
          return Effect.fail(
            new TooManyUploads({
              message: `at most ${maxConcurrentPerUser} part uploads at a time per user; retry when one has finished`,
              limit: maxConcurrentPerUser,
              retry_after_seconds: RETRY_AFTER_SECONDS
            })
          )
        }
        inFlight.set(userId, held + 1)
        return Effect.void
      })

    const give = (userId: UserId) =>
      Effect.sync(() => {
        const held = (inFlight.get(userId) ?? 1) - 1
        if (held === 0) inFlight.delete(userId)
        else inFlight.set(userId, held)
      })

    /** Runs `upload` in one of the user's slots, or fails at once when they are all taken. */
    const withSlot = (userId: UserId) => <A, E, R>(upload: Effect.Effect<A, E, R>) =>
      Effect.acquireUseRelease(take(userId), () => upload, () => give(userId))

    return { withSlot } as const
  })
}) {}
