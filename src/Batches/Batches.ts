/** Batches: creation, inspection, their files. Counting happens in SessionLifecycle. */
import { DateTime, Effect, Option } from "effect"
import { CurrentUser } from "../Auth/Authentication"
import { listingOwner, requireReader } from "../Auth/Policy"
import { NotFound } from "../Domain/Errors"
import { UploadBatch } from "../Domain/Batch"
import { BatchId, type FileId, newId, type UserId } from "../Domain/Ids"
import { pageSize, rowsToFetch, toPage } from "../Domain/Page"
import { FilesRepo } from "../Files/FilesRepo"
import { BatchFilesPage, BatchPage, type CreateBatchRequest } from "./Api"
import { BatchesRepo } from "./BatchesRepo"
import { someOrFail } from "../Found"


export class Batches extends Effect.Service<Batches>()("Portal/Batches", {
  effect: Effect.gen(function*() {
    const repo = yield* BatchesRepo
    const files = yield* FilesRepo

    const create = (request: CreateBatchRequest) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const now = yield* DateTime.now
        return yield* repo.insert(
          new UploadBatch({
            id: yield* newId(BatchId),
            status: "OPEN",
            name: Option.fromNullable(request.name),
            metadata: request.metadata ?? {},
            total_files: request.total_files,
            file_count: 0,
            stored_count: 0,
            failed_count: 0,
            created_by: user.id,
            created_at: now,
            updated_at: now,
            completed_at: Option.none()
          })
        )
      }).pipe(Effect.withSpan("Batches.create"))

    const get = (id: BatchId) =>
      Effect.gen(function*() {
        const batch = yield* repo.findById(id).pipe(someOrFail(() => NotFound.batch(id)))
        yield* requireReader("batch", batch.created_by)
        return batch
      })

    const list = (filter: {
      readonly cursor?: BatchId | undefined
      readonly limit?: number | undefined
      readonly user_id?: UserId | undefined
    }) =>
      Effect.gen(function*() {
        const ownerId = yield* listingOwner(filter.user_id)
        const size = pageSize(filter.limit)
        const rows = yield* repo.listByOwner(ownerId, Option.fromNullable(filter.cursor), rowsToFetch(size))
        return new BatchPage(toPage(rows, size, (batch) => batch.id))
      })

    const listFiles = (id: BatchId, filter: { readonly cursor?: FileId | undefined; readonly limit?: number | undefined }) =>
      Effect.gen(function*() {
        yield* get(id)
        const size = pageSize(filter.limit)
        const rows = yield* files.listByBatch(id, Option.fromNullable(filter.cursor), rowsToFetch(size))
        return new BatchFilesPage(toPage(rows, size, (file) => file.id))
      })

    return { create, get, list, listFiles } as const
  }),
  dependencies: [BatchesRepo.Default, FilesRepo.Default]
}) {}
