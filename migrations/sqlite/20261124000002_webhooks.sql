-- Webhooks: account signing secrets, endpoints, and deliveries fanned out from the event log.

-- Signs dialer bridge requests and deliveries to per-callback webhook URLs.
ALTER TABLE accounts ADD COLUMN signing_secret TEXT;

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL,
    -- Needed in clear to compute HMACs; never returned by the API after creation.
    secret          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    disabled_reason TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX webhook_endpoints_account ON webhook_endpoints (account_id, id);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT NOT NULL,
    event_seq        INTEGER NOT NULL,
    -- NULL for a callback's own webhook_url.
    endpoint_id      TEXT,
    url              TEXT NOT NULL,
    -- The ordering lane: deliveries with the same target and resource go out in order.
    target           TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    last_attempt_at  INTEGER,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    delivered_at     INTEGER
) STRICT;

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_lane ON webhook_deliveries (target, resource_id, id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_seq);

-- How far each reader of the event log has got.
CREATE TABLE outbox_cursors (
    name TEXT PRIMARY KEY,
    seq  INTEGER NOT NULL
) STRICT;

CREATE INDEX events_account ON events (account_id, seq);
