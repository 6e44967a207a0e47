import { Schema } from "effect"
import { ByteCount, Metadata, PlainText, Sha256Hex, Timestamp } from "./Common"
import { BatchId, FileId, UserId } from "./Ids"

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"'
/** RFC 9110 media-type: `type/subtype`, optionally with parameters; printable ASCII only, so it is always a valid header. */
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*$`)

export const ContentType = Schema.String.pipe(
  Schema.maxLength(255),
  Schema.pattern(MEDIA_TYPE, { message: () => "content_type must be a media type such as video/mp4 or text/plain; charset=utf-8" }),
  Schema.annotations({
    description: "A media type such as video/mp4 or text/plain; charset=utf-8",
    jsonSchema: {
      type: "string",
      maxLength: 255,
      pattern: MEDIA_TYPE.source,
      description: "A media type such as video/mp4 or text/plain; charset=utf-8"
    }
  })
)

export const Filename = PlainText.pipe(
  Schema.minLength(1),
  Schema.maxLength(1024),
  Schema.annotations({
    description: "The file's original name; shown back in Content-Disposition on download",
    jsonSchema: {
      type: "string",
      minLength: 1,
      maxLength: 1024,
      description: "The file's original name (no control characters); shown back in Content-Disposition on download"
    }
  })
)

/** The content type to send for a stored file: its own when it is a valid header value, else bytes. */
export const servedContentType = (contentType: string): string =>
  Schema.is(ContentType)(contentType) ? contentType : "application/octet-stream"

export const FileStatus = Schema.Literal("UPLOADING", "STORED", "FAILED")
export type FileStatus = typeof FileStatus.Type

export class IngestFile extends Schema.Class<IngestFile>("IngestFile")({
  id: FileId,
  status: FileStatus,
  original_filename: Schema.String,
  content_type: Schema.String,
  size_bytes: Schema.OptionFromNullOr(ByteCount),
  sha256: Schema.OptionFromNullOr(Sha256Hex),
  storage_backend: Schema.OptionFromNullOr(Schema.String),
  storage_bucket: Schema.OptionFromNullOr(Schema.String),
  storage_key: Schema.OptionFromNullOr(Schema.String),
  uploaded_by: UserId,
  batch_id: Schema.OptionFromNullOr(BatchId),
  metadata: Metadata,
  created_at: Timestamp,
  updated_at: Timestamp,
  stored_at: Schema.OptionFromNullOr(Timestamp)
}, { description: "A file: UPLOADING, then STORED with its size, SHA-256 and storage pointer, or FAILED" }) {}
