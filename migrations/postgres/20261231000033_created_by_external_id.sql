-- Who created a callback: the id of the API key (`key_...`), the Callback Manager user
-- (`usr_...`), the JWT subject, `cli` or `ringback` (the server itself). NULL for callbacks
-- created before it was recorded. The Talkdesk-style dialect shows it as `created_by`.
ALTER TABLE callbacks ADD COLUMN created_by TEXT;
