/**
 * Reading a part's body: what its failures answer (too long 413, unreadable 400, a storage
 * failure ours), and the watchdog that ends a body that stopped arriving.
 */
import { Duration, Effect } from "effect"
import { BodyStalled, InvalidRequest } from "../Domain/Errors"
import type { BodyTooLarge, BodyUnreadable, StorageError } from "../Storage/Storage"
import type { Expectations } from "./Expectations"

/** Reading the body: too long is 413, unreadable is the client's problem, storage failures are ours. */
export const readingBody = <A>(expected: Expectations, effect: Effect.Effect<A, BodyTooLarge | BodyUnreadable | StorageError>) =>
  effect.pipe(Effect.catchTags({
    BodyTooLarge: () => Effect.fail(expected.tooLarge),
    BodyUnreadable: (error) =>
      Effect.fail(new InvalidRequest({ message: `the request body could not be read: ${String(error.cause)}` })),
    StorageError: (error) => Effect.die(error)
  }))

/**
 * Runs `read` (which reports every chunk to the `touch` it is given) and ends it with
 * BodyStalled once no byte has arrived for `idle`: a client that stops sending, or trickles
 * a byte now and then, cannot keep a claim, a slot and a file open forever.
 */
export const endingStalls = <A, E, R>(idle: Duration.Duration, read: (touch: () => void) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.clock, (clock) => {
    const idleMillis = Duration.toMillis(idle)
    let lastByte = clock.unsafeCurrentTimeMillis()
    const touch = () => {
      lastByte = clock.unsafeCurrentTimeMillis()
    }
    const watchdog = Effect.gen(function*() {
      while (true) {
        const quiet = clock.unsafeCurrentTimeMillis() - lastByte
        if (quiet >= idleMillis) {
          return yield* new BodyStalled({
            message: `no byte of the body arrived for ${Duration.format(idle)}; the part was not received`,
            idle_seconds: Duration.toSeconds(idle)
          })
        }
        yield* Effect.sleep(Duration.millis(idleMillis - quiet))
      }
    })
    return Effect.raceFirst(read(touch), watchdog)
  })
