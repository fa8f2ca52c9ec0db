//! Compatible dialects: other vendors' callback APIs served on Ringback's own model, so code
//! written against them works with only the host and the credentials changed.
//!
//! - [`acefone`]: `POST /v1/dialer/schedule_call/` (an Acefone-style dialer).
//! - [`ai_calls`]: `POST /v1/calls/scheduled` and its call object (AI outbound calls).
//! - [`talkdesk`]: `/schedule-callbacks` (Talkdesk-style scheduled callbacks).
//! - [`kore`]: `POST /campaign/api/v2/public/{botId}/campaign/{id}/callContactAt` (Kore.ai-style
//!   campaign callbacks onto a native campaign's entries).
//! - [`campaign_list`]: `POST /campaign` (a campaign from a contact list).
//!
//! Architecture invariant: a dialect only translates. It parses the vendor's request into the
//! native domain types (with its own [`Origin`]), calls the same [`Store`] verbs as the native
//! handlers, and renders the vendor's answer from the stored [`Callback`]. It holds no SQL,
//! schedules nothing and keeps no state of its own; the native API sees what it creates.
//!
//! [`Store`]: crate::store::Store

use axum::{
    Router,
    http::StatusCode,
    response::{IntoResponse, Response},
};

use crate::app::AppState;
use crate::{
    api::{
        auth::Caller,
        callbacks::{Prepared, policy, prepare},
        error::{ApiError, set_retry_after},
        extract::{RawJson, parse_json},
    },
    domain::{
        Callback, ErrorCode, Origin,
        callback::{CreatePolicy, NewCallback},
    },
    store::InsertOutcome,
};

pub mod acefone;
pub mod ai_calls;
pub mod ai_calls_events;
pub mod campaign_list;
pub mod kore;
pub mod openapi;
pub mod talkdesk;

/// Every dialect's routes, to merge into the app's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(acefone::routes())
        .merge(ai_calls::routes())
        .merge(talkdesk::routes())
        .merge(kore::routes())
        .merge(campaign_list::routes())
}

/// Which vendor's error shape a path answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Acefone,
    AiCalls,
    Talkdesk,
    Kore,
    CampaignList,
}

impl Dialect {
    /// The dialect serving `path`, if any.
    pub fn for_path(path: &str) -> Option<Self> {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/v1/dialer/schedule_call") {
            Some(Self::Acefone)
        } else if under("/v1/calls/scheduled") {
            Some(Self::AiCalls)
        } else if under("/schedule-callbacks") || path.starts_with("/callbacks/") {
            Some(Self::Talkdesk)
        } else if path.starts_with(kore::PREFIX) {
            Some(Self::Kore)
        } else if path == campaign_list::PATH || path == "/campaign/" {
            Some(Self::CampaignList)
        } else {
            None
        }
    }

    /// `error` in this vendor's error shape (used for answers made outside the handlers: body
    /// limit, timeout).
    pub fn error_response(self, error: ApiError) -> Response {
        match self {
            Self::Acefone => acefone::error_response(error),
            Self::AiCalls => ai_calls::error_response(error),
            Self::Talkdesk => talkdesk::error_response(error),
            Self::Kore => kore::error_response(error),
            Self::CampaignList => campaign_list::error_response(error),
        }
    }
}

/// The answer to a method a dialect route does not serve, as `ApiError` (each dialect renders
/// it in its shape).
fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}

/// Reads a JSON body into a vendor request type, with the native error on failure.
fn body<T: serde::de::DeserializeOwned>(raw: Result<RawJson, ApiError>) -> Result<T, ApiError> {
    let RawJson(bytes) = raw?;
    parse_json(&bytes)
}

/// Renames the field an error names from the native name to the vendor's, with `rename`
/// mapping native names (or prefixes such as `assignment.ids`) to vendor names.
fn rename_field(error: &mut ApiError, rename: &[(&str, &str)]) {
    let Some(field) = &error.field else { return };
    for (native, vendor) in rename {
        if field == native {
            error.field = Some((*vendor).to_owned());
            return;
        }
        if let Some(rest) = field.strip_prefix(native)
            && (rest.starts_with('[') || rest.starts_with('.'))
        {
            error.field = Some(format!("{vendor}{rest}"));
            return;
        }
    }
}

/// Prepares a new callback exactly as the native create does ([`prepare`]: fields, lead time,
/// webhook URL, assignees, the dial decision) and stores it with `origin`. Vendor APIs have no
/// notion of a second active callback for a number being a conflict, so duplicates are allowed.
async fn schedule(
    state: &AppState,
    caller: &Caller,
    new: NewCallback,
    origin: Origin,
    min_lead: Option<jiff::SignedDuration>,
) -> Result<Callback, ApiError> {
    schedule_routed(state, caller, new, origin, min_lead, &[]).await
}

/// [`schedule`], with `also_waits_in` (queue ids of the account, already checked) added to the
/// keys of the waiting line the callback is offered under, beside its assigned agents: a
/// vendor's callback that is both assigned to an agent and routed through a queue.
async fn schedule_routed(
    state: &AppState,
    caller: &Caller,
    new: NewCallback,
    origin: Origin,
    min_lead: Option<jiff::SignedDuration>,
    also_waits_in: &[&str],
) -> Result<Callback, ApiError> {
    let mut policy: CreatePolicy = policy(state);
    if let Some(lead) = min_lead {
        policy.min_lead = policy.min_lead.max(lead);
    }
    // Prepared as on the native API, the dial decision included.
    let Prepared { mut callback, .. } = prepare(state, caller, new, origin, policy, "").await?;
    if let Some(assignment) = callback.assignment.as_mut() {
        assignment
            .ids
            .extend(also_waits_in.iter().map(|id| (*id).to_owned()));
    }
    match state
        .store
        .insert_callback(&callback, true, None, &caller.actor)
        .await?
    {
        InsertOutcome::Inserted => {
            tracing::debug!(callback_id = %callback.id, origin = origin.as_str(), "callback scheduled through a dialect");
            Ok(callback)
        }
        // Neither can happen without an idempotency key and with duplicates allowed.
        InsertOutcome::Replayed(_) | InsertOutcome::Duplicate { .. } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::DuplicateActiveCallback,
            "an active callback for this phone number already exists",
        )),
    }
}

/// A JSON answer with a status.
fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A vendor's error body with `status`, and `Retry-After` when there is a wait to tell (a rate
/// limit): every dialect's 429 carries it, as the native one does.
fn error_json(status: StatusCode, body: serde_json::Value, retry_after: Option<u64>) -> Response {
    let mut resp = json(status, body);
    set_retry_after(&mut resp, retry_after);
    resp
}

#[cfg(test)]
mod tests {
    use super::Dialect;

    #[test]
    fn paths_name_their_dialect_and_no_other() {
        for (path, dialect) in [
            ("/v1/dialer/schedule_call", Some(Dialect::Acefone)),
            ("/v1/dialer/schedule_call/", Some(Dialect::Acefone)),
            ("/v1/calls/scheduled", Some(Dialect::AiCalls)),
            ("/v1/calls/scheduled/cb_1/cancel", Some(Dialect::AiCalls)),
            ("/schedule-callbacks", Some(Dialect::Talkdesk)),
            ("/schedule-callbacks/cb_1", Some(Dialect::Talkdesk)),
            ("/schedule-callbacksX", None),
            ("/callbacks/cb_1", Some(Dialect::Talkdesk)),
            ("/campaign", Some(Dialect::CampaignList)),
            ("/campaign/", Some(Dialect::CampaignList)),
            (
                "/campaign/api/v2/public/st-1/campaign/cmp_1/callContactAt",
                Some(Dialect::Kore),
            ),
            ("/campaigns", None),
            ("/campaign/other", None),
            ("/v1/campaigns", None),
            ("/v1/callbacks", None),
            ("/v1/calls/scheduledx", None),
        ] {
            assert_eq!(Dialect::for_path(path), dialect, "{path}");
        }
    }
}
