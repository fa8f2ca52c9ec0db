-- Each attempt to place a call is one row of `calls` (was `callback_attempts`): the claim that
-- places it (its owner, lease and requests), the dialer's answer, the outcome, and what a
-- telephony driver learns of the call (its id at the provider, the state of its leg, who
-- answered, the SIP response, the recording). `callbacks` changes when a call starts (the
-- claim) and when it ends (the outcome); renewing a lease or the bridge accepting the call
-- changes only the call. A callback stored `dispatching` whose current call the bridge
-- accepted reads as `in_progress`.
ALTER TABLE callback_attempts RENAME TO calls;
ALTER TABLE calls ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE calls ADD COLUMN due_at INTEGER;
ALTER TABLE calls ADD COLUMN answered_at INTEGER;
ALTER TABLE calls ADD COLUMN driver TEXT;
ALTER TABLE calls ADD COLUMN provider_call_id TEXT;
ALTER TABLE calls ADD COLUMN leg_state TEXT;
ALTER TABLE calls ADD COLUMN answered_by TEXT;
ALTER TABLE calls ADD COLUMN sip_code INTEGER;
ALTER TABLE calls ADD COLUMN sip_reason TEXT;
ALTER TABLE calls ADD COLUMN recording_ref TEXT;

-- Claims open when this runs keep their lease, now on the call.
UPDATE calls SET lease_expires_at = (
    SELECT c.lease_expires_at FROM callbacks c
    WHERE c.id = calls.callback_id AND c.attempt = calls.number AND c.status = 'dispatching'
) WHERE open_claim = 1;

-- Takeover of claims whose lease ran out, lease renewal and the next wake-up (claims.rs).
CREATE INDEX calls_lease ON calls (lease_expires_at) WHERE open_claim = 1;

DROP INDEX callbacks_lease;
ALTER TABLE callbacks DROP COLUMN lease_owner;
ALTER TABLE callbacks DROP COLUMN lease_expires_at;
