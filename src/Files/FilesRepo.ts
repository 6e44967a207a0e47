/** SQL for ingest files. Status changes are guarded in their WHERE clauses, so each happens once. */
import { Effect, Schema } from "effect"
import { Sha256Hex, Timestamp } from "../Domain/Common"
import { IngestFile } from "../Domain/File"
import { BatchId, FileId } from "../Domain/Ids"
import { findAll, findOne, findRowById, insertRow, repository } from "../Repo"

/** What the STORED invariant asks for; a request missing any of it never reaches SQL. */
export const MarkStored = Schema.Struct({
  id: FileId,
  sha256: Sha256Hex,
  size_bytes: Schema.Int.pipe(Schema.nonNegative()),
  storage_backend: Schema.NonEmptyString,
  storage_bucket: Schema.NullOr(Schema.String),
  storage_key: Schema.NonEmptyString,
  now: Timestamp
})

export class FilesRepo extends Effect.Service<FilesRepo>()("Portal/FilesRepo", {
  effect: repository((sql) => ({
    insert: insertRow(sql, "files", IngestFile),

    findById: findRowById(sql, "files", FileId, IngestFile),

    /** UPLOADING → STORED; the database's CHECK constraint is the second guard of the invariant. */
    markStored: findOne({
      Request: MarkStored,
      Result: IngestFile,
      execute: (stored) =>
        sql`UPDATE files
               SET status = 'STORED', sha256 = ${stored.sha256}, size_bytes = ${stored.size_bytes},
                   storage_backend = ${stored.storage_backend}, storage_bucket = ${stored.storage_bucket},
                   storage_key = ${stored.storage_key}, stored_at = ${stored.now}, updated_at = ${stored.now}
             WHERE id = ${stored.id} AND status = 'UPLOADING'
         RETURNING *`
    }),

    /** UPLOADING → FAILED; keeps the digest that was computed, if any, for the record. */
    markFailed: findOne({
      Request: Schema.Struct({ id: FileId, sha256: Schema.NullOr(Sha256Hex), now: Timestamp }),
      Result: IngestFile,
      execute: ({ id, now, sha256 }) =>
        sql`UPDATE files SET status = 'FAILED', sha256 = coalesce(${sha256}, sha256), updated_at = ${now}
             WHERE id = ${id} AND status = 'UPLOADING'
         RETURNING *`
    }),

    listByBatch: findAll({
      Request: Schema.Struct({ batchId: BatchId, afterId: Schema.NullOr(FileId), limit: Schema.Int }),
      Result: IngestFile,
      execute: ({ afterId, batchId, limit }) =>
        sql`SELECT * FROM files
             WHERE batch_id = ${batchId} ${afterId === null ? sql`` : sql`AND id > ${afterId}`}
             ORDER BY id LIMIT ${limit}`
    })
  }) as const)
}) {}
