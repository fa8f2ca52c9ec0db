-- Routing like a contact centre: priority with aging, skills with relaxation.

-- 0 to 100 (default 50): among callbacks an agent may take, the highest is offered first; the
-- claim takes due calls highest first.
ALTER TABLE callbacks ADD COLUMN priority INTEGER NOT NULL DEFAULT 50;
-- {"spanish": 3}: skills the agent who takes it must hold, each at least at its level; NULL:
-- none.
ALTER TABLE callbacks ADD COLUMN skills TEXT;
ALTER TABLE campaigns ADD COLUMN priority INTEGER NOT NULL DEFAULT 50;
ALTER TABLE campaigns ADD COLUMN skills TEXT;
-- {"spanish": 3, "billing": 5}: the skills an agent holds, levels 1 to 5; NULL: none.
ALTER TABLE agents ADD COLUMN skills TEXT;
-- Points of priority a callback waiting in the queue gains each minute after its due time.
ALTER TABLE queues ADD COLUMN priority_aging_per_minute REAL NOT NULL DEFAULT 0;
-- After this wait past its due time a callback in the queue goes to any member, skilled or
-- not; NULL: never.
ALTER TABLE queues ADD COLUMN skill_relax_after_seconds INTEGER;

-- The claim's due calls, highest priority first (`store::sql::claims`): the sort reads the
-- index, not the rows.
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (due_at, priority)
    WHERE status = 'scheduled'
    AND (dialing_mode NOT IN ('preview', 'progressive') OR agent_id IS NOT NULL);

-- The waiting line in offer order under each target: by `rank_priority`, then `rank_at`, then
-- due time (`store::sql::line`). In a target that does not age, `rank_priority` is minus the
-- priority and `rank_at` the due time; in a queue that ages, `rank_priority` is 0 and
-- `rank_at` the due time less the priority's worth of waiting, which orders by the priority
-- the callback has at any instant without rewriting the row. `skills` and `relax_at` (when the
-- queue stops requiring them) are the callback's and the target's, copied for the offer query.
CREATE TABLE routing_line (
    target        TEXT NOT NULL,
    rank_priority INTEGER NOT NULL,
    rank_at       INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    callback_id   TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    priority      INTEGER NOT NULL,
    skills        TEXT,
    relax_at      INTEGER,
    PRIMARY KEY (target, rank_priority, rank_at, due_at, callback_id)
) STRICT, WITHOUT ROWID;
INSERT INTO routing_line
    SELECT target, -50, due_at, due_at, callback_id, account_id, 50, NULL, NULL
    FROM routing_targets;
DROP TABLE routing_targets;
ALTER TABLE routing_line RENAME TO routing_targets;
CREATE INDEX routing_targets_callback ON routing_targets (callback_id);
-- The router's next wake-up for a relaxation, and the pass that applies it.
CREATE INDEX routing_targets_relax ON routing_targets (relax_at) WHERE relax_at IS NOT NULL;
