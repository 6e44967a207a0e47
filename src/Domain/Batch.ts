import { Schema } from "effect"
import { Metadata, Timestamp } from "./Common"
import { BatchId, UserId } from "./Ids"

export const BatchStatus = Schema.Literal("OPEN", "COMPLETED")
export type BatchStatus = typeof BatchStatus.Type

export class UploadBatch extends Schema.Class<UploadBatch>("UploadBatch")({
  id: BatchId,
  status: BatchStatus,
  name: Schema.OptionFromNullOr(Schema.String),
  metadata: Metadata,
  total_files: Schema.Int,
  file_count: Schema.Int.annotations({ description: "Files that joined the batch so far" }),
  stored_count: Schema.Int,
  failed_count: Schema.Int,
  created_by: UserId,
  created_at: Timestamp,
  updated_at: Timestamp,
  completed_at: Schema.OptionFromNullOr(Timestamp)
}) {}
