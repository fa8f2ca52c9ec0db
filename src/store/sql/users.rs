//! The SQL of users and sessions.

use super::DbRow;
use jiff::Timestamp;
use sqlx::Row;

use super::{SqlStore, audit::insert_audit, corrupt, ms, ts};
use crate::domain::{
    AccountId, Actor, AuditRecord,
    ids::{AgentId, UserId},
    user::{Email, Role, Session, User},
};
use crate::store::{StoreError, users::UserStore};

const USER_COLUMNS: &str = "u.id, u.account_id, u.email, u.role, u.agent_id, u.created_at";

fn user_from_row(r: &DbRow) -> Result<User, StoreError> {
    let role: String = r.try_get("role")?;
    Ok(User {
        id: UserId::from_trusted(r.try_get("id")?),
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        email: Email::from_trusted(r.try_get("email")?),
        role: Role::parse(&role).ok_or_else(|| corrupt("role", &role))?,
        agent_id: r
            .try_get::<Option<String>, _>("agent_id")?
            .map(AgentId::from_trusted),
        created_at: ts(r.try_get("created_at")?)?,
    })
}

#[async_trait::async_trait]
impl UserStore for SqlStore {
    async fn insert_user(
        &self,
        user: &User,
        password_hash: &str,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "INSERT INTO users (id, account_id, email, role, agent_id, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (email) DO NOTHING",
        )
        .bind(user.id.as_str())
        .bind(user.account_id.as_str())
        .bind(user.email.as_str())
        .bind(user.role.as_str())
        .bind(user.agent_id.as_ref().map(AgentId::as_str))
        .bind(password_hash)
        .bind(ms(user.created_at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        // The audit entry names the user and role; never the password or its hash.
        insert_audit(
            &mut tx,
            user.account_id.as_str(),
            actor,
            user.created_at,
            &[AuditRecord {
                action: "user.created",
                resource_type: "user",
                resource_id: Some(user.id.to_string()),
                changes: serde_json::json!({
                    "email": {"before": null, "after": user.email.as_str()},
                    "role": {"before": null, "after": user.role.as_str()},
                    "agent_id": {"before": null, "after": user.agent_id.as_ref().map(AgentId::as_str)},
                }),
            }],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn find_user_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<(User, String)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = $1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| Ok((user_from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    async fn list_users(&self, account: &AccountId) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.account_id = $1 ORDER BY u.id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, account_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.token_hash)
        .bind(session.user_id.as_str())
        .bind(session.account_id.as_str())
        .bind(ms(session.created_at))
        .bind(ms(session.expires_at))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_session(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(Session, User)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.token_hash, s.created_at AS s_created, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND u.account_id = s.account_id"
        ))
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            let user = user_from_row(&r)?;
            let session = Session {
                token_hash: r.try_get("token_hash")?,
                user_id: user.id.clone(),
                account_id: user.account_id.clone(),
                created_at: ts(r.try_get("s_created")?)?,
                expires_at: ts(r.try_get("expires_at")?)?,
            };
            Ok((session, user))
        })
        .transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user: &UserId) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user.as_str())
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn purge_sessions(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at < $1")
            .bind(ms(before))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }
}
