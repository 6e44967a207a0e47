/** Batches: creation, inspection, their files, files joining them and their outcomes. */
import { DateTime, Effect, Option } from "effect"
import { listingOwner, requireOwner, requireReader } from "../Auth/Policy"
import { UploadBatch } from "../Domain/Batch"
import { CurrentUser } from "../Domain/CurrentUser"
import { BatchClosed, BatchFull, NotFound } from "../Domain/Errors"
import { BatchId, type FileId, newId, type UserId } from "../Domain/Ids"
import { fetchPage, type PageRequest } from "../Domain/Page"
import { Files } from "../Files/Files"
import { someOrFail } from "../Repo"
import { BatchFilesPage, BatchPage, type CreateBatchRequest } from "./Api"
import { BatchesRepo } from "./BatchesRepo"

export class Batches extends Effect.Service<Batches>()("Portal/Batches", {
  effect: Effect.gen(function*() {
    const repo = yield* BatchesRepo
    const files = yield* Files

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

    const list = (filter: PageRequest<BatchId> & { readonly user_id?: UserId | undefined }) =>
      Effect.gen(function*() {
        const ownerId = yield* listingOwner(filter.user_id)
        const page = yield* fetchPage(
          filter.limit,
          (limit) => repo.listByOwner({ ownerId, beforeId: filter.cursor ?? null, limit }),
          (batch) => batch.id
        )
        return new BatchPage(page)
      })

    const listFiles = (id: BatchId, filter: PageRequest<FileId>) =>
      Effect.gen(function*() {
        yield* get(id)
        const page = yield* fetchPage(
          filter.limit,
          (limit) => files.listByBatch(id, Option.fromNullable(filter.cursor), limit),
          (file) => file.id
        )
        return new BatchFilesPage(page)
      })

    /**
     * A new file of the caller's joins the batch. Must run in the transaction that creates the
     * file: the batch row stays locked until it commits, and file_count never passes total_files.
     */
    const join = (id: BatchId, now: DateTime.Utc) =>
      Effect.gen(function*() {
        const batch = yield* repo.lock(id).pipe(someOrFail(() => NotFound.batch(id)))
        yield* requireOwner("batch", batch.created_by)
        if (batch.status !== "OPEN") {
          return yield* new BatchClosed({ message: `batch ${id} is ${batch.status}`, batch_id: id, status: batch.status })
        }
        if (Option.isNone(yield* repo.attachFile({ id, now }))) {
          return yield* new BatchFull({
            message: `batch ${id} already has its ${batch.total_files} files`,
            batch_id: id,
            total_files: batch.total_files
          })
        }
      })

    /** Counts a file's outcome; the batch as it is afterwards (COMPLETED when that was its last file). */
    const recordOutcome = (id: BatchId, outcome: "stored" | "failed", now: DateTime.Utc) =>
      repo.recordOutcome({ id, outcome, now })

    return { create, get, list, listFiles, join, recordOutcome } as const
  }),
  dependencies: [BatchesRepo.Default, Files.Default]
}) {}
