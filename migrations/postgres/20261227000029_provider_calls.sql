-- Calls placed through a provider's API (twilio_compatible, vapi, retell trunks): the
-- provider's id of the call is calls.provider_call_id (since migration 17), written in the same
-- transaction as the provider's answer, and found again when its status callback or webhook
-- arrives. What the provider reports beyond the outcome (its call status, duration, transcript,
-- summary, recording URL) is kept as JSON in provider_details.
ALTER TABLE calls ADD COLUMN provider_details TEXT;
CREATE INDEX calls_provider ON calls (trunk_id, provider_call_id)
    WHERE provider_call_id IS NOT NULL;

-- A trunk whose provider refused its credentials (401/403) is failing: its calls wait rather
-- than burn attempts until the trunk is changed or a call goes through again.
ALTER TABLE trunks ADD COLUMN failing_since BIGINT;
ALTER TABLE trunks ADD COLUMN failing_reason TEXT;
