-- How many erasures the account has run: a CSV export notes it when it starts and stops
-- rather than send rows read before an erasure that committed while it ran.
ALTER TABLE accounts ADD COLUMN erasures BIGINT NOT NULL DEFAULT 0;
