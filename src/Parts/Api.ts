/** The part upload endpoint: raw bytes in, streamed to storage while hashed. */
import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { ByteCount, Count, Integer, Sha256Hex, Timestamp } from "../Domain/Common"
import {
  BodyStalled,
  ChecksumMismatch,
  Forbidden,
  InvalidRequest,
  NotFound,
  PartConflict,
  PartInProgress,
  PartNumberOutOfRange,
  PartSizeMismatch,
  PartTooLarge,
  SessionExpired,
  SessionNotWritable,
  TooManyUploads
} from "../Domain/Errors"
import { SessionId } from "../Domain/Ids"
import { SessionStatus } from "../Domain/Session"

/** Text in the path, an integer to clients: 0 or past total_parts is a 422, not a decode error. */
export const PartNumber = Schema.compose(Schema.NumberFromString, Schema.Int).annotations({
  description: "1-based part number, 1..total_parts",
  jsonSchema: { type: "integer", minimum: 1, description: "1-based part number, 1..total_parts" }
})

export class PartReceipt extends Schema.Class<PartReceipt>("PartReceipt")({
  session_id: SessionId,
  part_number: Integer,
  size_bytes: ByteCount,
  sha256: Sha256Hex,
  already_received: Schema.Boolean.annotations({
    description: "True when these exact bytes had been received before; they were counted once"
  }),
  session_status: SessionStatus,
  received_parts_count: Count,
  received_bytes: ByteCount,
  total_parts: Count,
  expires_at: Timestamp
}, { description: "The part as received, and the session's counters after it" }) {}

export const PartHeaders = Schema.Struct({
  "content-digest": Schema.optional(Schema.String).annotations({
    description: "RFC 9530 digest of the part, e.g. sha-256=:<base64>: ; verified (422 on mismatch)"
  }),
  "x-part-sha256": Schema.optional(Schema.String).annotations({
    description: "Hex SHA-256 of the part; verified (422 on mismatch)"
  })
})

export class PartsApi extends authenticatedGroup("parts", {
  title: "Parts",
  description: "A session's bytes, one part at a time: in any order, in parallel, retried freely"
})
  .add(
    HttpApiEndpoint.put("upload")`/uploads/sessions/${HttpApiSchema.param("id", SessionId)}/parts/${
      HttpApiSchema.param("part_number", PartNumber)
    }`
      .setPayload(HttpApiSchema.Uint8Array({ contentType: "application/octet-stream" }))
      .setHeaders(PartHeaders)
      .addSuccess(PartReceipt)
      .addError(InvalidRequest)
      .addError(NotFound)
      .addError(Forbidden)
      .addError(SessionNotWritable)
      .addError(PartConflict)
      .addError(PartInProgress)
      .addError(SessionExpired)
      .addError(PartTooLarge)
      .addError(PartSizeMismatch)
      .addError(PartNumberOutOfRange)
      .addError(ChecksumMismatch)
      .addError(TooManyUploads)
      .addError(BodyStalled)
      .annotateContext(operation("uploadPart", {
        summary: "Upload one part: the raw bytes, any order, in parallel, retry freely",
        description: "Every part but the last is exactly chunk_size_bytes; the last is the remainder. The body is " +
          "streamed to storage and hashed, never buffered whole. Sending the same bytes again succeeds " +
          "and counts once; other bytes for a received part are 409 and leave the stored part untouched. " +
          "A retry that arrives while the same part is still being received waits for it, then compares.",
        transform: (operation) => ({
          ...operation,
          // OpenAPI 3.1's raw bytes: a media type without a schema (`format: binary` reads as a string)
          requestBody: {
            description: "The part's bytes: chunk_size_bytes of them, or the remainder for the last part",
            required: true,
            content: { "application/octet-stream": {} }
          }
        })
      }))
  )
{}
