//! The audit trail, as the store's writes append to it: entries written in the transaction of
//! the change they record, each with the digest of its content (which the hash chain commits
//! to, `audit_chain`) and, when it is about a phone number, the number's salted hash.

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{Cell, Db, DbConn, ROWS_PER_INSERT, insert_rows, ms, secrets};
use crate::domain::{Actor, AuditRecord, Callback, CallbackView, audit_chain, auth::diff};
use crate::secrets::KeyRing;
use crate::store::StoreError;

/// Appends entries to the audit trail (in the caller's transaction).
pub(super) async fn insert_audit(
    conn: &mut DbConn,
    account: &str,
    actor: &Actor,
    at: Timestamp,
    records: &[AuditRecord],
) -> Result<(), StoreError> {
    let rows: Vec<AuditRow> = records.iter().map(|r| (account, actor, at, r)).collect();
    insert_audit_rows(conn, &rows).await
}

/// Appends entries about one phone number (E.164): each keeps the number's salted hash, which
/// outlives an erasure of the number (the evidence export finds them by it).
pub(super) async fn insert_audit_about(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &str,
    actor: &Actor,
    at: Timestamp,
    records: &[AuditRecord],
    phone: &str,
) -> Result<(), StoreError> {
    let salt = subject_salt(conn, ring, account).await?;
    let subject = audit_chain::subject_hash(&salt, phone);
    let rows: Vec<(AuditRow, Option<&str>)> = records
        .iter()
        .map(|r| ((account, actor, at, r), Some(subject.as_str())))
        .collect();
    insert_entries(conn, &rows).await
}

/// Appends entries about numbers, of possibly different accounts: `(account, E.164, record)`,
/// each keeping the number's salted hash in its account (one salt read per account).
pub(super) async fn insert_audit_about_many(
    conn: &mut DbConn,
    ring: &KeyRing,
    actor: &Actor,
    at: Timestamp,
    items: &[(&str, &str, AuditRecord)],
) -> Result<(), StoreError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut salts: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for (account, ..) in items {
        if !salts.contains_key(account) {
            salts.insert(account, subject_salt(conn, ring, account).await?);
        }
    }
    let subjects: Vec<String> = items
        .iter()
        .map(|(account, phone, _)| audit_chain::subject_hash(&salts[account], phone))
        .collect();
    let rows: Vec<(AuditRow, Option<&str>)> = items
        .iter()
        .zip(&subjects)
        .map(|((account, _, record), subject)| {
            ((*account, actor, at, record), Some(subject.as_str()))
        })
        .collect();
    insert_entries(conn, &rows).await
}

/// The account's subject salt, made (at random) by the first entry that needs it, and kept
/// sealed with the server's key (`secrets::subject_salt`): a database alone cannot test a
/// hash against candidate numbers.
pub(super) async fn subject_salt(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &str,
) -> Result<String, StoreError> {
    if let Some(salt) = stored_salt(conn, ring, account).await? {
        return Ok(salt);
    }
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    sqlx::query(
        "INSERT INTO subject_salts (account_id, salt) VALUES ($1, $2) \
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(account)
    .bind(ring.seal(&secrets::subject_salt(account), &fresh))
    .execute(&mut *conn)
    .await?;
    // Another transaction may have made it first: theirs is the one kept.
    stored_salt(conn, ring, account)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("subject salt of {account} not stored")))
}

/// The account's subject salt, if it has one (nothing written: no salt, no entry about any
/// number and no erased number).
pub(super) async fn stored_salt(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &str,
) -> Result<Option<String>, StoreError> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT salt FROM subject_salts WHERE account_id = $1")
            .bind(account)
            .fetch_optional(&mut *conn)
            .await?;
    stored
        .map(|s| secrets::open_with(ring, &secrets::subject_salt(account), &s))
        .transpose()
}

/// The salted hash of `phone` in `account`'s audit entries (made with the account's salt).
pub(super) async fn subject_of(
    conn: &mut DbConn,
    ring: &KeyRing,
    account: &str,
    phone: &str,
) -> Result<String, StoreError> {
    let salt = subject_salt(conn, ring, account).await?;
    Ok(audit_chain::subject_hash(&salt, phone))
}

/// What an erased entry's content becomes: nothing personal, and it says so.
pub(super) const REDACTED: &str = r#"{"redacted":true}"#;

/// Replaces the content of the account's entries `seqs` (an erasure), and the resource id of
/// those whose id is the number (do-not-call, consent), keeping the digest the hash chain
/// commits to: the chain still verifies, the content is gone. Answers how many
/// entries were redacted (ones redacted before are left as they are).
pub(super) async fn redact_entries(
    conn: &mut DbConn,
    account: &str,
    seqs: &[i64],
    at: Timestamp,
) -> Result<u64, StoreError> {
    let mut redacted = 0;
    for chunk in seqs.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "SELECT seq, resource_id, changes, content_digest FROM audit_log \
             WHERE redacted_at IS NULL \
             AND account_id = ",
        );
        qb.push_bind(account).push(" AND seq IN (");
        let mut sep = qb.separated(", ");
        for seq in chunk {
            sep.push_bind(*seq);
        }
        qb.push(")");
        let rows: Vec<(i64, Option<String>, String, Option<String>)> =
            qb.build_query_as().fetch_all(&mut *conn).await?;
        for (seq, resource_id, changes, digest) in rows {
            let digest = digest
                .unwrap_or_else(|| audit_chain::content_digest(resource_id.as_deref(), &changes));
            // A do-not-call or consent entry's resource id is the number itself.
            redacted += sqlx::query(
                "UPDATE audit_log SET changes = $1, content_digest = $2, redacted_at = $3, \
                 resource_id = CASE WHEN resource_type IN ('dnc', 'consent') THEN NULL \
                 ELSE resource_id END \
                 WHERE account_id = $4 AND seq = $5 AND redacted_at IS NULL",
            )
            .bind(REDACTED)
            .bind(digest)
            .bind(ms(at))
            .bind(account)
            .bind(seq)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
    }
    Ok(redacted)
}

/// One audit entry: account, actor, time and record.
pub(super) type AuditRow<'a> = (&'a str, &'a Actor, Timestamp, &'a AuditRecord);

/// Appends entries of possibly different accounts and actors in few statements.
pub(super) async fn insert_audit_rows(
    conn: &mut DbConn,
    rows: &[AuditRow<'_>],
) -> Result<(), StoreError> {
    let rows: Vec<(AuditRow, Option<&str>)> = rows.iter().map(|r| (*r, None)).collect();
    insert_entries(conn, &rows).await
}

/// Appends entries, each with the subject hash it is about, if any (the backend's
/// `insert_rows`: one statement of typed arrays on PostgreSQL, as a claim writes one entry per
/// call it starts).
pub(super) async fn insert_entries(
    conn: &mut DbConn,
    rows: &[(AuditRow<'_>, Option<&str>)],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|((account, actor, at, r), subject)| {
            let changes = r.changes.to_string();
            let digest = audit_chain::content_digest(r.resource_id.as_deref(), &changes);
            vec![
                (*account).into(),
                ms(*at).into(),
                actor.kind().into(),
                actor.id().into(),
                r.action.into(),
                r.resource_type.into(),
                r.resource_id.as_deref().into(),
                changes.into(),
                digest.into(),
                subject.map(str::to_owned).into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "audit_log",
        "account_id, occurred_at, actor_type, actor_id, action, resource_type, resource_id, \
         changes, content_digest, subject_hash",
        &cells,
    )
    .await
}

/// The audit record of a change to a callback: the fields of its public view that differ.
pub(super) fn callback_audit(
    action: &'static str,
    before: Option<&Callback>,
    after: &Callback,
) -> AuditRecord {
    let view = |cb: &Callback| serde_json::to_value(CallbackView::from(cb)).unwrap_or_default();
    AuditRecord {
        action,
        resource_type: "callback",
        resource_id: Some(after.id.as_str().to_owned()),
        changes: diff(
            &before.map(view).unwrap_or(serde_json::Value::Null),
            &view(after),
        ),
    }
}
