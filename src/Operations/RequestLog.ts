/**
 * One log line per request, with fixed keys: method, route (the template), status,
 * duration_ms, bytes_in and bytes_out (when known), user_id (when authenticated), request_id;
 * and, from the same observation, the request metrics (http_requests_total,
 * http_request_duration_seconds).
 *
 * The request id is the client's X-Request-Id when it is short and plain, a new UUIDv7
 * otherwise; it goes back in X-Request-Id, into every JSON error body as `request_id`, and onto
 * every log line the request causes. Of the URL only the route template is logged, and no
 * header at all, so tokens and query secrets cannot reach the log.
 */
import {
  HttpApiBuilder,
  HttpApp,
  HttpBody,
  type Headers,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { Context, Effect, type Exit, FiberRef, HashMap, LogLevel } from "effect"
import { CurrentRequest, RequestRecord } from "./CurrentRequest"
import { Metrics } from "./Metrics"
import { makeRouteMatcher } from "./RouteTemplates"

export const REQUEST_ID_HEADER = "x-request-id"

/** Bounded and plain: nothing in it can break a log line or a header. */
const REQUEST_ID = /^[\w.:=+/-]{1,128}$/

/** The client's id when it is acceptable, else a new one. */
const requestIdOf = (presented: string | undefined): string =>
  presented !== undefined && REQUEST_ID.test(presented) ? presented : Bun.randomUUIDv7()

/** Other methods share one label, so that clients cannot grow the label set. */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])

const contentLength = (headers: Headers.Headers): number | undefined => {
  const raw = headers["content-length"]
  if (raw === undefined) return undefined
  const length = Number(raw)
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined
}

const bytesOut = (response: HttpServerResponse.HttpServerResponse): number | undefined => {
  const body = response.body
  switch (body._tag) {
    case "Empty":
      return 0
    case "Uint8Array":
      return body.contentLength
    case "Raw":
    case "Stream":
      return body.contentLength ?? contentLength(response.headers)
    default:
      return contentLength(response.headers)
  }
}

const decoder = new TextDecoder()

/** The response with the request id in its header and, for a JSON error, in its body. */
const stamped = (response: HttpServerResponse.HttpServerResponse, requestId: string) => {
  if (response.headers[REQUEST_ID_HEADER] === requestId) return response
  const withHeader = HttpServerResponse.setHeader(response, REQUEST_ID_HEADER, requestId)
  const body = response.body
  if (response.status < 400 || body._tag !== "Uint8Array" || !body.contentType.startsWith("application/json")) {
    return withHeader
  }
  try {
    const error: unknown = JSON.parse(decoder.decode(body.body))
    if (typeof error !== "object" || error === null || Array.isArray(error)) return withHeader
    return HttpServerResponse.setBody(withHeader, HttpBody.unsafeJson({ ...error, request_id: requestId }, body.contentType))
  } catch {
    return withHeader
  }
}

/** Stamps the answer of the request under way, just before the server sends it. */
const stampCurrent: HttpApp.PreResponseHandler = (_request, response) =>
  Effect.withFiberRuntime((fiber) => {
    const record = fiber.getFiberRef(CurrentRequest)
    return Effect.succeed(record === undefined ? response : stamped(response, record.requestId))
  })

/**
 * The middleware, over the routes the server serves (so build it after every route is added,
 * and serve in the same fiber). Building it installs one pre-response handler for every
 * request served afterwards, which stamps what the app answers; what the middlewares inside it
 * answer by themselves (CORS preflights, 413s, 503s while draining) it stamps itself.
 */
export const makeRequestLog = Effect.gen(function*() {
  const metrics = yield* Metrics
  const routes = makeRouteMatcher(yield* HttpApiBuilder.Router.router)
  // once, not per request: a FiberRef change costs a copy of every FiberRef of the fiber
  yield* HttpApp.appendPreResponseHandler(stampCurrent)

  const finish = (
    record: RequestRecord,
    method: string,
    started: number,
    exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>
  ) =>
    Effect.withFiberRuntime<void>((fiber) => {
      const response = HttpServerError.exitResponse(exit)
      // elapsed time, not the service's Clock: a TestClock must not stop the measurement
      const milliseconds = performance.now() - started
      metrics.observeRequest(method, record.route, response.status, milliseconds / 1000)
      const level = response.status >= 500 ? LogLevel.Warning : LogLevel.Info
      if (LogLevel.lessThan(level, fiber.getFiberRef(FiberRef.currentMinimumLogLevel))) return Effect.void
      const out = bytesOut(response)
      // the fixed keys, set in one pass (annotateLogs would copy the annotations once per key)
      return Effect.locallyWith(Effect.logWithLevel(level, "request"), FiberRef.currentLogAnnotations, (annotations) =>
        HashMap.mutate(annotations, (fields) => {
          HashMap.set(fields, "method", method)
          HashMap.set(fields, "route", record.route)
          HashMap.set(fields, "status", response.status)
          HashMap.set(fields, "duration_ms", Math.round(milliseconds * 10) / 10)
          if (record.bytesIn !== undefined) HashMap.set(fields, "bytes_in", record.bytesIn)
          if (out !== undefined) HashMap.set(fields, "bytes_out", out)
          if (record.userId !== undefined) HashMap.set(fields, "user_id", record.userId)
        }))
    })

  return (app: HttpApp.Default): HttpApp.Default =>
    Effect.withFiberRuntime((fiber) => {
      const started = performance.now()
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const method = METHODS.has(request.method) ? request.method : "other"
      const record = new RequestRecord(
        requestIdOf(request.headers[REQUEST_ID_HEADER]),
        routes.match(request.method, request.url),
        contentLength(request.headers)
      )
      return app.pipe(
        Effect.map((response) => stamped(response, record.requestId)),
        Effect.onExit((exit) => finish(record, method, started, exit)),
        Effect.locally(CurrentRequest, record),
        Effect.annotateLogs("request_id", record.requestId)
      )
    })
})
