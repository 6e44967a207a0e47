/**
 * What the command-line client tells a person when something goes wrong: one line, saying
 * what failed and what to check, never a stack trace or a schema tree.
 */
import { HttpClientError, HttpClientResponse } from "@effect/platform"
import type { PlatformError } from "@effect/platform/Error"
import { Data, Effect, ParseResult, Predicate, Schema } from "effect"
import { QuotaExceeded } from "../Domain/Errors"
import { formatBytes } from "./Format"

/** A failure of the client, already phrased for the person who ran it. */
export class ClientError extends Data.TaggedError("ClientError")<{ readonly message: string }> {}

/** What the typed client and the raw requests can fail with: every one has a tag and a message. */
export interface ApiFailure {
  readonly _tag: string
  readonly message: string
}

/** An error answer of the portal to a request made without the typed client. */
export class ServerRefusal extends Data.TaggedError("ServerRefusal")<{
  readonly status: number
  /** The `_tag` of the JSON error body, or `HTTP <status>` when the body is not one. */
  readonly tag: string
  readonly message: string
}> {}

const ErrorBody = Schema.Struct({ _tag: Schema.String, message: Schema.String })

/** Fails with the portal's error answer, read from its JSON body (`_tag`, `message`). */
export const refusal = (response: HttpClientResponse.HttpClientResponse): Effect.Effect<never, ServerRefusal> =>
  HttpClientResponse.schemaBodyJson(ErrorBody)(response).pipe(
    Effect.orElseSucceed(() => ({ _tag: `HTTP ${response.status}`, message: "" })),
    Effect.flatMap((body) =>
      Effect.fail(new ServerRefusal({ status: response.status, tag: body._tag, message: body.message }))
    )
  )

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, "; ").trim()

const causeOf = (error: HttpClientError.RequestError): { readonly code: string; readonly message: string } => {
  const cause = error.cause
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : ""
  const message = cause instanceof Error ? cause.message : String(cause)
  return { code, message }
}

const describeRequestError = (baseUrl: string, error: HttpClientError.RequestError): string => {
  if (error.reason === "InvalidUrl") return `PORTAL_URL is not a usable URL: ${baseUrl}`
  if (error.reason === "Encode") return `the request could not be encoded: ${error.message}`
  const { code, message } = causeOf(error)
  const reason = code === "ECONNREFUSED" || code === "ConnectionRefused"
    ? "connection refused; is the server running, and is PORTAL_URL right?"
    : code === "ENOTFOUND"
    ? "host not found; check PORTAL_URL"
    : message
  return `cannot reach the portal at ${baseUrl}: ${reason}`
}

/** Exact bytes, and the rounded size when that reads better. */
const exactBytes = (bytes: number) => bytes < 1024 ? `${bytes} bytes` : `${bytes} bytes (${formatBytes(bytes)})`

const describeQuota = (error: QuotaExceeded) =>
  `quota exceeded: the upload needs ${exactBytes(error.requested_bytes)} but only ${exactBytes(error.remaining_bytes)} ` +
  `of the quota of ${formatBytes(error.limit_bytes)} remain (${formatBytes(error.used_bytes)} stored, ` +
  `${formatBytes(error.reserved_bytes)} reserved by open sessions)`

const describeTagged = (baseUrl: string, tag: string, message: string): string => {
  switch (tag) {
    case "Unauthorized":
      return `the portal at ${baseUrl} refused the token (401 Unauthorized: ${message}); check PORTAL_TOKEN`
    case "Forbidden":
      return `not allowed with this token: ${message}`
    case "InternalError":
    case "ServiceUnavailable":
      return `the portal at ${baseUrl} failed (${tag}): ${message}`
    default:
      return `${message} (${tag})`
  }
}

/** One line for any failure of a request to the portal at `baseUrl`. */
export const describe = (baseUrl: string, error: ApiFailure): string => {
  if (HttpClientError.isHttpClientError(error)) {
    if (error._tag === "RequestError") return oneLine(describeRequestError(baseUrl, error))
    const status = error.response.status
    if (status === 401) return describeTagged(baseUrl, "Unauthorized", "the token was refused")
    const request = `${error.request.method} ${new URL(error.request.url).pathname}`
    const details = error.description === undefined || error.description === "" ? "" : `: ${error.description}`
    return oneLine(
      status >= 500
        ? `the portal at ${baseUrl} failed with ${status} to ${request}${details}`
        : `unexpected answer ${status} from the portal at ${baseUrl} to ${request}${details}`
    )
  }
  if (ParseResult.isParseError(error)) {
    return `unexpected answer from the portal at ${baseUrl}: it does not match this client's API (another version?)`
  }
  if (error instanceof QuotaExceeded) return describeQuota(error)
  if (error instanceof ServerRefusal) {
    return oneLine(error.tag.startsWith("HTTP ")
      ? `unexpected answer ${error.status} from the portal at ${baseUrl}`
      : describeTagged(baseUrl, error.tag, error.message))
  }
  return oneLine(describeTagged(baseUrl, error._tag, error.message))
}

/** For `Effect.mapError`: any failure of a request to the portal, as a ClientError. */
export const explain = (baseUrl: string) => (error: ApiFailure): ClientError =>
  error instanceof ClientError ? error : new ClientError({ message: describe(baseUrl, error) })

/** For `Effect.mapError`: a failure of the local filesystem while doing `action` with `path`. */
export const fileFailure = (action: string, path: string) => (error: PlatformError): ClientError => {
  const reason = error._tag === "SystemError"
    ? error.reason === "NotFound"
      ? "no such file or directory"
      : error.reason === "PermissionDenied"
      ? "permission denied"
      : error.reason === "AlreadyExists"
      ? "it already exists"
      : `${error.reason}${error.description === undefined ? "" : ` (${error.description})`}`
    : error.description ?? error.message
  return new ClientError({ message: oneLine(`cannot ${action} ${path}: ${reason}`) })
}
