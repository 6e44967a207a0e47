/**
 * Leases: the right to do one thing for a while: write a part, assemble a session, send an
 * event. A holder is a random token; expiry is computed and compared with the database's
 * clock (`now()`), so instances whose clocks disagree still agree on who holds what. The
 * holder renews every third of the lease while it works. Once a lease has lapsed its holder is
 * presumed dead and anyone may take it over; the old holder's renewals and releases check the
 * token, so they no longer match anything.
 *
 * Renewals and waits run on the real clock even where tests move the service's Clock: a lease
 * lives in database time, which no TestClock moves.
 */
import type { SqlClient } from "@effect/sql"
import { Clock, Duration, Effect, Option, Random, Schema } from "effect"

export interface LeaseTiming {
  /** How long a lease lasts without renewal: how soon a dead holder is recognised. */
  readonly duration: Duration.Duration
  readonly renewEvery: Duration.Duration
}

export const leaseTiming = (duration: Duration.Duration): LeaseTiming => ({
  duration,
  renewEvery: Duration.millis(Math.max(1, Math.floor(Duration.toMillis(duration) / 3)))
})

export const newHolder = (): string => Bun.randomUUIDv7()

/** A lease's duration as a repository request carries it. */
export const LeaseSeconds = Schema.transform(Schema.Number, Schema.DurationFromSelf, {
  strict: true,
  decode: (seconds) => Duration.seconds(seconds),
  encode: (duration) => Duration.toMillis(duration) / 1000
})

/** SQL for the moment a lease of `seconds` (an encoded LeaseSeconds), taken or renewed now, ends. */
export const leaseEnd = (sql: SqlClient.SqlClient, seconds: number) => sql`now() + make_interval(secs => ${seconds})`

const realClock = Clock.make()

/** Runs `effect` on the wall clock, whatever Clock the caller has. */
export const onRealClock = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withClock(effect, realClock)

/** Runs `work` while `renew` runs beside it every `renewEvery` (for leases that cannot be lost midway). */
export const renewingWhile = (timing: LeaseTiming, renew: Effect.Effect<void>) =>
<A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.raceFirst(work, onRealClock(Effect.forever(Effect.delay(renew, timing.renewEvery))))

/**
 * Runs `work` while keeping its lease: `renew` every `renewEvery`, answering whether the lease
 * is still ours. When it is not, `work` is interrupted (someone else may be doing the same
 * thing now) and the result is the failure `lost()`.
 */
export const whileHeld = <L>(options: {
  readonly timing: LeaseTiming
  readonly renew: Effect.Effect<boolean>
  readonly lost: () => L
}) =>
<A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E | L, R> => {
  const keepRenewing = onRealClock(
    options.renew.pipe(
      Effect.delay(options.timing.renewEvery),
      Effect.repeat({ while: (kept) => kept }),
      Effect.zipRight(Effect.failSync(options.lost))
    )
  )
  return Effect.raceFirst(work, keepRenewing)
}

/**
 * Looks at `check` again and again, backing off (25 ms doubling up to `maxDelay`, each wait
 * jittered so that many waiters spread out), until it answers Some, or until `within` of wall
 * time has passed, when the answer is None.
 */
export const waitFor = <A, E, R>(
  check: Effect.Effect<Option.Option<A>, E, R>,
  options: { readonly within: Duration.Duration; readonly maxDelay?: Duration.Duration }
): Effect.Effect<Option.Option<A>, E, R> =>
  onRealClock(Effect.gen(function*() {
    const deadline = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.within)
    const maxDelay = Duration.toMillis(options.maxDelay ?? Duration.seconds(1))
    for (let attempt = 0;; attempt++) {
      const found = yield* check
      if (Option.isSome(found)) return found
      const left = deadline - (yield* Clock.currentTimeMillis)
      if (left <= 0) return Option.none()
      const delay = Math.min(25 * 2 ** Math.min(attempt, 20), maxDelay) * (0.5 + (yield* Random.next) / 2)
      yield* Effect.sleep(Duration.millis(Math.min(delay, left)))
    }
  }))
