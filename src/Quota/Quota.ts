/**
 * Per-user quotas: bytes of STORED files plus bytes reserved by open sessions may not exceed
 * the user's quota_bytes. A reservation is simply an open, unexpired session, so abort,
 * failure and expiry release it; nothing has to be given back by hand.
 */
import { Effect, Schema } from "effect"
import { UsersRepo } from "../Auth/UsersRepo"
import { QuotaExceeded } from "../Domain/Errors"
import type { UserId } from "../Domain/Ids"
import type { User } from "../Domain/User"
import { FilesRepo } from "../Files/FilesRepo"
import { SessionsRepo } from "../Sessions/SessionsRepo"
import { currentDate } from "../Time"
import { someOrDie } from "../Found"

export class QuotaReport extends Schema.Class<QuotaReport>("Quota")({
  limit_bytes: Schema.Number,
  used_bytes: Schema.Number.annotations({ description: "Bytes of STORED files" }),
  reserved_bytes: Schema.Number.annotations({ description: "Bytes reserved by open (INIT, IN_PROGRESS) sessions" }),
  remaining_bytes: Schema.Number
}) {}

export class Quota extends Effect.Service<Quota>()("Portal/Quota", {
  effect: Effect.gen(function*() {
    const users = yield* UsersRepo
    const files = yield* FilesRepo
    const sessions = yield* SessionsRepo

    const report = (user: User) =>
      Effect.gen(function*() {
        const used = yield* files.storedBytes(user.id)
        const reserved = yield* sessions.reservedBytes(user.id, yield* currentDate)
        return new QuotaReport({
          limit_bytes: user.quota_bytes,
          used_bytes: used,
          reserved_bytes: reserved,
          remaining_bytes: Math.max(0, user.quota_bytes - used - reserved)
        })
      })

    /**
     * Checks that `bytes` more fit. Must run inside the transaction that creates the
     * reservation: the user's row stays locked until it commits, so concurrent creations
     * are checked one after the other and cannot overshoot together.
     */
    const ensureRoomFor = (userId: UserId, bytes: number) =>
      Effect.gen(function*() {
        const user = yield* users.lock(userId).pipe(someOrDie(() => `user ${userId} vanished`))
        const current = yield* report(user)
        if (current.remaining_bytes < bytes) {
          return yield* new QuotaExceeded({
            message: `this upload needs ${bytes} bytes but only ${current.remaining_bytes} of the quota remain`,
            limit_bytes: current.limit_bytes,
            used_bytes: current.used_bytes,
            reserved_bytes: current.reserved_bytes,
            remaining_bytes: current.remaining_bytes,
            requested_bytes: bytes
          })
        }
        return current
      })

    /** Serializes this user's quota decisions until the transaction ends. */
    const lockOwner = (userId: UserId) => Effect.asVoid(users.lock(userId))

    return { report, ensureRoomFor, lockOwner } as const
  }),
  dependencies: [UsersRepo.Default, FilesRepo.Default, SessionsRepo.Default]
}) {}
