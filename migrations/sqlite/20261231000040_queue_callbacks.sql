-- Callback instead of hold: a callback made for a caller waiting in an inbound queue keeps the
-- caller's place. `queued_since` is the instant they joined that queue; its place in the
-- waiting line is counted from it instead of its due time (`store::sql::line`). NULL for
-- every other callback.
ALTER TABLE callbacks ADD COLUMN queued_since INTEGER;

-- The queue's recent handle times (`store::sql::queue_stats::queue_handle_times`): an
-- account's answered calls by the instant they ended, latest first.
CREATE INDEX calls_answered_end ON calls (account_id, ended_at) WHERE outcome = 'answered';
