/** The HTTP server: the API's handlers, docs, error mapping and the Bun listener. */
import { HttpApiBuilder, HttpApiScalar, HttpMiddleware, HttpServer } from "@effect/platform"
import { BunHttpServer } from "@effect/platform-bun"
import { Effect, Layer } from "effect"
import { Api } from "./Api"
import { AdminLive } from "./Admin/Http"
import { AccountLive } from "./Auth/AccountHttp"
import { AuthenticationLive } from "./Auth/Http"
import { BatchesLive } from "./Batches/Http"
import { PortalConfig } from "./Config"
import { FilesLive } from "./Files/Http"
import { HealthLive } from "./Health/Http"
import { cors } from "./Cors"
import { ErrorMappingLive } from "./HttpErrors"
import { boundedBodies } from "./HttpLimits"
import { InFlight } from "./Shutdown"
import { PartsLive } from "./Parts/Http"
import { QuotaLive } from "./Quota/Http"
import { SessionsLive } from "./Sessions/Http"
import { WebLive } from "./Web/Http"

/** Room for the multipart framing and headers above the largest part. */
const BODY_SLACK = 1024 * 1024

export const ApiLive = HttpApiBuilder.api(Api).pipe(
  Layer.provide([HealthLive, AccountLive, SessionsLive, PartsLive, FilesLive, BatchesLive, QuotaLive, AdminLive]),
  Layer.provide(AuthenticationLive)
)

export const DocsLive = Layer.mergeAll(
  HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
  HttpApiScalar.layer({ path: "/docs" })
)

/** Serves the API on whatever HttpServer is provided (Bun's listener, or a test one). */
export const HttpAppLive = Layer.unwrapEffect(Effect.gen(function*() {
  const config = yield* PortalConfig
  const inFlight = yield* InFlight
  return HttpApiBuilder.serve((app) => HttpMiddleware.logger(inFlight.track(cors(config.corsOrigins)(boundedBodies(app)))))
})).pipe(
  Layer.provide(DocsLive),
  Layer.provide(WebLive),
  Layer.provide(ErrorMappingLive),
  Layer.provide(ApiLive)
)

export const BunServerLive = Layer.unwrapEffect(
  Effect.map(PortalConfig, (config) =>
    BunHttpServer.layer({
      port: config.port,
      hostname: config.host,
      maxRequestBodySize: config.limits.chunkSizeMax + BODY_SLACK,
      // seconds without any bytes before Bun drops a connection; parts may be large and links slow
      idleTimeout: 120
    }))
)

export const HttpLive = HttpAppLive.pipe(HttpServer.withLogAddress, Layer.provide(BunServerLive))
