//! The SQL of dispositions (wrap-up codes). A deleted one keeps its row, marked `deleted_at`.

use jiff::Timestamp;
use sqlx::Row;

use super::{DbConn, DbRow, SqlStore, audit::insert_audit, audit_without_changes, corrupt, ms, ts};
use crate::domain::{AccountId, Actor, AuditRecord, Outcome, disposition::Disposition};
use crate::store::{StoreError, dispositions::DispositionStore};

const COLUMNS: &str = "account_id, code, label, outcome_class, is_final, created_at, updated_at";

fn from_row(r: &DbRow) -> Result<Disposition, StoreError> {
    let class: String = r.try_get("outcome_class")?;
    Ok(Disposition {
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        code: r.try_get("code")?,
        label: r.try_get("label")?,
        outcome_class: Outcome::parse(&class).ok_or_else(|| corrupt("outcome_class", &class))?,
        is_final: r.try_get::<i64, _>("is_final")? != 0,
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

fn json(d: &Disposition) -> serde_json::Value {
    serde_json::json!({
        "label": d.label,
        "outcome_class": d.outcome_class.as_str(),
        "final": d.is_final,
    })
}

fn audit(action: &'static str, d: &Disposition, before: Option<&Disposition>) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "disposition",
        resource_id: Some(d.code.clone()),
        changes: crate::domain::auth::diff(&before.map(json).unwrap_or_default(), &json(d)),
    }
}

async fn fetch(
    conn: &mut DbConn,
    account: &AccountId,
    code: &str,
) -> Result<Option<Disposition>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM dispositions \
         WHERE account_id = $1 AND code = $2 AND deleted_at IS NULL"
    ))
    .bind(account.as_str())
    .bind(code)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(from_row).transpose()
}

#[async_trait::async_trait]
impl DispositionStore for SqlStore {
    async fn insert_disposition(&self, d: &Disposition, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let existing: Option<Option<i64>> = sqlx::query_scalar(
            "SELECT deleted_at FROM dispositions WHERE account_id = $1 AND code = $2",
        )
        .bind(d.account_id.as_str())
        .bind(&d.code)
        .fetch_optional(&mut *tx)
        .await?;
        match existing {
            Some(None) => return Ok(false),
            Some(Some(_)) => {
                sqlx::query(
                    "UPDATE dispositions SET label = $1, outcome_class = $2, is_final = $3, \
                     deleted_at = NULL, created_at = $4, updated_at = $5 \
                     WHERE account_id = $6 AND code = $7",
                )
                .bind(&d.label)
                .bind(d.outcome_class.as_str())
                .bind(i64::from(d.is_final))
                .bind(ms(d.created_at))
                .bind(ms(d.updated_at))
                .bind(d.account_id.as_str())
                .bind(&d.code)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(&format!(
                    "INSERT INTO dispositions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ))
                .bind(d.account_id.as_str())
                .bind(&d.code)
                .bind(&d.label)
                .bind(d.outcome_class.as_str())
                .bind(i64::from(d.is_final))
                .bind(ms(d.created_at))
                .bind(ms(d.updated_at))
                .execute(&mut *tx)
                .await?;
            }
        }
        let record = audit("disposition.create", d, None);
        insert_audit(
            &mut tx,
            d.account_id.as_str(),
            actor,
            d.created_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn list_dispositions(&self, account: &AccountId) -> Result<Vec<Disposition>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM dispositions WHERE account_id = $1 AND deleted_at IS NULL \
             ORDER BY code"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(from_row).collect()
    }

    async fn get_disposition(
        &self,
        account: &AccountId,
        code: &str,
    ) -> Result<Option<Disposition>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch(&mut conn, account, code).await
    }

    async fn update_disposition(&self, d: &Disposition, actor: &Actor) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch(&mut tx, &d.account_id, &d.code).await? else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE dispositions SET label = $1, outcome_class = $2, is_final = $3, \
             updated_at = $4 WHERE account_id = $5 AND code = $6 AND deleted_at IS NULL",
        )
        .bind(&d.label)
        .bind(d.outcome_class.as_str())
        .bind(i64::from(d.is_final))
        .bind(ms(d.updated_at))
        .bind(d.account_id.as_str())
        .bind(&d.code)
        .execute(&mut *tx)
        .await?;
        let record = audit("disposition.update", d, Some(&before));
        insert_audit(
            &mut tx,
            d.account_id.as_str(),
            actor,
            d.updated_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_disposition(
        &self,
        account: &AccountId,
        code: &str,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE dispositions SET deleted_at = $1, updated_at = $2 \
             WHERE account_id = $3 AND code = $4 AND deleted_at IS NULL",
        )
        .bind(ms(now))
        .bind(ms(now))
        .bind(account.as_str())
        .bind(code)
        .execute(&mut *tx)
        .await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            let record = audit_without_changes("disposition.delete", "disposition", code);
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
