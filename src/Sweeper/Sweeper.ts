/**
 * Ends what nobody will finish: sessions past their expiry become FAILED (their files FAILED,
 * counted in their batches, their quota released, their staged bytes deleted), and staging
 * left behind by sessions that ended during a crash is removed. Runs in the background of every
 * instance and on demand; several sweepers at once split the work (FOR UPDATE SKIP LOCKED) and
 * each session is ended exactly once (SessionLifecycle only ends open sessions).
 */
import { Duration, Effect, Option, Schedule, Schema } from "effect"
import { PortalConfig } from "../Config"
import { SessionId } from "../Domain/Ids"
import { FailureReason } from "../Domain/Session"
import { Assembler } from "../Sessions/Assembler"
import { SessionLifecycle } from "../Sessions/Lifecycle"
import { SessionsRepo } from "../Sessions/SessionsRepo"
import { inTransaction } from "../Sql"
import { Storage } from "../Storage/Storage"
import { currentDate } from "../Time"

/** Sessions ended per transaction. */
const BATCH = 100

export class SweepReport extends Schema.Class<SweepReport>("SweepReport")({
  expired_sessions: Schema.Int.annotations({ description: "Sessions this sweep ended as expired" }),
  staging_removed: Schema.Int.annotations({ description: "Staging folders of ended sessions removed" })
}) {}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export class Sweeper extends Effect.Service<Sweeper>()("Portal/Sweeper", {
  effect: Effect.gen(function*() {
    const sessions = yield* SessionsRepo
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const assembler = yield* Assembler

    /** Ends up to BATCH expired sessions that no other sweeper holds. */
    const expireSome = (now: Date) =>
      inTransaction(Effect.gen(function*() {
        const ids = yield* sessions.lockExpired(now, BATCH)
        const ended = yield* Effect.forEach(ids, (sessionId) =>
          lifecycle.terminate({ sessionId, status: "FAILED", reason: FailureReason.expired, now }).pipe(
            Effect.map((done) => (Option.isSome(done) ? [sessionId] : []))
          ))
        return { locked: ids.length, ended: ended.flat() }
      }))

    const discardStaging = (sessionId: string) =>
      storage.deleteSessionParts(sessionId).pipe(
        Effect.catchAll((error) => Effect.logWarning("could not remove a session's staging", error))
      )

    const sweep = Effect.gen(function*() {
      const now = yield* currentDate
      let expired = 0
      while (true) {
        const { ended, locked } = yield* expireSome(now)
        for (const sessionId of ended) {
          yield* assembler.forget(sessionId)
          yield* discardStaging(sessionId)
        }
        expired += ended.length
        if (locked < BATCH) break
      }
      const staged = (yield* storage.listSessionsWithParts.pipe(Effect.orDie)).filter((name) => UUID.test(name))
      const leftovers = staged.length === 0 ? [] : yield* sessions.notOpenAmong(staged)
      for (const sessionId of leftovers) yield* discardStaging(sessionId)
      // sessions completed, aborted or swept by another instance: stop following them here
      const followed = yield* assembler.followedSessions
      const ended = followed.length === 0 ? [] : yield* sessions.notOpenAmong(followed)
      yield* Effect.forEach(ended, (sessionId) => assembler.forget(SessionId.make(sessionId)), { discard: true })
      return new SweepReport({ expired_sessions: expired, staging_removed: leftovers.length })
    }).pipe(Effect.withSpan("Sweeper.sweep"))

    return { sweep } as const
  }),
  dependencies: [SessionsRepo.Default, SessionLifecycle.Default, Assembler.Default]
}) {}

/** Sweeps every SWEEP_INTERVAL in the background; a failed sweep is logged and the next one runs. */
export const SweeperBackground = Effect.gen(function*() {
  const sweeper = yield* Sweeper
  const { sweepInterval } = yield* PortalConfig
  const once = sweeper.sweep.pipe(
    Effect.tap((report) =>
      report.expired_sessions + report.staging_removed > 0
        ? Effect.logInfo("sweep", { expired_sessions: report.expired_sessions, staging_removed: report.staging_removed })
        : Effect.void
    ),
    Effect.catchAllCause((cause) => Effect.logError("sweep failed", cause))
  )
  yield* Effect.logDebug(`sweeping every ${Duration.format(sweepInterval)}`)
  return yield* Effect.repeat(once, Schedule.spaced(sweepInterval))
})
