-- Campaigns, recall policies, calling windows on automated attempts, and the account's
-- dialling policy.

ALTER TABLE callbacks ADD COLUMN campaign_id TEXT;
ALTER TABLE callbacks ADD COLUMN contact_id TEXT;
-- JSON array of minutes: further attempts after calls that were not answered.
ALTER TABLE callbacks ADD COLUMN recall TEXT;
-- JSON calling window for automated attempts; NULL: none.
ALTER TABLE callbacks ADD COLUMN calling_window TEXT;

CREATE INDEX callbacks_campaign ON callbacks (campaign_id, id) WHERE campaign_id IS NOT NULL;

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    name                 TEXT,
    status               TEXT NOT NULL,
    playbook_id          TEXT NOT NULL,
    launch_at            BIGINT NOT NULL,
    timezone             TEXT NOT NULL,
    calling_window       TEXT NOT NULL,
    recall               TEXT NOT NULL,
    max_concurrent_calls BIGINT NOT NULL,
    calls_per_second     DOUBLE PRECISION NOT NULL,
    caller_id            TEXT,
    contacts_total       BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);

CREATE INDEX campaigns_account ON campaigns (account_id, id);

-- The frequency ledger also counts by debt (a callback's `metadata.debt_ref`). The metadata
-- column holds JSON as TEXT: a query must use this same expression to read the index.
CREATE INDEX callbacks_debt_ref ON callbacks (account_id, (metadata::jsonb ->> 'debt_ref'))
    WHERE metadata IS NOT NULL;

CREATE TABLE account_settings (
    account_id                     TEXT PRIMARY KEY REFERENCES accounts (id),
    calling_window                 TEXT NOT NULL,
    allow_customer_requested_times BIGINT NOT NULL,
    max_attempts                   BIGINT,
    attempt_window_days            BIGINT NOT NULL,
    -- Hours after an answered call during which automated attempts to the number wait.
    quiet_after_answer_hours       BIGINT,
    updated_at                     BIGINT NOT NULL
);
