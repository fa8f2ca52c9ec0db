-- Scoped API keys, per-account JWT verification keys, and the audit trail.

-- JSON array of scopes. Keys made before scopes existed keep full rights.
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '["admin"]';
ALTER TABLE api_keys ADD COLUMN prefix TEXT NOT NULL DEFAULT '';

-- The one algorithm an account's JWTs must use (HS256, RS256 or ES256) and its key: the shared
-- secret for HS256, a PEM public key otherwise.
ALTER TABLE accounts ADD COLUMN jwt_algorithm TEXT;
ALTER TABLE accounts ADD COLUMN jwt_key TEXT;

-- Append-only: rows are inserted, never updated or deleted.
CREATE TABLE audit_log (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    TEXT NOT NULL,
    occurred_at   INTEGER NOT NULL,
    actor_type    TEXT NOT NULL,
    actor_id      TEXT NOT NULL,
    action        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT,
    changes       TEXT NOT NULL
) STRICT;

CREATE INDEX audit_log_account ON audit_log (account_id, seq);
CREATE INDEX audit_log_resource ON audit_log (account_id, resource_id, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
