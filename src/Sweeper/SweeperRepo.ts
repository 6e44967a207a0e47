/**
 * SQL of the sweeper: of what the store holds or this instance follows, what no open session
 * or STORED file owns any more. Each question is asked for a whole batch of keys at once.
 */
import { Effect, Schema } from "effect"
import { SessionId } from "../Domain/Ids"
import { findAll, repository, sessionIsOpen } from "../Repo"

export class SweeperRepo extends Effect.Service<SweeperRepo>()("Portal/SweeperRepo", {
  effect: repository((sql) => ({
    /**
     * Of these storage uploads, those that no open session writes into: left behind by a
     * session that ended (or by a crash before its first part was recorded).
     */
    uploadsNotOpen: findAll({
      Request: Schema.Array(Schema.String),
      Result: Schema.Struct({ ref: Schema.String }),
      execute: (refs) =>
        sql`SELECT ref FROM unnest(${refs}::text[]) AS ref
             WHERE NOT EXISTS (SELECT 1 FROM upload_sessions s
                                WHERE s.storage_upload_ref = ref AND ${sessionIsOpen(sql, "s.status")})`
    }),

    /**
     * Of these objects (key and the file it was made for), those that nothing owns: not the
     * object of a STORED file, and not made for a file whose session is still open.
     */
    objectsNotOwned: findAll({
      Request: Schema.Struct({ keys: Schema.Array(Schema.String), fileIds: Schema.Array(Schema.String) }),
      Result: Schema.Struct({ key: Schema.String }),
      execute: ({ fileIds, keys }) =>
        sql`SELECT o.key FROM unnest(${keys}::text[], ${fileIds}::uuid[]) AS o(key, file_id)
             WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.id = o.file_id AND f.status = 'STORED' AND f.storage_key = o.key)
               AND NOT EXISTS (SELECT 1 FROM upload_sessions s
                                WHERE s.file_id = o.file_id AND ${sessionIsOpen(sql, "s.status")})`
    }),

    /** Of these session ids, those that are not open (ended, or unknown). */
    notOpenAmong: findAll({
      Request: Schema.Array(Schema.String),
      Result: Schema.Struct({ id: SessionId }),
      execute: (ids) =>
        sql`SELECT candidate AS id FROM unnest(${ids}::uuid[]) AS candidate
             WHERE NOT EXISTS (SELECT 1 FROM upload_sessions s
                                WHERE s.id = candidate AND ${sessionIsOpen(sql, "s.status")})`
    })
  }) as const)
}) {}
