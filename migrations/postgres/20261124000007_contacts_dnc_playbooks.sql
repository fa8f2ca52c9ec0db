-- Contacts (one per normalised phone in an account), the do-not-call list and playbooks.

CREATE TABLE contacts (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    -- E.164, the contact's key within its account.
    phone         TEXT NOT NULL,
    first_name    TEXT,
    last_name     TEXT,
    email         TEXT,
    company       TEXT,
    job_title     TEXT,
    address       TEXT,
    city          TEXT,
    state         TEXT,
    country       TEXT,
    postal_code   TEXT,
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    utm_term      TEXT,
    utm_content   TEXT,
    -- IANA name; NULL: derived from the phone number or the campaign.
    timezone      TEXT,
    -- JSON object of strings, numbers and booleans.
    custom_fields TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE UNIQUE INDEX contacts_account_phone ON contacts (account_id, phone);
CREATE INDEX contacts_account ON contacts (account_id, id);

CREATE TABLE dnc_entries (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    phone      TEXT NOT NULL,
    -- Where the opt-out came from (an IVR, an agent, a CRM ...) and why; free text.
    source     TEXT,
    reason     TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone)
);

CREATE TABLE playbooks (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    name            TEXT NOT NULL,
    initial_message TEXT NOT NULL,
    -- Kept (campaigns will name them) but no longer shown.
    deleted_at      BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX playbooks_account ON playbooks (account_id, created_at);
