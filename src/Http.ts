/** The HTTP server: the API's handlers, docs, error mapping and the Bun listener. */
import { HttpApiBuilder, HttpApiScalar, HttpServer } from "@effect/platform"
import { BunHttpServer } from "@effect/platform-bun"
import { Effect, Layer } from "effect"
import { Api } from "./Api"
import { AdminLive } from "./Admin/Http"
import { AccountLive, AuthenticationLive } from "./Auth/Http"
import { BatchesLive } from "./Batches/Http"
import { PortalConfig } from "./Config"
import { FilesLive } from "./Files/Http"
import { HealthLive } from "./Health/Http"
import { cors } from "./Cors"
import { ErrorMappingLive } from "./HttpErrors"
import { boundedBodies } from "./HttpLimits"
import { MetricsRouteLive } from "./Operations/MetricsHttp"
import { makeRequestLog } from "./Operations/RequestLog"
import { InFlight } from "./Shutdown"
import { PartsLive } from "./Parts/Http"
import { QuotaLive } from "./Quota/Http"
import { SessionsLive } from "./Sessions/Http"
import { TusLive } from "./Tus/Http"
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
  // built once every route below is added: it labels requests with their route templates
  const requestLog = yield* makeRequestLog
  return HttpApiBuilder.serve((app) => requestLog(inFlight.track(cors(config.corsOrigins)(boundedBodies(app)))))
})).pipe(
  Layer.provide(DocsLive),
  Layer.provide(WebLive),
  Layer.provide(TusLive),
  Layer.provide(MetricsRouteLive),
  Layer.provide(ErrorMappingLive),
  Layer.provide(ApiLive),
  Layer.provide(HttpApiBuilder.Router.Live)
)

export const BunServerLive = Layer.unwrapEffect(
  Effect.map(PortalConfig, (config) =>
    BunHttpServer.layer({
      port: config.port,
      hostname: config.host,
      // a tus PATCH may bring a whole file; every other body is bounded as it is read (HttpLimits, Parts)
      maxRequestBodySize: Math.max(config.limits.chunkSizeMax, config.limits.maxFileSize) + BODY_SLACK,
      // seconds without any bytes before Bun drops a connection; parts may be large and links slow
      idleTimeout: 120
    }))
)

export const HttpLive = HttpAppLive.pipe(HttpServer.withLogAddress, Layer.provide(BunServerLive))
