/**
 * Mutual exclusion per key inside one process (one finalize per session, one assembly step per
 * session at a time): a semaphore per key, kept while someone holds or waits for it.
 */
import { Effect, RcMap, type Scope } from "effect"

export interface KeyedLock<K> {
  readonly withLock: <A, E, R>(key: K, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeKeyedLock = <K>(): Effect.Effect<KeyedLock<K>, never, Scope.Scope> =>
  Effect.map(
    RcMap.make({ lookup: (_key: K) => Effect.makeSemaphore(1) }),
    (semaphores) => ({
      withLock: (key, effect) =>
        Effect.scoped(Effect.flatMap(RcMap.get(semaphores, key), (semaphore) => semaphore.withPermits(1)(effect)))
    })
  )
