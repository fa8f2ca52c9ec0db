//! The SQL of the do-not-call list.

use std::collections::HashSet;

use super::{
    Db, DbConn, DbRow,
    subjects::{rows_of_numbers, stored_forms},
};
use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore,
    audit::insert_audit_about,
    callbacks::{Untouched, cancel_untouched},
    ms, ts,
};
use crate::domain::{AccountId, Actor, AuditRecord, PhoneNumber};
use crate::secrets::KeyRing;
use crate::store::{
    StoreError,
    dnc::{DncAdded, DncEntry, DncStore},
};

fn dnc_from_row(r: &DbRow) -> Result<DncEntry, StoreError> {
    Ok(DncEntry {
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        phone: PhoneNumber::from_trusted(r.try_get("phone")?),
        source: r.try_get("source")?,
        reason: r.try_get("reason")?,
        created_at: ts(r.try_get("created_at")?)?,
    })
}

const DNC_COLUMNS: &str = "account_id, phone, source, reason, created_at";

/// The account's entry for the number: under the number, or under its erased key once the
/// number was erased (`subjects::stored_forms`).
pub(super) async fn fetch_dnc(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &AccountId,
    phone: &PhoneNumber,
) -> Result<Option<DncEntry>, StoreError> {
    let keys = stored_forms(
        conn,
        ring,
        "dnc_entries",
        &[(account.as_str(), phone.as_str())],
    )
    .await?;
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
        "SELECT {DNC_COLUMNS} FROM dnc_entries WHERE account_id = "
    ));
    qb.push_bind(account.as_str()).push(" AND phone IN (");
    let mut sep = qb.separated(", ");
    for (_, key) in keys.keys() {
        sep.push_bind(key.as_str());
    }
    qb.push(") ORDER BY phone LIMIT 1");
    let row = qb.build().fetch_optional(&mut *conn).await?;
    row.as_ref().map(dnc_from_row).transpose()
}

/// Which of `numbers` (`(account, phone)`) are on their account's do-not-call list, under
/// the number or its erased key: the one check of the claim's guard, the facts of a create
/// and of a campaign's launch, and `DncStore::is_on_dnc`. Reads nothing when the list is
/// empty.
pub(super) async fn listed(
    conn: &mut DbConn,
    ring: &KeyRing,
    numbers: &[(&str, &str)],
) -> Result<HashSet<(String, String)>, StoreError> {
    Ok(rows_of_numbers(conn, ring, "dnc_entries", "", numbers)
        .await?
        .into_iter()
        .map(|(account, phone, _)| (account, phone))
        .collect())
}

/// The audit record of a change to the list: about the number through its subject hash
/// (`insert_audit_about`), never naming it, so that an erasure leaves it as it is.
fn dnc_audit(action: &'static str, after: serde_json::Value) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "dnc",
        resource_id: None,
        changes: crate::domain::auth::diff(&serde_json::Value::Null, &after),
    }
}

#[async_trait::async_trait]
impl DncStore for SqlStore {
    async fn add_to_dnc(
        &self,
        entries: &[DncEntry],
        actor: &Actor,
    ) -> Result<Vec<DncAdded>, StoreError> {
        let ring = self.ring();
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(entries.len());
        let mut any_canceled = false;
        let mut told: Vec<String> = Vec::new();
        for entry in entries {
            let account = &entry.account_id;
            let existing = fetch_dnc(&mut tx, &ring, account, &entry.phone).await?;
            let created = existing.is_none();
            let stored = match existing {
                Some(e) => e,
                None => {
                    sqlx::query(&format!(
                        "INSERT INTO dnc_entries ({DNC_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                    ))
                    .bind(account.as_str())
                    .bind(entry.phone.as_str())
                    .bind(&entry.source)
                    .bind(&entry.reason)
                    .bind(ms(entry.created_at))
                    .execute(&mut *tx)
                    .await?;
                    let record = dnc_audit(
                        "dnc.add",
                        serde_json::json!({ "source": entry.source, "reason": entry.reason }),
                    );
                    insert_audit_about(
                        &mut tx,
                        &ring,
                        account.as_str(),
                        actor,
                        entry.created_at,
                        &[record],
                        entry.phone.as_str(),
                    )
                    .await?;
                    entry.clone()
                }
            };
            let (canceled, agents) = cancel_untouched(
                &mut tx,
                account,
                Untouched::To(&entry.phone),
                "dnc",
                entry.created_at,
                actor,
            )
            .await?;
            told.extend(agents);
            any_canceled |= !canceled.is_empty();
            out.push(DncAdded {
                entry: stored,
                created,
                canceled,
            });
        }
        tx.commit().await?;
        if any_canceled {
            self.events.notify();
            // Offers may have been withdrawn, and agents told.
            self.routing.notify();
            self.agent_feed.raise(told.iter().map(String::as_str));
        }
        Ok(out)
    }

    async fn list_dnc(
        &self,
        account: &AccountId,
        phone: Option<&PhoneNumber>,
        after: Option<&PhoneNumber>,
        limit: u32,
    ) -> Result<Vec<DncEntry>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "SELECT {DNC_COLUMNS} FROM dnc_entries WHERE account_id = "
        ));
        qb.push_bind(account.as_str().to_owned());
        if let Some(phone) = phone {
            qb.push(" AND phone = ")
                .push_bind(phone.as_str().to_owned());
        }
        if let Some(after) = after {
            qb.push(" AND phone > ")
                .push_bind(after.as_str().to_owned());
        }
        qb.push(" ORDER BY phone LIMIT ")
            .push_bind(i64::from(limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter().map(dnc_from_row).collect()
    }

    async fn get_dnc(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<Option<DncEntry>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_dnc(&mut conn, &self.ring(), account, phone).await
    }

    async fn remove_from_dnc(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let ring = self.ring();
        let mut tx = self.begin_write().await?;
        let keys = stored_forms(
            &mut tx,
            &ring,
            "dnc_entries",
            &[(account.as_str(), phone.as_str())],
        )
        .await?;
        let mut qb: QueryBuilder<Db> =
            QueryBuilder::new("DELETE FROM dnc_entries WHERE account_id = ");
        qb.push_bind(account.as_str()).push(" AND phone IN (");
        let mut sep = qb.separated(", ");
        for (_, key) in keys.keys() {
            sep.push_bind(key.as_str());
        }
        qb.push(")");
        let removed = qb.build().execute(&mut *tx).await?.rows_affected() > 0;
        if removed {
            let record = dnc_audit("dnc.remove", serde_json::json!({}));
            insert_audit_about(
                &mut tx,
                &ring,
                account.as_str(),
                actor,
                now,
                &[record],
                phone.as_str(),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn is_on_dnc(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<bool, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let found = listed(
            &mut conn,
            &self.ring(),
            &[(account.as_str(), phone.as_str())],
        )
        .await?;
        Ok(!found.is_empty())
    }
}
