-- Personal callbacks that fall back to the team: a callback assigned to an agent that agent has
-- not taken `fallback_after_minutes` after it fell due moves to `fallback_queue_id` (else the
-- agent's first queue). NULL minutes: it stays with the agent. The account's values are the
-- defaults of callbacks assigned to an agent that say nothing of it.
ALTER TABLE callbacks ADD COLUMN fallback_after_minutes BIGINT;
ALTER TABLE callbacks ADD COLUMN fallback_queue_id TEXT;
ALTER TABLE account_settings ADD COLUMN fallback_after_minutes INTEGER;
ALTER TABLE account_settings ADD COLUMN fallback_queue_id TEXT;
CREATE INDEX callbacks_fallback ON callbacks (due_at)
    WHERE status = 'waiting' AND fallback_after_minutes IS NOT NULL;
