-- Confirmations and reminders to customers (SMS through a twilio_compatible trunk, email
-- through the account's SMTP server), and the key customer links are signed with.

-- The account's notification settings: the columns the create and reschedule paths read in
-- their transaction, the rest (templates, SMTP server, sender) as one JSON object. The SMTP
-- password is kept apart: it is written, never shown.
CREATE TABLE notification_settings (
    account_id              TEXT PRIMARY KEY REFERENCES accounts (id),
    sms_enabled             BIGINT NOT NULL,
    email_enabled           BIGINT NOT NULL,
    -- Minutes before a callback's time its reminder goes; NULL: no reminder.
    reminder_minutes_before BIGINT,
    settings                TEXT NOT NULL,
    smtp_password           TEXT,
    updated_at              BIGINT NOT NULL
);

-- Messages to send: written in the transaction that creates or reschedules their callback,
-- sent by the notification worker when due, deleted once sent or given up on (the callback's
-- history records either). `kind`: confirmation, rescheduled or reminder; `channel`: sms or
-- email. The text is rendered when sent, from the callback as it stands then.
CREATE TABLE notification_outbox (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    callback_id TEXT NOT NULL,
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL,
    last_error  TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    created_at  BIGINT NOT NULL
);

-- The worker's claim: what is due (its lease, if any, run out).
CREATE INDEX notification_outbox_due ON notification_outbox (due_at);
-- A reschedule supersedes, a cancel drops, the rows of one callback.
CREATE INDEX notification_outbox_callback ON notification_outbox (callback_id);
-- The next wake-up: the earliest claim to run out.
CREATE INDEX notification_outbox_lease ON notification_outbox (lease_until);

-- Keys the server signs with and nobody else holds (the customer links' key), made once by
-- the first node that needs them and shared by every node through the database.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
