-- Ringback schema for SQLite. Instants are INTEGER milliseconds since the Unix epoch, UTC.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    -- SHA-256 of the secret, hex. The secret itself is never stored.
    hash        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE TABLE callbacks (
    id                      TEXT PRIMARY KEY,
    account_id              TEXT NOT NULL,
    origin                  TEXT NOT NULL,
    status                  TEXT NOT NULL,
    phone                   TEXT NOT NULL,
    contact_name            TEXT,
    scheduled_at            INTEGER NOT NULL,
    timezone                TEXT NOT NULL,
    -- When the scheduler should next act on a 'scheduled' row.
    due_at                  INTEGER NOT NULL,
    expires_at              INTEGER NOT NULL,
    attempt                 INTEGER NOT NULL DEFAULT 0,
    -- 1 while the current attempt has no outcome yet (bridge retries reuse its number).
    attempt_open            INTEGER NOT NULL DEFAULT 0,
    -- 1 from the moment a dispatch is claimed until the bridge's answer is recorded: a claim
    -- that finds it still set is a re-send after a crash.
    send_pending            INTEGER NOT NULL DEFAULT 0,
    lease_owner             TEXT,
    lease_expires_at        INTEGER,
    assign_type             TEXT,
    assignees               TEXT,
    caller_id               TEXT,
    dialing_mode            TEXT NOT NULL,
    notes                   TEXT,
    metadata                TEXT,
    interaction_id          TEXT,
    reminder_minutes_before INTEGER,
    expire_after_minutes    INTEGER NOT NULL,
    max_duration_seconds    INTEGER NOT NULL,
    recording_enabled       INTEGER NOT NULL,
    initial_message         TEXT,
    webhook_url             TEXT,
    outcome                 TEXT,
    version                 INTEGER NOT NULL DEFAULT 1,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL
) STRICT;

CREATE INDEX callbacks_due ON callbacks (due_at) WHERE status = 'scheduled';
CREATE INDEX callbacks_lease ON callbacks (lease_expires_at) WHERE status = 'dispatching';
CREATE INDEX callbacks_account ON callbacks (account_id, id);
CREATE INDEX callbacks_account_phone ON callbacks (account_id, phone, status);

CREATE TABLE callback_attempts (
    callback_id         TEXT NOT NULL,
    number              INTEGER NOT NULL,
    account_id          TEXT NOT NULL,
    started_at          INTEGER NOT NULL,
    bridge_requests     INTEGER NOT NULL DEFAULT 0,
    resends             INTEGER NOT NULL DEFAULT 0,
    last_bridge_status  INTEGER,
    accepted_at         INTEGER,
    outcome             TEXT,
    duration_seconds    INTEGER,
    notes               TEXT,
    ended_at            INTEGER,
    PRIMARY KEY (callback_id, number)
) STRICT, WITHOUT ROWID;

-- Every state change of every resource, in commit order. It is the callback's history and,
-- later, the outbox that webhook delivery reads.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    type          TEXT NOT NULL,
    occurred_at   INTEGER NOT NULL,
    data          TEXT NOT NULL
) STRICT;

CREATE INDEX events_resource ON events (resource_id, seq);

CREATE TABLE idempotency_keys (
    account_id    TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;
