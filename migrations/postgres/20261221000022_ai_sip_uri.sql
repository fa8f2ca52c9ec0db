-- Where the voice-AI agent of the account's `ai` calls is reached (a sip: or sips: URI);
-- null: none set, and `ai` calls on sip trunks wait for one.
ALTER TABLE account_settings ADD COLUMN ai_sip_uri TEXT;
