-- The audit trail as a hash chain per account (domain::audit_chain), the salts that hash a
-- number once it is erased, and the account's audit retention.

-- Who the entry is about: the salted hash of the number (subject_salts), never the number.
ALTER TABLE audit_log ADD COLUMN subject_hash TEXT;
-- SHA-256 of `changes` as written; the chain commits to it, so an erasure may replace the
-- content (`redacted_at`) without breaking the chain.
ALTER TABLE audit_log ADD COLUMN content_digest TEXT;
-- Set once, by the sealer (store::sql::audit_chain): the entry's place in its account's
-- chain, the hash of the entry before it and its own.
ALTER TABLE audit_log ADD COLUMN chain_index BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN entry_hash TEXT;
ALTER TABLE audit_log ADD COLUMN redacted_at BIGINT;

-- The sealer's next batch, in the order entries were written.
CREATE INDEX audit_log_unsealed ON audit_log (seq) WHERE entry_hash IS NULL;
-- One entry per place; `audit verify` and the evidence export walk it.
CREATE UNIQUE INDEX audit_log_chain ON audit_log (account_id, chain_index)
    WHERE chain_index IS NOT NULL;
-- The entries about one number (the evidence export, erasure).
CREATE INDEX audit_log_subject ON audit_log (account_id, subject_hash, seq)
    WHERE subject_hash IS NOT NULL;

-- Sealing updates every entry once. Kept out of line, an entry's content (a callback's diff,
-- an attempt's evidence: one to two kilobytes) is not copied again by that update, only the
-- row's few short columns.
ALTER TABLE audit_log SET (toast_tuple_target = 128);

-- Each account's chain: its last sealed entry (head) and where retention left its start
-- (anchor: the index and hash of the last entry deleted; 0 and the genesis hash before any).
CREATE TABLE audit_chains (
    account_id   TEXT PRIMARY KEY,
    head_index   BIGINT NOT NULL,
    head_hash    TEXT NOT NULL,
    anchor_index BIGINT NOT NULL,
    anchor_hash  TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- The salt of each account's subject hashes, made by the first entry that needs it.
CREATE TABLE subject_salts (
    account_id TEXT PRIMARY KEY,
    salt       TEXT NOT NULL
);

-- Days an audit entry is kept; null: for ever. Never below the server's floor.
ALTER TABLE account_settings ADD COLUMN audit_retention_days INTEGER;

-- Still append-only, with two writes allowed, each once: sealing sets the chain columns and
-- nothing else; redaction (an erasure) replaces the content (and a resource id that is the
-- number) and nothing else: the chain holds their digest.
CREATE FUNCTION audit_log_guard_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq IS NOT DISTINCT FROM OLD.seq AND NEW.account_id IS NOT DISTINCT FROM OLD.account_id
       AND NEW.occurred_at IS NOT DISTINCT FROM OLD.occurred_at
       AND NEW.actor_type IS NOT DISTINCT FROM OLD.actor_type
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.action IS NOT DISTINCT FROM OLD.action
       AND NEW.resource_type IS NOT DISTINCT FROM OLD.resource_type
       AND NEW.subject_hash IS NOT DISTINCT FROM OLD.subject_hash
       AND (
           (OLD.entry_hash IS NULL AND NEW.entry_hash IS NOT NULL
            AND NEW.resource_id IS NOT DISTINCT FROM OLD.resource_id
            AND NEW.changes IS NOT DISTINCT FROM OLD.changes
            AND NEW.redacted_at IS NOT DISTINCT FROM OLD.redacted_at
            AND NEW.content_digest IS NOT NULL
            AND (OLD.content_digest IS NULL
                 OR NEW.content_digest IS NOT DISTINCT FROM OLD.content_digest))
           OR
           (OLD.redacted_at IS NULL AND NEW.redacted_at IS NOT NULL
            AND (NEW.resource_id IS NOT DISTINCT FROM OLD.resource_id OR NEW.resource_id IS NULL)
            AND NEW.content_digest IS NOT NULL
            AND (OLD.content_digest IS NULL
                 OR NEW.content_digest IS NOT DISTINCT FROM OLD.content_digest)
            AND NEW.chain_index IS NOT DISTINCT FROM OLD.chain_index
            AND NEW.prev_hash IS NOT DISTINCT FROM OLD.prev_hash
            AND NEW.entry_hash IS NOT DISTINCT FROM OLD.entry_hash)
       )
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

-- Only entries at or before their chain's anchor may go: retention moves the anchor first.
CREATE FUNCTION audit_log_guard_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.chain_index IS NOT NULL AND OLD.chain_index <= COALESCE(
        (SELECT anchor_index FROM audit_chains WHERE account_id = OLD.account_id), 0)
    THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;

DROP TRIGGER audit_log_no_update ON audit_log;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard_update();

DROP TRIGGER audit_log_no_delete ON audit_log;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard_delete();
