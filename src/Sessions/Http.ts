import { HttpApiBuilder, HttpApiError, type HttpServerRequest } from "@effect/platform"
import { Effect, Option, Schema } from "effect"
import { Api } from "../Api"
import { InvalidRequest } from "../Domain/Errors"
import { setResponseHeader, setResponseStatus } from "../HttpResponse"
import { CompleteRequest } from "./Api"
import { Finalizer } from "./Finalizer"
import { Sessions } from "./Sessions"

const MAX_COMPLETE_BODY = 64 * 1024

/** complete's body is optional: no body, an empty body and `{}` all mean "no expectation". */
const readCompleteRequest = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    if (Number(request.headers["content-length"] ?? 0) > MAX_COMPLETE_BODY) {
      return yield* new InvalidRequest({ message: `the body of complete may be at most ${MAX_COMPLETE_BODY} bytes` })
    }
    const text = yield* request.text.pipe(
      Effect.mapError(() => new InvalidRequest({ message: "the request body could not be read" }))
    )
    if (text.trim() === "") return new CompleteRequest({})
    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: () => new InvalidRequest({ message: "the body of complete must be JSON, e.g. {} or {\"sha256\": \"…\"}" })
    })
    return yield* Schema.decodeUnknown(CompleteRequest)(json).pipe(
      Effect.catchTag("ParseError", HttpApiError.HttpApiDecodeError.refailParseError)
    )
  })

export const SessionsLive = HttpApiBuilder.group(Api, "sessions", (handlers) =>
  Effect.gen(function*() {
    const sessions = yield* Sessions
    const finalizer = yield* Finalizer
    return handlers
      .handle("create", ({ headers, payload }) =>
        Effect.gen(function*() {
          const { created, session } = yield* sessions.create(payload, Option.fromNullable(headers["idempotency-key"]))
          yield* setResponseHeader("location", `/uploads/sessions/${session.id}`)
          if (!created) yield* setResponseStatus(200)
          return session
        }))
      .handle("list", ({ urlParams }) => sessions.list(urlParams))
      .handle("get", ({ path }) => sessions.get(path.id))
      .handleRaw("complete", ({ path, request }) =>
        Effect.gen(function*() {
          const body = yield* readCompleteRequest(request)
          return yield* finalizer.complete(path.id, Option.fromNullable(body.sha256)).pipe(
            Effect.tapErrorTag("FinalizeInProgress", (busy) => setResponseHeader("retry-after", String(busy.retry_after_seconds)))
          )
        }))
      .handle("abort", ({ path }) => sessions.abort(path.id))
  }))
