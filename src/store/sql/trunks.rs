//! The SQL of trunks, and the places trunks have free for new calls (`trunk_room`, read by the
//! claim's guard).

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::Row;

use super::{
    ACTIVE, DbConn, DbRow, SqlStore,
    audit::insert_audit,
    audit_without_changes, corrupt, ms,
    secrets::{self, open_with},
    ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, Callback,
    ids::TrunkId,
    trunk::{Trunk, TrunkKind, TrunkLimits, TrunkSettings},
};
use crate::secrets::KeyRing;
use crate::store::{
    StoreError,
    trunks::{TrunkDeletion, TrunkStore},
};

const TRUNK_COLUMNS: &str = "id, account_id, name, kind, settings, secret, \
    max_concurrent_calls, calls_per_second, created_at, updated_at";
/// [`TRUNK_COLUMNS`] as read: with the failing state.
pub(super) const TRUNK_READ: &str = "id, account_id, name, kind, settings, secret, \
    max_concurrent_calls, calls_per_second, created_at, updated_at, failing_since, failing_reason";

/// A trunk from its row, its secret opened with `keys`.
pub(super) fn trunk_from_row(r: &DbRow, keys: &KeyRing) -> Result<Trunk, StoreError> {
    let id: String = r.try_get("id")?;
    let account: String = r.try_get("account_id")?;
    let kind: String = r.try_get("kind")?;
    let kind = TrunkKind::parse(&kind, "kind").map_err(|_| corrupt("trunk kind", &kind))?;
    let stored: String = r.try_get("settings")?;
    let secret = match r.try_get::<Option<String>, _>("secret")? {
        Some(sealed) => Some(open_with(
            keys,
            &secrets::trunk_secret(&account, &id),
            &sealed,
        )?),
        None => None,
    };
    let settings = serde_json::from_str(&stored)
        .ok()
        .and_then(|v| TrunkSettings::from_stored(kind, &v, secret))
        .ok_or_else(|| corrupt("trunk settings", &stored))?;
    let limit = |column: &str| -> Result<Option<u32>, StoreError> {
        Ok(r.try_get::<Option<i64>, _>(column)?.map(|n| n as u32))
    };
    Ok(Trunk {
        id: TrunkId::parse(&id).ok_or_else(|| corrupt("trunk id", &id))?,
        account_id: AccountId::from_trusted(account),
        name: r.try_get("name")?,
        settings,
        limits: TrunkLimits {
            max_concurrent_calls: limit("max_concurrent_calls")?,
            calls_per_second: limit("calls_per_second")?,
        },
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
        failing: match r.try_get::<Option<i64>, _>("failing_since")? {
            Some(since) => Some(crate::domain::trunk::TrunkFailing {
                since: ts(since)?,
                reason: r
                    .try_get::<Option<String>, _>("failing_reason")?
                    .unwrap_or_default(),
            }),
            None => None,
        },
    })
}

/// What the audit log keeps of a trunk: never its secret.
fn trunk_json(t: &Trunk) -> serde_json::Value {
    serde_json::json!({
        "name": t.name,
        "kind": t.settings.kind().as_str(),
        "settings": t.settings.to_json(),
        "max_concurrent_calls": t.limits.max_concurrent_calls,
        "calls_per_second": t.limits.calls_per_second,
    })
}

fn trunk_audit(action: &'static str, t: &Trunk, before: Option<&Trunk>) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "trunk",
        resource_id: Some(t.id.to_string()),
        changes: crate::domain::auth::diff(
            &before.map(trunk_json).unwrap_or_default(),
            &trunk_json(t),
        ),
    }
}

async fn fetch_trunk(
    conn: &mut DbConn,
    keys: &KeyRing,
    account: &AccountId,
    id: &TrunkId,
) -> Result<Option<Trunk>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {TRUNK_READ} FROM trunks \
         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id.as_str())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(|r| trunk_from_row(r, keys)).transpose()
}

/// A trunk by id alone: only for a provider's webhook or status callback, which names the
/// trunk and proves its account with the trunk's secret (`ProviderCallStore::provider_trunk`,
/// for every provider kind).
pub(super) async fn trunk_by_id(
    pool: &super::DbPool,
    keys: &KeyRing,
    id: &TrunkId,
) -> Result<Option<Trunk>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {TRUNK_READ} FROM trunks WHERE id = $1 AND deleted_at IS NULL"
    ))
    .bind(id.as_str())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(|r| trunk_from_row(r, keys)).transpose()
}

impl SqlStore {
    /// The trunk's secret as stored: sealed.
    fn sealed_secret(&self, t: &Trunk) -> Option<String> {
        t.settings.secret().map(|plain| {
            self.seal(
                &secrets::trunk_secret(t.account_id.as_str(), t.id.as_str()),
                &plain,
            )
        })
    }
}

fn stored_settings(t: &Trunk) -> String {
    t.settings.to_stored().to_string()
}

fn limit(n: Option<u32>) -> Option<i64> {
    n.map(i64::from)
}

#[async_trait::async_trait]
impl TrunkStore for SqlStore {
    async fn any_trunk_of_kind(&self, kind: TrunkKind) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM trunks WHERE kind = $1 AND deleted_at IS NULL)",
        )
        .bind(kind.as_str())
        .fetch_one(&self.reader)
        .await?)
    }

    async fn insert_trunk(&self, trunk: &Trunk, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO trunks ({TRUNK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(trunk.id.as_str())
        .bind(trunk.account_id.as_str())
        .bind(&trunk.name)
        .bind(trunk.settings.kind().as_str())
        .bind(stored_settings(trunk))
        .bind(self.sealed_secret(trunk))
        .bind(limit(trunk.limits.max_concurrent_calls))
        .bind(limit(trunk.limits.calls_per_second))
        .bind(ms(trunk.created_at))
        .bind(ms(trunk.updated_at))
        .execute(&mut *tx)
        .await?;
        let record = trunk_audit("trunk.create", trunk, None);
        insert_audit(
            &mut tx,
            trunk.account_id.as_str(),
            actor,
            trunk.created_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_trunks(&self, account: &AccountId) -> Result<Vec<Trunk>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TRUNK_READ} FROM trunks WHERE account_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        let keys = self.ring();
        rows.iter().map(|r| trunk_from_row(r, &keys)).collect()
    }

    async fn get_trunk(
        &self,
        account: &AccountId,
        id: &TrunkId,
    ) -> Result<Option<Trunk>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_trunk(&mut conn, &self.ring(), account, id).await
    }

    async fn update_trunk(&self, trunk: &Trunk, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_trunk(&mut tx, &self.ring(), &trunk.account_id, &trunk.id).await?
        else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE trunks SET name = $1, settings = $2, secret = $3, max_concurrent_calls = $4, \
             calls_per_second = $5, updated_at = $6, failing_since = NULL, failing_reason = NULL \
             WHERE id = $7 AND account_id = $8 AND deleted_at IS NULL",
        )
        .bind(&trunk.name)
        .bind(stored_settings(trunk))
        .bind(self.sealed_secret(trunk))
        .bind(limit(trunk.limits.max_concurrent_calls))
        .bind(limit(trunk.limits.calls_per_second))
        .bind(ms(trunk.updated_at))
        .bind(trunk.id.as_str())
        .bind(trunk.account_id.as_str())
        .execute(&mut *tx)
        .await?;
        let record = trunk_audit("trunk.update", trunk, Some(&before));
        insert_audit(
            &mut tx,
            trunk.account_id.as_str(),
            actor,
            trunk.updated_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_trunk(
        &self,
        account: &AccountId,
        id: &TrunkId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<TrunkDeletion, StoreError> {
        let mut tx = self.begin_write().await?;
        if fetch_trunk(&mut tx, &self.ring(), account, id)
            .await?
            .is_none()
        {
            return Ok(TrunkDeletion::NotFound);
        }
        let (is_default, callbacks, campaigns): (bool, bool, bool) = sqlx::query_as(&format!(
            "SELECT \
             EXISTS (SELECT 1 FROM account_settings WHERE account_id = $1 AND default_trunk_id = $2), \
             EXISTS (SELECT 1 FROM callbacks WHERE account_id = $1 AND trunk_id = $2 \
                     AND status IN {ACTIVE}), \
             EXISTS (SELECT 1 FROM campaigns WHERE account_id = $1 AND trunk_id = $2 \
                     AND status IN ('running', 'paused'))"
        ))
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let in_use = if is_default {
            Some("it is the account's default trunk (settings.default_trunk_id)")
        } else if callbacks {
            Some("callbacks that have not ended name it")
        } else if campaigns {
            Some("a running or paused campaign names it")
        } else {
            None
        };
        if let Some(what) = in_use {
            return Ok(TrunkDeletion::InUse { what });
        }
        sqlx::query(
            "UPDATE trunks SET deleted_at = $1, updated_at = $1, secret = NULL \
             WHERE id = $2 AND account_id = $3 AND deleted_at IS NULL",
        )
        .bind(ms(now))
        .bind(id.as_str())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let record = audit_without_changes("trunk.delete", "trunk", id.as_str());
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        tx.commit().await?;
        Ok(TrunkDeletion::Deleted)
    }
}

/// Places free on the limited trunks of `accounts` for calls sent at `now` (and claimed ahead
/// of it): the lower of `max_concurrent_calls` less the calls under way (claimed or accepted,
/// not ended, within their hold) and `calls_per_second` less the calls sent in the last second
/// or claimed to be sent later. A trunk without limits is not in the answer (room without end).
pub(super) async fn trunk_room(
    conn: &mut DbConn,
    trunks: &[&str],
    now: Timestamp,
) -> Result<HashMap<String, i64>, StoreError> {
    let mut room = HashMap::new();
    if trunks.is_empty() {
        return Ok(room);
    }
    let now_ms = ms(now);
    let mut qb: sqlx::QueryBuilder<super::Db> = sqlx::QueryBuilder::new(
        "SELECT t.id, t.max_concurrent_calls, t.calls_per_second, \
         CASE WHEN t.max_concurrent_calls IS NULL THEN 0 ELSE \
           (SELECT COUNT(*) FROM calls k WHERE k.trunk_id = t.id AND k.ended_at IS NULL \
            AND k.holds_until > ",
    );
    qb.push_bind(now_ms).push(
        " AND (k.open_claim = 1 OR k.accepted_at IS NOT NULL)) END, \
         CASE WHEN t.calls_per_second IS NULL THEN 0 ELSE \
           (SELECT COUNT(*) FROM calls k WHERE k.trunk_id = t.id AND k.claim_at > ",
    );
    qb.push_bind(now_ms - 1000).push(
        ") END FROM trunks t WHERE (t.max_concurrent_calls IS NOT NULL \
         OR t.calls_per_second IS NOT NULL) AND t.id IN (",
    );
    let mut sep = qb.separated(", ");
    for id in trunks {
        sep.push_bind(*id);
    }
    qb.push(")");
    // (trunk, max_concurrent_calls, calls_per_second, calls under way, sent in the last second)
    type Row = (String, Option<i64>, Option<i64>, i64, i64);
    let rows: Vec<Row> = qb.build_query_as().fetch_all(&mut *conn).await?;
    for (id, max_concurrent, per_second, open, sent) in rows {
        let free = [
            max_concurrent.map(|m| m - open),
            per_second.map(|p| p - sent),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(i64::MAX);
        room.insert(id, free.max(0));
    }
    Ok(room)
}

/// Where a claimed call goes out: its trunk and that trunk's kind (the driver).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Route {
    pub(super) trunk_id: String,
    pub(super) kind: String,
}

/// Whether `cb`'s calls go out on a `sip` trunk: its own (or its campaign's) `trunk_id`, else
/// the account's default trunk.
pub(super) async fn goes_out_on_sip(
    conn: &mut DbConn,
    account: &AccountId,
    cb: &Callback,
) -> Result<bool, StoreError> {
    let kind: Option<String> = sqlx::query_scalar(
        "SELECT t.kind FROM trunks t WHERE t.account_id = $1 AND t.deleted_at IS NULL \
         AND t.id = COALESCE((SELECT trunk_id FROM callbacks WHERE id = $2 AND account_id = $1), \
         (SELECT default_trunk_id FROM account_settings WHERE account_id = $1))",
    )
    .bind(account.as_str())
    .bind(cb.id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(kind.as_deref() == Some(TrunkKind::Sip.as_str()))
}

/// Whether any account has a trunk: without one every call takes the server's bridge and the
/// claim reads nothing more about trunks.
pub(super) async fn any_trunk(conn: &mut DbConn) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM trunks WHERE deleted_at IS NULL)")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The limited trunks with no room now, and the accounts whose default trunk is one of them:
/// the claim leaves their calls out of its selection, so a full trunk does not hold back the
/// calls of other trunks behind it.
pub(super) async fn full_trunks(
    conn: &mut DbConn,
    now: Timestamp,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let limited: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM trunks WHERE deleted_at IS NULL \
         AND (max_concurrent_calls IS NOT NULL OR calls_per_second IS NOT NULL)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<&str> = limited.iter().map(String::as_str).collect();
    let full: Vec<String> = trunk_room(conn, &ids, now)
        .await?
        .into_iter()
        .filter(|(_, room)| *room <= 0)
        .map(|(id, _)| id)
        .collect();
    if full.is_empty() {
        return Ok((full, Vec::new()));
    }
    let mut qb: sqlx::QueryBuilder<super::Db> = sqlx::QueryBuilder::new(
        "SELECT account_id FROM account_settings WHERE default_trunk_id IN (",
    );
    let mut sep = qb.separated(", ");
    for id in &full {
        sep.push_bind(id.as_str());
    }
    qb.push(")");
    let accounts = qb.build_query_scalar().fetch_all(&mut *conn).await?;
    Ok((full, accounts))
}

/// Puts each call that may be dialled on its trunk (the one its callback names, else its
/// account's default), in order, while the trunk has room; calls over a trunk's limits are
/// left out (they stay due and wait for a later claim). A call with no trunk, or whose trunk
/// is gone, takes the server's bridge (`None`). Counting a trunk's calls is done under the
/// write lock, like the other rules that count across rows. The caller has seen that some
/// trunk exists ([`any_trunk`]).
pub(super) async fn route_calls<T>(
    conn: &mut DbConn,
    calls: Vec<T>,
    key: impl Fn(&T) -> (&str, Option<&str>),
    now: Timestamp,
) -> Result<Vec<(T, Option<Route>)>, StoreError> {
    if calls.is_empty() {
        return Ok(calls.into_iter().map(|c| (c, None)).collect());
    }
    let accounts: Vec<&str> = calls
        .iter()
        .map(&key)
        .filter(|(_, trunk)| trunk.is_none())
        .map(|(account, _)| account)
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    let mut defaults: HashMap<String, String> = HashMap::new();
    if !accounts.is_empty() {
        let mut qb: sqlx::QueryBuilder<super::Db> = sqlx::QueryBuilder::new(
            "SELECT account_id, default_trunk_id FROM account_settings \
             WHERE default_trunk_id IS NOT NULL AND account_id IN (",
        );
        let mut sep = qb.separated(", ");
        for account in &accounts {
            sep.push_bind(*account);
        }
        qb.push(")");
        defaults.extend(
            qb.build_query_as::<(String, String)>()
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    let chosen: Vec<Option<String>> = calls
        .iter()
        .map(|c| {
            let (account, trunk) = key(c);
            trunk
                .map(str::to_owned)
                .or_else(|| defaults.get(account).cloned())
        })
        .collect();
    let ids: Vec<&str> = chosen
        .iter()
        .flatten()
        .map(String::as_str)
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(calls.into_iter().map(|c| (c, None)).collect());
    }
    let mut qb: sqlx::QueryBuilder<super::Db> = sqlx::QueryBuilder::new(
        "SELECT id, kind, (max_concurrent_calls IS NOT NULL OR calls_per_second IS NOT NULL) \
         FROM trunks WHERE deleted_at IS NULL AND id IN (",
    );
    let mut sep = qb.separated(", ");
    for id in &ids {
        sep.push_bind(*id);
    }
    qb.push(")");
    let trunks: HashMap<String, (String, bool)> = qb
        .build_query_as::<(String, String, bool)>()
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|(id, kind, limited)| (id, (kind, limited)))
        .collect();
    let limited: Vec<&str> = trunks
        .iter()
        .filter(|(_, (_, limited))| *limited)
        .map(|(id, _)| id.as_str())
        .collect();
    let mut room = if limited.is_empty() {
        HashMap::new()
    } else {
        super::lock_writes(conn).await?;
        trunk_room(conn, &limited, now).await?
    };
    let mut routed = Vec::with_capacity(calls.len());
    for (call, trunk) in calls.into_iter().zip(chosen) {
        let Some((id, (kind, _))) = trunk.and_then(|id| trunks.get_key_value(&id)) else {
            routed.push((call, None));
            continue;
        };
        if let Some(left) = room.get_mut(id) {
            if *left <= 0 {
                continue;
            }
            *left -= 1;
        }
        let route = Route {
            trunk_id: id.clone(),
            kind: kind.clone(),
        };
        routed.push((call, Some(route)));
    }
    Ok(routed)
}

/// Writes on the calls just claimed the trunk each goes out on, its driver, and how long it
/// holds a place on the trunk at most: its send time, a minute of ringing and the callback's
/// longest call.
pub(super) async fn record_routes(
    conn: &mut DbConn,
    routes: &[(&str, u32, &Route)],
) -> Result<(), StoreError> {
    let mut by_trunk: HashMap<&Route, Vec<(&str, u32)>> = HashMap::new();
    for (id, attempt, route) in routes {
        by_trunk.entry(*route).or_default().push((*id, *attempt));
    }
    for (route, keys) in by_trunk {
        for chunk in keys.chunks(400) {
            let mut qb: sqlx::QueryBuilder<super::Db> =
                sqlx::QueryBuilder::new("UPDATE calls SET trunk_id = ");
            qb.push_bind(route.trunk_id.as_str())
                .push(", driver = ")
                .push_bind(route.kind.as_str())
                .push(
                    ", holds_until = claim_at + 60000 + 1000 * (SELECT c.max_duration_seconds \
                     FROM callbacks c WHERE c.id = calls.callback_id) WHERE ",
                );
            super::dispatches::push_attempt_match(&mut qb, "callback_id", "number", chunk);
            qb.build().execute(&mut *conn).await?;
        }
    }
    Ok(())
}
