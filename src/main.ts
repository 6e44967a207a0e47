/**
 * Starts the service: migrate, listen, bootstrap the first admin, serve HTTP, sweep and relay
 * in the background; on SIGTERM or SIGINT, drain and stop (Shutdown.ts), exiting 0.
 */
import { HttpServer } from "@effect/platform"
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Effect, Layer, Option, Redacted } from "effect"
import { Users } from "./Auth/Users"
import { PortalConfig } from "./Config"
import { BunServerLive, HttpAppLive } from "./Http"
import { BackgroundLive, ServicesLive } from "./Layers"
import { LoggerLive } from "./Logging"
import { DrainOnShutdownLive } from "./Shutdown"

/**
 * On a fresh database, create the admin and print its token; it is never shown again. It
 * needs the listener, so nothing is created when the port turns out to be taken.
 */
const BootstrapLive = Layer.effectDiscard(
  Effect.zipRight(HttpServer.HttpServer, Effect.flatMap(Users, (users) => users.bootstrapAdmin)).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.void,
      onSome: ({ secret, token, user }) =>
        Effect.sync(() =>
          console.log(
            `\nCreated admin user "${user.name}" with token ${token.id}. The token is shown once; store it now:\n` +
              `${Redacted.value(secret)}\n`
          )
        )
    }))
  )
)

/**
 * Built in this order, closed in the reverse: the listener and the API first; then, on top,
 * the first admin, the background work and the drain. On SIGTERM the drain closes first.
 */
const MainLive = Layer.mergeAll(BootstrapLive, BackgroundLive, DrainOnShutdownLive).pipe(
  Layer.provideMerge(HttpAppLive.pipe(HttpServer.withLogAddress)),
  Layer.provide(BunServerLive),
  Layer.provide(ServicesLive),
  Layer.provide(PortalConfig.layer),
  Layer.provide(LoggerLive),
  // spans cost a captured stack trace each and nothing here exports them; embedders with a
  // tracer keep them (every service is annotated with Effect.withSpan)
  Layer.provide(Layer.setTracerEnabled(false)),
  Layer.provide(BunContext.layer)
)

Layer.launch(MainLive).pipe(BunRuntime.runMain({ disablePrettyLogger: true }))
