/** Mutual exclusion per key inside one process (e.g. one finalize per session at a time). */
import { Effect } from "effect"

export interface KeyedLock<K> {
  readonly withLock: <A, E, R>(key: K, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

export const makeKeyedLock = <K>(): KeyedLock<K> => {
  const locks = new Map<K, { readonly semaphore: Effect.Semaphore; holders: number }>()
  return {
    withLock: (key, effect) =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          const entry = locks.get(key) ?? { semaphore: Effect.unsafeMakeSemaphore(1), holders: 0 }
          entry.holders += 1
          locks.set(key, entry)
          return entry
        }),
        (entry) => entry.semaphore.withPermits(1)(effect),
        (entry) =>
          Effect.sync(() => {
            entry.holders -= 1
            if (entry.holders === 0) locks.delete(key)
          })
      )
  }
}
