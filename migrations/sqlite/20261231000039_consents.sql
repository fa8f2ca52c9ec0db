-- Consent per number and scope (calls, ai_calls, prerecorded, sms): the customer's latest
-- word, granted or revoked, where it was captured and what proves it. Changes are audited.
CREATE TABLE consents (
    account_id  TEXT NOT NULL,
    phone       TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted     INTEGER NOT NULL,
    source      TEXT NOT NULL,
    captured_at INTEGER NOT NULL,
    evidence    TEXT,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, phone, scope)
) STRICT;

-- The scopes (a JSON list) calls need consent for before they are placed; NULL: none.
ALTER TABLE account_settings ADD COLUMN require_consent_for TEXT;
