-- A recorded call's file, relative to the server's --recordings-dir; null: not recorded.
ALTER TABLE calls ADD COLUMN recording TEXT;
-- Recordings older than this many days are deleted; null: kept.
ALTER TABLE account_settings ADD COLUMN recording_retention_days INTEGER;
