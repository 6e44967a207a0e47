/**
 * Per-user quotas: bytes of STORED files plus bytes reserved by open sessions may not exceed
 * the user's quota_bytes. A reservation is simply an open, unexpired session, so abort,
 * failure and expiry release it; nothing has to be given back by hand.
 */
import { DateTime, Effect, Option } from "effect"
import type { UserId } from "../Domain/Ids"
import { QuotaReport } from "../Domain/Quota"
import { Metrics } from "../Operations/Metrics"
import { someOrDie } from "../Repo"
import { QuotaRepo } from "./QuotaRepo"

export class Quota extends Effect.Service<Quota>()("Portal/Quota", {
  effect: Effect.gen(function*() {
    const repo = yield* QuotaRepo
    const metrics = yield* Metrics

    const reportOf = (usage: { readonly limit: number; readonly used: number; readonly reserved: number }) =>
      QuotaReport.of(usage.limit, usage.used, usage.reserved)

    const report = (userId: UserId) =>
      Effect.flatMap(DateTime.now, (now) => repo.usage({ userId, now })).pipe(
        someOrDie(() => `user ${userId} vanished`),
        Effect.map(reportOf)
      )

    /**
     * Locks the user's quota until the transaction ends and reports it; must run inside the
     * transaction that creates the reservation, so that concurrent creations are checked one
     * after the other and cannot overshoot together.
     */
    const lock = (userId: UserId) => Effect.zipRight(repo.lock(userId), report(userId))

    /** Fails with 429 when `bytes` more do not fit the locked quota `current`. */
    const ensureRoom = (current: QuotaReport, bytes: number) =>
      Option.match(current.refusal(bytes), {
        onNone: () => Effect.void,
        onSome: (refusal) => Effect.zipRight(metrics.quotaRefused, Effect.fail(refusal))
      })

    return { report, lock, ensureRoom, addStored: repo.addStored } as const
  }),
  dependencies: [QuotaRepo.Default, Metrics.Default]
}) {}
