//! The directory (`GET /ui/api/directory`): the agents and queues the page filters and assigns
//! by, and the dispositions (wrap-up codes) calls are completed with.

use axum::{Json, extract::State};

use super::{AppState, Viewer, my_agent};
use crate::api::error::ApiError;

/// Agents and queues to filter and assign by: the whole account for supervisors, the user's
/// own agent and queues for agents.
pub async fn directory(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = &viewer.principal.account_id;
    let (agents, queues) = if viewer.is_supervisor() {
        (
            state.store.list_agents(account).await?,
            state.store.list_queues(account).await?,
        )
    } else {
        let agent = my_agent(&state, &viewer).await?;
        let queues = state
            .store
            .list_queues(account)
            .await?
            .into_iter()
            .filter(|q| agent.queue_ids.contains(&q.id))
            .collect();
        (vec![agent], queues)
    };
    let dispositions = state.store.list_dispositions(account).await?;
    Ok(Json(serde_json::json!({
        "agents": agents.iter().map(|a| serde_json::json!({
            "id": a.id.as_str(), "name": a.name, "presence": a.presence.as_str(),
        })).collect::<Vec<_>>(),
        "queues": queues.iter().map(|q| serde_json::json!({
            "id": q.id.as_str(), "name": q.name,
        })).collect::<Vec<_>>(),
        "dispositions": dispositions.iter().map(|d| serde_json::json!({
            "code": d.code, "label": d.label, "outcome_class": d.outcome_class.as_str(),
            "final": d.is_final,
        })).collect::<Vec<_>>(),
    })))
}
