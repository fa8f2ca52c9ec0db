-- Who created a callback: the id of the API key (`key_...`), the Callback Manager user
-- (`usr_...`), the JWT subject, `cli` or `ringback` (the server itself). NULL for callbacks
-- created before it was recorded. The Talkdesk-style dialect shows it as `created_by`.
ALTER TABLE callbacks ADD COLUMN created_by TEXT;

-- A contact's id in the system it came from (a CRM's, Kore.ai's `cid-...`), by which other
-- systems name it: unique within the account. Looked up by the Kore.ai-style dialect
-- (`campaignDialingListId`) and by upserts checking that no other contact has it.
ALTER TABLE contacts ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX contacts_external_id ON contacts (account_id, external_id)
    WHERE external_id IS NOT NULL;
