/**
 * Ends what nobody will finish: sessions past their expiry become FAILED (their files FAILED,
 * counted in their batches, their quota released, their staged bytes deleted), and staging
 * left behind by sessions that ended during a crash is removed. Runs in the background of every
 * instance and on demand; several sweepers at once split the work (FOR UPDATE SKIP LOCKED) and
 * each session is ended exactly once (SessionLifecycle only ends open sessions).
 */
import { DateTime, Duration, Effect, Schedule } from "effect"
import { PortalConfig } from "../Config"
import { FailureReason } from "../Domain/Session"
import { SweepReport } from "../Domain/Sweep"
import { SessionLifecycle } from "../Sessions/Lifecycle"
import { inTransaction } from "../Sql"
import { Assembler } from "../Storage/Assembler"
import { Storage } from "../Storage/Storage"

/** Sessions ended per transaction. */
const BATCH = 100

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export class Sweeper extends Effect.Service<Sweeper>()("Portal/Sweeper", {
  effect: Effect.gen(function*() {
    const lifecycle = yield* SessionLifecycle
    const storage = yield* Storage
    const assembler = yield* Assembler

    const discardStaging = (sessionId: string) =>
      storage.deleteSessionParts(sessionId).pipe(
        Effect.catchAll((error) => Effect.logWarning("could not remove a session's staging", error))
      )

    const sweep = Effect.gen(function*() {
      const now = yield* DateTime.now
      let expired = 0
      while (true) {
        const { ended, locked } = yield* inTransaction(lifecycle.expireSome(now, BATCH, FailureReason.expired))
        for (const sessionId of ended) {
          yield* assembler.forget(sessionId)
          yield* discardStaging(sessionId)
        }
        expired += ended.length
        if (locked < BATCH) break
      }
      const staged = (yield* storage.listSessionsWithParts.pipe(Effect.orDie)).filter((name) => UUID.test(name))
      const leftovers = yield* lifecycle.notOpenAmong(staged)
      for (const sessionId of leftovers) yield* discardStaging(sessionId)
      // sessions completed, aborted or swept by another instance: stop following them here
      const ended = yield* lifecycle.notOpenAmong(yield* assembler.followedSessions)
      yield* Effect.forEach(ended, assembler.forget, { discard: true })
      return new SweepReport({ expired_sessions: expired, staging_removed: leftovers.length })
    }).pipe(Effect.withSpan("Sweeper.sweep"))

    return { sweep } as const
  }),
  dependencies: [SessionLifecycle.Default, Assembler.Default]
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
