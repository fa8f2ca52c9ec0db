-- Event ids tell an account nothing about other accounts: each account numbers its own events
-- and its agents' feed entries (`account_seq`), from its own counter, taken in the transaction
-- that writes the rows. An event's public id is made from its account and that number
-- (`StoredEvent::id_for`); `seq` stays the internal order of the whole log (the webhook
-- fan-out cursor, deliveries) and is never shown.
--
-- Rows written before keep their number (`account_seq = seq`), so every id a client was given
-- stays valid; it only ever showed the account its own events' numbers. An account's events
-- continue after its own last one (events are never deleted). Feed entries are purged after a
-- week, so a desktop may hold the number of one that is gone: every account's feed continues
-- after the highest number ever given, and an old `Last-Event-ID` misses nothing.

CREATE TABLE account_sequences (
    account_id       TEXT PRIMARY KEY,
    -- The last number given to one of the account's events, and to an entry of its agents'
    -- feeds.
    last_event       BIGINT NOT NULL DEFAULT 0,
    last_agent_event BIGINT NOT NULL DEFAULT 0
);

ALTER TABLE events ADD COLUMN account_seq BIGINT NOT NULL DEFAULT 0;
UPDATE events SET account_seq = seq;
DROP INDEX events_account;
CREATE UNIQUE INDEX events_account_seq ON events (account_id, account_seq);

ALTER TABLE agent_events ADD COLUMN account_seq BIGINT NOT NULL DEFAULT 0;
UPDATE agent_events SET account_seq = seq;
DROP INDEX agent_events_agent;
CREATE INDEX agent_events_agent ON agent_events (agent_id, account_seq);

INSERT INTO account_sequences (account_id, last_event, last_agent_event)
SELECT a.account_id,
       COALESCE((SELECT MAX(e.account_seq) FROM events e WHERE e.account_id = a.account_id), 0),
       GREATEST(
           COALESCE((SELECT MAX(seq) FROM agent_events), 0),
           COALESCE(pg_sequence_last_value(pg_get_serial_sequence('agent_events', 'seq')::regclass), 0))
FROM (SELECT id AS account_id FROM accounts
      UNION SELECT account_id FROM events
      UNION SELECT account_id FROM agent_events) AS a;
