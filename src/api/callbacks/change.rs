//! Changes to a callback: `PATCH /v1/callbacks/{id}` (reschedule, reassign, annotate),
//! `POST /v1/callbacks/{id}/cancel` and `POST /v1/callbacks/{id}/outcome`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;

use super::judge::{Judged, check_assignees, decide_each, facts_of, only};
use super::{
    super::{
        auth::Caller,
        authorized::{Authorized, scope},
        error::ApiError,
        extract::ApiJson,
    },
    callback_id, policy, present,
};
use crate::{
    app::AppState,
    domain::{
        Assignment, Callback, CallbackView, ErrorCode, Outcome, Status, Zone,
        callback::{MAX_NAME, MAX_TEXT, Move, check_assignment, check_lead_time, check_metadata},
        parse_scheduled_at,
        routing::{Skills, parse_priority},
    },
    store::{CallbackChanges, OutcomeReport, Reschedule},
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    /// Reschedule: RFC 3339, or a local date-time read in `timezone` (the new one if given).
    pub scheduled_at: Option<String>,
    pub timezone: Option<String>,
    /// Reassign; null removes the assignment.
    #[serde(default, deserialize_with = "present")]
    pub assignment: Option<Option<Assignment>>,
    #[serde(default, deserialize_with = "present")]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub contact_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<serde_json::Value>>,
    /// 0 to 100: its place among the callbacks agents may take.
    pub priority: Option<i64>,
    /// The skills (levels 1 to 5) the agent who takes it must hold; null or `{}` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub skills: Option<Option<serde_json::Value>>,
    /// Move to a slot of the callback's queue (an `id` of `GET /v1/availability`): its start
    /// becomes the time, its places are counted again as a booking's are (`409 slot_full`,
    /// `slot_unavailable`). Alone: not with `scheduled_at`, `timezone` or `assignment`.
    pub slot_id: Option<String>,
}

/// Reschedule, reassign or annotate a callback that has not started.
#[utoipa::path(
    patch, path = "/v1/callbacks/{id}", operation_id = "update_callback", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    request_body = PatchRequest,
    responses(
        (status = 200, description = "The changed callback.", body = CallbackView),
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
        (status = 409, description = "`invalid_state`: the callback is no longer `scheduled` (`status` names its state), or it changed while this request ran. With `slot_id`: `slot_full` or `slot_unavailable`, with `next_slots`.", body = crate::api::error::ErrorBody),
        (status = 413, response = crate::api::error::PayloadTooLarge),
        (status = 415, response = crate::api::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn patch(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let id = callback_id(&id)?;
    let current = super::stored_callback(state.store.as_ref(), &caller.account_id, &id).await?;
    check_editable(&current, "change")?;
    if let Some(slot) = &req.slot_id {
        let alone = req.scheduled_at.is_none()
            && req.timezone.is_none()
            && req.assignment.is_none()
            && req.notes.is_none()
            && req.contact_name.is_none()
            && req.metadata.is_none()
            && req.priority.is_none()
            && req.skills.is_none();
        if !alone {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                "send slot_id alone: its start is the new time and its queue the assignment",
            )
            .field("slot_id"));
        }
        let cb = crate::api::availability::move_to_slot(&state, &caller, &current, slot).await?;
        return Ok(Json(CallbackView::with_link(&cb, &state.links)));
    }
    let mut changes = CallbackChanges {
        scheduled_at: new_time(&state, &current, req.scheduled_at, req.timezone)?,
        ..CallbackChanges::default()
    };
    if let Some(assignment) = req.assignment {
        if let Some(a) = &assignment {
            check_assignment(a, "assignment")?;
        }
        check_assignees(&state, &caller, assignment.as_ref(), "").await?;
        changes.assignment = Some(assignment);
    }
    let limit_text = |v: Option<Option<String>>, field: &str, max: usize| match &v {
        Some(Some(s)) if s.chars().count() > max => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("must be at most {max} characters"),
        )
        .field(field)),
        _ => Ok(v),
    };
    changes.notes = limit_text(req.notes, "notes", MAX_TEXT)?;
    changes.contact_name = limit_text(req.contact_name, "contact_name", MAX_NAME)?;
    if let Some(metadata) = req.metadata {
        changes.metadata = Some(check_metadata(metadata, "metadata")?);
    }
    if let Some(priority) = req.priority {
        changes.priority = Some(parse_priority(Some(priority), "priority")?);
    }
    if let Some(skills) = req.skills {
        changes.skills = Some(Skills::parse(
            skills.as_ref().unwrap_or(&serde_json::Value::Null),
            "skills",
        )?);
    }
    if changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingField,
            "nothing to change: send at least one of scheduled_at, timezone, assignment, \
             notes, contact_name, metadata, priority, skills, slot_id",
        ));
    }
    let (cb, judged) = apply_changes(&state, &caller, &current, &changes, "change").await?;
    let mut view = CallbackView::with_link(&cb, &state.links);
    if let Some(judged) = judged {
        view.effective_dial_at = judged.effective_dial_at.map(|t| t.to_string());
        view.explanation = (!judged.explanation.is_empty()).then_some(judged.explanation);
    }
    if let Some(skills) = &changes.skills
        && let Some(warning) = unheld_skills(&state, &caller, skills).await?
    {
        view.explanation.get_or_insert_with(Vec::new).push(warning);
    }
    Ok(Json(view))
}

/// A warning when `skills` names skills no agent of the account holds: the callback is stored
/// (agents may be given them later) but waits until an agent holds them or a queue relaxes
/// them.
pub(crate) async fn unheld_skills(
    state: &AppState,
    caller: &Caller,
    skills: &Skills,
) -> Result<Option<String>, ApiError> {
    if skills.is_empty() {
        return Ok(None);
    }
    let held = state.store.held_skills(&caller.account_id).await?;
    let unheld: Vec<&str> = skills.names().filter(|n| !held.contains(*n)).collect();
    Ok((!unheld.is_empty()).then(|| {
        format!(
            "No agent holds the skill(s) {}: it is offered only once an agent does, or once a \
             queue with skill_relax_after_seconds relaxes them.",
            unheld.join(", ")
        )
    }))
}

/// The rule for every change to a callback's fields (this PATCH, the Callback Manager's notes
/// and bulk reschedule): only one nobody has started dialling may change; else `invalid_state`
/// naming what was tried (`action`: "change", "reschedule", "add a note to").
pub(crate) fn check_editable(cb: &Callback, action: &str) -> Result<(), ApiError> {
    if cb.status.after(Move::Edit).is_some() {
        Ok(())
    } else {
        Err(ApiError::invalid_state(cb.status, action))
    }
}

/// Reschedules `current` as a PATCH of `scheduled_at` (and `timezone`) alone does: editable,
/// [`new_time`]'s checks, then [`judge_changes`]' dial decision; errors name the action
/// `reschedule`. Answers the stored callback with the judgement.
pub(crate) async fn reschedule(
    state: &AppState,
    caller: &Caller,
    current: &Callback,
    scheduled_at: String,
    timezone: Option<String>,
) -> Result<(Callback, Option<Judged>), ApiError> {
    check_editable(current, "reschedule")?;
    let changes = CallbackChanges {
        scheduled_at: new_time(state, current, Some(scheduled_at), timezone)?,
        ..CallbackChanges::default()
    };
    apply_changes(state, caller, current, &changes, "reschedule").await
}

/// Judges `changes` as a create is judged ([`judge_changes`]), then stores them; a refusal of
/// the store names `action`. Answers the stored callback with the judgement.
pub(crate) async fn apply_changes(
    state: &AppState,
    caller: &Caller,
    current: &Callback,
    changes: &CallbackChanges,
    action: &str,
) -> Result<(Callback, Option<Judged>), ApiError> {
    let judged = judge_changes(state, caller, current, changes).await?;
    let cb = state
        .store
        .update_callback(
            &caller.account_id,
            &current.id,
            changes,
            state.clock.now(),
            &caller.actor,
        )
        .await
        .map_err(|e| ApiError::from_change(e, action))?;
    Ok((cb, judged))
}

/// A new time for `current` from `scheduled_at` (read in `timezone`, else the callback's zone)
/// and/or a new `timezone`, checked against the minimum lead time.
pub(crate) fn new_time(
    state: &AppState,
    current: &crate::domain::Callback,
    scheduled_at: Option<String>,
    timezone: Option<String>,
) -> Result<Option<Reschedule>, ApiError> {
    let zone = match &timezone {
        Some(name) => Some(Zone::parse(name, "timezone")?),
        None => None,
    };
    Ok(match (scheduled_at, zone) {
        (Some(raw), zone) => {
            let read_in = zone.as_ref().unwrap_or(&current.timezone);
            let at = parse_scheduled_at(&raw, Some(read_in), "scheduled_at")?;
            check_lead_time(at, state.clock.now(), policy(state), "scheduled_at")?;
            Some(Reschedule { at, zone })
        }
        (None, Some(zone)) => Some(Reschedule {
            at: current.scheduled_at,
            zone: Some(zone),
        }),
        (None, None) => None,
    })
}

/// Applies the dial decision to `current` as `changes` would leave it (a new time, zone or
/// number), as a create does: a time outside the calling window is refused with
/// `outside_calling_window` unless the account allows times customers ask for. Nothing to
/// judge when the changes move neither time nor number.
pub(crate) async fn judge_changes(
    state: &AppState,
    caller: &Caller,
    current: &Callback,
    changes: &CallbackChanges,
) -> Result<Option<Judged>, ApiError> {
    if changes.scheduled_at.is_none() && changes.phone.is_none() {
        return Ok(None);
    }
    let mut next = current.clone();
    if let Some(phone) = &changes.phone {
        next.change_phone(phone.clone());
    }
    if let Some(new) = &changes.scheduled_at {
        next.reschedule(new.at, new.zone.clone());
    }
    next.status = Status::Scheduled;
    let next = std::slice::from_ref(&next);
    let known = facts_of(state, caller, next).await?;
    only(decide_each(next, known, &[String::new()])).map(Some)
}

/// Cancel a callback that has not started.
#[utoipa::path(
    post, path = "/v1/callbacks/{id}/cancel", operation_id = "cancel_callback", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    responses(
        (status = 200, description = "The canceled callback.", body = CallbackView),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
        (status = 409, description = "`invalid_state`: dialling has started or the callback has ended (`status` names its state).", body = crate::api::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let id = callback_id(&id)?;
    let cb = state
        .store
        .cancel_callback(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await
        .map_err(|e| ApiError::from_change(e, "cancel"))?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    /// What happened; may be left out when `disposition` is given (its class is the outcome).
    pub outcome: Option<Outcome>,
    /// One of the account's disposition codes (`/v1/dispositions`): the call is completed with
    /// its outcome class, and a `final` one plans no recall.
    pub disposition: Option<String>,
    #[schema(maximum = 86400)]
    pub duration_seconds: Option<u32>,
    pub notes: Option<String>,
}

/// Report what happened on the call; the callback reaches its final state.
#[utoipa::path(
    post, path = "/v1/callbacks/{id}/outcome", operation_id = "report_callback_outcome", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "The callback in its final state.", body = CallbackView),
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
        (status = 409, description = "`invalid_state`: the callback is not in a state that takes an outcome (`status` names it).", body = crate::api::error::ErrorBody),
        (status = 413, response = crate::api::error::PayloadTooLarge),
        (status = 415, response = crate::api::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn outcome(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<OutcomeRequest>,
) -> Result<Json<CallbackView>, ApiError> {
    let id = callback_id(&id)?;
    let report = outcome_report(&state, &caller, req).await?;
    let cb = state
        .store
        .record_outcome(
            &caller.account_id,
            &id,
            &report,
            state.clock.now(),
            &caller.actor,
        )
        .await
        .map_err(|e| ApiError::from_change(e, "report an outcome for"))?;
    Ok(Json(CallbackView::with_link(&cb, &state.links)))
}

/// Checks an outcome report's fields; a disposition must be one of the account's, and an
/// `outcome` given beside it its class.
pub(crate) async fn outcome_report(
    state: &AppState,
    caller: &Caller,
    req: OutcomeRequest,
) -> Result<OutcomeReport, ApiError> {
    if req.duration_seconds.is_some_and(|d| d > 24 * 3600) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "must be at most 86400",
        )
        .field("duration_seconds"));
    }
    if req
        .notes
        .as_ref()
        .is_some_and(|n| n.chars().count() > 5_000)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "must be at most 5000 characters",
        )
        .field("notes"));
    }
    let disposition = match &req.disposition {
        Some(code) => Some(
            crate::api::dispositions::named_disposition(state, caller, code, "disposition").await?,
        ),
        None => None,
    };
    let outcome = match (req.outcome, &disposition) {
        (Some(o), Some(d)) if o != d.outcome_class => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                format!(
                    "disposition {:?} is of class {}, not {}; leave outcome out or send its class",
                    d.code,
                    d.outcome_class.as_str(),
                    o.as_str()
                ),
            )
            .field("outcome"));
        }
        (Some(o), _) => o,
        (None, Some(d)) => d.outcome_class,
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::MissingField,
                "send an outcome or a disposition",
            )
            .field("outcome"));
        }
    };
    Ok(OutcomeReport {
        outcome,
        duration_seconds: req.duration_seconds,
        notes: req.notes,
        sip_code: None,
        sip_reason: None,
        recording: None,
        answered_by: None,
        disposition,
    })
}
