/**
 * tus 1.0.0 at /tus/, mounted on the API's router beside the HttpApi (tus is not a JSON API):
 * OPTIONS (discovery, no auth), POST (creation, creation-with-upload), HEAD, PATCH, DELETE
 * (termination), and POST with X-HTTP-Method-Override for clients that cannot send PATCH or
 * DELETE. Every response says Tus-Resumable; every request but OPTIONS must say it too. The
 * bearer token goes through the API's own Authentication. Failures answer with their status
 * and a JSON body (`_tag`, `message`), like the API's.
 */
import { HttpApiBuilder, HttpApiSecurity, HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Option } from "effect"
import { Authentication } from "../Auth/Authentication"
import { AuthenticationLive } from "../Auth/Http"
import { CurrentUser } from "../Domain/CurrentUser"
import { InvalidRequest } from "../Domain/Errors"
import { setResponseHeader } from "../HttpResponse"
import { NotAnOffsetStream, type TusFailure, TusExtensionUnsupported, TusVersionUnsupported } from "./Errors"
import {
  appendRequest,
  type Body,
  bodyOf,
  failureResponse,
  requiredByteCount,
  stateHeaders,
  uploadId
} from "./Messages"
import { CHECKSUM_ALGORITHMS, isOffsetStream, parseMetadata, TUS_EXTENSIONS, TUS_VERSION, uploadUrl } from "./Protocol"
import { TusUploads } from "./TusUploads"

type Request = HttpServerRequest.HttpServerRequest
type Response = HttpServerResponse.HttpServerResponse
type Handling = Effect.Effect<Response, TusFailure, CurrentUser | SqlClient.SqlClient | HttpRouter.RouteContext>

export const TusRoutesLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const uploads = yield* TusUploads
    const authentication = yield* Authentication
    // the services' transactions take the database from the context of the request
    const sql = yield* SqlClient.SqlClient

    /**
     * Runs `handle` as the bearer token's user, after the Tus-Resumable check; failures become
     * responses. A request with a body to keep runs `detached`: a client that goes away
     * mid-body must not stop the server from keeping what did arrive.
     */
    const tus = (handle: (request: Request, body: Body) => Handling): Effect.Effect<Response, never, HttpRouter.HttpRouter.Provided> =>
      Effect.gen(function*() {
        yield* setResponseHeader("tus-resumable", TUS_VERSION)
        const request = yield* HttpServerRequest.HttpServerRequest
        return yield* Effect.gen(function*() {
          if (request.headers["tus-resumable"] !== TUS_VERSION) {
            return yield* new TusVersionUnsupported({
              message: `send Tus-Resumable: ${TUS_VERSION}; this server speaks tus ${TUS_VERSION} only`,
              supported: TUS_VERSION
            })
          }
          const body = yield* bodyOf(request)
          const user = yield* Effect.flatMap(HttpApiBuilder.securityDecode(HttpApiSecurity.bearer), authentication.bearer).pipe(
            Effect.tapError(() => Effect.sync(() => Option.map(body, ({ cursor }) => cursor.cutOff())))
          )
          return yield* handle(request, body).pipe(
            Effect.provideService(CurrentUser, user),
            Effect.provideService(SqlClient.SqlClient, sql),
            // whatever of the body was not taken is left unread
            Effect.ensuring(Effect.sync(() => Option.map(body, ({ cursor }) => cursor.cutOff())))
          )
        }).pipe(
          Effect.catchAll((error) => Effect.succeed(failureResponse(error, request.method !== "HEAD"))),
          (handling) => (request.method === "HEAD" || request.method === "DELETE" ? handling : uploads.detached(handling))
        )
      })

    const discovery = Effect.zipRight(
      setResponseHeader("tus-resumable", TUS_VERSION),
      Effect.succeed(HttpServerResponse.empty({
        status: 204,
        headers: {
          "tus-version": TUS_VERSION,
          "tus-extension": TUS_EXTENSIONS.join(","),
          "tus-checksum-algorithm": CHECKSUM_ALGORITHMS.join(","),
          "tus-max-size": String(uploads.maxSize)
        }
      }))
    )

    const create = tus((request, body) =>
      Effect.gen(function*() {
        if (request.headers["upload-concat"] !== undefined) {
          return yield* new TusExtensionUnsupported({
            message: "concatenation (Upload-Concat, tus-js-client's parallelUploads) is not supported; upload in one stream",
            extension: "concatenation"
          })
        }
        if (request.headers["upload-defer-length"] !== undefined) {
          return yield* new TusExtensionUnsupported({
            message: "creation-defer-length is not supported: send Upload-Length",
            extension: "creation-defer-length"
          })
        }
        const length = yield* requiredByteCount(request, "Upload-Length")
        if (length === 0) return yield* new InvalidRequest({ message: "empty uploads (Upload-Length: 0) are not supported" })
        const metadata = yield* parseMetadata(request.headers["upload-metadata"])
        const append = Option.isSome(body) ? Option.some(yield* appendRequest(body, 0)) : Option.none()
        const session = yield* uploads.create(length, metadata)
        const location = { location: uploadUrl(request.headers, session.id) }
        if (Option.isNone(append)) {
          return HttpServerResponse.empty({ status: 201, headers: { ...location, ...stateHeaders({ offset: 0, session }) } })
        }
        // creation-with-upload: the upload exists whatever becomes of its first bytes; say where it is
        return yield* uploads.append(session.id, append.value).pipe(
          Effect.map((state) => HttpServerResponse.empty({ status: 201, headers: { ...location, ...stateHeaders(state) } })),
          Effect.catchAll((error) => Effect.succeed(HttpServerResponse.setHeaders(failureResponse(error, true), location)))
        )
      }))

    const head = tus(() =>
      Effect.gen(function*() {
        const state = yield* uploads.status(yield* uploadId)
        return HttpServerResponse.empty({ status: 200, headers: { ...stateHeaders(state), "cache-control": "no-store" } })
      }))

    const patch = tus((request, body) =>
      Effect.gen(function*() {
        const id = yield* uploadId
        const contentType = request.headers["content-type"]
        if (!isOffsetStream(contentType)) {
          return yield* new NotAnOffsetStream({
            message: "a PATCH body must be sent as Content-Type: application/offset+octet-stream",
            content_type: (contentType ?? "").slice(0, 100)
          })
        }
        const offset = yield* requiredByteCount(request, "Upload-Offset")
        const state = yield* uploads.append(id, yield* appendRequest(body, offset))
        const { "upload-metadata": _, ...headers } = stateHeaders(state)
        return HttpServerResponse.empty({ status: 204, headers })
      }))

    const terminate = tus(() =>
      Effect.gen(function*() {
        yield* uploads.terminate(yield* uploadId)
        return HttpServerResponse.empty({ status: 204 })
      }))

    /** POST with X-HTTP-Method-Override, for clients that cannot send PATCH or DELETE. */
    const overridden = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request): typeof patch => {
      switch (request.headers["x-http-method-override"]?.toUpperCase()) {
        case "PATCH":
          return patch
        case "DELETE":
          return terminate
        case "HEAD":
          return head
        default:
          return tus(() =>
            Effect.fail(new InvalidRequest({ message: "POST to an upload needs X-HTTP-Method-Override: PATCH, DELETE or HEAD" }))
          )
      }
    })

    // the router ignores a trailing slash: this is also /tus/
    yield* router.options("/tus", discovery)
    yield* router.post("/tus", create)
    yield* router.options("/tus/:id", discovery)
    yield* router.head("/tus/:id", head)
    yield* router.patch("/tus/:id", patch)
    yield* router.del("/tus/:id", terminate)
    yield* router.post("/tus/:id", overridden)
  })
)

/** The tus routes with what they need beyond the domain services: the API's Authentication. */
export const TusLive = TusRoutesLive.pipe(Layer.provide(AuthenticationLive))
