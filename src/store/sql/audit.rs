//! The audit trail, as the store's writes append to it: entries written in the transaction of
//! the change they record.

use jiff::Timestamp;
use sqlx::QueryBuilder;

use super::{Db, DbConn, ROWS_PER_INSERT, ms};
use crate::domain::{Actor, AuditRecord, Callback, CallbackView, auth::diff};
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

/// One audit entry: account, actor, time and record.
pub(super) type AuditRow<'a> = (&'a str, &'a Actor, Timestamp, &'a AuditRecord);

/// Appends entries of possibly different accounts and actors in few statements.
pub(super) async fn insert_audit_rows(
    conn: &mut DbConn,
    rows: &[AuditRow<'_>],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO audit_log (account_id, occurred_at, actor_type, actor_id, action, \
             resource_type, resource_id, changes) ",
        );
        qb.push_values(chunk, |mut b, (account, actor, at, r)| {
            b.push_bind(*account)
                .push_bind(ms(*at))
                .push_bind(actor.kind())
                .push_bind(actor.id())
                .push_bind(r.action)
                .push_bind(r.resource_type)
                .push_bind(r.resource_id.as_deref())
                .push_bind(r.changes.to_string());
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
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
