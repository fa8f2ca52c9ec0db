-- The callback's own webhook URL beside each of its events, so fanning events out does not
-- parse every snapshot, and skips straight to the ones with a URL when no endpoint exists.
ALTER TABLE events ADD COLUMN webhook_url TEXT;
UPDATE events SET webhook_url = data::jsonb #>> '{object,webhook_url}';
CREATE INDEX events_webhook_url ON events (seq) WHERE webhook_url IS NOT NULL;
