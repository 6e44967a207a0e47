import { Schema } from "effect"
import { Count, Metadata, Timestamp } from "./Common"
import { BatchId, UserId } from "./Ids"

export const BatchStatus = Schema.Literal("OPEN", "COMPLETED")
export type BatchStatus = typeof BatchStatus.Type

export class UploadBatch extends Schema.Class<UploadBatch>("UploadBatch")({
  id: BatchId,
  status: BatchStatus,
  name: Schema.OptionFromNullOr(Schema.String),
  metadata: Metadata,
  total_files: Count,
  file_count: Schema.propertySignature(Count).annotations({ description: "Files that joined the batch so far" }),
  stored_count: Count,
  failed_count: Count,
  created_by: UserId,
  created_at: Timestamp,
  updated_at: Timestamp,
  completed_at: Schema.OptionFromNullOr(Timestamp)
}, { description: "A batch of files: OPEN, then COMPLETED once each file is stored or has failed" }) {}
