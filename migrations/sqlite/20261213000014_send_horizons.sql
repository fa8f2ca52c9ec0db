-- A bridge request is counted when it was sent, not when it was claimed: a claim lost in a
-- crash before its request went out is neither a request nor a resend.
--
-- Each scheduler commits a send horizon before it sends: it sends no request whose time is
-- after the horizon it has committed. When a claim is taken over, the earlier claim's request
-- may have gone out only if its time is within its owner's horizon; it then counts as sent.
CREATE TABLE send_horizons (
    owner TEXT PRIMARY KEY,
    sent_until INTEGER NOT NULL
);

-- The claim of an attempt still waiting for its answer: the claim's number (an answer names
-- it, so the late answer of a claim taken over is not counted twice), its owner, when its
-- request goes out, and whether it is a resend.
ALTER TABLE callback_attempts ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callback_attempts ADD COLUMN open_claim INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callback_attempts ADD COLUMN claim_resend INTEGER NOT NULL DEFAULT 0;
ALTER TABLE callback_attempts ADD COLUMN claimed_by TEXT;
ALTER TABLE callback_attempts ADD COLUMN claim_at INTEGER;

-- Claims made before this counted their request at once; they stay counted (an unanswered one
-- makes the next request a resend, as before).
UPDATE callback_attempts SET claims = bridge_requests;
