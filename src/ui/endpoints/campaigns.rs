//! The Campaigns page (`/ui/api/campaigns`): the account's campaigns with their totals, and
//! pausing, resuming and canceling one (supervisors).

use axum::{
    Json,
    extract::{Path, State},
};

use super::{AppState, Viewer};
use crate::{
    api::{
        campaigns::{self, CampaignView},
        error::ApiError,
    },
    domain::Scope,
};

/// The most campaigns the page lists.
const CAMPAIGNS_SHOWN: u32 = 100;

/// The account's campaigns, newest first, each with its totals (supervisors).
pub async fn campaigns(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Json<Vec<CampaignView>>, ApiError> {
    viewer.require_supervisor()?;
    let account = &viewer.principal.account_id;
    let list = state
        .store
        .list_campaigns(account, None, CAMPAIGNS_SHOWN)
        .await?;
    let mut out = Vec::with_capacity(list.len());
    for campaign in &list {
        // A campaign gone between the two reads is left out.
        if let Some((c, totals)) = state.store.get_campaign(account, &campaign.id).await? {
            out.push(CampaignView::new(&c, Some(totals)));
        }
    }
    Ok(Json(out))
}

/// The viewer's principal allowed to change campaigns (supervisors only).
fn campaign_principal(viewer: Viewer) -> Result<crate::domain::Principal, ApiError> {
    viewer.require_supervisor()?;
    let mut principal = viewer.principal;
    principal.scopes.push(Scope::CampaignsWrite);
    Ok(principal)
}

/// Pause a campaign (supervisors): the native `POST /v1/campaigns/{id}/pause`.
pub async fn pause_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::pause(State(state), campaign_principal(viewer)?, Path(id)).await
}

/// Resume a paused campaign (supervisors).
pub async fn resume_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::resume(State(state), campaign_principal(viewer)?, Path(id)).await
}

/// Cancel a campaign (supervisors): its calls not yet placed are canceled.
pub async fn cancel_campaign(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<CampaignView>, ApiError> {
    campaigns::cancel(State(state), campaign_principal(viewer)?, Path(id)).await
}
