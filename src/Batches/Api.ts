/** Batches: a fixed number of files uploaded together, counted as they are stored or fail. */
import { HttpApiEndpoint, HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"
import { operation } from "../ApiDocs/Operation"
import { authenticatedGroup } from "../Auth/Authentication"
import { MetadataInput, PlainText } from "../Domain/Common"
import { Forbidden, InvalidRequest, NotFound } from "../Domain/Errors"
import { IngestFile } from "../Domain/File"
import { UploadBatch } from "../Domain/Batch"
import { BatchId, FileId, UserId } from "../Domain/Ids"
import { PAGINATION, pageOf, pageParams } from "../Domain/Page"

export class CreateBatchRequest extends Schema.Class<CreateBatchRequest>("CreateBatchRequest")({
  total_files: Schema.Int.pipe(Schema.between(1, 100_000)).annotations({
    description: "How many files the batch will hold; it completes when each has been stored or has failed",
    jsonSchema: {
      type: "integer",
      minimum: 1,
      maximum: 100_000,
      description: "How many files the batch will hold; it completes when each has been stored or has failed"
    }
  }),
  name: Schema.optional(PlainText.pipe(Schema.minLength(1), Schema.maxLength(200)).annotations({
    jsonSchema: { type: "string", minLength: 1, maxLength: 200, description: "1 to 200 characters, no control characters" }
  })),
  metadata: Schema.optional(MetadataInput)
}) {}

export class BatchFilesPage extends Schema.Class<BatchFilesPage>("BatchFilesPage")(pageOf(IngestFile), {
  description: "A page of the batch's files, oldest first"
}) {}

export class BatchPage extends Schema.Class<BatchPage>("BatchPage")(pageOf(UploadBatch), {
  description: "A page of batches, newest first"
}) {}

const batchPath = HttpApiSchema.param("id", BatchId)

export class BatchesApi extends authenticatedGroup("batches", {
  title: "Batches",
  description: "A fixed number of files uploaded together, counted as they are stored or fail"
})
  .add(
    HttpApiEndpoint.post("create", "/batches")
      .setPayload(CreateBatchRequest)
      .addSuccess(UploadBatch, { status: 201 })
      .addError(InvalidRequest)
      .annotateContext(operation("createBatch", {
        summary: "Create a batch; files join it with batch_id when their session is created",
        description: "The batch completes (COMPLETED, and a batch.completed event) once each of its total_files " +
          "files has been stored or has failed."
      }))
  )
  .add(
    HttpApiEndpoint.get("list", "/batches")
      .setUrlParams(Schema.Struct({
        ...pageParams(BatchId),
        user_id: Schema.optional(UserId).annotations({ description: "Admins only: another user's batches" })
      }))
      .addSuccess(BatchPage)
      .addError(Forbidden)
      .annotateContext(operation("listBatches", {
        summary: "The caller's batches, newest first",
        description: PAGINATION
      }))
  )
  .add(
    HttpApiEndpoint.get("get")`/batches/${batchPath}`
      .addSuccess(UploadBatch)
      .addError(NotFound)
      .addError(Forbidden)
      .annotateContext(operation("getBatch", {
        summary: "A batch with its status and counters",
        description: "file_count files have joined; stored_count and failed_count say how they ended."
      }))
  )
  .add(
    HttpApiEndpoint.get("files")`/batches/${batchPath}/files`
      .setUrlParams(Schema.Struct(pageParams(FileId)))
      .addSuccess(BatchFilesPage)
      .addError(NotFound)
      .addError(Forbidden)
      .annotateContext(operation("listBatchFiles", {
        summary: "The files of a batch with their status, oldest first",
        description: PAGINATION
      }))
  )
{}
