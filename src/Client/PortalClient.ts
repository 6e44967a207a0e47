/**
 * The portal as seen from the command line: the typed client derived from the contract, and
 * the same HTTP client for the requests the typed client would buffer (part bodies, downloads).
 * Configured by PORTAL_URL and PORTAL_TOKEN only: no database, no server configuration.
 */
import {
  FetchHttpClient,
  HttpApiClient,
  HttpClient,
  HttpClientError,
  HttpClientRequest,
  HttpClientResponse
} from "@effect/platform"
import { Config, Data, Effect, Option, Predicate, Redacted, Schedule } from "effect"
import { Api } from "../Api"
import { ClientError } from "./Errors"

const clientConfig = Config.all({
  url: Config.string("PORTAL_URL").pipe(Config.withDefault("http://localhost:8000")),
  token: Config.option(Config.redacted("PORTAL_TOKEN"))
})

/** A 5xx answer, failed on purpose so that it is retried like a network error. */
class TransientStatus extends Data.TaggedError("TransientStatus")<{
  readonly response: HttpClientResponse.HttpClientResponse
}> {}

/** About 1.5 s over four attempts: enough for a blip, short enough to fail promptly on a dead server. */
const backoff = Schedule.exponential("100 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(4)))

/**
 * Network errors and 5xx answers are retried with backoff; every request of the client is safe
 * to repeat (creation carries an Idempotency-Key, a part is accepted again with the same bytes,
 * complete is repeatable). After the last attempt the 5xx answer is decoded as usual.
 */
const retryTransient = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transformResponse(client, (response) =>
    response.pipe(
      Effect.filterOrFail((answer) => answer.status < 500, (answer) => new TransientStatus({ response: answer })),
      Effect.retry({
        schedule: backoff,
        while: (error) =>
          error._tag === "TransientStatus" || (error._tag === "RequestError" && error.reason === "Transport")
      }),
      Effect.catchTag("TransientStatus", (error) => Effect.succeed(error.response))
    ))

const isTaggedJson = (text: string) => {
  try {
    const body: unknown = JSON.parse(text)
    return Predicate.hasProperty(body, "_tag") && typeof body._tag === "string"
  } catch {
    return false
  }
}

/**
 * Error answers that are not one of the API's JSON errors (an empty 500, a proxy's HTML 502)
 * fail as a ResponseError with their status and the start of their body, instead of a schema
 * decoding failure that would not even say the status.
 */
const readableFailures = (client: HttpClient.HttpClient): HttpClient.HttpClient =>
  HttpClient.transformResponse(client, (response) =>
    Effect.flatMap(response, (answer) =>
      answer.status < 400 ? Effect.succeed(answer) : Effect.flatMap(answer.text, (text) =>
        isTaggedJson(text)
          ? Effect.succeed(HttpClientResponse.fromWeb(
            answer.request,
            new Response(text, { status: answer.status, headers: answer.headers })
          ))
          : Effect.fail(
            new HttpClientError.ResponseError({
              request: answer.request,
              response: answer,
              reason: "StatusCode",
              description: text.replace(/\s+/g, " ").trim().slice(0, 200)
            })
          ))))

const parseBaseUrl = (raw: string) =>
  Effect.try({
    try: () => new URL(raw),
    catch: () => new ClientError({ message: `PORTAL_URL is not a URL: ${JSON.stringify(raw)}` })
  }).pipe(
    Effect.filterOrFail(
      (url) => url.protocol === "http:" || url.protocol === "https:",
      () => new ClientError({ message: `PORTAL_URL must be an http:// or https:// URL, not ${JSON.stringify(raw)}` })
    ),
    Effect.map((url) => url.href.replace(/\/+$/, ""))
  )

export class PortalClient extends Effect.Service<PortalClient>()("Portal/Client", {
  effect: Effect.gen(function*() {
    const config = yield* clientConfig.pipe(
      Effect.mapError((error) => new ClientError({ message: `bad client configuration: ${String(error)}` }))
    )
    const baseUrl = yield* parseBaseUrl(config.url)
    const token = yield* Option.filter(config.token, (secret) => Redacted.value(secret).trim() !== "").pipe(
      Effect.mapError(() =>
        new ClientError({
          message: "PORTAL_TOKEN is not set: export the API token (ipt_…) that `cli users create` or " +
            "`cli tokens issue` printed"
        })
      )
    )
    const authorized = (client: HttpClient.HttpClient) =>
      client.pipe(
        HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token).trim())),
        retryTransient,
        readableFailures
      )
    const api = yield* HttpApiClient.make(Api, { baseUrl, transformClient: authorized })
    const http = authorized(yield* HttpClient.HttpClient).pipe(
      HttpClient.mapRequest(HttpClientRequest.prependUrl(baseUrl))
    )
    return { baseUrl, api, http }
  }),
  dependencies: [FetchHttpClient.layer]
}) {}
