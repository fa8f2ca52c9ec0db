//! The event log, as the store's writes append to it: events about callbacks, numbered in
//! commit order and in their account, and a callback's history read back.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{Db, DbConn, ROWS_PER_INSERT, SqlStore, corrupt, lock_writes, ms, ts};
use crate::domain::{AccountId, Callback, CallbackEvent, CallbackId, CallbackView};
use crate::store::StoreError;

/// An event about a callback, to be appended to the event log in the transaction that makes
/// the change it describes.
pub(super) struct NewEvent {
    pub(super) account_id: String,
    pub(super) resource_type: &'static str,
    pub(super) resource_id: String,
    pub(super) kind: &'static str,
    pub(super) at: Timestamp,
    /// The event's `data` as JSON text, serialized once.
    pub(super) data: String,
    /// The callback's own webhook URL, which also receives the event.
    pub(super) webhook_url: Option<String>,
}

impl NewEvent {
    /// An event carrying the callback as it stands after the change (`data.object`) and the
    /// details of the change beside it.
    pub(super) fn about(
        cb: &Callback,
        kind: &'static str,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        /// One serialization pass: the details beside the snapshot, straight to text.
        #[derive(serde::Serialize)]
        struct Data {
            #[serde(flatten)]
            details: serde_json::Value,
            object: CallbackView,
        }
        let details = match details {
            serde_json::Value::Object(_) => details,
            _ => serde_json::Value::Object(serde_json::Map::new()),
        };
        let data = serde_json::to_string(&Data {
            details,
            object: CallbackView::from(cb),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        Self {
            account_id: cb.account_id.as_str().to_owned(),
            resource_type: "callback",
            resource_id: cb.id.as_str().to_owned(),
            kind,
            at,
            data,
            webhook_url: cb.webhook_url.as_ref().map(|u| u.as_str().to_owned()),
        }
    }
}

pub(super) async fn insert_events(
    conn: &mut DbConn,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    let refs: Vec<&NewEvent> = events.iter().collect();
    insert_event_refs(conn, &refs).await
}

/// Appends events. Events are numbered in commit order, in the whole log (`seq`, which the
/// outbox reads) and in their account (`account_seq`, their public id), so a transaction that
/// does not hold the write lock yet takes it here, and holds it to its end.
pub(super) async fn insert_event_refs(
    conn: &mut DbConn,
    events: &[&NewEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    lock_writes(conn).await?;
    let accounts: Vec<String> = events.iter().map(|e| e.account_id.clone()).collect();
    let numbers = number_rows(conn, Numbering::Events, &accounts).await?;
    for start in (0..events.len()).step_by(ROWS_PER_INSERT) {
        let rows = start..events.len().min(start + ROWS_PER_INSERT);
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO events (account_id, resource_type, resource_id, type, occurred_at, data, \
             webhook_url, account_seq) ",
        );
        qb.push_values(rows, |mut b, i| {
            let e = events[i];
            b.push_bind(e.account_id.as_str())
                .push_bind(e.resource_type)
                .push_bind(e.resource_id.as_str())
                .push_bind(e.kind)
                .push_bind(ms(e.at))
                .push_bind(e.data.as_str())
                .push_bind(e.webhook_url.as_deref())
                .push_bind(numbers[i]);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which of an account's counters ([`number_rows`]) numbers a kind of row.
#[derive(Debug, Clone, Copy)]
pub(super) enum Numbering {
    /// The account's events: their public ids.
    Events,
    /// Its agents' feed entries: the ids of their Server-Sent Events.
    AgentEvents,
}

/// Gives each row (named by its account) the next number of its account's counter, in the
/// rows' order: what clients see of an event's place, so that it says nothing about other
/// accounts. Only under the write lock (every transaction that writes agents' feeds begins
/// with it; events take it in [`insert_event_refs`]): an account's numbers then follow commit
/// order, and a counter's row is only ever locked by the lock's holder.
pub(super) async fn number_rows(
    conn: &mut DbConn,
    numbering: Numbering,
    accounts: &[String],
) -> Result<Vec<i64>, StoreError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let column = match numbering {
        Numbering::Events => "last_event",
        Numbering::AgentEvents => "last_agent_event",
    };
    // How many rows each account has (in account order: counters' rows are locked in one
    // order).
    let mut counts: std::collections::BTreeMap<String, i64> = Default::default();
    for account in accounts {
        *counts.entry(account.clone()).or_default() += 1;
    }
    let counts: Vec<(String, i64)> = counts.into_iter().collect();
    let mut next: HashMap<String, i64> = HashMap::with_capacity(counts.len());
    for chunk in counts.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
            "INSERT INTO account_sequences (account_id, {column}) "
        ));
        qb.push_values(chunk, |mut b, (account, n)| {
            b.push_bind(account.as_str()).push_bind(*n);
        });
        qb.push(format!(
            " ON CONFLICT (account_id) DO UPDATE SET \
             {column} = account_sequences.{column} + excluded.{column} \
             RETURNING account_id, {column}"
        ));
        for row in qb.build().fetch_all(&mut *conn).await? {
            next.insert(row.try_get(0)?, row.try_get(1)?);
        }
    }
    // Each account's counter now stands at its last row's number.
    for (account, n) in &counts {
        let last = next
            .get_mut(account)
            .ok_or_else(|| corrupt("account sequence", account))?;
        *last -= n - 1;
    }
    accounts
        .iter()
        .map(|account| {
            let number = next
                .get_mut(account)
                .ok_or_else(|| corrupt("account sequence", account))?;
            *number += 1;
            Ok(*number - 1)
        })
        .collect()
}

impl SqlStore {
    pub(super) async fn callback_history(
        &self,
        account: &AccountId,
        id: &CallbackId,
    ) -> Result<Vec<CallbackEvent>, StoreError> {
        // `seq` and `account_seq` run in the same order within an account.
        let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
            "SELECT account_seq, type, occurred_at, data FROM events \
             WHERE resource_id = $1 AND account_id = $2 ORDER BY seq",
        )
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(|(number, kind, at, data)| {
                Ok(CallbackEvent {
                    id: crate::domain::StoredEvent::id_for(account, number),
                    kind,
                    at: ts(at)?,
                    data: serde_json::from_str(&data).map_err(|_| corrupt("event data", &data))?,
                })
            })
            .collect()
    }
}
