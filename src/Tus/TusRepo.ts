/**
 * SQL of tus uploads: the fragments of parts not yet whole (migration 0006), and the writer
 * lease that lets one request at a time append to an upload, on any instance (a lease in
 * database time, as src/Lease.ts describes). A fragment is recorded only by the lease's
 * holder and only while its session is open, in the statement that also refreshes the
 * session's expiry; so a writer presumed dead can never add bytes behind its successor.
 */
import { Effect, Schema } from "effect"
import { Sha256Hex, Timestamp } from "../Domain/Common"
import { SessionId } from "../Domain/Ids"
import { UploadSession } from "../Domain/Session"
import { leaseEnd, LeaseSeconds } from "../Lease"
import { command, findAll, findOne, findRowById, repository, sessionIsOpen } from "../Repo"

export const Fragment = Schema.Struct({
  id: Schema.UUID,
  part_number: Schema.Int,
  /** Where it starts inside its part. */
  part_offset: Schema.Int,
  size_bytes: Schema.Int,
  sha256: Sha256Hex,
  storage_key: Schema.String
})
export type Fragment = typeof Fragment.Type

const Writer = Schema.Struct({ sessionId: SessionId, holder: Schema.String })

export class TusRepo extends Effect.Service<TusRepo>()("Portal/TusRepo", {
  effect: repository((sql) => ({
    /** The session the fragments are written for. */
    session: findRowById(sql, "upload_sessions", SessionId, UploadSession),

    /** The session's fragments, in the order of the bytes. */
    fragments: findAll({
      Request: SessionId,
      Result: Fragment,
      execute: (id) =>
        sql`SELECT id, part_number, part_offset, size_bytes, sha256, storage_key FROM upload_fragments
             WHERE session_id = ${id} ORDER BY part_number, part_offset`
    }),

    /**
     * Records fragments for the holder of the session's writer lease while the session is
     * open and unexpired, refreshing its expiry as a received part does (and INIT →
     * IN_PROGRESS). Answers the ids recorded: none when the lease or the session is gone.
     */
    record: findAll({
      Request: Schema.Struct({
        ...Writer.fields,
        fragments: Schema.Array(Fragment),
        now: Timestamp,
        expiresAt: Timestamp
      }),
      Result: Schema.Struct({ id: Schema.UUID }),
      execute: ({ expiresAt, fragments, holder, now, sessionId }) =>
        sql`WITH writer AS (
              SELECT session_id FROM tus_uploads WHERE session_id = ${sessionId} AND writer = ${holder}
            ), refreshed AS (
              UPDATE upload_sessions SET status = 'IN_PROGRESS', expires_at = ${expiresAt}, updated_at = ${now}
               WHERE id = (SELECT session_id FROM writer) AND ${sessionIsOpen(sql)} AND expires_at > ${now}
           RETURNING id
            )
            INSERT INTO upload_fragments (id, session_id, part_number, part_offset, size_bytes, sha256, storage_key, created_at)
            SELECT f.id, r.id, f.part_number, f.part_offset, f.size_bytes, f.sha256, f.storage_key, ${now}
              FROM refreshed r,
                   jsonb_to_recordset(${JSON.stringify(fragments)}::jsonb)
                     AS f(id uuid, part_number int, part_offset bigint, size_bytes bigint, sha256 text, storage_key text)
         RETURNING id`
    }),

    forget: command({
      Request: Schema.Array(Schema.UUID),
      execute: (ids) => sql`DELETE FROM upload_fragments WHERE id = ANY(${ids}::uuid[])`
    }),

    /**
     * Takes the session's writer lease unless another request holds it; answers the size of
     * the previous append (null before the first).
     */
    acquire: findOne({
      Request: Schema.Struct({ ...Writer.fields, lease: LeaseSeconds }),
      Result: Schema.Struct({ last_append_bytes: Schema.NullOr(Schema.Int) }),
      execute: ({ holder, lease, sessionId }) =>
        sql`INSERT INTO tus_uploads (session_id, writer, writer_lease_until)
            VALUES (${sessionId}, ${holder}, ${leaseEnd(sql, lease)})
            ON CONFLICT (session_id) DO UPDATE
               SET writer = EXCLUDED.writer, writer_lease_until = EXCLUDED.writer_lease_until
             WHERE tus_uploads.writer IS NULL OR tus_uploads.writer_lease_until < now()
         RETURNING last_append_bytes`
    }),

    /** Keeps the lease; None when it is no longer this holder's. */
    renew: findOne({
      Request: Schema.Struct({ ...Writer.fields, lease: LeaseSeconds }),
      Result: Schema.Struct({ session_id: SessionId }),
      execute: ({ holder, lease, sessionId }) =>
        sql`UPDATE tus_uploads SET writer_lease_until = ${leaseEnd(sql, lease)}
             WHERE session_id = ${sessionId} AND writer = ${holder}
         RETURNING session_id`
    }),

    /** Gives the lease up, keeping the size of this append when it is known. */
    release: command({
      Request: Schema.Struct({ ...Writer.fields, appended: Schema.NullOr(Schema.Int) }),
      execute: ({ appended, holder, sessionId }) =>
        sql`UPDATE tus_uploads
               SET writer = NULL, writer_lease_until = NULL,
                   last_append_bytes = coalesce(${appended}::bigint, last_append_bytes)
             WHERE session_id = ${sessionId} AND writer = ${holder}`
    })
  }) as const)
}) {}
