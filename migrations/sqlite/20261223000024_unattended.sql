-- `progressive` now means dialling only when an agent is free (and reserving them); what was
-- called `progressive` before (dial at the time, no agent) is `unattended`. Stored callbacks
-- and campaigns keep the behaviour they were created with.
UPDATE callbacks SET dialing_mode = 'unattended' WHERE dialing_mode = 'progressive';

-- The router's line now takes progressive callbacks with no agent reserved as well as preview
-- ones: its index says so in the words of its query (`store::sql::routing`).
DROP INDEX callbacks_preview_due;
CREATE INDEX callbacks_line_due ON callbacks (due_at)
    WHERE status = 'scheduled' AND dialing_mode IN ('preview', 'progressive') AND agent_id IS NULL;

-- The scheduler's due calls: every mode but those waiting for an agent, and those once an
-- agent is reserved for them (`store::sql::claims::DIALLABLE`, the same words).
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (due_at)
    WHERE status = 'scheduled'
    AND (dialing_mode NOT IN ('preview', 'progressive') OR agent_id IS NOT NULL);
