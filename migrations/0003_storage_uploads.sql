-- The storage side of a session: what the backend calls its upload (S3: the multipart
-- UploadId; local: the session's parts folder). Set once, by the first part that reaches the
-- store, so that parts arriving at once on any instance all write into the same upload.
ALTER TABLE upload_sessions ADD COLUMN storage_upload_ref text;

-- upload_parts.temp_key now says how completion finds a part: on local storage the file its
-- bytes are in (each claim writes a file of its own), on S3 the ETag UploadPart returned.
COMMENT ON COLUMN upload_parts.temp_key IS 'local: the file holding the part; s3: the ETag of UploadPart n';

-- The bytes a user's open sessions reserve, read by every quota check, from the index alone:
-- it stays a handful of pages however many sessions the user ever had.
CREATE INDEX upload_sessions_owner_open_expiry ON upload_sessions (created_by, expires_at)
  INCLUDE (total_size_bytes) WHERE status IN ('INIT', 'IN_PROGRESS');

-- The sweeper asks which storage uploads no open session writes into.
CREATE INDEX upload_sessions_open_upload ON upload_sessions (storage_upload_ref)
  WHERE storage_upload_ref IS NOT NULL AND status IN ('INIT', 'IN_PROGRESS');
