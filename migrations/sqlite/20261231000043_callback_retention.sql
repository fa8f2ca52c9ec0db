-- How long an account keeps its ended callbacks (final status), with their calls, events,
-- agents' feed entries and messages: `retention_days` after a callback ended, the retention
-- sweep deletes them in small batches (store/sql/recordings.rs `purge_ended_callbacks`). NULL:
-- kept. Recordings of those calls go first (the sweep reads the shorter of this and
-- `recording_retention_days`).
ALTER TABLE account_settings ADD COLUMN retention_days INTEGER;
