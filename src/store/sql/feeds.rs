//! Agents' feeds: the entries written in the transaction of the change they tell of, and who
//! hears about a callback.

use super::{Db, DbConn};
use jiff::Timestamp;
use serde_json::json;
use sqlx::QueryBuilder;

use super::{
    ROWS_PER_STATEMENT,
    events::{Numbering, number_rows},
    ms,
};
use crate::domain::{AssigneeKind, Callback, CallbackView, ids::AgentId, routing::AgentEventKind};
use crate::store::StoreError;

/// An entry for an agent's feed, written in the transaction of the change it tells of.
pub(super) struct NewAgentEvent {
    account_id: String,
    agent_id: String,
    kind: AgentEventKind,
    callback_id: Option<String>,
    at: Timestamp,
    data: serde_json::Value,
}

impl NewAgentEvent {
    pub(super) fn agent(&self) -> &str {
        &self.agent_id
    }

    /// About a callback: the callback as it now stands under `callback`, details beside it.
    pub(super) fn about(
        agent: &str,
        cb: &Callback,
        kind: AgentEventKind,
        at: Timestamp,
        details: serde_json::Value,
    ) -> Self {
        let mut data = match details {
            serde_json::Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        data.insert(
            "callback".to_owned(),
            serde_json::to_value(CallbackView::from(cb)).unwrap_or_default(),
        );
        Self {
            account_id: cb.account_id.as_str().to_owned(),
            agent_id: agent.to_owned(),
            kind,
            callback_id: Some(cb.id.as_str().to_owned()),
            at,
            data: serde_json::Value::Object(data),
        }
    }

    pub(super) fn presence(
        account: &str,
        agent: &str,
        presence: &str,
        reason: &str,
        at: Timestamp,
    ) -> Self {
        Self {
            account_id: account.to_owned(),
            agent_id: agent.to_owned(),
            kind: AgentEventKind::Presence,
            callback_id: None,
            at,
            data: json!({ "presence": presence, "reason": reason }),
        }
    }
}

/// Appends entries to agents' feeds, each numbered in its account (the feed's event ids).
pub(super) async fn insert_agent_events(
    conn: &mut DbConn,
    events: &[NewAgentEvent],
) -> Result<(), StoreError> {
    let accounts: Vec<String> = events.iter().map(|e| e.account_id.clone()).collect();
    let numbers = number_rows(conn, Numbering::AgentEvents, &accounts).await?;
    for start in (0..events.len()).step_by(ROWS_PER_STATEMENT) {
        let rows = start..events.len().min(start + ROWS_PER_STATEMENT);
        let mut qb: QueryBuilder<Db> = QueryBuilder::new(
            "INSERT INTO agent_events (account_id, agent_id, type, callback_id, occurred_at, data, \
             account_seq) ",
        );
        qb.push_values(rows, |mut b, i| {
            let e = &events[i];
            b.push_bind(e.account_id.as_str())
                .push_bind(e.agent_id.as_str())
                .push_bind(e.kind.as_str())
                .push_bind(e.callback_id.as_deref())
                .push_bind(ms(e.at))
                .push_bind(e.data.to_string())
                .push_bind(numbers[i]);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Who hears about a callback: the agent holding it, its assigned agents and the members of its
/// queues (live agents only), each once.
pub(super) async fn recipients(
    conn: &mut DbConn,
    cb: &Callback,
) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = cb.agent_id.iter().map(|a| a.as_str().to_owned()).collect();
    let Some(assignment) = cb.assignment.as_ref().filter(|a| !a.ids.is_empty()) else {
        return Ok(out);
    };
    let mut qb: QueryBuilder<Db> = match assignment.kind {
        AssigneeKind::Agent => {
            QueryBuilder::new("SELECT id FROM agents WHERE deleted_at IS NULL AND account_id = ")
        }
        AssigneeKind::Queue => QueryBuilder::new(
            "SELECT DISTINCT m.agent_id FROM queue_members m JOIN agents a ON a.id = m.agent_id \
             WHERE a.deleted_at IS NULL AND m.account_id = ",
        ),
    };
    qb.push_bind(cb.account_id.as_str());
    qb.push(match assignment.kind {
        AssigneeKind::Agent => " AND id IN (",
        AssigneeKind::Queue => " AND m.queue_id IN (",
    });
    let mut sep = qb.separated(", ");
    for id in &assignment.ids {
        sep.push_bind(id.as_str());
    }
    qb.push(")");
    for id in qb
        .build_query_scalar::<String>()
        .fetch_all(&mut *conn)
        .await?
    {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// The feed entries telling every recipient of `cb` about it.
pub(super) async fn tell_recipients(
    conn: &mut DbConn,
    cb: &Callback,
    kind: AgentEventKind,
    now: Timestamp,
    details: serde_json::Value,
    except: Option<&AgentId>,
) -> Result<Vec<NewAgentEvent>, StoreError> {
    Ok(recipients(conn, cb)
        .await?
        .into_iter()
        .filter(|a| except.is_none_or(|e| e.as_str() != a))
        .map(|a| NewAgentEvent::about(&a, cb, kind, now, details.clone()))
        .collect())
}
