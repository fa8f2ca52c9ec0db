-- The recording retention sweep (`store::sql::recordings::expired_recordings`): an account's
-- recorded calls by the instant they ended (or started, for one that never recorded its end),
-- oldest first. Only recorded calls are in it, and a call leaves it when its recording is
-- deleted.
CREATE INDEX calls_recorded ON calls (account_id, (COALESCE(ended_at, started_at)))
    WHERE recording_ref IS NOT NULL;
