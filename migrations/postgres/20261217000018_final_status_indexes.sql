-- The list filtered by a final status (`completed`, `failed`, `canceled`, `expired`), newest or
-- oldest first (callbacks.rs `list_callbacks`, manager.rs `search`): one small index per status,
-- so a status held by few of a large account's callbacks is read directly. A callback enters
-- one when its call ends and never on the dispatch path (a claim and the bridge's answer leave
-- them alone), which is why the status indexes of migration 16 were dropped and these are not
-- on the other statuses.
CREATE INDEX callbacks_account_completed ON callbacks (account_id, id) WHERE status = 'completed';
CREATE INDEX callbacks_account_failed ON callbacks (account_id, id) WHERE status = 'failed';
CREATE INDEX callbacks_account_canceled ON callbacks (account_id, id) WHERE status = 'canceled';
CREATE INDEX callbacks_account_expired ON callbacks (account_id, id) WHERE status = 'expired';
