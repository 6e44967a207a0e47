-- tus (src/Tus): an upload's bytes arrive as a stream cut anywhere, but a session stores whole
-- parts. The bytes of a part that arrived before the rest of it are kept durably, each run of
-- them a fragment (an object of the storage), until the part is whole and written as a part;
-- they count in the upload's offset meanwhile, on every instance.
CREATE TABLE upload_fragments (
  id          uuid PRIMARY KEY,
  session_id  uuid NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
  part_number integer NOT NULL CHECK (part_number >= 1),
  -- where the fragment starts inside its part, and how long it is
  part_offset bigint NOT NULL CHECK (part_offset >= 0),
  size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
  sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  storage_key text NOT NULL,
  created_at  timestamptz NOT NULL,
  CONSTRAINT upload_fragments_position UNIQUE (session_id, part_number, part_offset)
);

-- One request at a time appends to a tus upload: the writer holds a lease (src/Lease.ts) on its
-- session's row here, on any instance. The size of the last append predicts the next one's
-- when a client sends no Content-Length (tus-js-client on Node streams its chunks).
CREATE TABLE tus_uploads (
  session_id         uuid PRIMARY KEY REFERENCES upload_sessions (id) ON DELETE CASCADE,
  writer             uuid,
  writer_lease_until timestamptz,
  last_append_bytes  bigint CHECK (last_append_bytes >= 0),
  CONSTRAINT tus_uploads_writer CHECK ((writer IS NULL) = (writer_lease_until IS NULL))
);
