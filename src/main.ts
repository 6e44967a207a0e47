/** Starts the service: migrate, bootstrap the first admin, serve HTTP, sweep in the background. */
import { BunContext, BunRuntime } from "@effect/platform-bun"
import { Effect, Layer, Option, Redacted } from "effect"
import { Users } from "./Auth/Users"
import { PortalConfig } from "./Config"
import { HttpLive } from "./Http"
import { BackgroundLive, ServicesLive } from "./Layers"
import { LoggerLive } from "./Logging"

/** On a fresh database, create the admin and print its token; it is never shown again. */
const BootstrapLive = Layer.effectDiscard(
  Effect.flatMap(Users, (users) => users.bootstrapAdmin).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.void,
      onSome: ({ secret, user }) =>
        Effect.sync(() =>
          console.log(
            `\nCreated admin user "${user.name}". Its API token is shown once; store it now:\n` +
              `${Redacted.value(secret)}\n`
          )
        )
    }))
  )
)

const MainLive = Layer.mergeAll(HttpLive, BackgroundLive).pipe(
  Layer.provide(BootstrapLive),
  Layer.provide(ServicesLive),
  Layer.provide(PortalConfig.layer),
  Layer.provide(LoggerLive),
  // spans cost a captured stack trace each and nothing here exports them; embedders with a
  // tracer keep them (every service is annotated with Effect.withSpan)
  Layer.provide(Layer.setTracerEnabled(false)),
  Layer.provide(BunContext.layer)
)

Layer.launch(MainLive).pipe(BunRuntime.runMain({ disablePrettyLogger: true }))
