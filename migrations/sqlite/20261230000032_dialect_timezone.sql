-- The zone compatible dialects read local times without an offset in (the Acefone-style
-- dialer's `schedule_date_time`): an IANA name, or NULL for UTC.
ALTER TABLE account_settings ADD COLUMN dialect_timezone TEXT;
