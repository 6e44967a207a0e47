-- The domain model of SPEC.md section 3. Invariants that SQL can state are stated here,
-- so that no code path (or operator with psql) can break them.

CREATE TABLE users (
  id          uuid PRIMARY KEY,
  name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
  is_admin    boolean NOT NULL DEFAULT false,
  quota_bytes bigint NOT NULL CHECK (quota_bytes >= 0),
  created_at  timestamptz NOT NULL
);

CREATE TABLE api_tokens (
  id            uuid PRIMARY KEY,
  user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name          text NOT NULL DEFAULT '',
  -- only the SHA-256 of the secret is kept; the secret itself is shown once
  secret_sha256 bytea NOT NULL UNIQUE CHECK (length(secret_sha256) = 32),
  created_at    timestamptz NOT NULL,
  revoked_at    timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE batches (
  id           uuid PRIMARY KEY,
  status       text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'COMPLETED')),
  name         text,
  metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  total_files  integer NOT NULL CHECK (total_files > 0),
  file_count   integer NOT NULL DEFAULT 0,
  stored_count integer NOT NULL DEFAULT 0,
  failed_count integer NOT NULL DEFAULT 0,
  created_by   uuid NOT NULL REFERENCES users (id),
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  completed_at timestamptz,
  CONSTRAINT batches_file_count CHECK (file_count BETWEEN 0 AND total_files),
  CONSTRAINT batches_counters CHECK (
    stored_count >= 0 AND failed_count >= 0 AND stored_count + failed_count <= file_count),
  -- COMPLETED exactly when every file has an outcome; the status moves in the counter's statement
  CONSTRAINT batches_completed CHECK (
    (status = 'COMPLETED') = (stored_count + failed_count = total_files)
    AND (status <> 'COMPLETED' OR completed_at IS NOT NULL))
);
CREATE INDEX batches_owner ON batches (created_by, id DESC);

CREATE TABLE files (
  id                uuid PRIMARY KEY,
  status            text NOT NULL CHECK (status IN ('UPLOADING', 'STORED', 'FAILED')),
  original_filename text NOT NULL CHECK (length(original_filename) BETWEEN 1 AND 1024),
  content_type      text NOT NULL CHECK (length(content_type) BETWEEN 1 AND 255),
  size_bytes        bigint CHECK (size_bytes >= 0),
  sha256            text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_backend   text,
  storage_bucket    text,
  storage_key       text,
  uploaded_by       uuid NOT NULL REFERENCES users (id),
  batch_id          uuid REFERENCES batches (id),
  metadata          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at        timestamptz NOT NULL,
  updated_at        timestamptz NOT NULL,
  stored_at         timestamptz,
  -- the STORED invariant: a stored file always says what its bytes are and where they live
  CONSTRAINT files_stored_has_content CHECK (
    status <> 'STORED' OR (sha256 IS NOT NULL AND size_bytes IS NOT NULL
      AND storage_backend IS NOT NULL AND storage_key IS NOT NULL AND stored_at IS NOT NULL))
);
CREATE INDEX files_owner ON files (uploaded_by, status);
CREATE INDEX files_batch ON files (batch_id, id) WHERE batch_id IS NOT NULL;

CREATE TABLE upload_sessions (
  id                   uuid PRIMARY KEY,
  file_id              uuid NOT NULL UNIQUE REFERENCES files (id),
  status               text NOT NULL CHECK (status IN ('INIT', 'IN_PROGRESS', 'COMPLETE', 'FAILED', 'ABORTED')),
  total_size_bytes     bigint NOT NULL CHECK (total_size_bytes > 0),
  chunk_size_bytes     bigint NOT NULL CHECK (chunk_size_bytes > 0),
  total_parts          integer NOT NULL,
  received_parts_count integer NOT NULL DEFAULT 0,
  received_bytes       bigint NOT NULL DEFAULT 0,
  idempotency_key      text,
  request_fingerprint  text,
  expected_sha256      text CHECK (expected_sha256 ~ '^[0-9a-f]{64}$'),
  failure_reason       text,
  expires_at           timestamptz NOT NULL,
  -- held by the one request that is assembling the file (see SessionsRepo.claimFinalize)
  finalize_lease_until timestamptz,
  created_by           uuid NOT NULL REFERENCES users (id),
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz NOT NULL,
  CONSTRAINT upload_sessions_total_parts CHECK (
    total_parts = ceil(total_size_bytes::numeric / chunk_size_bytes)),
  CONSTRAINT upload_sessions_received CHECK (
    received_parts_count BETWEEN 0 AND total_parts AND received_bytes BETWEEN 0 AND total_size_bytes),
  CONSTRAINT upload_sessions_complete CHECK (
    status <> 'COMPLETE' OR (received_parts_count = total_parts AND received_bytes = total_size_bytes)),
  CONSTRAINT upload_sessions_idempotency UNIQUE (created_by, idempotency_key)
);
CREATE INDEX upload_sessions_owner ON upload_sessions (created_by, id DESC);
CREATE INDEX upload_sessions_open_expiry ON upload_sessions (expires_at)
  WHERE status IN ('INIT', 'IN_PROGRESS');

-- A part is RECEIVED once its bytes are complete, durable and hashed. Before that, the one
-- request allowed to write it holds a PENDING claim, renewed while it writes; a claim of a
-- request that died lapses at claim_expires_at and can be taken over.
CREATE TABLE upload_parts (
  id               uuid PRIMARY KEY,
  session_id       uuid NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
  part_number      integer NOT NULL CHECK (part_number >= 1),
  status           text NOT NULL CHECK (status IN ('PENDING', 'RECEIVED', 'FAILED')),
  -- where the bytes are: an object of the storage, and the part's offset in it
  temp_key         text,
  byte_offset      bigint NOT NULL CHECK (byte_offset >= 0),
  size_bytes       bigint CHECK (size_bytes >= 0),
  sha256           text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  claim_token      uuid,
  claim_expires_at timestamptz,
  created_at       timestamptz NOT NULL,
  CONSTRAINT upload_parts_session_part UNIQUE (session_id, part_number),
  CONSTRAINT upload_parts_received CHECK (
    status <> 'RECEIVED' OR (temp_key IS NOT NULL AND size_bytes IS NOT NULL AND sha256 IS NOT NULL
                             AND claim_token IS NULL)),
  CONSTRAINT upload_parts_pending CHECK (
    status <> 'PENDING' OR (claim_token IS NOT NULL AND claim_expires_at IS NOT NULL))
);

CREATE TABLE outbox_events (
  id               uuid PRIMARY KEY,
  event_type       text NOT NULL CHECK (event_type IN ('file.stored', 'batch.completed')),
  event_id         uuid NOT NULL UNIQUE,
  idempotency_key  text NOT NULL,
  payload          jsonb NOT NULL,
  status           text NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')),
  next_attempt_at  timestamptz NOT NULL,
  attempt_count    integer NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  last_error       text,
  lease_expires_at timestamptz,
  leased_by        text,
  file_id          uuid REFERENCES files (id),
  batch_id         uuid REFERENCES batches (id),
  occurred_at      timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  delivered_at     timestamptz,
  CONSTRAINT outbox_events_idempotency UNIQUE (event_type, idempotency_key),
  CONSTRAINT outbox_events_file_event CHECK (event_type <> 'file.stored' OR file_id IS NOT NULL),
  CONSTRAINT outbox_events_batch_event CHECK (event_type <> 'batch.completed' OR batch_id IS NOT NULL),
  CONSTRAINT outbox_events_lease CHECK (status <> 'SENDING' OR lease_expires_at IS NOT NULL),
  CONSTRAINT outbox_events_delivered CHECK (status <> 'DELIVERED' OR delivered_at IS NOT NULL)
);
CREATE INDEX outbox_events_due ON outbox_events (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_events_leased ON outbox_events (lease_expires_at) WHERE status = 'SENDING';
CREATE INDEX outbox_events_status ON outbox_events (status, id);

-- An event about a file may only exist once the file is STORED.
CREATE FUNCTION outbox_requires_stored_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.file_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM files WHERE id = NEW.file_id AND status = 'STORED') THEN
    RAISE EXCEPTION 'outbox event % refers to file % which is not STORED', NEW.event_type, NEW.file_id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER outbox_events_file_stored BEFORE INSERT ON outbox_events
  FOR EACH ROW EXECUTE FUNCTION outbox_requires_stored_file();
