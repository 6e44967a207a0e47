/** SQL for batches. Counters and the OPEN → COMPLETED move happen in single statements. */
import { Effect, Schema } from "effect"
import { UploadBatch } from "../Domain/Batch"
import { Timestamp } from "../Domain/Common"
import { BatchId, UserId } from "../Domain/Ids"
import { findAll, findOne, findRowById, insertRow, repository, single } from "../Repo"

export class BatchesRepo extends Effect.Service<BatchesRepo>()("Portal/BatchesRepo", {
  effect: repository((sql) => ({
    insert: insertRow(sql, "batches", UploadBatch),

    findById: findRowById(sql, "batches", BatchId, UploadBatch),

    /** Row lock for the rest of the transaction. */
    lock: findOne({
      Request: BatchId,
      Result: UploadBatch,
      execute: (id) => sql`SELECT * FROM batches WHERE id = ${id} FOR UPDATE`
    }),

    /** Newest first (UUIDv7 ids), keyset pagination. */
    listByOwner: findAll({
      Request: Schema.Struct({ ownerId: UserId, beforeId: Schema.NullOr(BatchId), limit: Schema.Int }),
      Result: UploadBatch,
      execute: ({ beforeId, limit, ownerId }) =>
        sql`SELECT * FROM batches
             WHERE created_by = ${ownerId} ${beforeId === null ? sql`` : sql`AND id < ${beforeId}`}
             ORDER BY id DESC LIMIT ${limit}`
    }),

    /** One more file joins; None when the batch is full or no longer open. */
    attachFile: findOne({
      Request: Schema.Struct({ id: BatchId, now: Timestamp }),
      Result: UploadBatch,
      execute: ({ id, now }) =>
        sql`UPDATE batches SET file_count = file_count + 1, updated_at = ${now}
             WHERE id = ${id} AND status = 'OPEN' AND file_count < total_files
         RETURNING *`
    }),

    /**
     * Counts a file's final outcome. The batch completes in the same statement that counts
     * its last file, so two files finishing at once cannot both (or neither) complete it.
     */
    recordOutcome: single({
      Request: Schema.Struct({ id: BatchId, outcome: Schema.Literal("stored", "failed"), now: Timestamp }),
      Result: UploadBatch,
      execute: ({ id, now, outcome }) =>
        sql`UPDATE batches
               SET stored_count = stored_count + ${outcome === "stored" ? 1 : 0},
                   failed_count = failed_count + ${outcome === "failed" ? 1 : 0},
                   status = CASE WHEN stored_count + failed_count + 1 = total_files THEN 'COMPLETED' ELSE status END,
                   completed_at = CASE WHEN stored_count + failed_count + 1 = total_files THEN ${now} ELSE completed_at END,
                   updated_at = ${now}
             WHERE id = ${id}
         RETURNING *`
    })
  }) as const)
}) {}
