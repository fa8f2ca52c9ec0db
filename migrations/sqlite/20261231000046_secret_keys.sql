-- Secrets at rest: the key the database's secrets are encrypted with (see src/secrets). One row:
-- the key's id and a check value sealed with it, so that a server started with another key
-- file refuses to start instead of failing later. A rotation replaces the row in the
-- transaction that re-encrypts every secret. Secrets kept in clear before this change are
-- encrypted by the first start after it (store::secrets, not by this migration: it needs the
-- key).
CREATE TABLE secret_keys (
    key_id      TEXT PRIMARY KEY,
    check_value TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
