-- The Callback Manager: users who sign in with a password, their sessions, and the indexes
-- its callback list and reports page through.

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id),
    -- Lowercased; unique across the server so signing in needs no account id.
    email          TEXT NOT NULL UNIQUE,
    role           TEXT NOT NULL CHECK (role IN ('supervisor', 'agent')),
    -- The agent an agent user works as.
    agent_id       TEXT,
    -- argon2id PHC string (salt included). The password itself is never stored.
    password_hash  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX users_account ON users (account_id, id);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's token, hex. The token itself is never stored.
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    account_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX sessions_expiry ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Keyset paging of the callback list, newest first or by scheduled time, with the common
-- filters leading so a page reads only the rows it shows.
CREATE INDEX callbacks_account_scheduled ON callbacks (account_id, scheduled_at, id);
CREATE INDEX callbacks_account_status ON callbacks (account_id, status, id);
CREATE INDEX callbacks_account_status_scheduled ON callbacks (account_id, status, scheduled_at, id);
CREATE INDEX callbacks_account_origin ON callbacks (account_id, origin, id);
CREATE INDEX callbacks_account_agent ON callbacks (account_id, agent_id, id) WHERE agent_id IS NOT NULL;

-- A callback's webhook deliveries, for its detail page.
CREATE INDEX webhook_deliveries_resource ON webhook_deliveries (account_id, resource_id, id);

-- Who each callback is assigned to (agents or queues), one row per assignee, kept by triggers
-- from the `assignees` JSON list, so the list's agent and queue filters read an index instead
-- of every callback's list.
CREATE TABLE callback_assignees (
    account_id   TEXT NOT NULL,
    assignee     TEXT NOT NULL,
    callback_id  TEXT NOT NULL,
    PRIMARY KEY (account_id, assignee, callback_id)
) STRICT, WITHOUT ROWID;

INSERT OR IGNORE INTO callback_assignees (account_id, assignee, callback_id)
    SELECT c.account_id, j.value, c.id FROM callbacks c, json_each(c.assignees) j
    WHERE c.assignees IS NOT NULL;

CREATE TRIGGER callback_assignees_insert AFTER INSERT ON callbacks
    WHEN NEW.assignees IS NOT NULL
BEGIN
    INSERT OR IGNORE INTO callback_assignees (account_id, assignee, callback_id)
        SELECT NEW.account_id, value, NEW.id FROM json_each(NEW.assignees);
END;

CREATE TRIGGER callback_assignees_update AFTER UPDATE OF assignees ON callbacks
    WHEN OLD.assignees IS NOT NEW.assignees
BEGIN
    DELETE FROM callback_assignees
        WHERE account_id = OLD.account_id AND callback_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(COALESCE(OLD.assignees, '[]')));
    INSERT OR IGNORE INTO callback_assignees (account_id, assignee, callback_id)
        SELECT NEW.account_id, value, NEW.id FROM json_each(COALESCE(NEW.assignees, '[]'));
END;

CREATE TRIGGER callback_assignees_delete AFTER DELETE ON callbacks
    WHEN OLD.assignees IS NOT NULL
BEGIN
    DELETE FROM callback_assignees
        WHERE account_id = OLD.account_id AND callback_id = OLD.id
        AND assignee IN (SELECT value FROM json_each(OLD.assignees));
END;
