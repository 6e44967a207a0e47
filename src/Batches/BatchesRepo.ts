/** SQL for batches. Counters and the OPEN → COMPLETED move happen in single statements. */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { UploadBatch } from "../Domain/Batch"
import { BatchId, UserId } from "../Domain/Ids"

const Outcome = Schema.Struct({ id: BatchId, outcome: Schema.Literal("stored", "failed"), now: Schema.DateFromSelf })

export class BatchesRepo extends Effect.Service<BatchesRepo>()("Portal/BatchesRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insert = SqlSchema.single({
      Request: UploadBatch,
      Result: UploadBatch,
      execute: (batch) => sql`INSERT INTO batches ${sql.insert(batch)} RETURNING *`
    })

    const findById = SqlSchema.findOne({
      Request: BatchId,
      Result: UploadBatch,
      execute: (id) => sql`SELECT * FROM batches WHERE id = ${id}`
    })

    const lock = SqlSchema.findOne({
      Request: BatchId,
      Result: UploadBatch,
      execute: (id) => sql`SELECT * FROM batches WHERE id = ${id} FOR UPDATE`
    })

    /** Newest first (UUIDv7 ids), keyset pagination. */
    const listByOwner = SqlSchema.findAll({
      Request: Schema.Struct({ ownerId: UserId, beforeId: Schema.NullOr(BatchId), limit: Schema.Int }),
      Result: UploadBatch,
      execute: ({ beforeId, limit, ownerId }) =>
        sql`SELECT * FROM batches
             WHERE created_by = ${ownerId} ${beforeId === null ? sql`` : sql`AND id < ${beforeId}`}
             ORDER BY id DESC LIMIT ${limit}`
    })

    /** One more file joins; None when the batch is full or no longer open. */
    const attachFile = SqlSchema.findOne({
      Request: Schema.Struct({ id: BatchId, now: Schema.DateFromSelf }),
      Result: UploadBatch,
      execute: ({ id, now }) =>
        sql`UPDATE batches SET file_count = file_count + 1, updated_at = ${now}
             WHERE id = ${id} AND status = 'OPEN' AND file_count < total_files
         RETURNING *`
    })

    /**
     * Counts a file's final outcome. The batch completes in the same statement that counts
     * its last file, so two files finishing at once cannot both (or neither) complete it.
     */
    const recordOutcome = SqlSchema.single({
      Request: Outcome,
      Result: UploadBatch,
      execute: ({ id, now, outcome }) => {
        const stored = outcome === "stored" ? 1 : 0
        const failed = outcome === "failed" ? 1 : 0
        return sql`
          UPDATE batches
             SET stored_count = stored_count + ${stored},
                 failed_count = failed_count + ${failed},
                 status = CASE WHEN stored_count + failed_count + 1 = total_files THEN 'COMPLETED' ELSE status END,
                 completed_at = CASE WHEN stored_count + failed_count + 1 = total_files THEN ${now} ELSE completed_at END,
                 updated_at = ${now}
           WHERE id = ${id}
       RETURNING *`
      }
    })

    return {
      insert: (batch: UploadBatch) => Effect.orDie(insert(batch)),
      findById: (id: BatchId) => Effect.orDie(findById(id)),
      listByOwner: (ownerId: UserId, beforeId: Option.Option<BatchId>, limit: number) =>
        Effect.orDie(listByOwner({ ownerId, beforeId: Option.getOrNull(beforeId), limit })),
      lock: (id: BatchId) => Effect.orDie(lock(id)),
      attachFile: (id: BatchId, now: Date) => Effect.orDie(attachFile({ id, now })),
      recordOutcome: (id: BatchId, outcome: "stored" | "failed", now: Date) =>
        Effect.orDie(recordOutcome({ id, outcome, now }))
    } as const
  })
}) {}
