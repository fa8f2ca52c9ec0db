-- Consent per number and scope (calls, ai_calls, prerecorded, sms): the customer's latest
-- word, granted or revoked, where it was captured and what proves it. Changes are audited.
CREATE TABLE consents (
    account_id  TEXT NOT NULL,
    phone       TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted     BIGINT NOT NULL,
    source      TEXT NOT NULL,
    captured_at BIGINT NOT NULL,
    evidence    TEXT,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, phone, scope)
);

-- The scopes (a JSON list) calls need consent for before they are placed; NULL: none.
ALTER TABLE account_settings ADD COLUMN require_consent_for TEXT;
