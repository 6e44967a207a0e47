/**
 * Bounds on what a request may make the server hold. Every body the server reads whole (JSON
 * and the like: all routes but those that stream their body to storage) is read here first:
 * counted while it arrives and cut off past JSON_MAX_BYTES (413, before the rest is read), and
 * refused when its JSON nests deeper than JSON_MAX_DEPTH (400), before anything parses it, so
 * no request can cost the server more than a small, fixed amount of memory and CPU.
 */
import { type HttpApp, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { BunHttpServerRequest } from "@effect/platform-bun"
import { Effect, Option, Stream } from "effect"
import { InvalidRequest, RequestTooLarge } from "./Domain/Errors"

export const JSON_MAX_BYTES = 1024 * 1024
export const JSON_MAX_DEPTH = 64

/** Routes whose bodies go to storage as they arrive (bounded by the part size, not here). */
const STREAMED = [
  { method: "PUT", path: /^\/uploads\/sessions\/[^/?]+\/parts\/[^/?]+(?:\?|$)/ },
  { method: "PATCH", path: /^\/tus\/[^/?]+(?:\?|$)/ },
  { method: "POST", path: /^\/tus\/?(?:\?|$)/ },
  // tus's PATCH as POST with X-HTTP-Method-Override
  { method: "POST", path: /^\/tus\/[^/?]+(?:\?|$)/ }
]

const streamsItsBody = (method: string, url: string) =>
  STREAMED.some((route) => route.method === method && route.path.test(url))

/**
 * Whether `text`, read as JSON, opens more than `max` arrays or objects inside each other.
 * Brackets inside strings do not count; the text need not be valid JSON.
 */
const nestsDeeperThan = (text: string, max: number): boolean => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

const errorResponse = (error: InvalidRequest | RequestTooLarge, status: number) =>
  HttpServerResponse.unsafeJson({ ...error, _tag: error._tag, message: error.message }, { status })

const tooLarge = () =>
  errorResponse(
    new RequestTooLarge({ message: `request bodies may be at most ${JSON_MAX_BYTES} bytes here`, max_bytes: JSON_MAX_BYTES }),
    413
  )

/** Reads `body` up to `limit` bytes; None as soon as it is longer. */
const readAtMost = (body: ReadableStream<Uint8Array>, limit: number) =>
  Effect.tryPromise({
    try: async (signal) => {
      const reader = body.getReader()
      signal.addEventListener("abort", () => void reader.cancel().catch(() => undefined), { once: true })
      const chunks: Array<Uint8Array> = []
      let size = 0
      while (true) {
        const { done, value } = await reader.read()
        if (done) return Option.some(Buffer.concat(chunks, size))
        size += value.byteLength
        if (size > limit) {
          await reader.cancel().catch(() => undefined)
          return Option.none()
        }
        chunks.push(value)
      }
    },
    catch: () => new InvalidRequest({ message: "the request body could not be read" })
  })

export const boundedBodies = (app: HttpApp.Default): HttpApp.Default =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method === "GET" || request.method === "HEAD" || request.method === "OPTIONS" ||
      streamsItsBody(request.method, request.url)) {
      return yield* app
    }
    if (Number(request.headers["content-length"] ?? 0) > JSON_MAX_BYTES) return tooLarge()
    const source = BunHttpServerRequest.toRequest(request)
    if (source.body === null) return yield* app
    const read = yield* Effect.either(readAtMost(source.body, JSON_MAX_BYTES))
    if (read._tag === "Left") return errorResponse(read.left, 400)
    if (Option.isNone(read.right)) return tooLarge()
    const bytes = read.right.value
    if (nestsDeeperThan(bytes.toString("utf8"), JSON_MAX_DEPTH)) {
      return errorResponse(new InvalidRequest({ message: `JSON may nest at most ${JSON_MAX_DEPTH} levels deep` }), 400)
    }
    return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, withBody(request, bytes))
  })

/**
 * The same request, whose body now reads as `bytes`. It stays the server's own request object
 * underneath (the Bun server answers through it), with the body getters replaced; `json` and
 * the url-encoded body read `text`.
 */
const withBody = (request: HttpServerRequest.HttpServerRequest, bytes: Buffer): HttpServerRequest.HttpServerRequest => {
  const text = Effect.succeed(bytes.toString("utf8"))
  const arrayBuffer = Effect.sync(() => new Uint8Array(bytes).buffer)
  const buffered: HttpServerRequest.HttpServerRequest = Object.create(request, {
    text: { get: () => text },
    arrayBuffer: { get: () => arrayBuffer },
    stream: { get: () => Stream.make(new Uint8Array(bytes)) }
  })
  return buffered
}
