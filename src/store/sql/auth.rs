//! The SQL of accounts, API keys, JWT settings and the audit trail.

use super::{Db, DbConn, DbRow};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{QueryBuilder, Row};

use super::{
    SqlStore, announce_credentials, audit::insert_audit, corrupt, ms, opt_ts, secrets, ts,
};
use crate::domain::{
    Account, AccountId, Actor, ApiKey, AuditRecord, JwtAlgorithm, JwtKey, Scope,
    auth::{AuditActor, AuditEntry},
    ids::ApiKeyId,
};
use crate::store::{
    StoreError,
    auth::{AuditFilter, AuthStore},
};

pub(super) const KEY_COLUMNS: &str =
    "id, account_id, name, hash, prefix, scopes, created_at, revoked_at";

pub(super) fn key_from_row(r: &DbRow) -> Result<ApiKey, StoreError> {
    let scopes: String = r.try_get("scopes")?;
    let names: Vec<String> =
        serde_json::from_str(&scopes).map_err(|_| corrupt("scopes", &scopes))?;
    Ok(ApiKey {
        id: ApiKeyId::from_trusted(r.try_get("id")?),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        hash: r.try_get("hash")?,
        prefix: r.try_get("prefix")?,
        scopes: names.iter().filter_map(|n| Scope::parse(n)).collect(),
        created_at: ts(r.try_get("created_at")?)?,
        revoked_at: opt_ts(r.try_get("revoked_at")?)?,
    })
}

fn scopes_json(scopes: &[Scope]) -> String {
    serde_json::to_string(&scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".to_owned())
}

pub(super) async fn insert_key_row(conn: &mut DbConn, key: &ApiKey) -> Result<(), StoreError> {
    sqlx::query(&format!(
        "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    ))
    .bind(key.id.as_str())
    .bind(key.account_id.as_str())
    .bind(&key.name)
    .bind(&key.hash)
    .bind(&key.prefix)
    .bind(scopes_json(&key.scopes))
    .bind(ms(key.created_at))
    .bind(key.revoked_at.map(ms))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn key_audit(action: &'static str, key: &ApiKey) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "api_key",
        resource_id: Some(key.id.as_str().to_owned()),
        changes: serde_json::json!({
            "name": key.name,
            "prefix": key.prefix,
            "scopes": key.scopes,
            "revoked_at": key.revoked_at.map(|t| t.to_string()),
        }),
    }
}

/// Marks an account's credentials as changed, inside the transaction that changes them: bumps
/// the counter a SQLite server watches for the changes of other processes and, on PostgreSQL,
/// notifies every node when the transaction commits. After the commit the caller raises its
/// own [`CredentialsSignal`](crate::store::CredentialsSignal).
async fn credentials_changed(conn: &mut DbConn, account: &AccountId) -> Result<(), StoreError> {
    sqlx::query("UPDATE credentials_version SET version = version + 1 WHERE id = 1")
        .execute(&mut *conn)
        .await?;
    announce_credentials(conn, account.as_str()).await
}

async fn fetch_key(
    conn: &mut DbConn,
    account: &AccountId,
    id: &ApiKeyId,
) -> Result<Option<ApiKey>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1 AND account_id = $2"
    ))
    .bind(id.as_str())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(key_from_row).transpose()
}

impl SqlStore {
    pub(super) async fn create_account(
        &self,
        account: &Account,
        key: &ApiKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO accounts (id, name, created_at, signing_secret) VALUES ($1, $2, $3, $4)",
        )
        .bind(account.id.as_str())
        .bind(&account.name)
        .bind(ms(account.created_at))
        .bind(self.seal(
            &secrets::signing_secret(account.id.as_str()),
            account.signing_secret.expose(),
        ))
        .execute(&mut *tx)
        .await?;
        insert_key_row(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM api_keys WHERE hash = $1",
            KEY_COLUMNS
        ))
        .bind(hash)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(key_from_row).transpose()
    }
}

#[async_trait::async_trait]
impl AuthStore for SqlStore {
    async fn insert_api_key(&self, key: &ApiKey, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_key_row(&mut tx, key).await?;
        insert_audit(
            &mut tx,
            key.account_id.as_str(),
            actor,
            key.created_at,
            &[key_audit("api_key.create", key)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_api_keys(&self, account: &AccountId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn revoke_api_key(
        &self,
        account: &AccountId,
        id: &ApiKeyId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<Option<ApiKey>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut key) = fetch_key(&mut tx, account, id).await? else {
            return Ok(None);
        };
        if key.revoked_at.is_none() {
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3")
                .bind(ms(now))
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(&mut *tx)
                .await?;
            key.revoked_at = Some(now);
            insert_audit(
                &mut tx,
                account.as_str(),
                actor,
                now,
                &[key_audit("api_key.revoke", &key)],
            )
            .await?;
            credentials_changed(&mut tx, account).await?;
        }
        tx.commit().await?;
        self.credentials.raise();
        Ok(Some(key))
    }

    async fn rotate_api_key(
        &self,
        account: &AccountId,
        old: &ApiKeyId,
        new: &ApiKey,
        actor: &Actor,
    ) -> Result<Option<ApiKey>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(mut key) = fetch_key(&mut tx, account, old).await? else {
            return Ok(None);
        };
        if key.revoked_at.is_some() {
            return Ok(None);
        }
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND account_id = $3")
            .bind(ms(new.created_at))
            .bind(old.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        key.revoked_at = Some(new.created_at);
        insert_key_row(&mut tx, new).await?;
        insert_audit(
            &mut tx,
            account.as_str(),
            actor,
            new.created_at,
            &[
                key_audit("api_key.revoke", &key),
                key_audit("api_key.create", new),
            ],
        )
        .await?;
        credentials_changed(&mut tx, account).await?;
        tx.commit().await?;
        self.credentials.raise();
        Ok(Some(key))
    }

    async fn jwt_key(&self, account: &AccountId) -> Result<Option<JwtKey>, StoreError> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as("SELECT jwt_algorithm, jwt_key FROM accounts WHERE id = $1")
                .bind(account.as_str())
                .fetch_optional(&self.reader)
                .await?;
        match row {
            Some((Some(alg), Some(key))) => Ok(Some(JwtKey {
                algorithm: JwtAlgorithm::parse(&alg)
                    .ok_or_else(|| corrupt("jwt_algorithm", &alg))?,
                key: SecretString::from(self.open(&secrets::jwt_key(account.as_str()), &key)?),
            })),
            _ => Ok(None),
        }
    }

    async fn set_jwt_key(
        &self,
        account: &AccountId,
        key: Option<&JwtKey>,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE accounts SET jwt_algorithm = $1, jwt_key = $2 WHERE id = $3")
            .bind(key.map(|k| k.algorithm.as_str()))
            .bind(
                key.map(|k| self.seal(&secrets::jwt_key(account.as_str()), k.key.expose_secret())),
            )
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let record = AuditRecord {
            action: if key.is_some() {
                "account.jwt_key.set"
            } else {
                "account.jwt_key.remove"
            },
            resource_type: "account",
            resource_id: Some(account.as_str().to_owned()),
            // The key itself is a secret (HS256) or long (PEM): only the algorithm is kept.
            changes: serde_json::json!({
                "jwt_algorithm": { "after": key.map(|k| k.algorithm.as_str()) }
            }),
        };
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        credentials_changed(&mut tx, account).await?;
        tx.commit().await?;
        self.credentials.raise();
        Ok(())
    }

    async fn list_audit(
        &self,
        account: &AccountId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT seq, occurred_at, actor_type, actor_id, action, resource_type, resource_id, \
             changes FROM audit_log WHERE account_id = ",
        );
        qb.push_bind(account.as_str());
        if let Some(id) = &filter.resource_id {
            qb.push(" AND resource_id = ").push_bind(id.as_str());
        }
        if let Some(action) = &filter.action {
            qb.push(" AND action = ").push_bind(action.as_str());
        }
        if let Some(actor) = &filter.actor_id {
            qb.push(" AND actor_id = ").push_bind(actor.as_str());
        }
        if let Some(from) = filter.from {
            qb.push(" AND occurred_at >= ").push_bind(ms(from));
        }
        if let Some(to) = filter.to {
            qb.push(" AND occurred_at < ").push_bind(ms(to));
        }
        if let Some(before) = filter.before {
            qb.push(" AND seq < ").push_bind(before);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(filter.limit));
        let rows = qb.build().fetch_all(&self.reader).await?;
        rows.iter()
            .map(|r| {
                let changes: String = r.try_get("changes")?;
                Ok(AuditEntry {
                    id: format!("aud_{}", r.try_get::<i64, _>("seq")?),
                    at: ts(r.try_get("occurred_at")?)?,
                    actor: AuditActor {
                        kind: r.try_get("actor_type")?,
                        id: r.try_get("actor_id")?,
                    },
                    action: r.try_get("action")?,
                    resource_type: r.try_get("resource_type")?,
                    resource_id: r.try_get("resource_id")?,
                    changes: serde_json::from_str(&changes)
                        .map_err(|_| corrupt("audit changes", &changes))?,
                })
            })
            .collect()
    }
}
