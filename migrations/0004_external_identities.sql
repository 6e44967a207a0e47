-- A user may come from an external identity provider: the `iss` and `sub` of its JWTs. A
-- subject is unique within its issuer only (OpenID Connect Core 2), so the pair is the key;
-- users of API tokens alone have neither.
ALTER TABLE users ADD COLUMN external_issuer text;
ALTER TABLE users ADD COLUMN external_subject text;
ALTER TABLE users ADD CONSTRAINT users_external_identity UNIQUE (external_issuer, external_subject);
ALTER TABLE users ADD CONSTRAINT users_external_identity_whole CHECK (
  (external_issuer IS NULL) = (external_subject IS NULL)
  AND (external_subject IS NULL OR length(external_subject) BETWEEN 1 AND 1024));
