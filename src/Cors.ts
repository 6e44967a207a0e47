/**
 * CORS for the origins in CORS_ORIGINS, on every route (the API, tus, the page), errors
 * included. An allowed origin's preflight is answered here; its requests get the allow and
 * expose headers. Any other origin gets no Access-Control-* header at all, and an OPTIONS
 * without a preflight (tus discovery) passes through to the routes.
 */
import { HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import type { CorsOrigins } from "./Config/CorsOrigins"

const ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

/** What this API and tus let a browser send. */
const ALLOWED_HEADERS = [
  "Authorization",
  "Content-Type",
  "Content-Digest",
  "X-Part-Sha256",
  "Idempotency-Key",
  "X-Request-Id",
  "If-None-Match",
  "If-Range",
  "Range",
  "Tus-Resumable",
  "Upload-Length",
  "Upload-Offset",
  "Upload-Metadata",
  "Upload-Checksum",
  "Upload-Concat",
  "Upload-Defer-Length",
  "X-HTTP-Method-Override"
].join(", ")

/** What a browser's script may read of an answer. */
const EXPOSED_HEADERS = [
  "Location",
  "ETag",
  "Content-Range",
  "Content-Length",
  "Content-Disposition",
  "Repr-Digest",
  "Retry-After",
  "X-Request-Id",
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Tus-Checksum-Algorithm",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Expires",
  "Upload-Metadata"
].join(", ")

const PREFLIGHT_MAX_AGE_SECONDS = "600"

/** The origin to allow for a request from `origin`, if it is allowed. */
const allowed = (origins: CorsOrigins, origin: string | undefined): string | undefined => {
  if (origin === undefined) return undefined
  switch (origins._tag) {
    case "None":
      return undefined
    case "Any":
      return "*"
    case "Listed":
      return origins.origins.includes(origin) ? origin : undefined
  }
}

export const cors = (origins: CorsOrigins) => (app: HttpApp.Default): HttpApp.Default =>
  origins._tag === "None" ? app : Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const origin = allowed(origins, request.headers["origin"])
    if (origin === undefined) return yield* app
    // the answer depends on the Origin (when only some are allowed)
    const vary = origins._tag === "Listed" ? { vary: "Origin" } : {}
    if (request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined) {
      return HttpServerResponse.empty({
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": ALLOWED_METHODS,
          "access-control-allow-headers": ALLOWED_HEADERS,
          "access-control-max-age": PREFLIGHT_MAX_AGE_SECONDS,
          ...vary
        }
      })
    }
    yield* HttpApp.appendPreResponseHandler((_request, response) =>
      Effect.succeed(HttpServerResponse.setHeaders(response, {
        "access-control-allow-origin": origin,
        "access-control-expose-headers": EXPOSED_HEADERS,
        ...vary
      })))
    return yield* app
  })
