-- Bytes reserved by a user's open sessions, so that a quota check reads one row instead of
-- summing every open session the user has. Triggers keep it whatever changes a session: a
-- session adds its total_size_bytes while its status is open (INIT, IN_PROGRESS) and gives
-- them back when it leaves those states or is deleted. Sessions past their expiry that the
-- sweeper has not ended yet are still counted here; the quota check subtracts those (few,
-- found through upload_sessions_owner_open_expiry).
ALTER TABLE users ADD COLUMN reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0);
UPDATE users u SET reserved_bytes = coalesce(
  (SELECT sum(total_size_bytes) FROM upload_sessions s
    WHERE s.created_by = u.id AND s.status IN ('INIT', 'IN_PROGRESS')), 0);

CREATE FUNCTION portal_reserve() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET reserved_bytes = reserved_bytes + NEW.total_size_bytes WHERE id = NEW.created_by;
  RETURN NULL;
END $$;

CREATE FUNCTION portal_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE users SET reserved_bytes = reserved_bytes - OLD.total_size_bytes WHERE id = OLD.created_by;
  RETURN NULL;
END $$;

CREATE TRIGGER upload_sessions_reserve AFTER INSERT ON upload_sessions
  FOR EACH ROW WHEN (NEW.status IN ('INIT', 'IN_PROGRESS')) EXECUTE FUNCTION portal_reserve();

CREATE TRIGGER upload_sessions_release AFTER UPDATE OF status ON upload_sessions
  FOR EACH ROW WHEN (OLD.status IN ('INIT', 'IN_PROGRESS') AND NEW.status NOT IN ('INIT', 'IN_PROGRESS'))
  EXECUTE FUNCTION portal_release();

CREATE TRIGGER upload_sessions_release_deleted AFTER DELETE ON upload_sessions
  FOR EACH ROW WHEN (OLD.status IN ('INIT', 'IN_PROGRESS')) EXECUTE FUNCTION portal_release();
