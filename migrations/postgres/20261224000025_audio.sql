-- Audio an account uploads (a voicemail message, played after the beep), stored converted to
-- 8 kHz mono 16-bit PCM WAV: `bytes` is the whole file.
CREATE TABLE audio (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    bytes       BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The account's list, oldest first (`store::sql::audio`).
CREATE INDEX audio_account ON audio (account_id, created_at);

-- The message a playbook's calls leave on an answering machine; null: none.
ALTER TABLE playbooks ADD COLUMN voicemail_audio_id TEXT REFERENCES audio (id) ON DELETE SET NULL;
