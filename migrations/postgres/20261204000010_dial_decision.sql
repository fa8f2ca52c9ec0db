-- One dial decision (domain::dialing): where a callback's zone came from, and the subdivision a
-- contact record put the callee in; the account's holidays and regional windows.

-- 'request', 'contact' or 'number' (judged in every zone the number may be in).
ALTER TABLE callbacks ADD COLUMN timezone_source TEXT NOT NULL DEFAULT 'request';
-- ISO 3166-2 code such as 'US-FL', from the contact's state.
ALTER TABLE callbacks ADD COLUMN region TEXT;
-- Callbacks stored without a zone were judged in UTC: judge them by their number instead.
UPDATE callbacks SET timezone_source = 'number' WHERE timezone = 'UTC';

-- JSON lists, as PUT /v1/settings takes them.
ALTER TABLE account_settings ADD COLUMN holidays TEXT NOT NULL DEFAULT '[]';
ALTER TABLE account_settings ADD COLUMN regional_windows TEXT NOT NULL DEFAULT '[]';
