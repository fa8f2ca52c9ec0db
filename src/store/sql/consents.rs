//! The SQL of customers' consent.

use std::collections::{HashMap, HashSet};

use super::{
    Db, DbConn, DbRow,
    subjects::{rows_of_numbers, stored_forms},
};
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore,
    audit::insert_audit_about,
    callbacks::{Untouched, cancel_untouched},
    corrupt, ms, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord, CallbackId, DialingMode, PhoneNumber,
    consent::{Consent, ConsentScope, ConsentState},
};
use crate::secrets::KeyRing;
use crate::store::{StoreError, consents::ConsentStore};

const CONSENT_COLUMNS: &str =
    "account_id, phone, scope, granted, source, captured_at, evidence, updated_at";

fn consent_from_row(r: &DbRow) -> Result<Consent, StoreError> {
    let scope: String = r.try_get("scope")?;
    Ok(Consent {
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        phone: PhoneNumber::from_trusted(r.try_get("phone")?),
        scope: ConsentScope::parse(&scope).ok_or_else(|| corrupt("scope", &scope))?,
        granted: r.try_get::<i64, _>("granted")? != 0,
        source: r.try_get("source")?,
        captured_at: ts(r.try_get("captured_at")?)?,
        evidence: r.try_get("evidence")?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

/// The modes whose calls need `scope`: revoking it cancels what is pending in them.
fn modes_needing(scope: ConsentScope) -> impl Iterator<Item = DialingMode> {
    [
        DialingMode::Unattended,
        DialingMode::Preview,
        DialingMode::Progressive,
        DialingMode::Ai,
    ]
    .into_iter()
    .filter(move |m| ConsentScope::needed_by(*m).contains(&scope))
}

/// Where each of `numbers` (`(account, phone)`) stands on consent, read under the number and,
/// once it was erased, under its erased key (`subjects::stored_forms`); the later word on a
/// scope wins. Numbers nothing is known of are left out. Reads nothing when no consent was
/// ever recorded.
pub(super) async fn consent_states(
    conn: &mut DbConn,
    ring: &KeyRing,
    numbers: &[(&str, &str)],
) -> Result<HashMap<(String, String), ConsentState>, StoreError> {
    // Each number's scopes, oldest word first, so the later one is set last.
    let mut said: Vec<(String, String, ConsentScope, bool, i64)> = Vec::new();
    for (account, phone, row) in rows_of_numbers(
        conn,
        ring,
        "consents",
        ", scope, granted, updated_at",
        numbers,
    )
    .await?
    {
        let scope: String = row.try_get("scope")?;
        let scope = ConsentScope::parse(&scope).ok_or_else(|| corrupt("scope", &scope))?;
        let granted: i64 = row.try_get("granted")?;
        said.push((
            account,
            phone,
            scope,
            granted != 0,
            row.try_get("updated_at")?,
        ));
    }
    let mut found: HashMap<(String, String), ConsentState> = HashMap::new();
    said.sort_by_key(|(.., at)| *at);
    for (account, phone, scope, granted, _) in said {
        found
            .entry((account, phone))
            .or_default()
            .set(scope, granted);
    }
    Ok(found)
}

/// The account's consents stored under any of `keys` (a number, its erased key), by scope.
pub(super) async fn consents_on(
    conn: &mut DbConn,
    account: &AccountId,
    keys: &[&str],
) -> Result<Vec<Consent>, StoreError> {
    let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
        "SELECT {CONSENT_COLUMNS} FROM consents WHERE account_id = "
    ));
    qb.push_bind(account.as_str().to_owned())
        .push(" AND phone IN (");
    let mut sep = qb.separated(", ");
    for key in keys {
        sep.push_bind(key.to_string());
    }
    qb.push(") ORDER BY scope, updated_at");
    let rows = qb.build().fetch_all(&mut *conn).await?;
    rows.iter().map(consent_from_row).collect()
}

#[async_trait::async_trait]
impl ConsentStore for SqlStore {
    async fn record_consents(
        &self,
        consents: &[Consent],
        actor: &Actor,
    ) -> Result<Vec<CallbackId>, StoreError> {
        let Some(first) = consents.first() else {
            return Ok(Vec::new());
        };
        let mut tx = self.begin_write().await?;
        let mut records = Vec::with_capacity(consents.len());
        let mut revoked: HashSet<DialingMode> = HashSet::new();
        for c in consents {
            sqlx::query(&format!(
                "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (account_id, phone, scope) DO UPDATE SET granted = excluded.granted, \
                 source = excluded.source, captured_at = excluded.captured_at, \
                 evidence = excluded.evidence, updated_at = excluded.updated_at"
            ))
            .bind(c.account_id.as_str())
            .bind(c.phone.as_str())
            .bind(c.scope.as_str())
            .bind(i64::from(c.granted))
            .bind(&c.source)
            .bind(ms(c.captured_at))
            .bind(&c.evidence)
            .bind(ms(c.updated_at))
            .execute(&mut *tx)
            .await?;
            if !c.granted {
                revoked.extend(modes_needing(c.scope));
            }
            records.push(AuditRecord {
                action: if c.granted {
                    "consent.grant"
                } else {
                    "consent.revoke"
                },
                resource_type: "consent",
                // The scope: the number is the entry's subject hash, never its text.
                resource_id: Some(c.scope.as_str().to_owned()),
                changes: crate::domain::auth::diff(
                    &serde_json::Value::Null,
                    &serde_json::json!({
                        "granted": c.granted, "source": c.source,
                        "captured_at": c.captured_at.to_string(), "evidence": c.evidence,
                    }),
                ),
            });
        }
        insert_audit_about(
            &mut tx,
            &self.ring(),
            first.account_id.as_str(),
            actor,
            first.updated_at,
            &records,
            first.phone.as_str(),
        )
        .await?;
        let modes: Vec<DialingMode> = revoked.into_iter().collect();
        let (canceled, told) = cancel_untouched(
            &mut tx,
            &first.account_id,
            Untouched::ToIn(&first.phone, &modes),
            "consent_revoked",
            first.updated_at,
            actor,
        )
        .await?;
        tx.commit().await?;
        if !canceled.is_empty() {
            self.events.notify();
            self.routing.notify();
            self.agent_feed.raise(told.iter().map(String::as_str));
        }
        Ok(canceled)
    }

    async fn consents_of(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> Result<Vec<Consent>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        let forms = stored_forms(
            &mut conn,
            &self.ring(),
            "consents",
            &[(account.as_str(), phone.as_str())],
        )
        .await?;
        let keys: Vec<&str> = forms.keys().map(|(_, key)| key.as_str()).collect();
        consents_on(&mut conn, account, &keys).await
    }
}
