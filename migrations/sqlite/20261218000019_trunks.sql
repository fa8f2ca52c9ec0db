-- Trunks: where an account's calls leave Ringback. `kind` is the driver (`http_bridge`, `sip`);
-- `settings` is the kind's settings as JSON without the secret, which `secret` keeps apart
-- (write-only through the API).
CREATE TABLE trunks (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    settings             TEXT NOT NULL,
    secret               TEXT,
    max_concurrent_calls INTEGER,
    calls_per_second     INTEGER,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    deleted_at           INTEGER
) STRICT;

-- The account's list of trunks (trunks.rs).
CREATE INDEX trunks_account ON trunks (account_id, created_at, id) WHERE deleted_at IS NULL;

-- The trunk of calls that name none (null: the server's --dialer-url bridge).
ALTER TABLE account_settings ADD COLUMN default_trunk_id TEXT;

-- A trunk a callback or a campaign names; null: the account's default.
ALTER TABLE callbacks ADD COLUMN trunk_id TEXT;
ALTER TABLE campaigns ADD COLUMN trunk_id TEXT;
-- Whether a trunk is still named by a live callback, before it is deleted (trunks.rs). Only
-- callbacks that name a trunk are in it; the dispatch path never writes the column.
CREATE INDEX callbacks_trunk ON callbacks (trunk_id, status) WHERE trunk_id IS NOT NULL;

-- The trunk a call went out on, and until when it holds a place on it at most (its send time,
-- the ring time and the longest call): a call whose end is never reported frees its place then.
ALTER TABLE calls ADD COLUMN trunk_id TEXT;
ALTER TABLE calls ADD COLUMN holds_until INTEGER;
-- A trunk's calls under way (max_concurrent_calls, guard.rs).
CREATE INDEX calls_trunk_open ON calls (trunk_id, holds_until)
    WHERE trunk_id IS NOT NULL AND ended_at IS NULL;
-- A trunk's calls sent in the last second (calls_per_second, guard.rs).
CREATE INDEX calls_trunk_sent ON calls (trunk_id, claim_at) WHERE trunk_id IS NOT NULL;
