//! Claiming due callbacks for dispatch, and the leases on claims: extended while the work is
//! under way, handed back on shutdown, and the next instant a claim would find work.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{
    CALLBACK_COLUMNS, CAMPAIGN_RUNNING, Db, DbConn, SKIP_LOCKED, SqlStore, begin_claim,
    caller_ids::pick_pool_numbers,
    dispatches::push_attempt_match,
    events::{NewEvent, insert_events},
    guard::{DUE_COLUMNS, DueRow, guard_due, record_dial_evidence},
    moves, ms, opt_ts,
    rows::callback_from_row,
    trunks::{Route, any_trunk, full_trunks, record_routes, route_calls},
    ts,
};
use crate::domain::{
    Callback,
    callback::{ClaimPlan, Move, plan_claim},
};
use crate::store::{ClaimBatch, Claimed, StoreError};

/// What the scheduler dials when it is due: every mode but those that wait for an agent
/// (preview, progressive), which it dials once an agent is reserved for them (`agent_id`: the
/// router's reservation, or a preview offer accepted on a `sip` trunk). The text of the
/// `callbacks_due` index's condition, which the database matches by its words.
const DIALLABLE: &str = "(dialing_mode NOT IN ('preview', 'progressive') OR agent_id IS NOT NULL)";

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
        let ring = self.ring();
        let mut tx = begin_claim(&self.writer).await?;

        // Claims whose holder stopped renewing them (their calls' leases ran out unanswered),
        // then callbacks that fell due.
        let taken_over: Vec<(String, i64, i64, Option<String>)> = sqlx::query_as(&format!(
            "SELECT callbacks.id, callbacks.due_at, callbacks.expires_at, k.trunk_id \
             FROM calls k JOIN callbacks ON callbacks.id = k.callback_id \
             AND callbacks.attempt = k.number \
             WHERE k.open_claim = 1 AND k.lease_expires_at <= $1 AND callbacks.{held} \
             ORDER BY k.lease_expires_at LIMIT $2{SKIP_LOCKED}",
            held = moves::claimed(),
        ))
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let remaining = i64::from(limit) - taken_over.len() as i64;
        let trunks_exist = remaining > 0 && any_trunk(&mut tx).await?;
        let due: Vec<DueRow> = if remaining > 0 {
            // Calls of full trunks wait without holding back the others.
            let (full, full_defaults) = if trunks_exist {
                full_trunks(&mut tx, now).await?
            } else {
                Default::default()
            };
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT {DUE_COLUMNS} FROM callbacks \
                 WHERE {due} AND {DIALLABLE} AND due_at <= ",
                due = moves::from(Move::Dispatch),
            ));
            qb.push_bind(ms(due_until.max(now)))
                .push(format!(" AND {CAMPAIGN_RUNNING}"));
            if !full.is_empty() {
                qb.push(" AND (trunk_id IS NULL OR trunk_id NOT IN (");
                let mut sep = qb.separated(", ");
                for id in &full {
                    sep.push_bind(id.as_str());
                }
                qb.push("))");
            }
            if !full_defaults.is_empty() {
                qb.push(" AND (trunk_id IS NOT NULL OR account_id NOT IN (");
                let mut sep = qb.separated(", ");
                for account in &full_defaults {
                    sep.push_bind(account.as_str());
                }
                qb.push("))");
            }
            // Highest priority first (pacing still holds each campaign back), then earliest.
            qb.push(" ORDER BY priority DESC, due_at LIMIT ")
                .push_bind(remaining)
                .push(SKIP_LOCKED);
            qb.build_query_as().fetch_all(&mut *tx).await?
        } else {
            Vec::new()
        };
        // Skipped (do-not-call), deferred (attempt cap, calling window) or held back (pacing).
        let due = guard_due(&mut tx, &ring, due, now).await?;
        // On its trunk, or held back while the trunk is full.
        let due = if trunks_exist {
            route_calls(
                &mut tx,
                due,
                |row| (row.account_id.as_str(), row.trunk_id.as_deref()),
                now,
            )
            .await?
        } else {
            due.into_iter().map(|row| (row, None)).collect()
        };

        let mut batch = ClaimBatch {
            taken_over: taken_over.len(),
            ..ClaimBatch::default()
        };
        // The trunk of each call: a taken-over call keeps the one it was claimed on.
        let mut trunks: HashMap<String, Option<String>> = taken_over
            .iter()
            .map(|(id, _, _, trunk)| (id.clone(), trunk.clone()))
            .collect();
        let mut routes: Vec<(String, Route)> = Vec::new();
        // (id, due_at)
        let mut to_dispatch: Vec<(String, i64)> = taken_over
            .into_iter()
            .map(|(id, due_at, _, _)| (id, due_at))
            .collect();
        let taken: HashSet<String> = to_dispatch.iter().map(|(id, _)| id.clone()).collect();
        let mut to_expire = Vec::new();
        // The attempts these claims start, each with the evidence of its dial decision.
        let mut allowed: Vec<DueRow> = Vec::new();
        for (row, route) in due {
            match plan_claim(now, ts(row.expires_at)?) {
                ClaimPlan::Dispatch => {
                    let id = row.id.clone();
                    trunks.insert(id.clone(), route.as_ref().map(|r| r.trunk_id.clone()));
                    if let Some(route) = route {
                        routes.push((id.clone(), route));
                    }
                    to_dispatch.push((id, row.due_at));
                    allowed.push(row);
                }
                ClaimPlan::Expire => to_expire.push(row.id),
            }
        }
        let allowed: Vec<&DueRow> = allowed.iter().collect();
        record_dial_evidence(&mut tx, &ring, &allowed, "dial.allowed", now).await?;

        if !to_expire.is_empty() {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "UPDATE callbacks SET {}, attempt_open = 0, version = version + 1, updated_at = ",
                moves::set(Move::Expire)
            ));
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
                    NewEvent::dispatch(
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

        // The number each call naming a caller ID pool shows (its attempt's, if it has one).
        let picks = pick_pool_numbers(&mut tx, &mut to_dispatch, now).await?;
        if !to_dispatch.is_empty() {
            // The call starts: due ones move to `dispatching` with their attempt, the one
            // change of `callbacks` a claim makes. Taken-over ones are there already; only
            // their call changes hands.
            let mut claimed: HashMap<String, Callback> = HashMap::with_capacity(to_dispatch.len());
            let (fresh, again): (Vec<&str>, Vec<&str>) = to_dispatch
                .iter()
                .map(|(id, _)| id.as_str())
                .partition(|id| !taken.contains(*id));
            if !fresh.is_empty() {
                let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                    "UPDATE callbacks SET {}, attempt = attempt + 1 - attempt_open, \
                     attempt_open = 1, version = version + 1, updated_at = ",
                    moves::set(Move::Dispatch)
                ));
                qb.push_bind(now_ms).push(" WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in &fresh {
                    sep.push_bind(*id);
                }
                qb.push(format!(") RETURNING {CALLBACK_COLUMNS}"));
                for row in qb.build().fetch_all(&mut *tx).await? {
                    let cb = callback_from_row(&row)?;
                    claimed.insert(cb.id.as_str().to_owned(), cb);
                }
            }
            if !again.is_empty() {
                let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                    "SELECT {CALLBACK_COLUMNS} FROM callbacks WHERE id IN ("
                ));
                let mut sep = qb.separated(", ");
                for id in &again {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for row in qb.build().fetch_all(&mut *tx).await? {
                    let cb = callback_from_row(&row)?;
                    claimed.insert(cb.id.as_str().to_owned(), cb);
                }
            }

            for (id, number) in picks {
                if let Some(cb) = claimed.get_mut(&id) {
                    cb.caller_id = Some(crate::domain::PhoneNumber::from_trusted(number));
                }
            }
            let requests =
                claim_attempts(&mut tx, &to_dispatch, &claimed, owner, now_ms, lease_until).await?;
            let routed: Vec<(&str, u32, &Route)> = routes
                .iter()
                .filter_map(|(id, route)| {
                    claimed
                        .get(id.as_str())
                        .map(|cb| (id.as_str(), cb.attempt, route))
                })
                .collect();
            record_routes(&mut tx, &routed).await?;
            let mut events = Vec::with_capacity(to_dispatch.len());
            for (id, due_at) in &to_dispatch {
                let cb = &claimed[id.as_str()];
                let request = requests.get(id.as_str()).copied().unwrap_or_default();
                events.push(NewEvent::dispatch(
                    cb,
                    "callback.due",
                    now,
                    serde_json::json!({
                        "attempt": cb.attempt,
                        "bridge_request": request.number,
                        "resend": request.resend,
                        "lateness_ms": (now_ms - due_at).max(0),
                        "claimed_by": owner,
                    }),
                ));
            }
            insert_events(&mut tx, &events).await?;
            for (id, _) in to_dispatch {
                let request = requests.get(id.as_str()).copied().unwrap_or_default();
                if let Some(callback) = claimed.remove(&id) {
                    let trunk_id = trunks
                        .remove(&id)
                        .flatten()
                        .map(crate::domain::ids::TrunkId::from_trusted);
                    batch.dispatch.push(Claimed {
                        callback,
                        trunk_id,
                        resend: request.resend,
                        bridge_requests: request.number,
                        claim: request.claim,
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

    pub(super) async fn extend_send_horizon(
        &self,
        owner: &str,
        until: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = begin_claim(&self.writer).await?;
        sqlx::query(
            "INSERT INTO send_horizons (owner, sent_until) VALUES ($1, $2) \
             ON CONFLICT (owner) DO UPDATE SET sent_until = excluded.sent_until \
             WHERE send_horizons.sent_until < excluded.sent_until",
        )
        .bind(owner)
        .bind(ms(until))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
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
        // The lease is the call's: `callbacks` is not written.
        let done = sqlx::query(&format!(
            "UPDATE calls SET lease_expires_at = $1 WHERE (callback_id, number) IN \
             (SELECT callback_id, number FROM calls WHERE open_claim = 1 \
             AND lease_expires_at < $2 AND claimed_by = $3{SKIP_LOCKED})"
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
        // Callbacks whose current call this owner claims and the dialer has not answered;
        // the calls keep their open claims (the next claim judges whether they were sent).
        let done = sqlx::query(&format!(
            "UPDATE callbacks SET {}, version = version + 1, updated_at = $1 \
             WHERE id IN (SELECT callback_id FROM calls WHERE open_claim = 1 \
             AND claimed_by = $2) AND {} \
             AND EXISTS (SELECT 1 FROM calls k WHERE k.callback_id = callbacks.id \
             AND k.number = callbacks.attempt AND k.open_claim = 1 AND k.claimed_by = $2)",
            moves::set(Move::Retry),
            moves::from(Move::Retry),
        ))
        .bind(ms(now))
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE calls SET lease_expires_at = NULL WHERE open_claim = 1 AND claimed_by = $1",
        )
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn next_wakeup(&self) -> Result<Option<Timestamp>, StoreError> {
        let (due, lease): (Option<i64>, Option<i64>) = sqlx::query_as(&format!(
            "SELECT (SELECT MIN(due_at) FROM callbacks \
                 WHERE {due} AND {DIALLABLE} AND {CAMPAIGN_RUNNING}), \
                 (SELECT MIN(k.lease_expires_at) FROM calls k JOIN callbacks \
                 ON callbacks.id = k.callback_id AND callbacks.attempt = k.number \
                 WHERE k.open_claim = 1 AND callbacks.{held})",
            due = moves::from(Move::Dispatch),
            held = moves::claimed(),
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

/// What a claim tells the scheduler about the request it is to send.
#[derive(Debug, Clone, Copy)]
struct Request {
    /// The request's number among the attempt's requests.
    number: u32,
    /// An earlier request of the attempt may have reached the bridge unanswered.
    resend: bool,
    /// The claim's number among the attempt's claims.
    claim: u32,
}

impl Default for Request {
    fn default() -> Self {
        Self {
            number: 1,
            resend: false,
            claim: 1,
        }
    }
}

/// Commits the call of each claim, with its owner and lease, before the bridge hears of it.
/// The request is not counted yet: it is counted with its answer, or, if its claim is taken
/// over unanswered, when the owner's send horizon shows it may have gone out (see
/// `send_horizons`).
async fn claim_attempts(
    conn: &mut DbConn,
    to_dispatch: &[(String, i64)],
    claimed: &HashMap<String, Callback>,
    owner: &str,
    now_ms: i64,
    lease_until: i64,
) -> Result<HashMap<String, Request>, StoreError> {
    // A callback claimed ahead of its time sends at its time.
    let send_at = |due_at: i64| now_ms.max(due_at);
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(
        "INSERT INTO calls (callback_id, number, account_id, started_at, \
         bridge_requests, claims, open_claim, claimed_by, claim_at, lease_expires_at, due_at, \
         driver, agent_id, caller_id) ",
    );
    qb.push_values(to_dispatch, |mut b, (id, due_at)| {
        let cb = &claimed[id.as_str()];
        b.push_bind(id.as_str())
            .push_bind(i64::from(cb.attempt))
            .push_bind(cb.account_id.as_str())
            .push_bind(send_at(*due_at))
            .push_bind(0_i64)
            .push_bind(1_i64)
            .push_bind(1_i64)
            .push_bind(owner)
            .push_bind(send_at(*due_at))
            .push_bind(lease_until)
            .push_bind(*due_at)
            .push_bind("http_bridge")
            // A progressive call's reserved agent is the attempt's agent.
            .push_bind(cb.agent_id.as_ref().map(|a| a.as_str()))
            // The number it shows: its own, or its pool's pick.
            .push_bind(cb.caller_id.as_ref().map(|p| p.as_str()));
    });
    qb.push(" ON CONFLICT (callback_id, number) DO NOTHING RETURNING callback_id");
    let fresh: HashSet<String> = qb
        .build_query_scalar::<String>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let mut requests: HashMap<String, Request> = fresh
        .into_iter()
        .map(|id| (id, Request::default()))
        .collect();
    let again: Vec<(&str, u32, i64)> = to_dispatch
        .iter()
        .filter(|(id, _)| !requests.contains_key(id))
        .map(|(id, due_at)| (id.as_str(), claimed[id.as_str()].attempt, send_at(*due_at)))
        .collect();
    if again.is_empty() {
        return Ok(requests);
    }
    let keys: Vec<(&str, u32)> = again.iter().map(|(id, n, _)| (*id, *n)).collect();

    // An attempt claimed again (a lease taken over, a claim handed back, a retry after a
    // refusal). Its open claim, left unanswered, counts as sent if its time was within its
    // owner's committed horizon: that request may have reached the bridge.
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(
        "UPDATE calls SET bridge_requests = bridge_requests + 1, \
         resends = resends + claim_resend, open_claim = 0 \
         WHERE open_claim = 1 AND claim_at <= COALESCE((SELECT h.sent_until \
         FROM send_horizons h WHERE h.owner = calls.claimed_by), -1) AND ",
    );
    push_attempt_match(&mut qb, "callback_id", "number", &keys);
    qb.build().execute(&mut *conn).await?;

    let mut qb: QueryBuilder<Db> =
        QueryBuilder::new("UPDATE calls SET claims = claims + 1, open_claim = 1, claimed_by = ");
    qb.push_bind(owner)
        .push(", lease_expires_at = ")
        .push_bind(lease_until)
        .push(", claim_at = CASE callback_id");
    for (id, _, at) in &again {
        qb.push(" WHEN ")
            .push_bind(*id)
            .push(" THEN ")
            .push_bind(*at);
    }
    qb.push(" END, claim_resend = CASE WHEN bridge_requests > answered THEN 1 ELSE 0 END WHERE ");
    push_attempt_match(&mut qb, "callback_id", "number", &keys);
    qb.push(" RETURNING callback_id, bridge_requests, answered, claims");
    for (id, sent, answered, claims) in qb
        .build_query_as::<(String, i64, i64, i64)>()
        .fetch_all(&mut *conn)
        .await?
    {
        let request = Request {
            number: sent as u32 + 1,
            resend: sent > answered,
            claim: claims as u32,
        };
        requests.insert(id, request);
    }
    Ok(requests)
}
