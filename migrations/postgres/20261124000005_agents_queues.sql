-- Agents, queues (ring groups) and who belongs to which.

CREATE TABLE agents (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    name                TEXT NOT NULL,
    external_id         TEXT,
    concurrency         BIGINT NOT NULL,
    timezone            TEXT NOT NULL,
    -- {"mon": ["09:00-17:00"], ...} in the agent's zone; NULL: always.
    working_hours       TEXT,
    presence            TEXT NOT NULL,
    presence_changed_at BIGINT NOT NULL,
    deleted_at          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX agents_account ON agents (account_id, id);

CREATE TABLE queues (
    id                    TEXT PRIMARY KEY,
    account_id            TEXT NOT NULL REFERENCES accounts (id),
    name                  TEXT NOT NULL,
    offer_timeout_seconds BIGINT NOT NULL,
    deleted_at            BIGINT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE INDEX queues_account ON queues (account_id, id);

CREATE TABLE queue_members (
    queue_id   TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    account_id TEXT NOT NULL,
    PRIMARY KEY (queue_id, agent_id)
);

CREATE INDEX queue_members_agent ON queue_members (agent_id);
