-- The indexes of `callbacks`, each with the statement that needs it. None of the Callback
-- Manager's list indexes holds a column the dispatch path writes (`status`, `attempt`,
-- `lease_*`, `version`, `updated_at`): a claim and a bridge answer change `status`, and every
-- index holding it was rewritten twice per call. The list filters by status by reading the
-- account's rows in the order shown (a status seen on few rows reads more of them).
--
-- callbacks_due (due_at) WHERE scheduled, not preview: the claim's due selection and the next
--     wake-up (claims.rs `claim_due`, `next_wakeup`). Partial: a claim takes a row out of it.
-- callbacks_lease (lease_expires_at) WHERE dispatching: takeover of claims whose lease ran out,
--     lease extension and the next wake-up (claims.rs).
-- callbacks_preview_due, callbacks_waiting_expiry, callbacks_offer_expiry: the routing line
--     (line.rs: preview callbacks falling due, waiting ones expiring, offers running out).
-- callbacks_reminder: reminders due (WHERE reminder_at IS NOT NULL).
-- callbacks_agent (agent_id, status) WHERE agent_id IS NOT NULL: an agent's load and work
--     (facts.rs, agent_work); progressive and AI calls have no agent and are not in it.
-- callbacks_campaign (campaign_id, id): a campaign's contacts and totals (campaigns.rs).
-- callbacks_debt_ref: the dialects' lookup by `metadata.debt_ref` (dialects.rs).
-- callbacks_account (account_id, id): the list, newest or oldest first (callbacks.rs
--     `list_callbacks`, manager.rs `search`).
-- callbacks_account_phone (account_id, phone, id): one number's callbacks: the duplicate check of a
--     create (inserts.rs), the phone filter, attempt caps and quiet periods (facts.rs), a
--     do-not-call entry's cancel (dnc.rs), the list by phone newest first. Was (account_id,
--     phone, status), which the list could not read in order; the status is read
--     from the few rows of one number instead.
-- callbacks_account_scheduled (account_id, scheduled_at, id): the list by call time
--     (manager.rs, the scheduled_from/scheduled_to filters).
-- callbacks_account_origin, callbacks_account_agent: the list's origin and agent filters.
DROP INDEX callbacks_account_status;
DROP INDEX callbacks_account_status_scheduled;
DROP INDEX callbacks_account_phone;
CREATE INDEX callbacks_account_phone ON callbacks (account_id, phone, id);
