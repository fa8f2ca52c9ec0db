//! The SQL of the caller IDs an account owns, and the claim's pick of a pool number
//! ([`pick_pool_numbers`]): once per attempt, in the transaction that claims the call, kept on
//! the call (`calls.caller_id`) so that a retry or a claim taken over shows the same number.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde_json::json;
use sqlx::{QueryBuilder, Row};

use super::{
    Db, DbConn, DbRow, SqlStore,
    audit::insert_audit,
    audit_without_changes, corrupt,
    events::{NewEvent, insert_events},
    guard::defer,
    lock_writes, ms, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, PhoneNumber,
    caller_id::{CallerId, Candidate, day_start, next_day, pick},
    geo::Region,
};
use crate::store::{StoreError, caller_ids::CallerIdStore};

const COLUMNS: &str =
    "account_id, number, pool, region, area_code, max_calls_per_day, created_at, updated_at";

fn from_row(r: &DbRow) -> Result<CallerId, StoreError> {
    Ok(CallerId {
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        number: PhoneNumber::from_trusted(r.try_get("number")?),
        pool: r.try_get("pool")?,
        region: r
            .try_get::<Option<String>, _>("region")?
            .map(|t| Region::parse(&t, "region").map_err(|_| corrupt("region", &t)))
            .transpose()?,
        area_code: r.try_get("area_code")?,
        max_calls_per_day: r
            .try_get::<Option<i64>, _>("max_calls_per_day")?
            .map(|n| n as u32),
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

fn json(c: &CallerId) -> serde_json::Value {
    json!({
        "pool": c.pool,
        "region": c.region.as_ref().map(Region::as_str),
        "area_code": c.area_code,
        "max_calls_per_day": c.max_calls_per_day,
    })
}

fn audit(action: &'static str, c: &CallerId, before: Option<&CallerId>) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "caller_id",
        resource_id: Some(c.number.to_string()),
        changes: crate::domain::auth::diff(&before.map(json).unwrap_or_default(), &json(c)),
    }
}

async fn fetch(
    conn: &mut DbConn,
    account: &AccountId,
    number: &str,
) -> Result<Option<CallerId>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM caller_ids WHERE account_id = $1 AND number = $2"
    ))
    .bind(account.as_str())
    .bind(number)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The calls each of `numbers` of `account` was shown on since `since`.
async fn used_since(
    conn: &mut DbConn,
    account: &str,
    numbers: &[&str],
    since: Timestamp,
) -> Result<HashMap<String, u32>, StoreError> {
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let mut qb: QueryBuilder<Db> =
        QueryBuilder::new("SELECT caller_id, COUNT(*) FROM calls WHERE account_id = ");
    qb.push_bind(account)
        .push(" AND started_at >= ")
        .push_bind(ms(since))
        .push(" AND caller_id IN (");
    let mut sep = qb.separated(", ");
    for n in numbers {
        sep.push_bind(*n);
    }
    qb.push(") GROUP BY caller_id");
    let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|(n, c)| (n, c as u32)).collect())
}

/// The account's numbers (of `pool`, if given), in registration order.
async fn numbers_of(
    conn: &mut DbConn,
    account: &str,
    pool: Option<&str>,
) -> Result<Vec<CallerId>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM caller_ids WHERE account_id = $1 \
         AND ($2 IS NULL OR pool = $2) ORDER BY created_at, number"
    ))
    .bind(account)
    .bind(pool)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A due call that names a caller ID pool, as the pick needs it.
struct PoolCall {
    id: String,
    account_id: String,
    phone: String,
    region: Option<String>,
    pool: String,
    /// The number the attempt already shows (a retry, a claim taken over).
    kept: Option<String>,
}

/// Picks the pool number of each call of `to_dispatch` (callback id, due time) that names a
/// pool ([`pick`]): the attempt's own number if it has one already, else the best one under
/// its daily cap, counted with this claim's earlier picks. A call whose pool has no number
/// left today is deferred to the next day (`callback.deferred`, rule `caller_id_cap`) and
/// taken out of `to_dispatch`. Answers the picks by callback id.
pub(super) async fn pick_pool_numbers(
    conn: &mut DbConn,
    to_dispatch: &mut Vec<(String, i64)>,
    now: Timestamp,
) -> Result<HashMap<String, String>, StoreError> {
    let mut picks = HashMap::new();
    if to_dispatch.is_empty() {
        return Ok(picks);
    }
    let any: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM caller_ids WHERE pool IS NOT NULL)")
            .fetch_one(&mut *conn)
            .await?;
    if !any {
        return Ok(picks);
    }
    let mut calls: Vec<PoolCall> = Vec::new();
    for chunk in to_dispatch.chunks(400) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT c.id, c.account_id, c.phone, c.region, c.caller_id_pool, k.caller_id \
             FROM callbacks c LEFT JOIN calls k ON k.callback_id = c.id \
             AND k.number = c.attempt AND c.attempt_open = 1 \
             WHERE c.caller_id_pool IS NOT NULL AND c.id IN (",
        );
        let mut sep = qb.separated(", ");
        for (id, _) in chunk {
            sep.push_bind(id.as_str());
        }
        qb.push(")");
        for r in qb.build().fetch_all(&mut *conn).await? {
            calls.push(PoolCall {
                id: r.try_get("id")?,
                account_id: r.try_get("account_id")?,
                phone: r.try_get("phone")?,
                region: r.try_get("region")?,
                pool: r.try_get("caller_id_pool")?,
                kept: r.try_get("caller_id")?,
            });
        }
    }
    if calls.iter().all(|c| c.kept.is_some()) {
        for c in calls {
            picks.insert(c.id, c.kept.unwrap_or_default());
        }
        return Ok(picks);
    }
    // Daily caps count across claims: read and use them under the write lock.
    lock_writes(conn).await?;
    let order: HashMap<&str, usize> = to_dispatch
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    calls.sort_by_key(|c| order.get(c.id.as_str()).copied());
    let since = day_start(now);
    let mut pools: HashMap<(String, String), Vec<Candidate>> = HashMap::new();
    let mut full: Vec<(String, String)> = Vec::new();
    for call in calls {
        if let Some(kept) = call.kept {
            picks.insert(call.id, kept);
            continue;
        }
        let key = (call.account_id.clone(), call.pool.clone());
        if !pools.contains_key(&key) {
            let numbers = numbers_of(conn, &call.account_id, Some(&call.pool)).await?;
            let texts: Vec<&str> = numbers.iter().map(|c| c.number.as_str()).collect();
            let used = used_since(conn, &call.account_id, &texts, since).await?;
            let candidates = numbers
                .iter()
                .map(|c| Candidate {
                    used_today: used.get(c.number.as_str()).copied().unwrap_or(0),
                    caller_id: c.clone(),
                })
                .collect();
            pools.insert(key.clone(), candidates);
        }
        let candidates = pools.get_mut(&key).expect("loaded above");
        let callee = PhoneNumber::from_trusted(call.phone.clone());
        let region = call
            .region
            .as_deref()
            .and_then(|r| Region::parse(r, "region").ok());
        match pick(&callee, region.as_ref(), candidates) {
            Some(i) => {
                candidates[i].used_today += 1;
                picks.insert(call.id, candidates[i].caller_id.number.to_string());
            }
            None => full.push((call.id, call.pool)),
        }
    }
    if !full.is_empty() {
        let until = next_day(now);
        let mut held: HashSet<&str> = HashSet::new();
        let mut events = Vec::new();
        // A call already under way (a claim taken over from before its pool had numbers)
        // cannot wait: it goes out with its trunk's number.
        for (id, pool) in &full {
            if let Some(cb) = defer(conn, id, until, now).await? {
                held.insert(id.as_str());
                let reason = format!(
                    "every number of caller ID pool {pool:?} reached its daily cap; \
                     the caps start again at midnight UTC"
                );
                events.push(NewEvent::about(
                    &cb,
                    "callback.deferred",
                    now,
                    json!({
                        "rule": "caller_id_cap",
                        "reason": reason,
                        "until": until.to_string(),
                        "blocked_by": [{ "rule": "caller_id_cap", "reason": reason,
                                         "until": until.to_string() }],
                    }),
                ));
            }
        }
        insert_events(conn, &events).await?;
        to_dispatch.retain(|(id, _)| !held.contains(id.as_str()));
    }
    Ok(picks)
}

#[async_trait::async_trait]
impl CallerIdStore for SqlStore {
    async fn insert_caller_id(&self, c: &CallerId, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        if fetch(&mut tx, &c.account_id, c.number.as_str())
            .await?
            .is_some()
        {
            return Ok(false);
        }
        sqlx::query(&format!(
            "INSERT INTO caller_ids ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(c.account_id.as_str())
        .bind(c.number.as_str())
        .bind(&c.pool)
        .bind(c.region.as_ref().map(Region::as_str))
        .bind(&c.area_code)
        .bind(c.max_calls_per_day.map(i64::from))
        .bind(ms(c.created_at))
        .bind(ms(c.updated_at))
        .execute(&mut *tx)
        .await?;
        let record = audit("caller_id.create", c, None);
        insert_audit(
            &mut tx,
            c.account_id.as_str(),
            actor,
            c.created_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_caller_ids(
        &self,
        account: &AccountId,
        pool: Option<&str>,
        now: Timestamp,
    ) -> Result<Vec<(CallerId, u32)>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let numbers = numbers_of(&mut conn, account.as_str(), pool).await?;
        let texts: Vec<&str> = numbers.iter().map(|c| c.number.as_str()).collect();
        let used = used_since(&mut conn, account.as_str(), &texts, day_start(now)).await?;
        Ok(numbers
            .into_iter()
            .map(|c| {
                let n = used.get(c.number.as_str()).copied().unwrap_or(0);
                (c, n)
            })
            .collect())
    }

    async fn get_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
    ) -> Result<Option<CallerId>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch(&mut conn, account, number.as_str()).await
    }

    async fn update_caller_id(&self, c: &CallerId, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch(&mut tx, &c.account_id, c.number.as_str()).await? else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE caller_ids SET pool = $1, region = $2, area_code = $3, \
             max_calls_per_day = $4, updated_at = $5 WHERE account_id = $6 AND number = $7",
        )
        .bind(&c.pool)
        .bind(c.region.as_ref().map(Region::as_str))
        .bind(&c.area_code)
        .bind(c.max_calls_per_day.map(i64::from))
        .bind(ms(c.updated_at))
        .bind(c.account_id.as_str())
        .bind(c.number.as_str())
        .execute(&mut *tx)
        .await?;
        let record = audit("caller_id.update", c, Some(&before));
        insert_audit(
            &mut tx,
            c.account_id.as_str(),
            actor,
            c.updated_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM caller_ids WHERE account_id = $1 AND number = $2")
            .bind(account.as_str())
            .bind(number.as_str())
            .execute(&mut *tx)
            .await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            let record = audit_without_changes("caller_id.delete", "caller_id", number.as_str());
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn owns_caller_id(
        &self,
        account: &AccountId,
        number: &PhoneNumber,
    ) -> Result<Option<bool>, StoreError> {
        let (any, owned): (bool, bool) = sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM caller_ids WHERE account_id = $1), \
             EXISTS (SELECT 1 FROM caller_ids WHERE account_id = $1 AND number = $2)",
        )
        .bind(account.as_str())
        .bind(number.as_str())
        .fetch_one(&self.reader)
        .await?;
        Ok(any.then_some(owned))
    }

    async fn pool_size(&self, account: &AccountId, pool: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM caller_ids WHERE account_id = $1 AND pool = $2",
        )
        .bind(account.as_str())
        .bind(pool)
        .fetch_one(&self.reader)
        .await?;
        Ok(n as u64)
    }
}
