//! `GET /v1/callbacks/{id}/eligibility`: why a callback is not being dialled, every rule that
//! blocks it now and when each lifts.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;

use super::{
    super::{
        authorized::{Authorized, scope},
        error::ApiError,
    },
    callback_id,
};
use crate::app::AppState;
use crate::domain::{
    Status,
    dialing::{Block, BlockCode, Facts, ZoneSource, decide, earliest_dial},
};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Eligibility {
    pub callback_id: String,
    pub status: Status,
    /// Nothing blocks it but its time: it is dialled (or offered) at `effective_dial_at`.
    pub eligible: bool,
    /// When it will be dialled (or offered) if nothing changes but time, every rule applied;
    /// `null` when no time will do, or it is not `scheduled`.
    pub effective_dial_at: Option<String>,
    pub blocked_by: Vec<BlockView>,
    /// Where its zone came from (`request`, `contact`, `number`, `number_ambiguous`).
    pub timezone_source: ZoneSource,
    /// Every zone the calling window is judged in.
    pub timezones: Vec<String>,
}

/// A rule that stops a call now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BlockView {
    /// `final_state`, `not_due`, `dnc`, `attempt_cap`, `quiet_period`, `calling_window`,
    /// `campaign_paused`, `pacing`, `no_agent`.
    pub rule: BlockCode,
    pub reason: String,
    /// When the block lifts by itself, if it does.
    pub until: Option<String>,
}

impl From<&Block> for BlockView {
    fn from(b: &Block) -> Self {
        Self {
            rule: b.code,
            reason: b.reason.clone(),
            until: b.until.map(|t| t.to_string()),
        }
    }
}

#[utoipa::path(
    get, path = "/v1/callbacks/{id}/eligibility", operation_id = "callback_eligibility",
    tag = "callbacks", summary = "What currently stops a callback from being dialled",
    description = "The dial decision, now: every rule that blocks the callback (`not_due`, \
        `dnc`, `no_consent`, `attempt_cap`, `quiet_period`, `calling_window`, `campaign_paused`, `pacing`, \
        `no_agent` for preview callbacks, `final_state`), with when each lifts. The dispatch \
        guard and the preview offers apply the same decision.",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    responses(
        (status = 200, description = "The rules.", body = Eligibility),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn eligibility(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Json<Eligibility>, ApiError> {
    let id = callback_id(&id)?;
    let cb = super::stored_callback(state.store.as_ref(), &caller.account_id, &id).await?;
    let now = state.clock.now();
    let mut known = state
        .store
        .dial_facts(&caller.account_id, &[&cb], now)
        .await?;
    let call = known.calls.pop().unwrap_or_default();
    let location = cb.location();
    // Free agents matter to a preview callback that is not with one yet.
    let free_agents = call
        .free_agents
        .filter(|_| matches!(cb.status, Status::Scheduled | Status::Waiting));
    let facts = Facts {
        on_dnc: call.on_dnc,
        consent: call.consent,
        campaign: call.campaign,
        free_agents,
        ..Facts::of(&cb, &location, &call.history)
    };
    let decision = decide(&facts, &known.settings, now);
    Ok(Json(Eligibility {
        callback_id: cb.id.to_string(),
        status: cb.status,
        eligible: decision.blocks.iter().all(|b| b.code == BlockCode::NotDue),
        effective_dial_at: (cb.status == Status::Scheduled)
            .then(|| earliest_dial(&facts, &known.settings, now).ok())
            .flatten()
            .map(|t| t.to_string()),
        blocked_by: decision.blocks.iter().map(BlockView::from).collect(),
        timezone_source: location.source(),
        timezones: location.zone_names(),
    }))
}
