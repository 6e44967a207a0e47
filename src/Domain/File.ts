import { Schema } from "effect"
import { ByteCount, Metadata, Sha256Hex, Timestamp } from "./Common"
import { BatchId, FileId, UserId } from "./Ids"

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
}) {}
