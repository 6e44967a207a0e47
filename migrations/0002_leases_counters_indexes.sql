-- Leases name their holder, so only the holder can renew or give them up (see src/Lease.ts).
ALTER TABLE upload_sessions ADD COLUMN finalize_holder uuid;

-- Bytes of a user's STORED files, kept in the transaction that stores a file, so that a quota
-- check reads one row instead of summing every file the user ever stored.
ALTER TABLE users ADD COLUMN stored_bytes bigint NOT NULL DEFAULT 0 CHECK (stored_bytes >= 0);
UPDATE users u SET stored_bytes = coalesce(
  (SELECT sum(size_bytes) FROM files f WHERE f.uploaded_by = u.id AND f.status = 'STORED'), 0);

-- The sessions a user can still resume (?status=active, and the reserved bytes of the quota).
CREATE INDEX upload_sessions_owner_open ON upload_sessions (created_by, id DESC)
  WHERE status IN ('INIT', 'IN_PROGRESS');
