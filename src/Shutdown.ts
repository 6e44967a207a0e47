/**
 * Graceful shutdown. On SIGTERM or SIGINT the runtime closes the service's layers in reverse
 * order; the first to close is this one, which drains: new requests get 503 ShuttingDown
 * (a load balancer takes the instance out), the requests under way may finish for up to
 * SHUTDOWN_TIMEOUT, and only then do the sweeper and the relay stop, the listener close and
 * the database disconnect. A request still running then is interrupted: a part it was
 * receiving does not count (its claim is given up), so every part counts fully or not at all.
 */
import { type HttpApp, HttpServerResponse } from "@effect/platform"
import { Deferred, Duration, Effect, Layer } from "effect"
import { PortalConfig } from "./Config"
import { ShuttingDown } from "./Domain/Errors"
import { onRealClock } from "./Lease"

export class InFlight extends Effect.Service<InFlight>()("Portal/InFlight", {
  effect: Effect.gen(function*() {
    let running = 0
    let draining = false
    const idle = yield* Deferred.make<void>()

    const finished = () => {
      running--
      if (draining && running === 0) Deferred.unsafeDone(idle, Effect.void)
    }

    /** Counts the request while it runs; refuses it once the instance is draining. */
    const track = (app: HttpApp.Default): HttpApp.Default =>
      Effect.suspend(() => {
        if (draining) {
          const refusal = new ShuttingDown({ message: "this instance is shutting down; send the request again" })
          return Effect.succeed(HttpServerResponse.unsafeJson(
            { _tag: refusal._tag, message: refusal.message },
            { status: 503, headers: { connection: "close", "retry-after": "1" } }
          ))
        }
        running++
        return Effect.ensuring(app, Effect.sync(finished))
      })

    /** Refuses new requests and waits until those under way have finished, for at most `timeout`. */
    const drain = (timeout: Duration.Duration) =>
      Effect.suspend(() => {
        draining = true
        if (running === 0) return Effect.void
        // interruptible: it runs in a finalizer, where the timeout could not stop it otherwise
        return onRealClock(Deferred.await(idle).pipe(Effect.interruptible, Effect.timeout(timeout), Effect.ignore))
      })

    const inFlight = Effect.sync(() => running)

    return { track, drain, inFlight } as const
  })
}) {}

/** Drains the instance when it stops; must be built after (so closed before) the HTTP server. */
export const DrainOnShutdownLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const inFlight = yield* InFlight
    const { shutdownTimeout } = yield* PortalConfig
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const running = yield* inFlight.inFlight
        yield* Effect.logInfo("shutting down").pipe(
          Effect.annotateLogs({ requests_in_flight: running, timeout_s: Duration.toSeconds(shutdownTimeout) })
        )
        yield* inFlight.drain(shutdownTimeout)
        const left = yield* inFlight.inFlight
        if (left > 0) {
          yield* Effect.logWarning("shutdown timeout: interrupting the requests still running").pipe(
            Effect.annotateLogs({ requests_in_flight: left })
          )
        }
      })
    )
  })
)
