-- Wrap-up codes ("dispositions"): the account's own names for how a call ended, each mapped to
-- one native outcome (its class, which recall policies and report rates read) and either final
-- (the callback ends whatever its recall policy says) or recallable. The code is the key an
-- agent or a driver completes a call with. A deleted disposition keeps its row (deleted_at):
-- calls completed with it keep their code and reports still count them; a new outcome may no
-- longer name it, and creating the code again brings it back.
CREATE TABLE dispositions (
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    code          TEXT NOT NULL,
    label         TEXT NOT NULL,
    outcome_class TEXT NOT NULL,
    is_final      BIGINT NOT NULL,
    deleted_at    BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, code)
);

-- The disposition an attempt was completed with, and the callback's latest one.
ALTER TABLE calls ADD COLUMN disposition TEXT;
ALTER TABLE callbacks ADD COLUMN disposition TEXT;
