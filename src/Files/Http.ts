import { HttpApiBuilder, HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import { Api } from "../Api"
import { contentDigestOf } from "../Domain/Checksum"
import { RangeNotSatisfiable } from "../Domain/Errors"
import { servedContentType } from "../Domain/File"
import { setResponseHeader } from "../HttpResponse"
import { contentDisposition, decideRange, etagMatches, ifRangeMatches } from "./Download"
import { Files } from "./Files"

export const FilesLive = HttpApiBuilder.group(Api, "files", (handlers) =>
  Effect.gen(function*() {
    const files = yield* Files
    return handlers
      .handle("get", ({ path }) => files.get(path.id))
      .handle("content", ({ headers, path }) =>
        Effect.gen(function*() {
          const { file, key, sha256, size } = yield* files.getStored(path.id)
          const etag = `"${sha256}"`
          const common = {
            etag,
            "accept-ranges": "bytes",
            "content-disposition": contentDisposition(file.original_filename),
            "repr-digest": contentDigestOf(sha256),
            "x-content-type-options": "nosniff",
            "cache-control": "private, no-cache"
          }
          if (etagMatches(headers["if-none-match"], etag)) {
            return HttpServerResponse.empty({ status: 304, headers: common })
          }
          // If-Range: a range of an older version would be wrong, so send everything instead
          const range = headers["if-range"] === undefined || ifRangeMatches(headers["if-range"], etag)
            ? headers.range
            : undefined
          const decision = decideRange(range, size)
          switch (decision._tag) {
            case "Unsatisfiable": {
              yield* setResponseHeader("content-range", `bytes */${size}`)
              return yield* new RangeNotSatisfiable({
                message: `the range ${range} lies outside the file's ${size} bytes`,
                size_bytes: size
              })
            }
            case "Partial": {
              const { length, offset } = decision
              const bytes = yield* files.open(key, { offset, length })
              return HttpServerResponse.raw(bytes.body, {
                status: 206,
                contentType: servedContentType(file.content_type),
                headers: {
                  ...common,
                  "content-length": String(bytes.length),
                  "content-range": `bytes ${offset}-${offset + length - 1}/${size}`
                }
              })
            }
            case "Full":
            {
              // a file's Blob goes out with sendfile; an object store's stream with its length
              const bytes = yield* files.open(key)
              return HttpServerResponse.raw(bytes.body, {
                status: 200,
                contentType: servedContentType(file.content_type),
                headers: { ...common, "content-length": String(bytes.length) }
              })
            }
          }
        }))
  }))
