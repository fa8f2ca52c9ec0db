-- Caller IDs the account owns. Once an account has registered any, a callback or campaign
-- may only present one of them (caller_id_not_owned otherwise). A number may belong to one
-- pool (a name); a callback or campaign naming the pool (caller_id_pool) gets, when its call
-- is claimed, the pool number with the callee's area code, else in their region or country,
-- else the least used, under each number's daily cap (midnight to midnight UTC).
CREATE TABLE caller_ids (
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    -- E.164.
    number            TEXT NOT NULL,
    pool              TEXT,
    -- An ISO 3166 region set by hand (US-CA, GB); NULL: the number's own.
    region            TEXT,
    -- National digits set by hand (20 for London); NULL: a North American number's own.
    area_code         TEXT,
    max_calls_per_day BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    PRIMARY KEY (account_id, number)
);
-- The claim reads a pool's numbers.
CREATE INDEX caller_ids_pool ON caller_ids (account_id, pool);

-- A callback's or campaign's pool, instead of one caller_id.
ALTER TABLE callbacks ADD COLUMN caller_id_pool TEXT;
ALTER TABLE campaigns ADD COLUMN caller_id_pool TEXT;

-- The number the attempt presented (a pool's pick, or the callback's own caller_id), kept so
-- that a retry or a claim taken over shows the same one. The claim counts a pool number's
-- calls of the day by (account_id, caller_id, started_at).
ALTER TABLE calls ADD COLUMN caller_id TEXT;
CREATE INDEX calls_caller_id ON calls (account_id, caller_id, started_at)
    WHERE caller_id IS NOT NULL;
