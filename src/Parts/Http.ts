import { HttpApiBuilder, type HttpServerRequest } from "@effect/platform"
import { Effect, Option, Stream } from "effect"
import { Api } from "../Api"
import { setResponseHeader } from "../HttpResponse"
import { Parts } from "./Parts"

const declaredLength = (request: HttpServerRequest.HttpServerRequest) =>
  Option.fromNullable(request.headers["content-length"]).pipe(
    Option.map(Number),
    Option.filter(Number.isSafeInteger)
  )

/** HTTP/1.1: without Content-Length or Transfer-Encoding a request has no body at all. */
const bodyOf = (request: HttpServerRequest.HttpServerRequest) => {
  const length = declaredLength(request)
  const hasBody = Option.isSome(length) ? length.value > 0 : request.headers["transfer-encoding"] !== undefined
  return hasBody ? request.stream : Stream.empty
}

export const PartsLive = HttpApiBuilder.group(Api, "parts", (handlers) =>
  Effect.gen(function*() {
    const parts = yield* Parts
    // raw: the body is streamed from the socket to storage, never decoded into memory
    return handlers.handleRaw("upload", ({ headers, path, request }) =>
      Effect.gen(function*() {
        const receipt = yield* parts.upload({
          sessionId: path.id,
          partNumber: path.part_number,
          body: bodyOf(request),
          contentLength: declaredLength(request),
          contentDigest: Option.fromNullable(headers["content-digest"]),
          partSha256: Option.fromNullable(headers["x-part-sha256"])
        })
        yield* setResponseHeader("etag", `"${receipt.sha256}"`)
        return receipt
      }))
  }))
