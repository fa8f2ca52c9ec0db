-- A recorded call's file (`<account>/<callback id>.<attempt>.wav`, relative to the server's
-- --recordings-dir) goes in `calls.recording_ref`, there since the calls table; null: not
-- recorded. Recordings older than an account's `recording_retention_days` are deleted; null:
-- kept.
ALTER TABLE account_settings ADD COLUMN recording_retention_days INTEGER;
