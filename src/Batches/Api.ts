/** Batches: a fixed number of files uploaded together, counted as they are stored or fail. */
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import { Authentication } from "../Auth/Authentication"
import { MetadataInput, PlainText } from "../Domain/Common"
import { Forbidden, InvalidRequest, NotFound } from "../Domain/Errors"
import { IngestFile } from "../Domain/File"
import { UploadBatch } from "../Domain/Batch"
import { BatchId, FileId, UserId } from "../Domain/Ids"
import { PageLimit } from "../Domain/Page"

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

export class BatchFilesPage extends Schema.Class<BatchFilesPage>("BatchFilesPage")({
  items: Schema.Array(IngestFile),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}, { description: "A page of the batch's files, oldest first" }) {}

export class BatchPage extends Schema.Class<BatchPage>("BatchPage")({
  items: Schema.Array(UploadBatch),
  next_cursor: Schema.NullOr(Schema.String).annotations({ description: "Pass as ?cursor= for the next page" })
}, { description: "A page of batches, newest first" }) {}

const batchPath = HttpApiSchema.param("id", BatchId)

export class BatchesApi extends HttpApiGroup.make("batches")
  .add(
    HttpApiEndpoint.post("create", "/batches")
      .setPayload(CreateBatchRequest)
      .addSuccess(UploadBatch, { status: 201 })
      .addError(InvalidRequest)
      .annotate(OpenApi.Identifier, "createBatch")
      .annotate(OpenApi.Summary, "Create a batch; files join it with batch_id when their session is created")
      .annotate(
        OpenApi.Description,
        "The batch completes (COMPLETED, and a batch.completed event) once each of its total_files files " +
          "has been stored or has failed."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/batches")
      .setUrlParams(Schema.Struct({
        cursor: Schema.optional(BatchId),
        limit: Schema.optional(PageLimit),
        user_id: Schema.optional(UserId).annotations({ description: "Admins only: another user's batches" })
      }))
      .addSuccess(BatchPage)
      .addError(Forbidden)
      .annotate(OpenApi.Identifier, "listBatches")
      .annotate(OpenApi.Summary, "The caller's batches, newest first")
      .annotate(OpenApi.Description, "Cursor pagination: pass next_cursor as ?cursor= until it is null.")
  )
  .add(
    HttpApiEndpoint.get("get")`/batches/${batchPath}`
      .addSuccess(UploadBatch)
      .addError(NotFound)
      .addError(Forbidden)
      .annotate(OpenApi.Identifier, "getBatch")
      .annotate(OpenApi.Summary, "A batch with its status and counters")
      .annotate(OpenApi.Description, "file_count files have joined; stored_count and failed_count say how they ended.")
  )
  .add(
    HttpApiEndpoint.get("files")`/batches/${batchPath}/files`
      .setUrlParams(Schema.Struct({ cursor: Schema.optional(FileId), limit: Schema.optional(PageLimit) }))
      .addSuccess(BatchFilesPage)
      .addError(NotFound)
      .addError(Forbidden)
      .annotate(OpenApi.Identifier, "listBatchFiles")
      .annotate(OpenApi.Summary, "The files of a batch with their status, oldest first")
      .annotate(OpenApi.Description, "Cursor pagination: pass next_cursor as ?cursor= until it is null.")
  )
  .middleware(Authentication)
  .annotate(OpenApi.Title, "Batches")
  .annotate(OpenApi.Description, "A fixed number of files uploaded together, counted as they are stored or fail")
{}
