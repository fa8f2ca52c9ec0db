//! The SQL of the audit hash chain: sealing entries into their account's chain (the hashes are
//! the domain's, `domain::audit_chain`), reading chains back, the entries about one number, and
//! audit retention, which moves a chain's anchor before it deletes (the delete trigger allows
//! only entries at or before the anchor).
//!
//! Entries are sealed after their transaction commits, by one sealer at a time (on PostgreSQL
//! the sealers' own advisory lock, not the write lock: claims and other writes go on beside it),
//! in the order they were written (`seq`). On PostgreSQL an entry may commit after one with a
//! higher `seq` was sealed: it is then sealed with the next index, so a chain's order is the
//! order entries were sealed in, and no entry is ever skipped.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    Db, ROWS_PER_STATEMENT, SqlStore,
    audit::{insert_entries, subject_of},
    begin_claim, corrupt, lock_sealing, lock_writes, ms, ts,
};
use crate::domain::{
    AccountId, Actor, AuditRecord,
    audit_chain::{self, Entry, Sealed},
};
use crate::store::{
    StoreError,
    audit_chain::{AuditChainStore, ChainState, ChainedEntry, SubjectEntries},
};

const ENTRY_COLUMNS: &str = "seq, account_id, occurred_at, actor_type, actor_id, action, \
    resource_type, resource_id, subject_hash, content_digest, changes, redacted_at";

/// What sealing reads: the content only where no digest stands for it (entries written before
/// digests were kept), so the content of new entries is not read again.
const SEAL_COLUMNS: &str = "seq, account_id, occurred_at, actor_type, actor_id, action, \
    resource_type, resource_id, subject_hash, content_digest, \
    CASE WHEN content_digest IS NULL THEN changes ELSE '' END AS changes, redacted_at";

fn entry_of(row: &super::DbRow) -> Result<(Entry, String, bool), StoreError> {
    let changes: String = row.try_get("changes")?;
    let digest: Option<String> = row.try_get("content_digest")?;
    let redacted: Option<i64> = row.try_get("redacted_at")?;
    let entry = Entry {
        seq: row.try_get("seq")?,
        account_id: row.try_get("account_id")?,
        occurred_at_ms: row.try_get("occurred_at")?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        subject_hash: row.try_get("subject_hash")?,
        // Entries written before digests were kept: their content as it stands.
        content_digest: digest.unwrap_or_else(|| {
            let resource_id: Option<String> = row.try_get("resource_id").ok().flatten();
            audit_chain::content_digest(resource_id.as_deref(), &changes)
        }),
    };
    Ok((entry, changes, redacted.is_some()))
}

fn chain_of(row: (String, i64, String, i64, String)) -> ChainState {
    let (account, head_index, head_hash, anchor_index, anchor_hash) = row;
    ChainState {
        account_id: AccountId::from_trusted(account),
        head_index,
        head_hash,
        anchor_index,
        anchor_hash,
    }
}

/// An audit row (read with at least [`CHAINED_COLUMNS`]) as the exports show it.
pub(super) fn chained_entry_of(row: &super::DbRow) -> Result<ChainedEntry, StoreError> {
    let changes: String = row.try_get("changes")?;
    let index: Option<i64> = row.try_get("chain_index")?;
    let prev: Option<String> = row.try_get("prev_hash")?;
    let hash: Option<String> = row.try_get("entry_hash")?;
    let redacted: Option<i64> = row.try_get("redacted_at")?;
    Ok(ChainedEntry {
        seq: row.try_get("seq")?,
        occurred_at: ts(row.try_get("occurred_at")?)?,
        actor_type: row.try_get("actor_type")?,
        actor_id: row.try_get("actor_id")?,
        action: row.try_get("action")?,
        resource_type: row.try_get("resource_type")?,
        resource_id: row.try_get("resource_id")?,
        changes: serde_json::from_str(&changes).map_err(|_| corrupt("audit changes", &changes))?,
        redacted: redacted.is_some(),
        content_digest: row.try_get("content_digest")?,
        link: match (index, prev, hash) {
            (Some(i), Some(p), Some(h)) => Some((i, p, h)),
            _ => None,
        },
    })
}

/// The columns [`chained_entry_of`] reads.
pub(super) const CHAINED_COLUMNS: &str = "seq, occurred_at, actor_type, actor_id, action, \
    resource_type, resource_id, changes, redacted_at, content_digest, chain_index, prev_hash, \
    entry_hash";

const CHAIN_COLUMNS: &str = "account_id, head_index, head_hash, anchor_index, anchor_hash";

#[async_trait::async_trait]
impl AuditChainStore for SqlStore {
    async fn seal_audit(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        // Nothing to seal is the common case: look without the writer first.
        let any: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM audit_log WHERE entry_hash IS NULL)")
                .fetch_one(&self.reader)
                .await?;
        if !any {
            return Ok(0);
        }
        // Beside other writes (not under the write lock): one sealer at a time is enough.
        let mut tx = begin_claim(&self.writer).await?;
        lock_sealing(&mut tx).await?;
        let rows = sqlx::query(&format!(
            "SELECT {SEAL_COLUMNS} FROM audit_log WHERE entry_hash IS NULL ORDER BY seq LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let entries = rows.iter().map(entry_of).collect::<Result<Vec<_>, _>>()?;

        let mut accounts: Vec<&str> = entries
            .iter()
            .map(|(e, ..)| e.account_id.as_str())
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut heads: HashMap<String, (i64, String)> = HashMap::new();
        {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT account_id, head_index, head_hash FROM audit_chains WHERE account_id IN (",
            );
            let mut sep = qb.separated(", ");
            for account in &accounts {
                sep.push_bind(*account);
            }
            qb.push(")");
            let found: Vec<(String, i64, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
            for (account, index, hash) in found {
                heads.insert(account, (index, hash));
            }
        }
        for account in &accounts {
            heads
                .entry((*account).to_owned())
                .or_insert_with(|| (0, audit_chain::genesis(account)));
        }

        // Each entry's link, in the order written.
        let mut links: Vec<(i64, i64, String, String, String)> = Vec::with_capacity(entries.len());
        for (entry, ..) in &entries {
            let head = heads
                .get_mut(&entry.account_id)
                .expect("every account of the batch has a head");
            let index = head.0 + 1;
            let hash = audit_chain::link_hash(&head.1, index, entry);
            links.push((
                entry.seq,
                index,
                head.1.clone(),
                hash.clone(),
                entry.content_digest.clone(),
            ));
            *head = (index, hash);
        }
        // One statement per chunk: the sealers' lock is held while it runs, so no
        // round trip per entry.
        for chunk in links.chunks(ROWS_PER_STATEMENT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(
                "UPDATE audit_log SET chain_index = v.column1, prev_hash = v.column2, \
                 entry_hash = v.column3, content_digest = v.column4 FROM (",
            );
            qb.push_values(chunk, |mut b, (seq, index, prev, hash, digest)| {
                b.push_bind(*index)
                    .push_bind(prev.as_str())
                    .push_bind(hash.as_str())
                    .push_bind(digest.as_str())
                    .push_bind(*seq);
            });
            qb.push(") AS v WHERE audit_log.seq = v.column5 AND audit_log.entry_hash IS NULL");
            qb.build().execute(&mut *tx).await?;
        }
        for (account, (index, hash)) in &heads {
            // A new chain starts at its genesis; a known one keeps its anchor.
            sqlx::query(
                "INSERT INTO audit_chains (account_id, head_index, head_hash, anchor_index, \
                 anchor_hash, updated_at) VALUES ($1, $2, $3, 0, $4, $5) \
                 ON CONFLICT (account_id) DO UPDATE SET head_index = excluded.head_index, \
                 head_hash = excluded.head_hash, updated_at = excluded.updated_at",
            )
            .bind(account)
            .bind(index)
            .bind(hash)
            .bind(audit_chain::genesis(account))
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(links.len() as u64)
    }

    async fn audit_chains(&self) -> Result<Vec<ChainState>, StoreError> {
        let rows: Vec<(String, i64, String, i64, String)> = sqlx::query_as(&format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_chains ORDER BY account_id"
        ))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(chain_of).collect())
    }

    async fn audit_chain(&self, account: &AccountId) -> Result<Option<ChainState>, StoreError> {
        let row: Option<(String, i64, String, i64, String)> = sqlx::query_as(&format!(
            "SELECT {CHAIN_COLUMNS} FROM audit_chains WHERE account_id = $1"
        ))
        .bind(account.as_str())
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(chain_of))
    }

    async fn sealed_entries(
        &self,
        account: &AccountId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<Sealed>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, chain_index, prev_hash, entry_hash FROM audit_log \
             WHERE account_id = $1 AND chain_index > $2 ORDER BY chain_index LIMIT $3"
        ))
        .bind(account.as_str())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                let (entry, changes, redacted) = entry_of(row)?;
                Ok(Sealed {
                    index: row.try_get("chain_index")?,
                    prev_hash: row.try_get("prev_hash")?,
                    entry_hash: row.try_get("entry_hash")?,
                    entry,
                    content: (!redacted).then_some(changes),
                })
            })
            .collect()
    }

    async fn unsealed_entries(&self, account: &AccountId) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE entry_hash IS NULL AND account_id = $1",
        )
        .bind(account.as_str())
        .fetch_one(&self.reader)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn subject_entries(
        &self,
        account: &AccountId,
        phone: &str,
        now: Timestamp,
        actor: &Actor,
    ) -> Result<SubjectEntries, StoreError> {
        let ring = self.ring();
        let mut tx = self.begin_write().await?;
        lock_writes(&mut tx).await?;
        let subject = subject_of(&mut tx, &ring, account.as_str(), phone).await?;
        let record = AuditRecord {
            action: "compliance.evidence_exported",
            resource_type: "data_subject",
            resource_id: None,
            changes: serde_json::json!({}),
        };
        insert_entries(
            &mut tx,
            &[(
                (account.as_str(), actor, now, &record),
                Some(subject.as_str()),
            )],
        )
        .await?;
        tx.commit().await?;
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS}, chain_index, prev_hash, entry_hash FROM audit_log \
             WHERE account_id = $1 AND subject_hash = $2 ORDER BY seq"
        ))
        .bind(account.as_str())
        .bind(&subject)
        .fetch_all(&self.reader)
        .await?;
        let entries = rows
            .iter()
            .map(chained_entry_of)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SubjectEntries {
            subject_hash: subject,
            entries,
        })
    }

    async fn audit_retentions(&self) -> Result<Vec<(AccountId, u32)>, StoreError> {
        super::recordings::accounts_keeping(&self.reader, "audit_retention_days").await
    }

    async fn purge_audit(
        &self,
        account: &AccountId,
        before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        lock_writes(&mut tx).await?;
        let Some((anchor_index,)): Option<(i64,)> =
            sqlx::query_as("SELECT anchor_index FROM audit_chains WHERE account_id = $1")
                .bind(account.as_str())
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(0);
        };
        // The chain's oldest entries, up to the first one young enough to keep.
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT chain_index, occurred_at, entry_hash FROM audit_log \
             WHERE account_id = $1 AND chain_index > $2 ORDER BY chain_index LIMIT $3",
        )
        .bind(account.as_str())
        .bind(anchor_index)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let cutoff = ms(before);
        let Some((last_index, _, last_hash)) =
            rows.iter().take_while(|(_, at, _)| *at < cutoff).last()
        else {
            return Ok(0);
        };
        sqlx::query(
            "UPDATE audit_chains SET anchor_index = $1, anchor_hash = $2 WHERE account_id = $3",
        )
        .bind(last_index)
        .bind(last_hash)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query(
            "DELETE FROM audit_log WHERE account_id = $1 AND chain_index > $2 \
             AND chain_index <= $3",
        )
        .bind(account.as_str())
        .bind(anchor_index)
        .bind(last_index)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }
}
