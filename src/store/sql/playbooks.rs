//! The SQL of playbooks.

use super::{DbConn, DbRow};
use jiff::Timestamp;
use sqlx::Row;

use super::{SqlStore, audit::insert_audit, audit_without_changes, corrupt, ms, ts};
use crate::domain::{
    AccountId, Actor, AuditRecord,
    ids::AudioId,
    playbook::{MessageTemplate, Playbook, PlaybookId},
};
use crate::store::{StoreError, playbooks::PlaybookStore};

const PLAYBOOK_COLUMNS: &str =
    "id, account_id, name, initial_message, voicemail_audio_id, created_at, updated_at";

fn playbook_from_row(r: &DbRow) -> Result<Playbook, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(Playbook {
        id: PlaybookId::parse(&id).ok_or_else(|| corrupt("playbook id", &id))?,
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        initial_message: MessageTemplate::from_trusted(r.try_get("initial_message")?),
        voicemail_audio_id: r
            .try_get::<Option<String>, _>("voicemail_audio_id")?
            .map(AudioId::from_trusted),
        created_at: ts(r.try_get("created_at")?)?,
        updated_at: ts(r.try_get("updated_at")?)?,
    })
}

fn playbook_json(p: &Playbook) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "initial_message": p.initial_message.as_str(),
        "voicemail_audio_id": p.voicemail_audio_id.as_ref().map(AudioId::as_str),
    })
}

fn playbook_audit(
    action: &'static str,
    p: &Playbook,
    before: Option<&Playbook>,
    after: serde_json::Value,
) -> AuditRecord {
    AuditRecord {
        action,
        resource_type: "playbook",
        resource_id: Some(p.id.to_string()),
        changes: crate::domain::auth::diff(&before.map(playbook_json).unwrap_or_default(), &after),
    }
}

async fn fetch_playbook(
    conn: &mut DbConn,
    account: &AccountId,
    id: &PlaybookId,
) -> Result<Option<Playbook>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {PLAYBOOK_COLUMNS} FROM playbooks \
         WHERE id = $1 AND account_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id.to_string())
    .bind(account.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(playbook_from_row).transpose()
}

#[async_trait::async_trait]
impl PlaybookStore for SqlStore {
    async fn insert_playbook(&self, playbook: &Playbook, actor: &Actor) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO playbooks ({PLAYBOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(playbook.id.to_string())
        .bind(playbook.account_id.as_str())
        .bind(&playbook.name)
        .bind(playbook.initial_message.as_str())
        .bind(playbook.voicemail_audio_id.as_ref().map(AudioId::as_str))
        .bind(ms(playbook.created_at))
        .bind(ms(playbook.updated_at))
        .execute(&mut *tx)
        .await?;
        let record = playbook_audit("playbook.create", playbook, None, playbook_json(playbook));
        insert_audit(
            &mut tx,
            playbook.account_id.as_str(),
            actor,
            playbook.created_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_playbooks(&self, account: &AccountId) -> Result<Vec<Playbook>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PLAYBOOK_COLUMNS} FROM playbooks WHERE account_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(playbook_from_row).collect()
    }

    async fn get_playbook(
        &self,
        account: &AccountId,
        id: &PlaybookId,
    ) -> Result<Option<Playbook>, StoreError> {
        let mut conn = self.reader.acquire().await?;
        fetch_playbook(&mut conn, account, id).await
    }

    async fn update_playbook(
        &self,
        playbook: &Playbook,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(before) = fetch_playbook(&mut tx, &playbook.account_id, &playbook.id).await?
        else {
            return Ok(false);
        };
        sqlx::query(
            "UPDATE playbooks SET name = $1, initial_message = $2, voicemail_audio_id = $3, \
             updated_at = $4 WHERE id = $5 AND account_id = $6 AND deleted_at IS NULL",
        )
        .bind(&playbook.name)
        .bind(playbook.initial_message.as_str())
        .bind(playbook.voicemail_audio_id.as_ref().map(AudioId::as_str))
        .bind(ms(playbook.updated_at))
        .bind(playbook.id.to_string())
        .bind(playbook.account_id.as_str())
        .execute(&mut *tx)
        .await?;
        let record = playbook_audit(
            "playbook.update",
            playbook,
            Some(&before),
            playbook_json(playbook),
        );
        insert_audit(
            &mut tx,
            playbook.account_id.as_str(),
            actor,
            playbook.updated_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_playbook(
        &self,
        account: &AccountId,
        id: &PlaybookId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE playbooks SET deleted_at = $1, updated_at = $2 \
             WHERE id = $3 AND account_id = $4 AND deleted_at IS NULL",
        )
        .bind(ms(now))
        .bind(ms(now))
        .bind(id.to_string())
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let deleted = done.rows_affected() == 1;
        if deleted {
            let record = audit_without_changes("playbook.delete", "playbook", &id.to_string());
            insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
