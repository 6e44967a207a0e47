-- The whole-file SHA-256 of an S3 upload, carried on while its parts pass through
-- (src/Storage/S3Digest.ts): the saved state after parts 1..through_part, which any instance
-- continues with part through_part + 1. etag_chain names the parts hashed (a digest of their
-- ETags, in order), so completing uses the state only for the very parts it completes with.
-- A row is deleted when its upload completes or is given up.
CREATE TABLE upload_digests (
  upload_ref    text PRIMARY KEY,
  through_part  integer NOT NULL CHECK (through_part >= 1),
  through_bytes bigint NOT NULL CHECK (through_bytes > 0),
  state         bytea NOT NULL,
  etag_chain    text NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);
