//! The SQL of uploaded audio (`audio`: the 8 kHz mono WAV bytes with their name and length) and
//! of a playbook's voicemail message.

use jiff::Timestamp;
use sqlx::Row;

use super::{DbRow, SqlStore, audit::insert_audit, audit_without_changes, corrupt, ms, ts};
use crate::domain::{
    AccountId, Actor, AuditRecord, audio::Audio, ids::AudioId, playbook::PlaybookId,
};
use crate::store::{
    StoreError,
    audio::{AudioDeletion, AudioStore},
};

/// Every column but the bytes, which only `audio_content` and `voicemail_audio` read.
const AUDIO_COLUMNS: &str = "id, account_id, name, duration_ms, created_at";

fn audio_from_row(r: &DbRow) -> Result<Audio, StoreError> {
    let id: String = r.try_get("id")?;
    Ok(Audio {
        id: AudioId::parse(&id).ok_or_else(|| corrupt("audio id", &id))?,
        account_id: AccountId::from_trusted(r.try_get("account_id")?),
        name: r.try_get("name")?,
        duration_ms: r.try_get::<i64, _>("duration_ms")?.max(0) as u64,
        created_at: ts(r.try_get("created_at")?)?,
    })
}

#[async_trait::async_trait]
impl AudioStore for SqlStore {
    async fn insert_audio(
        &self,
        audio: &Audio,
        wav: &[u8],
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO audio ({AUDIO_COLUMNS}, bytes) VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(audio.id.as_str())
        .bind(audio.account_id.as_str())
        .bind(&audio.name)
        .bind(i64::try_from(audio.duration_ms).unwrap_or(i64::MAX))
        .bind(ms(audio.created_at))
        .bind(wav)
        .execute(&mut *tx)
        .await?;
        let record = AuditRecord {
            action: "audio.create",
            resource_type: "audio",
            resource_id: Some(audio.id.to_string()),
            changes: crate::domain::auth::diff(
                &serde_json::Value::Null,
                &serde_json::json!({ "name": audio.name, "duration_ms": audio.duration_ms }),
            ),
        };
        insert_audit(
            &mut tx,
            audio.account_id.as_str(),
            actor,
            audio.created_at,
            &[record],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audio(&self, account: &AccountId) -> Result<Vec<Audio>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE account_id = $1 ORDER BY created_at, id"
        ))
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(audio_from_row).collect()
    }

    async fn get_audio(
        &self,
        account: &AccountId,
        id: &AudioId,
    ) -> Result<Option<Audio>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUDIO_COLUMNS} FROM audio WHERE id = $1 AND account_id = $2"
        ))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(audio_from_row).transpose()
    }

    async fn audio_content(
        &self,
        account: &AccountId,
        id: &AudioId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM audio WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn delete_audio(
        &self,
        account: &AccountId,
        id: &AudioId,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<AudioDeletion, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT id FROM audio WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Ok(AudioDeletion::NotFound);
        }
        // A playbook that is shown, or a deleted one a campaign still calls with.
        let user: Option<String> = sqlx::query_scalar(
            "SELECT p.id FROM playbooks p \
             WHERE p.account_id = $1 AND p.voicemail_audio_id = $2 \
             AND (p.deleted_at IS NULL OR EXISTS (SELECT 1 FROM campaigns c \
                  WHERE c.account_id = $1 AND c.playbook_id = p.id \
                  AND c.status IN ('running', 'paused'))) \
             ORDER BY p.deleted_at IS NOT NULL, p.created_at, p.id LIMIT 1",
        )
        .bind(account.as_str())
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(playbook) = user {
            return Ok(AudioDeletion::InUse {
                what: format!("the playbook {playbook} plays it (voicemail_audio_id)"),
            });
        }
        // Deleted playbooks no campaign uses any more let go of it (`ON DELETE SET NULL`).
        sqlx::query("DELETE FROM audio WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account.as_str())
            .execute(&mut *tx)
            .await?;
        let record = audit_without_changes("audio.delete", "audio", id.as_str());
        insert_audit(&mut tx, account.as_str(), actor, now, &[record]).await?;
        tx.commit().await?;
        Ok(AudioDeletion::Deleted)
    }

    async fn voicemail_audio(
        &self,
        account: &AccountId,
        playbook: &PlaybookId,
    ) -> Result<Option<Vec<i16>>, StoreError> {
        let wav: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT a.bytes FROM playbooks p \
             JOIN audio a ON a.id = p.voicemail_audio_id AND a.account_id = p.account_id \
             WHERE p.id = $1 AND p.account_id = $2",
        )
        .bind(playbook.to_string())
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        wav.map(|bytes| {
            // Stored already converted: this reads the samples back as they are.
            crate::media::wav::read_as_8k_mono(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("audio of playbook {playbook}: {e}")))
        })
        .transpose()
    }
}
