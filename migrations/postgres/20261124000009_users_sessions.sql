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
    created_at     BIGINT NOT NULL
);

CREATE INDEX users_account ON users (account_id, id);

CREATE TABLE sessions (
    -- SHA-256 of the cookie's token, hex. The token itself is never stored.
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    account_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

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
);

-- `assignees` is a JSON array held as TEXT. JSON nulls in it are skipped, as the NOT NULL
-- column made SQLite's INSERT OR IGNORE skip them.
INSERT INTO callback_assignees (account_id, assignee, callback_id)
    SELECT c.account_id, j.value, c.id
    FROM callbacks c, jsonb_array_elements_text(c.assignees::jsonb) AS j (value)
    WHERE c.assignees IS NOT NULL AND j.value IS NOT NULL
    ON CONFLICT DO NOTHING;

CREATE FUNCTION callback_assignees_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_assignees (account_id, assignee, callback_id)
        SELECT NEW.account_id, j.value, NEW.id
        FROM jsonb_array_elements_text(NEW.assignees::jsonb) AS j (value)
        WHERE j.value IS NOT NULL
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER callback_assignees_insert AFTER INSERT ON callbacks
    FOR EACH ROW
    WHEN (NEW.assignees IS NOT NULL)
    EXECUTE FUNCTION callback_assignees_insert();

CREATE FUNCTION callback_assignees_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM callback_assignees
        WHERE account_id = OLD.account_id AND callback_id = OLD.id
        AND assignee IN (SELECT j.value
            FROM jsonb_array_elements_text(COALESCE(OLD.assignees, '[]')::jsonb) AS j (value));
    INSERT INTO callback_assignees (account_id, assignee, callback_id)
        SELECT NEW.account_id, j.value, NEW.id
        FROM jsonb_array_elements_text(COALESCE(NEW.assignees, '[]')::jsonb) AS j (value)
        WHERE j.value IS NOT NULL
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;

CREATE TRIGGER callback_assignees_update AFTER UPDATE OF assignees ON callbacks
    FOR EACH ROW
    WHEN (OLD.assignees IS DISTINCT FROM NEW.assignees)
    EXECUTE FUNCTION callback_assignees_update();

CREATE FUNCTION callback_assignees_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM callback_assignees
        WHERE account_id = OLD.account_id AND callback_id = OLD.id
        AND assignee IN (SELECT j.value
            FROM jsonb_array_elements_text(OLD.assignees::jsonb) AS j (value));
    RETURN NULL;
END;
$$;

CREATE TRIGGER callback_assignees_delete AFTER DELETE ON callbacks
    FOR EACH ROW
    WHEN (OLD.assignees IS NOT NULL)
    EXECUTE FUNCTION callback_assignees_delete();
