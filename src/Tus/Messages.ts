/**
 * What tus requests say and what their answers carry: the body to append (read from the
 * moment the request arrives), the upload's id and required headers, the state headers of an
 * upload, and a failure as a response (its status, a JSON body, Tus-Version or Retry-After).
 */
import { HttpRouter, type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { BunHttpServerRequest } from "@effect/platform-bun"
import { Effect, Either, Option, Schema } from "effect"
import { InvalidRequest, NotFound } from "../Domain/Errors"
import { SessionId } from "../Domain/Ids"
import { BodyCursor } from "./Cursor"
import { statusOf, type TusFailure } from "./Errors"
import { byteCount, encodeMetadata, httpDate, isOffsetStream, parseChecksum, TUS_VERSION } from "./Protocol"
import type { AppendRequest, UploadState } from "./TusUploads"

type Request = HttpServerRequest.HttpServerRequest

export const failureResponse = (error: TusFailure, withBody: boolean) => {
  const status = statusOf(error)
  const headers: Record<string, string> = {}
  if (error._tag === "TusVersionUnsupported") headers["tus-version"] = TUS_VERSION
  if (error._tag === "TooManyUploads" || error._tag === "FinalizeInProgress") {
    headers["retry-after"] = String(error.retry_after_seconds)
  }
  return withBody
    ? HttpServerResponse.unsafeJson({ ...error, _tag: error._tag, message: error.message }, { status, headers })
    : HttpServerResponse.empty({ status, headers })
}

/** Upload-Offset, Upload-Length, Upload-Expires (while it can expire) and Upload-Metadata. */
export const stateHeaders = ({ offset, session }: UploadState): Record<string, string> => ({
  "upload-offset": String(offset),
  "upload-length": String(session.total_size_bytes),
  ...(session.status === "COMPLETE" ? {} : { "upload-expires": httpDate(session.expires_at) }),
  ...Option.match(encodeMetadata(session.metadata), { onNone: () => ({}), onSome: (metadata) => ({ "upload-metadata": metadata }) })
})

const noBody = () => new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })

/**
 * The body of a PATCH (or of a POST with its first bytes), read from the moment the request
 * arrives, before anything else is looked at: what a client sends before it goes away is
 * then still there to keep. None for a request that brings no such body.
 */
export const bodyOf = (request: Request) =>
  Effect.gen(function*() {
    if ((request.method !== "PATCH" && request.method !== "POST") || !isOffsetStream(request.headers["content-type"])) {
      return Option.none()
    }
    const checksum = yield* parseChecksum(request.headers["upload-checksum"])
    const contentLength = yield* byteCount("Content-Length", request.headers["content-length"])
    const clock = yield* Effect.clock
    const cursor = new BodyCursor(
      BunHttpServerRequest.toRequest(request).body ?? noBody(),
      Option.map(checksum, (declared) => declared.algorithm),
      () => clock.unsafeCurrentTimeMillis()
    )
    return Option.some({ cursor, contentLength, checksum })
  })

export type Body = Effect.Effect.Success<ReturnType<typeof bodyOf>>

export const appendRequest = (body: Body, offset: number) =>
  Option.match(body, {
    onNone: () => Effect.fail(new InvalidRequest({ message: "no body to append" })),
    onSome: ({ checksum, contentLength, cursor }) => Effect.succeed({ cursor, offset, contentLength, checksum } satisfies AppendRequest)
  })

/** A byte count header the request must have. */
export const requiredByteCount = (request: Request, name: string) =>
  byteCount(name, request.headers[name.toLowerCase()]).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.fail(new InvalidRequest({ message: `${name} is required` })),
      onSome: (value: number) => Effect.succeed(value)
    }))
  )

export const uploadId = Effect.flatMap(HttpRouter.params, (params) =>
  Either.match(Schema.decodeUnknownEither(SessionId)(params["id"]), {
    onLeft: () => Effect.fail(NotFound.session(String(params["id"] ?? "").slice(0, 64))),
    onRight: Effect.succeed
  }))

