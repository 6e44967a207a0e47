/**
 * Ends what nobody will finish, and removes what nobody owns:
 * - sessions past their expiry become FAILED (their files FAILED, counted in their batches,
 *   their quota released) and what the store holds for them is given up;
 * - storage uploads that no open session writes into (S3: unfinished multipart uploads of
 *   ours; local: parts folders), left behind when a session ended during a crash;
 * - final objects of ours that no STORED file names and no open session may still name
 *   (left by a crash between making an object and committing it), older than an hour.
 * Runs in the background of every instance and on demand; several sweepers at once split the
 * work (FOR UPDATE SKIP LOCKED) and each session is ended exactly once (SessionLifecycle only
 * ends open sessions). Objects are listed every STORAGE_GC_INTERVAL, or when asked.
 */
import { DateTime, Duration, Effect, Schedule } from "effect"
import { PortalConfig } from "../Config"
import { FailureReason } from "../Domain/Session"
import { SweepReport } from "../Domain/Sweep"
import { Metrics } from "../Operations/Metrics"
import { SessionLifecycle } from "../Sessions/Lifecycle"
import { Sessions } from "../Sessions/Sessions"
import { inTransaction } from "../Sql"
import { Storage } from "../Storage/Storage"
import { SweeperRepo } from "./SweeperRepo"

/** Sessions ended per transaction; keys checked per query. */
const BATCH = 100
const KEYS_PER_QUERY = 1000

/** Leftovers younger than this may be work in progress (an upload being recorded, an object being committed). */
const GRACE = Duration.hours(1)

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size))

export class Sweeper extends Effect.Service<Sweeper>()("Portal/Sweeper", {
  effect: Effect.gen(function*() {
    const lifecycle = yield* SessionLifecycle
    const metrics = yield* Metrics
    const sessions = yield* Sessions
    const repo = yield* SweeperRepo
    const storage = yield* Storage

    const logged = <A>(what: string, fallback: A) => <E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(Effect.catchAll((error) => Effect.as(Effect.logWarning(`could not ${what}`, error), fallback)))

    const expire = (now: DateTime.Utc) =>
      Effect.gen(function*() {
        let expired = 0
        while (true) {
          const { ended, locked } = yield* inTransaction(lifecycle.expireSome(now, BATCH, FailureReason.expired))
          yield* sessions.discardUploads(ended).pipe(
            Effect.catchAllCause((cause) => Effect.logWarning("could not give up the uploads of expired sessions", cause))
          )
          expired += ended.length
          yield* metrics.sessionsExpired(ended.length)
          if (locked < BATCH) return expired
        }
      })

    /** Uploads in the store that no open session writes into, older than the grace period. */
    const removeLeftoverUploads = (now: DateTime.Utc) =>
      Effect.gen(function*() {
        const cutoff = DateTime.toEpochMillis(DateTime.subtractDuration(now, GRACE))
        const pending = (yield* storage.listUploads).filter((upload) => upload.startedAt.getTime() < cutoff)
        let removed = 0
        for (const batch of chunks(pending, KEYS_PER_QUERY)) {
          const leftover = new Set((yield* repo.uploadsNotOpen(batch.map((upload) => upload.target.ref))).map((row) => row.ref))
          for (const upload of batch.filter((candidate) => leftover.has(candidate.target.ref))) {
            yield* storage.discardUpload(upload.target)
            removed++
          }
        }
        return removed
      })

    /** Objects that nothing owns, older than the grace period. */
    const removeOrphanObjects = (now: DateTime.Utc) =>
      Effect.gen(function*() {
        const cutoff = DateTime.toEpochMillis(DateTime.subtractDuration(now, GRACE))
        const objects = (yield* storage.listObjects).filter((object) => object.lastModified.getTime() < cutoff)
        let removed = 0
        for (const batch of chunks(objects, KEYS_PER_QUERY)) {
          const orphans = yield* repo.objectsNotOwned({
            keys: batch.map((object) => object.key),
            fileIds: batch.map((object) => object.fileId)
          })
          for (const { key } of orphans) {
            yield* storage.deleteObject(key)
            removed++
          }
        }
        return removed
      })

    /** Sessions followed in the background here that ended (perhaps on another instance). */
    const releaseEnded = Effect.gen(function*() {
      const followed = yield* storage.followedSessions
      const ended = followed.length === 0 ? [] : (yield* repo.notOpenAmong(followed)).map((row) => row.id)
      yield* Effect.forEach(ended, storage.release, { discard: true })
    })

    let lastObjectSweep = Number.NEGATIVE_INFINITY

    /** One sweep; `objects` also lists the store's objects, which is done at most every STORAGE_GC_INTERVAL otherwise. */
    const sweep = (options: { readonly objects: boolean; readonly gcInterval?: Duration.Duration } = { objects: true }) =>
      Effect.gen(function*() {
        const now = yield* DateTime.now
        const expired = yield* expire(now)
        const uploads = yield* removeLeftoverUploads(now).pipe(logged("remove leftover uploads", 0))
        const due = options.objects ||
          DateTime.toEpochMillis(now) - lastObjectSweep >= Duration.toMillis(options.gcInterval ?? Duration.zero)
        const objects = due ? yield* removeOrphanObjects(now).pipe(logged("remove orphan objects", 0)) : 0
        if (due) lastObjectSweep = DateTime.toEpochMillis(now)
        yield* releaseEnded
        return new SweepReport({ expired_sessions: expired, staging_removed: uploads, objects_removed: objects })
      }).pipe(Effect.withSpan("Sweeper.sweep"))

    return { sweep } as const
  }),
  dependencies: [SessionLifecycle.Default, Sessions.Default, SweeperRepo.Default, Metrics.Default]
}) {}

/** Sweeps every SWEEP_INTERVAL in the background; a failed sweep is logged and the next one runs. */
export const SweeperBackground = Effect.gen(function*() {
  const sweeper = yield* Sweeper
  const { storageGcInterval, sweepInterval } = yield* PortalConfig
  const once = sweeper.sweep({ objects: false, gcInterval: storageGcInterval }).pipe(
    Effect.tap((report) =>
      report.expired_sessions + report.staging_removed + report.objects_removed > 0
        ? Effect.logInfo("sweep", {
          expired_sessions: report.expired_sessions,
          staging_removed: report.staging_removed,
          objects_removed: report.objects_removed
        })
        : Effect.void
    ),
    Effect.catchAllCause((cause) => Effect.logError("sweep failed", cause))
  )
  yield* Effect.logDebug(`sweeping every ${Duration.format(sweepInterval)}`)
  return yield* Effect.repeat(once, Schedule.spaced(sweepInterval))
})
