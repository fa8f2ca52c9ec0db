//! Creating callbacks: single creates committed in groups, batches, the duplicate and
//! idempotency-key checks they share, and the idempotency keys' upkeep.

use std::{collections::HashMap, sync::Arc};

use jiff::Timestamp;
use sqlx::QueryBuilder;
use tokio::sync::{mpsc, oneshot};

use super::{
    ACTIVE, Cell, Db, DbConn, DbPool, INSERTED_COLUMNS, ROWS_PER_INSERT, SqlStore,
    audit::{AuditRow, callback_audit, insert_audit, insert_audit_rows},
    begin_write,
    events::{NewEvent, insert_event_refs},
    insert_rows, ms, plan_for_values,
    rows::callback_cells,
};
use crate::domain::{AccountId, Actor, AuditRecord, Callback, CallbackId};
use crate::store::{BatchItem, DueSignal, IdempotentResponse, InsertOutcome, StoreError};

/// One single-callback insert waiting for the group commit.
pub(super) struct InsertJob {
    callback: Callback,
    allow_duplicate: bool,
    idempotency: Option<IdempotentResponse>,
    actor: Actor,
    /// Its event and audit entry, prepared by the caller's task.
    event: NewEvent,
    audit: AuditRecord,
    reply: oneshot::Sender<Result<InsertOutcome, StoreError>>,
}

/// A callback to insert, as seen by [`insert_group`].
struct InsertRequest<'a> {
    callback: &'a Callback,
    allow_duplicate: bool,
    idempotency: Option<&'a IdempotentResponse>,
    /// Who asked and the audit entry to write; `None` when the caller audits the group as a
    /// whole.
    audit: Option<(&'a Actor, &'a AuditRecord)>,
    event: &'a NewEvent,
}

pub(super) async fn insert_callback_rows(
    conn: &mut DbConn,
    rows: &[&Callback],
    events: &[&NewEvent],
) -> Result<(), StoreError> {
    let cells: Vec<Vec<Cell>> = rows.iter().map(|cb| callback_cells(cb)).collect();
    insert_rows(conn, "callbacks", INSERTED_COLUMNS, &cells).await?;
    insert_event_refs(conn, events).await
}

/// The `callback.created` event of a new callback, built before the write transaction so the
/// writer is not held while it is serialized.
pub(super) fn created_event(cb: &Callback) -> NewEvent {
    NewEvent::about(cb, "callback.created", cb.created_at, serde_json::json!({}))
}

/// Commits concurrent single inserts together: one transaction for every job waiting, instead
/// of one per request. Each job still gets its own answer, and a `201` is sent only after the
/// commit that holds its row. Concurrent requests are what make groups; a lone request is
/// committed alone, at once.
pub(super) async fn commit_inserts(
    writer: DbPool,
    mut jobs: mpsc::UnboundedReceiver<InsertJob>,
    wake: [Arc<DueSignal>; 2],
    events: Arc<DueSignal>,
) {
    const MAX_GROUP: usize = 256;
    let mut group = Vec::with_capacity(MAX_GROUP);
    while jobs.recv_many(&mut group, MAX_GROUP).await > 0 {
        let requests: Vec<InsertRequest> = group
            .iter()
            .map(|j| InsertRequest {
                callback: &j.callback,
                allow_duplicate: j.allow_duplicate,
                idempotency: j.idempotency.as_ref(),
                audit: Some((&j.actor, &j.audit)),
                event: &j.event,
            })
            .collect();
        let result = async {
            let mut tx = begin_write(&writer).await?;
            let outcomes = insert_group(&mut tx, &requests).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(outcomes)
        }
        .await;
        match result {
            Ok(outcomes) => {
                announce_earliest(&wake, &requests, &outcomes);
                events.notify();
                drop(requests);
                for (job, outcome) in group.drain(..).zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                drop(requests);
                let message = e.to_string();
                for job in group.drain(..) {
                    let _ = job.reply.send(Err(StoreError::Write(message.clone())));
                }
            }
        }
    }
}

/// Wakes the scheduler (`[0]`) for the earliest new bridge work, and the router (`[1]`) for the
/// earliest preview callback or reminder.
fn announce_earliest(
    wake: &[Arc<DueSignal>; 2],
    requests: &[InsertRequest],
    outcomes: &[InsertOutcome],
) {
    let inserted = || {
        requests
            .iter()
            .zip(outcomes)
            .filter(|(_, o)| matches!(o, InsertOutcome::Inserted))
            .map(|(r, _)| r.callback)
    };
    let bridge = inserted()
        .filter(|cb| !cb.dialing_mode.waits_for_agent())
        .map(|cb| cb.due_at)
        .min();
    let routing = inserted()
        .flat_map(|cb| {
            let preview = cb.dialing_mode.waits_for_agent().then_some(cb.due_at);
            preview.into_iter().chain(cb.reminder_at())
        })
        .min();
    if let Some(at) = bridge {
        wake[0].announce(at);
    }
    if let Some(at) = routing {
        wake[1].announce(at);
    }
}

/// Inserts one callback inside the caller's write transaction as a single create does (its
/// idempotency key, the duplicate check, its event and audit entry), for a write that checks
/// more in the same transaction (a slot booking).
pub(super) async fn insert_one(
    conn: &mut DbConn,
    callback: &Callback,
    allow_duplicate: bool,
    idempotency: Option<&IdempotentResponse>,
    actor: &Actor,
) -> Result<InsertOutcome, StoreError> {
    let event = created_event(callback);
    let audit = callback_audit("callback.create", None, callback);
    let request = InsertRequest {
        callback,
        allow_duplicate,
        idempotency,
        audit: Some((actor, &audit)),
        event: &event,
    };
    let mut outcomes = insert_group(conn, std::slice::from_ref(&request)).await?;
    Ok(outcomes.pop().expect("one outcome per request"))
}

/// Inserts callbacks inside the caller's transaction, deciding for each whether it is a replay
/// of an idempotency key, a duplicate of an active callback for the same phone (in the store or
/// earlier in the group), or new. A handful of statements whatever the group's size.
async fn insert_group(
    conn: &mut DbConn,
    requests: &[InsertRequest<'_>],
) -> Result<Vec<InsertOutcome>, StoreError> {
    // Idempotency keys already used.
    let mut seen_keys: HashMap<(String, String), IdempotentResponse> = HashMap::new();
    for r in requests {
        let Some(idem) = r.idempotency else { continue };
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request_hash, status, body FROM idempotency_keys \
             WHERE account_id = $1 AND key = $2",
        )
        .bind(r.callback.account_id.as_str())
        .bind(&idem.key)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((request_hash, status, body)) = row {
            seen_keys.insert(
                (r.callback.account_id.as_str().to_owned(), idem.key.clone()),
                IdempotentResponse {
                    key: idem.key.clone(),
                    request_hash,
                    status: status as u16,
                    body,
                },
            );
        }
    }

    // Active callbacks already holding the phones asked for, per account.
    let mut holders: HashMap<(String, String), CallbackId> = HashMap::new();
    let mut by_account: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in requests.iter().filter(|r| !r.allow_duplicate) {
        by_account
            .entry(r.callback.account_id.as_str())
            .or_default()
            .push(r.callback.phone.as_str());
    }
    if !by_account.is_empty() {
        plan_for_values(conn).await?;
    }
    for (account, phones) in by_account {
        for chunk in phones.chunks(ROWS_PER_INSERT) {
            let mut qb: QueryBuilder<Db> =
                QueryBuilder::new("SELECT phone, id FROM callbacks WHERE account_id = ");
            qb.push_bind(account);
            qb.push(format!(" AND status IN {ACTIVE} AND phone IN ("));
            let mut sep = qb.separated(", ");
            for phone in chunk {
                sep.push_bind(*phone);
            }
            qb.push(")");
            let rows: Vec<(String, String)> = qb.build_query_as().fetch_all(&mut *conn).await?;
            for (phone, id) in rows {
                holders
                    .entry((account.to_owned(), phone))
                    .or_insert_with(|| CallbackId::from_trusted(id));
            }
        }
    }

    let mut outcomes = Vec::with_capacity(requests.len());
    let mut to_insert = Vec::with_capacity(requests.len());
    let mut to_insert_events = Vec::with_capacity(requests.len());
    let mut new_keys = Vec::new();
    for r in requests {
        let cb = r.callback;
        let account = cb.account_id.as_str().to_owned();
        if let Some(idem) = r.idempotency
            && let Some(seen) = seen_keys.get(&(account.clone(), idem.key.clone()))
        {
            outcomes.push(InsertOutcome::Replayed(seen.clone()));
            continue;
        }
        let phone_key = (account.clone(), cb.phone.as_str().to_owned());
        if !r.allow_duplicate
            && let Some(existing) = holders.get(&phone_key)
        {
            outcomes.push(InsertOutcome::Duplicate {
                existing_id: existing.clone(),
            });
            continue;
        }
        holders.entry(phone_key).or_insert_with(|| cb.id.clone());
        if let Some(idem) = r.idempotency {
            seen_keys.insert((account, idem.key.clone()), idem.clone());
            new_keys.push((cb, idem));
        }
        to_insert.push(cb);
        to_insert_events.push(r.event);
        outcomes.push(InsertOutcome::Inserted);
    }
    insert_callback_rows(conn, &to_insert, &to_insert_events).await?;
    // The confirmations and reminders they bring, in the same transaction.
    super::notifications::enqueue_created(conn, &to_insert).await?;
    let rows: Vec<AuditRow> = requests
        .iter()
        .zip(&outcomes)
        .filter_map(|(r, outcome)| match (r.audit, outcome) {
            (Some((actor, record)), InsertOutcome::Inserted) => Some((
                r.callback.account_id.as_str(),
                actor,
                r.callback.created_at,
                record,
            )),
            _ => None,
        })
        .collect();
    insert_audit_rows(conn, &rows).await?;
    for chunk in new_keys.chunks(ROWS_PER_INSERT) {
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, status, body, created_at) ",
        );
        qb.push_values(chunk, |mut b, (cb, idem)| {
            b.push_bind(cb.account_id.as_str())
                .push_bind(idem.key.as_str())
                .push_bind(idem.request_hash.as_str())
                .push_bind(i64::from(idem.status))
                .push_bind(idem.body.as_str())
                .push_bind(ms(cb.created_at));
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(outcomes)
}

impl SqlStore {
    pub(super) async fn find_idempotent_response(
        &self,
        account: &AccountId,
        key: &str,
    ) -> Result<Option<IdempotentResponse>, StoreError> {
        let row: Option<(String, i64, String)> = sqlx::query_as(
            "SELECT request_hash, status, body FROM idempotency_keys WHERE account_id = $1 AND key = $2",
        )
        .bind(account.as_str())
        .bind(key)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(|(request_hash, status, body)| IdempotentResponse {
            key: key.to_owned(),
            request_hash,
            status: status as u16,
            body,
        }))
    }

    pub(super) async fn insert_callback(
        &self,
        callback: &Callback,
        allow_duplicate: bool,
        idempotency: Option<&IdempotentResponse>,
        actor: &Actor,
    ) -> Result<InsertOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = InsertJob {
            event: created_event(callback),
            audit: callback_audit("callback.create", None, callback),
            callback: callback.clone(),
            allow_duplicate,
            idempotency: idempotency.cloned(),
            actor: actor.clone(),
            reply,
        };
        self.inserts
            .send(job)
            .map_err(|_| StoreError::Write("the insert writer has stopped".to_owned()))?;
        answer
            .await
            .map_err(|_| StoreError::Write("the insert writer has stopped".to_owned()))?
    }

    pub(super) async fn insert_callbacks(
        &self,
        items: &[BatchItem],
        actor: &Actor,
    ) -> Result<Vec<Option<CallbackId>>, StoreError> {
        let events: Vec<NewEvent> = items.iter().map(|i| created_event(&i.callback)).collect();
        let requests: Vec<InsertRequest> = items
            .iter()
            .zip(&events)
            .map(|(i, event)| InsertRequest {
                callback: &i.callback,
                allow_duplicate: i.allow_duplicate,
                idempotency: None,
                audit: None,
                event,
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let outcomes = insert_group(&mut tx, &requests).await?;
        // One audit entry for the batch, naming every callback it created.
        let mut by_account: HashMap<&str, (Vec<&str>, Timestamp)> = HashMap::new();
        for (r, o) in requests.iter().zip(&outcomes) {
            if matches!(o, InsertOutcome::Inserted) {
                let entry = by_account
                    .entry(r.callback.account_id.as_str())
                    .or_insert_with(|| (Vec::new(), r.callback.created_at));
                entry.0.push(r.callback.id.as_str());
            }
        }
        for (account, (ids, at)) in by_account {
            let record = AuditRecord {
                action: "callback.create_batch",
                resource_type: "callback",
                resource_id: None,
                changes: serde_json::json!({ "created": ids }),
            };
            insert_audit(&mut tx, account, actor, at, &[record]).await?;
        }
        tx.commit().await?;
        announce_earliest(
            &[self.due.clone(), self.routing.clone()],
            &requests,
            &outcomes,
        );
        self.events.notify();
        Ok(outcomes
            .into_iter()
            .map(|o| match o {
                InsertOutcome::Duplicate { existing_id } => Some(existing_id),
                _ => None,
            })
            .collect())
    }

    pub(super) async fn purge_idempotency_keys(
        &self,
        before: Timestamp,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(ms(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
