-- Calls placed through a provider's API whose end was never reported (the status callback was
-- lost, or never sent): the sweep of twilio_compatible calls (dialer/twilio.rs) finds those
-- accepted long enough ago to have ended, and asks the provider how they ended. A call leaves
-- the index when its outcome is written.
CREATE INDEX calls_provider_open ON calls (accepted_at)
    WHERE provider_call_id IS NOT NULL AND outcome IS NULL;
