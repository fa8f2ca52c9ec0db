//! Claiming due callbacks for dispatch, and the leases on claims: extended while the work is
//! under way, handed back on shutdown, and the next instant a claim would find work.

use std::{collections::HashMap, time::Duration};

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{
    CALLBACK_COLUMNS, CAMPAIGN_RUNNING, Db, SKIP_LOCKED, SqlStore, begin_claim,
    events::{NewEvent, insert_events},
    guard::{DUE_COLUMNS, DueRow, guard_due},
    ms, opt_ts,
    rows::callback_from_row,
    ts,
};
use crate::domain::{
    Callback,
    callback::{ClaimPlan, plan_claim},
};
use crate::store::{ClaimBatch, Claimed, StoreError};

impl SqlStore {
    pub(super) async fn claim_due(
        &self,
        now: Timestamp,
        due_until: Timestamp,
        limit: u32,
        owner: &str,
        lease: Duration,
    ) -> Result<ClaimBatch, StoreError> {
        let now_ms = ms(now);
        let lease_until = now_ms + lease.as_millis() as i64;
        // Row locks only: the write lock is taken for the rules that count across rows (in
        // `guard_due`) and for the events, so the selection and the updates of claims made by
        // several nodes run side by side.
        let mut tx = begin_claim(&self.writer).await?;

        // Claims whose holder stopped renewing them, then callbacks that fell due.
        let taken_over: Vec<(String, i64, i64)> = sqlx::query_as(&format!(
            "SELECT id, due_at, expires_at FROM callbacks \
             WHERE status = 'dispatching' AND lease_expires_at <= $1 \
             ORDER BY lease_expires_at LIMIT $2{SKIP_LOCKED}"
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let remaining = i64::from(limit) - taken_over.len() as i64;
        let due: Vec<DueRow> = if remaining > 0 {
            sqlx::query_as(&format!(
                "SELECT {DUE_COLUMNS} FROM callbacks \
                 WHERE status = 'scheduled' AND dialing_mode <> 'preview' AND due_at <= $1 \
                 AND {CAMPAIGN_RUNNING} ORDER BY due_at LIMIT $2{SKIP_LOCKED}"
            ))
            .bind(ms(due_until.max(now)))
            .bind(remaining)
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        // Skipped (do-not-call), deferred (attempt cap, calling window) or held back (pacing).
        let due = guard_due(&mut tx, due, now).await?;

        let mut batch = ClaimBatch {
            taken_over: taken_over.len(),
            ..ClaimBatch::default()
        };
        // (id, due_at)
        let mut to_dispatch: Vec<(String, i64)> = taken_over
            .into_iter()
            .map(|(id, due_at, _)| (id, due_at))
            .collect();
        let mut to_expire = Vec::new();
        for DueRow {
            id,
            due_at,
            expires_at,
            ..
        } in due
        {
            match plan_claim(now, ts(expires_at)?) {
                ClaimPlan::Dispatch => to_dispatch.push((id, due_at)),
                ClaimPlan::Expire => to_expire.push(id),
            }
        }

        if !to_expire.is_empty() {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'expired', attempt_open = 0, \
                 lease_owner = NULL, lease_expires_at = NULL, version = version + 1, updated_at = ",
            );
            qb.push_bind(now_ms).push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in &to_expire {
                sep.push_bind(id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            let rows = qb.build().fetch_all(&mut *tx).await?;
            let expired = rows
                .iter()
                .map(callback_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let events: Vec<NewEvent> = expired
                .iter()
                .map(|cb| {
                    NewEvent::about(
                        cb,
                        "callback.expired",
                        now,
                        serde_json::json!({ "reason": "deadline_passed_before_dispatch" }),
                    )
                })
                .collect();
            insert_events(&mut tx, &events).await?;
            batch.expired = expired.into_iter().map(|cb| cb.id).collect();
        }

        if !to_dispatch.is_empty() {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE callbacks SET status = 'dispatching', \
                 attempt = attempt + 1 - attempt_open, attempt_open = 1, \
                 version = version + 1, lease_owner = ",
            );
            qb.push_bind(owner.to_owned())
                .push(", lease_expires_at = ")
                .push_bind(lease_until)
                .push(", updated_at = ")
                .push_bind(now_ms)
                .push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for (id, _) in &to_dispatch {
                sep.push_bind(id.as_str());
            }
            qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
            let rows = qb.build().fetch_all(&mut *tx).await?;
            let mut claimed: HashMap<String, Callback> = HashMap::with_capacity(rows.len());
            for row in &rows {
                let cb = callback_from_row(row)?;
                claimed.insert(cb.id.as_str().to_owned(), cb);
            }

            // The attempt row is committed before the bridge hears of the call, with the
            // request about to go counted. It is a resend when an earlier request's answer was
            // never recorded (a crash, a lease taken over): the bridge may have seen it.
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "INSERT INTO callback_attempts \
                 (callback_id, number, account_id, started_at, bridge_requests) ",
            );
            qb.push_values(&to_dispatch, |mut b, (id, due_at)| {
                let cb = &claimed[id.as_str()];
                // A callback claimed ahead of its time starts at its time.
                b.push_bind(id.as_str())
                    .push_bind(i64::from(cb.attempt))
                    .push_bind(cb.account_id.as_str())
                    .push_bind(now_ms.max(*due_at))
                    .push_bind(1_i64);
            });
            qb.push(
                " ON CONFLICT (callback_id, number) DO UPDATE SET \
                 bridge_requests = callback_attempts.bridge_requests + 1, \
                 resends = callback_attempts.resends + CASE \
                 WHEN callback_attempts.bridge_requests > callback_attempts.answered \
                 THEN 1 ELSE 0 END \
                 RETURNING callback_id, bridge_requests, answered",
            );
            // id -> (the number of this request, whether it is a resend)
            let requests: HashMap<String, (u32, bool)> = qb
                .build_query_as::<(String, i64, i64)>()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(id, requests, answered)| (id, (requests as u32, requests - 1 > answered)))
                .collect();

            let mut events = Vec::with_capacity(to_dispatch.len());
            for (id, due_at) in &to_dispatch {
                let cb = &claimed[id.as_str()];
                let (bridge_request, resend) =
                    requests.get(id.as_str()).copied().unwrap_or((1, false));
                events.push(NewEvent::about(
                    cb,
                    "callback.due",
                    now,
                    serde_json::json!({
                        "attempt": cb.attempt,
                        "bridge_request": bridge_request,
                        "resend": resend,
                        "lateness_ms": (now_ms - due_at).max(0),
                        "claimed_by": owner,
                    }),
                ));
            }
            insert_events(&mut tx, &events).await?;
            for (id, _) in to_dispatch {
                let (bridge_requests, resend) =
                    requests.get(id.as_str()).copied().unwrap_or((1, false));
                if let Some(callback) = claimed.remove(&id) {
                    batch.dispatch.push(Claimed {
                        callback,
                        resend,
                        bridge_requests,
                    });
                }
            }
        }
        tx.commit().await?;
        if !batch.dispatch.is_empty() || !batch.expired.is_empty() {
            self.events.notify();
        }
        Ok(batch)
    }

    pub(super) async fn extend_leases(
        &self,
        owner: &str,
        renew_before: Timestamp,
        until: Timestamp,
    ) -> Result<u64, StoreError> {
        // Row locks only, and rows another transaction holds are skipped (the next round
        // extends them): this runs every third of a lease beside the claims and answers of the
        // same claims, and holding the write lock while waiting for one of their rows stalled
        // every writer of the cluster until that transaction gave up.
        let mut tx = begin_claim(&self.writer).await?;
        let done = sqlx::query(&format!(
            "UPDATE callbacks SET lease_expires_at = $1 WHERE id IN (SELECT id FROM callbacks \
             WHERE status = 'dispatching' AND lease_expires_at < $2 AND lease_owner = $3{SKIP_LOCKED})"
        ))
        .bind(ms(until))
        .bind(ms(renew_before))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn release_claims(
        &self,
        owner: &str,
        now: Timestamp,
    ) -> Result<u64, StoreError> {
        // Row locks only: it writes no event and counts nothing across rows.
        let mut tx = begin_claim(&self.writer).await?;
        let done = sqlx::query(
            "UPDATE callbacks SET status = 'scheduled', lease_owner = NULL, lease_expires_at = NULL, \
             version = version + 1, updated_at = $1 WHERE status = 'dispatching' AND lease_owner = $2",
        )
        .bind(ms(now))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn next_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        let (due, lease): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT (SELECT MIN(due_at) FROM callbacks \
                 WHERE status = 'scheduled' AND dialing_mode <> 'preview' AND {CAMPAIGN_RUNNING}), \
                 (SELECT MIN(lease_expires_at) FROM callbacks WHERE status = 'dispatching')"
        ))
        .fetch_one(&self.reader)
        .await?;
        let next = match (due, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        opt_ts(next)
    }
}
