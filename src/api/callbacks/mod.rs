//! `/v1/callbacks`: schedule, list, read, change, cancel and report on callbacks.
//!
//! Scheduling one or a batch is in [`create`], the list and one callback's record in [`read`],
//! rescheduling, canceling and outcome reports in [`change`], why one is not dialled in
//! [`eligibility`]; [`prepare`] turns every request for a new callback (native, batch item,
//! dialect, the Callback Manager's) into one ready to store, and [`judge`] applies the dial
//! decision to callbacks about to be stored. What
//! they share (the create policy, reading ids, the duplicate error) is here.

use axum::http::StatusCode;
use jiff::SignedDuration;
use serde::Deserialize;

use super::error::ApiError;
use crate::app::AppState;
use crate::domain::{CallbackId, ErrorCode, callback::CreatePolicy};

pub mod change;
pub mod create;
pub mod eligibility;
pub mod judge;
pub mod prepare;
pub mod read;

pub use change::{OutcomeRequest, PatchRequest, cancel, outcome, patch};
pub(crate) use change::{apply_changes, check_editable, judge_changes, outcome_report, reschedule};
pub(crate) use create::create_as;
pub use create::{create, create_batch};
pub use eligibility::eligibility;
pub(crate) use judge::{check_assignees, check_fallback_queue};
pub(crate) use prepare::{Prepared, prepare, prepare_at};
pub use read::{get, list};

pub const MAX_BATCH: usize = 1_000;

pub(crate) fn policy(state: &AppState) -> CreatePolicy {
    CreatePolicy {
        min_lead: SignedDuration::from_secs(state.settings.min_lead_seconds as i64),
    }
}

/// The account's callback `id`, or 404 naming a callback (another account's looks the same).
pub(crate) async fn stored_callback(
    store: &dyn crate::store::Store,
    account: &crate::domain::AccountId,
    id: &crate::domain::CallbackId,
) -> Result<crate::domain::Callback, ApiError> {
    store
        .get_callback(account, id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))
}

pub(crate) fn callback_id(raw: &str) -> Result<CallbackId, ApiError> {
    // A malformed id cannot name a callback: same answer as an unknown one.
    CallbackId::parse(raw).ok_or_else(|| ApiError::not_found("callback"))
}

pub(crate) fn duplicate(existing_id: &CallbackId) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        ErrorCode::DuplicateActiveCallback,
        "an active callback for this phone number already exists; \
         set allow_duplicate to schedule another",
    )
    .field("phone")
    .with("existing_id", existing_id.to_string())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// `true`: check everything and answer `200` with what would be stored, storing nothing.
    pub dry_run: Option<bool>,
}

pub(super) use crate::domain::present;
