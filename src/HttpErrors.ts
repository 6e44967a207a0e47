/**
 * The one place where failures that no handler declared become HTTP responses:
 * - a decode error keeps its 400, but never echoes a (possibly huge) request body back;
 * - an unknown route is a JSON 404;
 * - a database or storage outage is a 503, anything else unexpected a logged JSON 500.
 */
import { HttpApiBuilder, HttpApiError, type HttpApp, HttpServerError, HttpServerResponse } from "@effect/platform"
import { SqlError } from "@effect/sql/SqlError"
import { Cause, Effect, Option } from "effect"
import { Api } from "./Api"
import { InternalError, ServiceUnavailable } from "./Domain/Errors"
import { sqlState } from "./Sql"
import { StorageError } from "./Storage/Storage"

const MAX_ACTUAL = 64
const MAX_MESSAGE = 2000
const MAX_ISSUES = 20

/** Keeps the schema's explanation but cuts the quoted input ("actual …") short. */
const withoutEcho = (text: string): string =>
  text
    .split("\n")
    .map((line) => {
      const at = line.indexOf("actual ")
      return at === -1 || line.length - at <= MAX_ACTUAL + 7 ? line : `${line.slice(0, at + 7 + MAX_ACTUAL)}…`
    })
    .join("\n")
    .slice(0, MAX_MESSAGE)

export const sanitizeDecodeError = (error: HttpApiError.HttpApiDecodeError) =>
  new HttpApiError.HttpApiDecodeError({
    message: withoutEcho(error.message),
    issues: error.issues.slice(0, MAX_ISSUES).map((issue) => ({ ...issue, message: withoutEcho(issue.message) }))
  })

const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"])

/**
 * True when a SqlError means "the database is not there", as opposed to a bug in a statement:
 * no connection could be had, or PostgreSQL said it cannot serve (connection exceptions 08,
 * insufficient resources 53, shutdown 57P, refused credentials 28, no such database 3D000).
 */
const isDatabaseUnavailable = (error: SqlError): boolean => {
  if (/acquire connection|Failed to connect|Connection timed out/i.test(error.message)) return true
  const state = sqlState(error)
  if (state !== undefined) {
    return ["08", "53", "57P", "28"].some((prefix) => state.startsWith(prefix)) || state === "3D000"
  }
  const cause: unknown = error.cause
  const text = `${error.message} ${cause instanceof Error ? cause.message : String(cause)}`
  const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
  return CONNECTION_ERRORS.has(code) || /connect|Connection terminated|timeout/i.test(text)
}

const classifyDefect = (defect: unknown): Option.Option<ServiceUnavailable> => {
  if (defect instanceof StorageError) {
    return Option.some(new ServiceUnavailable({ message: "storage is unavailable", component: "storage" }))
  }
  if (defect instanceof SqlError && isDatabaseUnavailable(defect)) {
    return Option.some(new ServiceUnavailable({ message: "database is unavailable", component: "database" }))
  }
  return Option.none()
}

type ApiError = InternalError | ServiceUnavailable | HttpApiError.HttpApiDecodeError

export const ErrorMappingLive = HttpApiBuilder.middleware(Api, (app): HttpApp.Default<ApiError> =>
  Effect.catchAllCause(app, (cause): HttpApp.Default<ApiError> => {
    if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
    const failure = Cause.failureOption(cause)
    if (Option.isSome(failure)) {
      // the app's static error type is never, but undeclared failures still arrive here at run time
      const error: unknown = failure.value
      if (error instanceof HttpApiError.HttpApiDecodeError) return Effect.fail(sanitizeDecodeError(error))
      if (HttpServerError.isServerError(error) && error._tag === "RouteNotFound") {
        return HttpServerResponse.json(
          { _tag: "RouteNotFound", message: `no route for ${error.request.method} ${error.request.url}` },
          { status: 404 }
        ).pipe(Effect.orDie)
      }
      return Effect.failCause(cause)
    }
    const defect = Option.getOrUndefined(Cause.dieOption(cause))
    // HttpApiBuilder reads JSON bodies with orDie: a body that is not JSON is the client's mistake
    if (HttpServerError.isServerError(defect) && defect._tag === "RequestError" && defect.reason === "Decode") {
      return Effect.fail(
        new HttpApiError.HttpApiDecodeError({ message: "the request body could not be decoded (is it valid JSON?)", issues: [] })
      )
    }
    return Option.match(classifyDefect(defect), {
      onSome: (unavailable) =>
        Effect.logWarning(unavailable.message, cause).pipe(Effect.zipRight(Effect.fail(unavailable))),
      onNone: () =>
        Effect.logError("unhandled failure", cause).pipe(
          Effect.zipRight(Effect.fail(new InternalError({ message: "internal error; it has been logged" })))
        )
    })
  }))
