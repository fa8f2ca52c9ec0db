//! The JSON endpoints of the Callback Manager (`/ui/api/...`). Each one takes the [`Viewer`]
//! (session cookie, CSRF header on changes), decides what their role may see, and hands over
//! to the native API's handler or `Store` verb with the viewer's principal, so the account
//! scoping, validation and audit trail are the API's own.
//!
//! One file per page or concern of the Callback Manager:
//! - `list`: the Callbacks page's list (search, sort, paging) and its CSV export.
//! - `live`: the Callbacks page's live updates (Server-Sent Events).
//! - `callback`: one callback: create, detail, change, cancel, notes.
//! - `bulk`: bulk cancel or reschedule of a selection.
//! - `directory`: agents and queues to filter and assign by.
//! - `reports`: the Reports page's figures.
//! - `campaigns`: the Campaigns page: list, pause, resume, cancel.
//! - `my_work`: the agent's My work page (`/ui/api/me/...`).
//!
//! This file holds what they share: who may see a callback, and the agent a user works as.

use axum::http::StatusCode;

use super::Viewer;
use crate::{
    api::{callbacks::callback_id, error::ApiError},
    app::AppState,
    domain::{Callback, ErrorCode, agent::Agent},
};

mod bulk;
mod callback;
mod campaigns;
mod directory;
mod list;
mod live;
mod my_work;
mod reports;

pub use bulk::{BulkRequest, BulkResponse, BulkResult, bulk};
pub use callback::{NoteRequest, add_note, cancel, change, create, detail};
pub use campaigns::{campaigns, cancel_campaign, pause_campaign, resume_campaign};
pub use directory::directory;
pub use list::{Page, SearchQuery, export, list};
pub use live::live;
pub use my_work::{accept, complete, my_callbacks, my_events, presence, reject};
pub use reports::reports;

fn forbidden(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
}

/// The agent an agent user works as (403 for users without one).
async fn my_agent(state: &AppState, viewer: &Viewer) -> Result<Agent, ApiError> {
    let id = viewer
        .user
        .agent_id
        .clone()
        .ok_or_else(|| forbidden("this user is not linked to an agent"))?;
    state
        .store
        .get_agent(&viewer.principal.account_id, &id)
        .await?
        .ok_or_else(|| forbidden("the agent this user works as was deleted"))
}

/// May this agent see the callback? When they hold it, or it is assigned to them or to one of
/// their queues (the native API's rule for agents' actions).
fn agent_may_see(agent: &Agent, cb: &Callback) -> bool {
    cb.agent_id.as_ref() == Some(&agent.id)
        || cb.assignment.as_ref().is_some_and(|a| {
            a.ids.iter().any(|id| {
                id == agent.id.as_str() || agent.queue_ids.iter().any(|q| q.as_str() == id)
            })
        })
}

/// The callback, if the viewer may see it (404 otherwise, like another account's).
async fn visible_callback(
    state: &AppState,
    viewer: &Viewer,
    raw: &str,
) -> Result<(Callback, Option<Agent>), ApiError> {
    let id = callback_id(raw)?;
    let cb = crate::api::callbacks::stored_callback(
        state.store.as_ref(),
        &viewer.principal.account_id,
        &id,
    )
    .await?;
    if viewer.is_supervisor() {
        return Ok((cb, None));
    }
    let agent = my_agent(state, viewer).await?;
    if agent_may_see(&agent, &cb) {
        Ok((cb, Some(agent)))
    } else {
        Err(ApiError::not_found("callback"))
    }
}
