/** SQL for ingest files. Status changes are guarded in their WHERE clauses, so each happens once. */
import { SqlClient, SqlSchema } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { Sha256Hex } from "../Domain/Common"
import { IngestFile } from "../Domain/File"
import { BatchId, FileId, UserId } from "../Domain/Ids"
import type { StoredObject } from "../Storage/Storage"

const MarkStored = Schema.Struct({
  id: FileId,
  sha256: Sha256Hex,
  size_bytes: Schema.Int.pipe(Schema.nonNegative()),
  storage_backend: Schema.NonEmptyString,
  storage_bucket: Schema.NullOr(Schema.String),
  storage_key: Schema.NonEmptyString,
  now: Schema.DateFromSelf
})

export class FilesRepo extends Effect.Service<FilesRepo>()("Portal/FilesRepo", {
  effect: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const insert = SqlSchema.single({
      Request: IngestFile,
      Result: IngestFile,
      execute: (file) => sql`INSERT INTO files ${sql.insert(file)} RETURNING *`
    })

    const findById = SqlSchema.findOne({
      Request: FileId,
      Result: IngestFile,
      execute: (id) => sql`SELECT * FROM files WHERE id = ${id}`
    })

    /**
     * UPLOADING → STORED with everything the STORED invariant asks for. The request is
     * validated before any SQL runs (the service-side guard); the CHECK constraint is the
     * database-side one.
     */
    const markStored = SqlSchema.findOne({
      Request: MarkStored,
      Result: IngestFile,
      execute: (stored) =>
        sql`UPDATE files
               SET status = 'STORED', sha256 = ${stored.sha256}, size_bytes = ${stored.size_bytes},
                   storage_backend = ${stored.storage_backend}, storage_bucket = ${stored.storage_bucket},
                   storage_key = ${stored.storage_key}, stored_at = ${stored.now}, updated_at = ${stored.now}
             WHERE id = ${stored.id} AND status = 'UPLOADING'
         RETURNING *`
    })

    /** UPLOADING → FAILED; keeps the digest that was computed, if any, for the record. */
    const markFailed = SqlSchema.findOne({
      Request: Schema.Struct({ id: FileId, sha256: Schema.NullOr(Sha256Hex), now: Schema.DateFromSelf }),
      Result: IngestFile,
      execute: ({ id, now, sha256 }) =>
        sql`UPDATE files SET status = 'FAILED', sha256 = coalesce(${sha256}, sha256), updated_at = ${now}
             WHERE id = ${id} AND status = 'UPLOADING'
         RETURNING *`
    })

    const listByBatch = SqlSchema.findAll({
      Request: Schema.Struct({ batchId: BatchId, afterId: Schema.NullOr(FileId), limit: Schema.Int }),
      Result: IngestFile,
      execute: ({ afterId, batchId, limit }) =>
        sql`SELECT * FROM files
             WHERE batch_id = ${batchId} ${afterId === null ? sql`` : sql`AND id > ${afterId}`}
             ORDER BY id LIMIT ${limit}`
    })

    return {
      insert: (file: IngestFile) => Effect.orDie(insert(file)),
      findById: (id: FileId) => Effect.orDie(findById(id)),
      /** Fails (as a ParseError) without touching the database when the object is incomplete. */
      markStored: (id: FileId, object: StoredObject, now: Date) =>
        markStored({
          id,
          sha256: object.sha256,
          size_bytes: object.size,
          storage_backend: object.backend,
          storage_bucket: Option.getOrNull(object.bucket),
          storage_key: object.key,
          now
        }).pipe(Effect.catchTag("SqlError", Effect.die)),
      markFailed: (id: FileId, now: Date, sha256: Option.Option<string>) =>
        Effect.orDie(markFailed({ id, now, sha256: Option.getOrNull(sha256) })),
      listByBatch: (batchId: BatchId, afterId: Option.Option<FileId>, limit: number) =>
        Effect.orDie(listByBatch({ batchId, afterId: Option.getOrNull(afterId), limit })),
      /** Bytes of the user's STORED files: what their quota has spent for good. */
      storedBytes: (userId: UserId) =>
        sql<{ bytes: number }>`SELECT coalesce(sum(size_bytes), 0)::bigint AS bytes
                                 FROM files WHERE uploaded_by = ${userId} AND status = 'STORED'`.pipe(
          Effect.map((rows) => rows[0]?.bytes ?? 0),
          Effect.orDie
        )
    } as const
  })
}) {}
