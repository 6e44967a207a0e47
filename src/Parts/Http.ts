import { HttpApiBuilder, type HttpServerRequest } from "@effect/platform"
import { BunHttpServerRequest } from "@effect/platform-bun"
import { Effect, Option } from "effect"
import { Api } from "../Api"
import { setResponseHeader } from "../HttpResponse"
import { Parts } from "./Parts"

const declaredLength = (request: HttpServerRequest.HttpServerRequest) =>
  Option.fromNullable(request.headers["content-length"]).pipe(
    Option.map(Number),
    Option.filter(Number.isSafeInteger)
  )

const noBody = () => new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })

/** The raw body as Bun received it: a web stream, read straight from the socket. */
const bodyOf = (request: HttpServerRequest.HttpServerRequest) =>
  BunHttpServerRequest.toRequest(request).body ?? noBody()

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
        }).pipe(
          Effect.tapErrorTag("TooManyUploads", (busy) => setResponseHeader("retry-after", String(busy.retry_after_seconds)))
        )
        yield* setResponseHeader("etag", `"${receipt.sha256}"`)
        return receipt
      }))
  }))
