//! The event log, as the store's writes append to it: events about callbacks, numbered in
//! commit order and in their account, and a callback's history read back.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::{QueryBuilder, Row};

use super::{
    Cell, Db, DbConn, DbRow, ROWS_PER_INSERT, SqlStore, corrupt, insert_rows, lock_writes, ms, ts,
};
use crate::domain::{
    AccountId, Callback, CallbackEvent, CallbackId, CallbackView, view::DispatchChange,
};
use crate::store::StoreError;

/// An event about a callback, to be appended to the event log in the transaction that makes
/// the change it describes.
pub(super) struct NewEvent {
    pub(super) account_id: String,
    pub(super) resource_type: &'static str,
    pub(super) resource_id: String,
    pub(super) kind: &'static str,
    pub(super) at: Timestamp,
    /// The event's `data` as JSON text, serialized once: the details of the change, and the
    /// callback as it stands after it (`object`) unless `changes` holds what changed.
    pub(super) data: String,
    /// The fields of the callback's view the change set, when `data` has no `object`: the
    /// object is then rendered on read ([`render_data`]).
    pub(super) changes: Option<String>,
    /// The callback's version after the change (other resources have none).
    pub(super) version: Option<i64>,
    /// The callback's own webhook URL, which also receives the event.
    pub(super) webhook_url: Option<String>,
}

/// The details of an event as a JSON object (anything else is no details).
fn details_object(details: serde_json::Value) -> serde_json::Value {
    match details {
        serde_json::Value::Object(_) => details,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    }
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
        let data = serde_json::to_string(&Data {
            details: details_object(details),
            object: CallbackView::from(cb),
        })
        .unwrap_or_else(|_| "{}".to_owned());
        Self::of(cb, kind, at, data, None)
    }

    /// An event of the dispatch path (a claim, a start, a retry, an expiry), which changes only
    /// the fields of a [`DispatchChange`]: it stores those, and the whole view is rendered from
    /// the callback's earlier events when the event is read.
    pub(super) fn dispatch(
        cb: &Callback,
        kind: &'static str,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        let data = details_object(details).to_string();
        let changes = serde_json::to_string(&DispatchChange::from(cb)).ok();
        Self::of(cb, kind, at, data, changes)
    }

    /// An event storing the fields of the callback's view that differ between `before` and
    /// `after`.
    pub(super) fn between(
        before: &Callback,
        after: &Callback,
        kind: &'static str,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        let view = |cb| serde_json::to_value(CallbackView::from(cb)).ok();
        let (Some(serde_json::Value::Object(old)), Some(serde_json::Value::Object(new))) =
            (view(before), view(after))
        else {
            return Self::about(after, kind, at, details);
        };
        let changed: serde_json::Map<String, serde_json::Value> = new
            .into_iter()
            .filter(|(field, value)| old.get(field) != Some(value))
            .collect();
        let data = details_object(details).to_string();
        let changes = serde_json::Value::Object(changed).to_string();
        Self::of(after, kind, at, data, Some(changes))
    }

    fn of(
        cb: &Callback,
        kind: &'static str,
        at: Timestamp,
        data: String,
        changes: Option<String>,
    ) -> Self {
        Self {
            account_id: cb.account_id.as_str().to_owned(),
            resource_type: "callback",
            resource_id: cb.id.as_str().to_owned(),
            kind,
            at,
            data,
            changes,
            version: Some(cb.version as i64),
            webhook_url: cb.webhook_url.as_ref().map(|u| u.as_str().to_owned()),
        }
    }
}

/// An event as stored: what [`render_data`] needs to show its `data`.
pub(super) struct StoredData {
    pub(super) seq: i64,
    pub(super) resource_id: String,
    pub(super) data: String,
    pub(super) changes: Option<String>,
}

impl StoredData {
    pub(super) fn from_row(row: &DbRow) -> Result<Self, StoreError> {
        Ok(Self {
            seq: row.try_get("seq")?,
            resource_id: row.try_get("resource_id")?,
            data: row.try_get("data")?,
            changes: row.try_get("changes")?,
        })
    }
}

/// The columns [`StoredData::from_row`] reads.
pub(super) const STORED_DATA_COLUMNS: &str = "seq, resource_id, data, changes";

/// The `data` of each event as clients see it: its details and `object`, the resource as it
/// stood after the event. Events that store only their changes get the object of the latest
/// earlier event of their resource that holds it whole, with every change since applied.
pub(super) async fn render_data(
    conn: &mut DbConn,
    rows: &[StoredData],
) -> Result<Vec<serde_json::Value>, StoreError> {
    let pending: Vec<&StoredData> = rows.iter().filter(|r| r.changes.is_some()).collect();
    let objects = if pending.is_empty() {
        HashMap::new()
    } else {
        let last = pending.iter().map(|r| r.seq).max().unwrap_or(0);
        let mut resources: Vec<&str> = pending.iter().map(|r| r.resource_id.as_str()).collect();
        resources.sort_unstable();
        resources.dedup();
        let mut history = Vec::new();
        for chunk in resources.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT {STORED_DATA_COLUMNS} FROM events WHERE resource_id IN ("
            ));
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(") AND seq <= ").push_bind(last);
            for row in qb.build().fetch_all(&mut *conn).await? {
                history.push(StoredData::from_row(&row)?);
            }
        }
        history.sort_unstable_by_key(|r| r.seq);
        objects_after(&history)
    };
    rows.iter().map(|r| shown_data(r, &objects)).collect()
}

/// An event's `data` with the object rendered for it, if it stores only its changes.
fn shown_data(
    row: &StoredData,
    objects: &HashMap<i64, serde_json::Value>,
) -> Result<serde_json::Value, StoreError> {
    let mut data: serde_json::Value =
        serde_json::from_str(&row.data).map_err(|_| corrupt("event data", &row.data))?;
    if let (Some(object), serde_json::Value::Object(map)) = (objects.get(&row.seq), &mut data) {
        map.insert("object".to_owned(), object.clone());
    }
    Ok(data)
}

/// The object after each event of `history` (in log order) that stores only its changes:
/// the last whole object of its resource with the changes since applied in order.
fn objects_after(history: &[StoredData]) -> HashMap<i64, serde_json::Value> {
    let mut current: HashMap<&str, serde_json::Map<String, serde_json::Value>> = HashMap::new();
    let mut after = HashMap::new();
    for row in history {
        let resource = row.resource_id.as_str();
        match &row.changes {
            None => {
                if let Ok(serde_json::Value::Object(mut data)) = serde_json::from_str(&row.data)
                    && let Some(serde_json::Value::Object(object)) = data.remove("object")
                {
                    current.insert(resource, object);
                }
            }
            Some(changes) => {
                let object = current.entry(resource).or_default();
                if let Ok(serde_json::Value::Object(changes)) = serde_json::from_str(changes) {
                    object.extend(changes);
                }
                after.insert(row.seq, serde_json::Value::Object(object.clone()));
            }
        }
    }
    after
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
    let rows: Vec<Vec<Cell>> = events
        .iter()
        .zip(numbers)
        .map(|(e, number)| {
            vec![
                e.account_id.as_str().into(),
                e.resource_type.into(),
                e.resource_id.as_str().into(),
                e.kind.into(),
                ms(e.at).into(),
                e.data.as_str().into(),
                e.changes.clone().into(),
                e.version.into(),
                e.webhook_url.clone().into(),
                number.into(),
            ]
        })
        .collect();
    insert_rows(
        conn,
        "events",
        "account_id, resource_type, resource_id, type, occurred_at, data, changes, version, \
         webhook_url, account_seq",
        &rows,
    )
    .await?;
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
        let mut conn = self.reader.acquire().await?;
        history_on(&mut conn, account, id).await
    }
}

/// A callback's history, oldest first, each event with the object it shows.
pub(super) async fn history_on(
    conn: &mut DbConn,
    account: &AccountId,
    id: &CallbackId,
) -> Result<Vec<CallbackEvent>, StoreError> {
    {
        // `seq` and `account_seq` run in the same order within an account.
        let rows = sqlx::query(&format!(
            "SELECT account_seq, type, occurred_at, {STORED_DATA_COLUMNS} FROM events \
             WHERE resource_id = $1 AND account_id = $2 ORDER BY seq"
        ))
        .bind(id.as_str())
        .bind(account.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let stored = rows
            .iter()
            .map(StoredData::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        // The whole history is here: the objects are rendered from it.
        let objects = objects_after(&stored);
        rows.iter()
            .zip(stored)
            .map(|(row, stored)| {
                let data = shown_data(&stored, &objects)?;
                Ok(CallbackEvent {
                    id: crate::domain::StoredEvent::id_for(account, row.try_get("account_seq")?),
                    kind: row.try_get("type")?,
                    at: ts(row.try_get("occurred_at")?)?,
                    data,
                })
            })
            .collect()
    }
}
