-- Routing preview callbacks to agents: offers, the waiting line, reminders, the agents' feed.

-- The agent holding the callback's offer or call, and when an offer runs out.
ALTER TABLE callbacks ADD COLUMN agent_id TEXT;
ALTER TABLE callbacks ADD COLUMN offer_expires_at INTEGER;
-- When `callback.reminder` is due; NULL when there is none or it was sent.
ALTER TABLE callbacks ADD COLUMN reminder_at INTEGER;

-- Bridge work and agent work are claimed by different loops.
DROP INDEX callbacks_due;
CREATE INDEX callbacks_due ON callbacks (due_at)
    WHERE status = 'scheduled' AND dialing_mode <> 'preview';
CREATE INDEX callbacks_preview_due ON callbacks (due_at)
    WHERE status = 'scheduled' AND dialing_mode = 'preview';
CREATE INDEX callbacks_waiting_expiry ON callbacks (expires_at) WHERE status = 'waiting';
CREATE INDEX callbacks_offer_expiry ON callbacks (offer_expires_at) WHERE status = 'offered';
CREATE INDEX callbacks_reminder ON callbacks (reminder_at) WHERE reminder_at IS NOT NULL;
CREATE INDEX callbacks_agent ON callbacks (agent_id, status) WHERE agent_id IS NOT NULL;

-- Longest idle first: when the agent last became free or was last offered work.
ALTER TABLE agents ADD COLUMN idle_since INTEGER NOT NULL DEFAULT 0;
UPDATE agents SET idle_since = presence_changed_at;
-- 1 when Ringback set the presence (busy at capacity, away after an unanswered offer), so it
-- may set it back; 0 when the agent or a supervisor did.
ALTER TABLE agents ADD COLUMN presence_auto INTEGER NOT NULL DEFAULT 0;
CREATE INDEX agents_available ON agents (idle_since) WHERE presence = 'available' AND deleted_at IS NULL;

-- The waiting line: one row per waiting callback and per target that may take it (an agent,
-- a queue, or the account itself for unassigned callbacks), in due order. Rows exist only while
-- the callback is `waiting`.
CREATE TABLE routing_targets (
    target      TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    callback_id TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    PRIMARY KEY (target, due_at, callback_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX routing_targets_callback ON routing_targets (callback_id);

-- An agent who rejected an offer, or let it run out, is not offered the same callback again
-- before `until`.
CREATE TABLE offer_declines (
    callback_id TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    until       INTEGER NOT NULL,
    PRIMARY KEY (callback_id, agent_id)
) STRICT, WITHOUT ROWID;

-- What each agent's desktop is told (offers, reminders, cancellations, reschedules), in order:
-- the Server-Sent Events stream reads it, and resumes from it after `Last-Event-ID`.
CREATE TABLE agent_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    callback_id TEXT,
    occurred_at INTEGER NOT NULL,
    data        TEXT NOT NULL
) STRICT;

CREATE INDEX agent_events_agent ON agent_events (agent_id, seq);
CREATE INDEX agent_events_time ON agent_events (occurred_at);

-- The agent who took a preview call (reports per agent).
ALTER TABLE callback_attempts ADD COLUMN agent_id TEXT;
