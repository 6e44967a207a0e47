/** Stored files: metadata and content. */
import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { FileNotStored, Forbidden, NotFound, RangeNotSatisfiable } from "../Domain/Errors"
import { IngestFile } from "../Domain/File"
import { FileId } from "../Domain/Ids"

export const DownloadHeaders = Schema.Struct({
  range: Schema.optional(Schema.String).annotations({ description: "A single range, e.g. bytes=0-1023" }),
  "if-range": Schema.optional(Schema.String),
  "if-none-match": Schema.optional(Schema.String)
})

const header = (description: string) => ({ description, schema: { type: "string" } })

/** The download's responses: the whole file (200), a range (206), not modified (304), with their headers. */
const downloadResponses = (operation: Record<string, unknown>) => {
  const responses = operation["responses"] as Record<string, Record<string, unknown>>
  const ok = responses["200"] ?? {}
  const headers = {
    "Content-Type": header("The file's content_type"),
    "Content-Length": header("Bytes in this response"),
    ETag: header("The file's SHA-256 in quotes"),
    "Repr-Digest": header("RFC 9530 SHA-256 of the whole file"),
    "Content-Disposition": header("attachment with the original filename"),
    "Accept-Ranges": header("bytes")
  }
  return {
    ...operation,
    responses: {
      ...responses,
      "200": { ...ok, description: "The whole file", headers },
      "206": {
        ...ok,
        description: "The requested range",
        headers: { ...headers, "Content-Range": header("bytes first-last/size") }
      },
      "304": { description: "If-None-Match matched the ETag" }
    }
  }
}

const filePath = HttpApiSchema.param("id", FileId)

export class FilesApi extends authenticatedGroup("files", {
  title: "Files",
  description: "Stored files: their metadata, and their bytes with Range and ETag"
})
  // every endpoint names a file, which may be unknown or another user's
  .addError(NotFound)
  .addError(Forbidden)
  .add(
    HttpApiEndpoint.get("get")`/files/${filePath}`
      .addSuccess(IngestFile)
      .annotateContext(operation("getFile", {
        summary: "A file's metadata: status, size, SHA-256, where it is stored",
        description: "size_bytes, sha256 and stored_at are null until the file is STORED; a FAILED file never gets them."
      }))
  )
  .add(
    HttpApiEndpoint.get("content")`/files/${filePath}/content`
      .setHeaders(DownloadHeaders)
      .addSuccess(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" }))
      .addError(FileNotStored)
      .addError(RangeNotSatisfiable)
      .annotateContext(operation("downloadFile", {
        summary: "Download a stored file; single byte ranges are supported",
        description:
          "Streams the bytes with the file's content type. A single Range gives 206, a range past the end 416; " +
          "If-None-Match with the ETag gives 304, If-Range falls back to the whole file when it does not match.",
        transform: downloadResponses
      }))
  )
{}
