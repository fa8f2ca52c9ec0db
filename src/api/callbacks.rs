//! `/v1/callbacks`: schedule, list, read, change, cancel and report on callbacks.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use super::{
    AppState,
    auth::{Caller, require},
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiJson, ApiQuery, RawJson},
    webhooks::checked_url,
};
use crate::{
    domain::{
        AssigneeKind, Assignment, Callback, CallbackId, CallbackView, ErrorCode, Origin, Outcome,
        PhoneNumber, Scope, Status, Zone,
        callback::{CreatePolicy, NewCallback, check_assignment, check_lead_time, check_metadata},
        campaign::AccountSettings,
        contact::Contact,
        dialing::{BlockCode, Facts, ZoneSource, decide, earliest_dial},
        geo::{self, Region},
        ids::{AgentId, QueueId},
        parse_scheduled_at,
    },
    store::{
        BatchItem, CallFacts, CallbackChanges, DialFacts, IdempotentResponse, InsertOutcome,
        ListFilter, OutcomeReport, Reschedule,
    },
};

pub const MAX_BATCH: usize = 1_000;

/// Refuses an assignment naming an agent or queue the account does not have (or deleted).
pub(crate) async fn check_assignees(
    state: &AppState,
    caller: &Caller,
    assignment: Option<&Assignment>,
    prefix: &str,
) -> Result<(), ApiError> {
    let Some(a) = assignment else { return Ok(()) };
    for (i, raw) in a.ids.iter().enumerate() {
        let exists = match a.kind {
            AssigneeKind::Agent => match AgentId::parse(raw) {
                Some(id) => state
                    .store
                    .get_agent(&caller.account_id, &id)
                    .await?
                    .is_some(),
                None => false,
            },
            AssigneeKind::Queue => match QueueId::parse(raw) {
                Some(id) => state
                    .store
                    .get_queue(&caller.account_id, &id)
                    .await?
                    .is_some(),
                None => false,
            },
        };
        if !exists {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidAssignee,
                format!("no {} {raw:?} in this account", a.kind.as_str()),
            )
            .field(format!("{prefix}assignment.ids[{i}]")));
        }
    }
    Ok(())
}

/// What the dial decision says of a callback about to be stored (created or rescheduled).
pub(crate) struct Judged {
    /// When it will be dialled (or offered), every rule applied; `None` when no time will do
    /// (do-not-call).
    pub effective_dial_at: Option<Timestamp>,
    /// One sentence per rule that applied: the zones assumed, a window lifted for a time the
    /// customer asked for, a cap or quiet period that moves it.
    pub explanation: Vec<String>,
}

/// Applies the dial decision to new callbacks before they are stored, each judged at the
/// time it asks for. First, where the callee is: a callback without a `timezone` of the
/// request's takes the stored contact's zone for its number, else the number's zones; the
/// contact's `state` names its subdivision. Then [`decide`]: a time outside the calling window
/// (in any zone the callee may be in) is refused with `outside_calling_window` and the next
/// opening, unless the account allows times customers ask for; what else would move the call
/// is explained. `prefixes` name each callback's fields in errors (`callbacks[3].`).
pub(crate) async fn judge_new(
    state: &AppState,
    caller: &Caller,
    callbacks: &mut [Callback],
    prefixes: &[String],
) -> Result<Vec<Result<Judged, ApiError>>, ApiError> {
    let known = facts_of(state, caller, callbacks).await?;
    locate_by_contacts(callbacks, &known.contacts);
    Ok(decide_each(callbacks, known, prefixes))
}

/// [`judge_new`] for one callback, whose errors name its fields from the top.
pub(crate) async fn judge_new_one(
    state: &AppState,
    caller: &Caller,
    callback: &mut Callback,
) -> Result<Judged, ApiError> {
    let judged = judge_new(
        state,
        caller,
        std::slice::from_mut(callback),
        &[String::new()],
    )
    .await?;
    only(judged)
}

/// The one answer of a judgement of one callback.
fn only(mut judged: Vec<Result<Judged, ApiError>>) -> Result<Judged, ApiError> {
    judged.pop().expect("one callback judged")
}

/// Where the stored contacts put new callbacks' callees: a zone for those the request gave
/// none, and the subdivision their `state` names.
fn locate_by_contacts(callbacks: &mut [Callback], contacts: &[Contact]) {
    for cb in callbacks.iter_mut() {
        let Some(contact) = contacts.iter().find(|c| c.phone == cb.phone) else {
            continue;
        };
        if !cb.timezone_source.is_stated()
            && let Some(zone) = &contact.timezone
        {
            cb.timezone = zone.clone();
            cb.timezone_source = ZoneSource::Contact;
        }
        cb.region = contact.details.state.as_deref().and_then(|state| {
            let country = geo::place_of(&cb.phone).country?;
            Region::from_state(country, state)
        });
    }
}

/// What the store knows that the dial decision needs about `callbacks`, now.
async fn facts_of(
    state: &AppState,
    caller: &Caller,
    callbacks: &[Callback],
) -> Result<DialFacts, ApiError> {
    let refs: Vec<&Callback> = callbacks.iter().collect();
    Ok(state
        .store
        .dial_facts(&caller.account_id, &refs, state.clock.now())
        .await?)
}

/// The dial decision on each callback at its requested time.
fn decide_each(
    callbacks: &[Callback],
    known: DialFacts,
    prefixes: &[String],
) -> Vec<Result<Judged, ApiError>> {
    callbacks
        .iter()
        .zip(known.calls)
        .zip(prefixes)
        .map(|((cb, call), prefix)| judge_one(cb, &call, &known.settings, prefix))
        .collect()
}

/// The dial decision on one callback at its requested time.
fn judge_one(
    cb: &Callback,
    call: &CallFacts,
    settings: &AccountSettings,
    prefix: &str,
) -> Result<Judged, ApiError> {
    let location = cb.location();
    let facts = Facts {
        on_dnc: call.on_dnc,
        campaign: call.campaign,
        ..Facts::of(cb, &location, &call.history)
    };
    let decision = decide(&facts, settings, cb.due_at);
    let mut explanation = Vec::new();
    if !location.source().is_stated() || location.zones().len() > 1 {
        explanation.push(location.describe(&cb.phone));
    }
    for block in &decision.blocks {
        match (block.code, block.until) {
            (BlockCode::CallingWindow, until) => {
                let mut e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::OutsideCallingWindow,
                    format!(
                        "outside the calling window ({}): {}",
                        facts.window.unwrap_or(&settings.calling_window),
                        block.reason
                    ),
                )
                .field(format!("{prefix}scheduled_at"))
                .with("timezone_source", location.source().as_str())
                .with("timezones", location.zone_names());
                if let Some(at) = until {
                    e = e.with("next_opening", at.to_string());
                }
                return Err(e);
            }
            (BlockCode::Dnc, _) => explanation.push(format!(
                "{} is on the do-not-call list: it will not be dialled",
                cb.phone
            )),
            (_, Some(until)) => explanation.push(format!(
                "{}: dialled at {until} at the earliest",
                block.reason
            )),
            (_, None) => explanation.push(block.reason.clone()),
        }
    }
    explanation.extend(decision.notes);
    Ok(Judged {
        effective_dial_at: earliest_dial(&facts, settings, cb.due_at).ok(),
        explanation,
    })
}

pub(crate) fn policy(state: &AppState) -> CreatePolicy {
    CreatePolicy {
        min_lead: SignedDuration::from_secs(state.settings.min_lead_seconds as i64),
    }
}

pub(crate) fn callback_id(raw: &str) -> Result<CallbackId, ApiError> {
    // A malformed id cannot name a callback: same answer as an unknown one.
    CallbackId::parse(raw).ok_or_else(|| ApiError::not_found("callback"))
}

fn duplicate(existing_id: &CallbackId) -> ApiError {
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
#[serde(deny_unknown_fields)]
pub struct DryRun {
    /// `true`: check everything and answer `200` with what would be stored, storing nothing.
    pub dry_run: Option<bool>,
}

/// Schedule a callback.
#[utoipa::path(
    post, path = "/v1/callbacks", operation_id = "create_callback", tag = "callbacks",
    description = "`201` with the stored callback. With an `Idempotency-Key`, a repeat of the same body answers the first answer again (with `Idempotent-Replayed: true`).",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible characters; a retry with the same key and body is not scheduled twice."), DryRun),
    request_body = NewCallback,
    responses(
        (status = 201, description = "Scheduled.", body = CallbackView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 409, description = "`duplicate_active_callback`: an active callback for this phone exists (`existing_id` names it); set `allow_duplicate` to schedule another.", body = super::error::ErrorBody),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 422, description = "`idempotency_key_reused`: the Idempotency-Key was used with a different body.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    headers: HeaderMap,
    ApiQuery(dry_run): ApiQuery<DryRun>,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    let dry_run = dry_run.dry_run.unwrap_or(false);
    create_as(&state, &caller, &headers, &body, Origin::Api, dry_run).await
}

/// Creates a callback from a request body, marked with where it came from (the API, or the
/// Callback Manager's page).
pub(crate) async fn create_as(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: &[u8],
    origin: Origin,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let state = state.clone();
    let caller = caller.clone();
    require(&caller, Scope::CallbacksWrite)?;
    // The body is parsed here (not by `ApiJson`) because the idempotency check hashes the
    // exact bytes received.
    let idempotency_key = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 255)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidField,
                        "Idempotency-Key must be 1 to 255 visible characters",
                    )
                    .field("Idempotency-Key")
                })?
                .to_owned(),
        ),
        None => None,
    };
    let request_hash = hex::encode(Sha256::digest(body));
    if let Some(key) = &idempotency_key
        && let Some(seen) = state
            .store
            .find_idempotent_response(&caller.account_id, key)
            .await?
    {
        return replay(seen, &request_hash);
    }
    let new: NewCallback = super::extract::parse_json(body)?;
    let now = state.clock.now();
    let (mut callback, allow_duplicate) =
        new.validate(&caller.account_id, origin, now, policy(&state), "")?;
    if let Some(url) = &callback.webhook_url {
        callback.webhook_url = Some(checked_url(url, "webhook_url", &state).await?);
    }
    check_assignees(&state, &caller, callback.assignment.as_ref(), "").await?;
    let judged = judge_new_one(&state, &caller, &mut callback).await?;
    let mut view = CallbackView::from(&callback);
    view.effective_dial_at = judged.effective_dial_at.map(|t| t.to_string());
    view.explanation = (!judged.explanation.is_empty()).then_some(judged.explanation);
    if dry_run {
        // Everything checked, nothing stored.
        let mut body = serde_json::to_value(&view).map_err(|e| ApiError::internal(&e))?;
        body["dry_run"] = true.into();
        return Ok(json_response(StatusCode::OK, body.to_string()));
    }
    let body_json = serde_json::to_string(&view).map_err(|e| ApiError::internal(&e))?;
    let idem = idempotency_key.map(|key| IdempotentResponse {
        key,
        request_hash: request_hash.clone(),
        status: 201,
        body: body_json.clone(),
    });
    match state
        .store
        .insert_callback(&callback, allow_duplicate, idem.as_ref(), &caller.actor)
        .await?
    {
        InsertOutcome::Inserted => {
            tracing::debug!(callback_id = %callback.id, account_id = %caller.account_id, "callback scheduled");
            Ok(json_response(StatusCode::CREATED, body_json))
        }
        InsertOutcome::Replayed(seen) => replay(seen, &request_hash),
        InsertOutcome::Duplicate { existing_id } => Err(duplicate(&existing_id)),
    }
}

fn replay(seen: IdempotentResponse, request_hash: &str) -> Result<Response, ApiError> {
    if seen.request_hash != request_hash {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with a different request body",
        )
        .field("Idempotency-Key"));
    }
    let status = StatusCode::from_u16(seen.status).unwrap_or(StatusCode::OK);
    let mut resp = json_response(status, seen.body);
    resp.headers_mut().insert(
        "idempotent-replayed",
        "true".parse().expect("static header"),
    );
    Ok(resp)
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub callbacks: Vec<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    pub index: usize,
    /// `created` or `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub error: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    pub created: usize,
    pub failed: usize,
    pub results: Vec<BatchResult>,
}

/// Schedule up to 1,000 callbacks; each item is validated on its own and the valid ones are
/// stored in one transaction.
#[utoipa::path(
    post, path = "/v1/callbacks/batch", operation_id = "create_callbacks_batch", tag = "callbacks",
    description = "`{\"callbacks\": [...]}` with 1 to 1,000 items shaped like `NewCallback`. The answer has a result per item: `created` with its `id`, or `failed` with its error (a duplicate active callback included).",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "A result per item.", body = BatchResponse),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn create_batch(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    ApiJson(req): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    if req.callbacks.is_empty() || req.callbacks.len() > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::TooManyItems,
            format!("send between 1 and {MAX_BATCH} callbacks per batch"),
        )
        .field("callbacks"));
    }
    let now = state.clock.now();
    let policy = policy(&state);
    let mut results: Vec<BatchResult> = (0..req.callbacks.len())
        .map(|index| BatchResult {
            index,
            status: "created",
            id: None,
            error: None,
        })
        .collect();
    let fail = |result: &mut BatchResult, e: &ApiError| {
        result.status = "failed";
        result.error = Some(error_json(e));
    };
    // Each item's fields, assignees and webhook URL; then the dial decision on the valid ones
    // together.
    let mut valid: Vec<(usize, Callback, bool)> = Vec::with_capacity(req.callbacks.len());
    for (index, raw) in req.callbacks.into_iter().enumerate() {
        let prefix = format!("callbacks[{index}].");
        let checked = async {
            let new = super::extract::from_value::<NewCallback>(raw, &prefix)?;
            let (mut callback, allow_duplicate) =
                new.validate(&caller.account_id, Origin::Api, now, policy, &prefix)?;
            check_assignees(&state, &caller, callback.assignment.as_ref(), &prefix).await?;
            if let Some(url) = &callback.webhook_url {
                callback.webhook_url =
                    Some(checked_url(url, &format!("{prefix}webhook_url"), &state).await?);
            }
            Ok::<_, ApiError>((callback, allow_duplicate))
        };
        match checked.await {
            Ok((callback, allow_duplicate)) => valid.push((index, callback, allow_duplicate)),
            Err(e) => fail(&mut results[index], &e),
        }
    }
    let prefixes: Vec<String> = valid
        .iter()
        .map(|(index, ..)| format!("callbacks[{index}]."))
        .collect();
    let mut callbacks: Vec<Callback> = Vec::with_capacity(valid.len());
    let mut meta: Vec<(usize, bool)> = Vec::with_capacity(valid.len());
    for (index, callback, allow_duplicate) in valid {
        callbacks.push(callback);
        meta.push((index, allow_duplicate));
    }
    let judged = judge_new(&state, &caller, &mut callbacks, &prefixes).await?;
    let mut items = Vec::with_capacity(callbacks.len());
    let mut item_index = Vec::with_capacity(callbacks.len());
    for ((callback, (index, allow_duplicate)), judged) in
        callbacks.into_iter().zip(meta).zip(judged)
    {
        match judged {
            Ok(_) => {
                item_index.push(index);
                items.push(BatchItem {
                    callback,
                    allow_duplicate,
                });
            }
            Err(e) => fail(&mut results[index], &e),
        }
    }
    let stored = state.store.insert_callbacks(&items, &caller.actor).await?;
    for ((item, index), held_by) in items.iter().zip(item_index).zip(stored) {
        let result = &mut results[index];
        match held_by {
            None => result.id = Some(item.callback.id.to_string()),
            Some(existing) => {
                result.status = "failed";
                result.error = Some(error_json(&duplicate(&existing)));
            }
        }
    }
    let created = results.iter().filter(|r| r.status == "created").count();
    Ok(Json(BatchResponse {
        created,
        failed: results.len() - created,
        results,
    }))
}

fn error_json(e: &ApiError) -> serde_json::Value {
    let mut obj = e.extra.clone();
    obj.insert("code".into(), e.code.as_str().into());
    obj.insert("message".into(), e.message.clone().into());
    obj.insert("field".into(), e.field.clone().into());
    serde_json::Value::Object(obj)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub phone: Option<String>,
    pub status: Option<Status>,
    /// An agent or queue id the callback is assigned to, or `unassigned`.
    pub assignee: Option<String>,
    pub origin: Option<Origin>,
    /// RFC 3339; callbacks scheduled at or after this instant.
    pub scheduled_from: Option<String>,
    /// RFC 3339; callbacks scheduled before this instant.
    pub scheduled_to: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListResponse {
    pub data: Vec<CallbackView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn instant(raw: &Option<String>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    raw.as_deref()
        .map(|s| {
            s.parse::<Timestamp>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    "must be an RFC 3339 date-time with an offset",
                )
                .field(field)
            })
        })
        .transpose()
}

/// List callbacks, newest first.
#[utoipa::path(
    get, path = "/v1/callbacks", operation_id = "list_callbacks", tag = "callbacks",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of callbacks; follow `next_cursor` for the next.", body = ListResponse),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be between 1 and 200",
        )
        .field("limit"));
    }
    let before = match &q.cursor {
        Some(c) => Some(CallbackId::parse(c).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "not a cursor from a previous page",
            )
            .field("cursor")
        })?),
        None => None,
    };
    let filter = ListFilter {
        phone: q
            .phone
            .as_deref()
            .map(|p| PhoneNumber::parse(p, "phone"))
            .transpose()?,
        status: q.status,
        assignee: q.assignee,
        origin: q.origin,
        scheduled_from: instant(&q.scheduled_from, "scheduled_from")?,
        scheduled_to: instant(&q.scheduled_to, "scheduled_to")?,
        before,
        limit: limit + 1,
    };
    let mut rows = state
        .store
        .list_callbacks(&caller.account_id, &filter)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|cb| cb.id.to_string())
    } else {
        None
    };
    Ok(Json(ListResponse {
        data: rows.iter().map(CallbackView::from).collect(),
        next_cursor,
    }))
}

/// Read one callback with its attempts and history.
#[utoipa::path(
    get, path = "/v1/callbacks/{id}", operation_id = "get_callback", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    responses(
        (status = 200, description = "The callback, with `attempts` and `history`.", body = CallbackView),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let id = callback_id(&id)?;
    let cb = state
        .store
        .get_callback(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))?;
    let mut view = CallbackView::from(&cb);
    view.attempts = Some(
        state
            .store
            .callback_attempts(&caller.account_id, &id)
            .await?,
    );
    let mut history = state
        .store
        .callback_history(&caller.account_id, &id)
        .await?;
    for event in &mut history {
        // The snapshot each event carries (for webhooks) would repeat the callback here.
        if let Some(data) = event.data.as_object_mut() {
            data.remove("object");
        }
    }
    view.history = Some(history);
    Ok(Json(view))
}

/// Distinguishes a field that is absent from one set to null.
pub(super) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

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
}

/// Reschedule, reassign or annotate a callback that has not started.
#[utoipa::path(
    patch, path = "/v1/callbacks/{id}", operation_id = "update_callback", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    request_body = PatchRequest,
    responses(
        (status = 200, description = "The changed callback.", body = CallbackView),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, description = "`invalid_state`: the callback is no longer `scheduled` (`status` names its state), or it changed while this request ran.", body = super::error::ErrorBody),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
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
    let current = state
        .store
        .get_callback(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))?;
    if !current.status.is_editable() {
        return Err(ApiError::invalid_state(current.status, "change"));
    }
    let now = state.clock.now();
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
    changes.notes = limit_text(req.notes, "notes", 5_000)?;
    changes.contact_name = limit_text(req.contact_name, "contact_name", 200)?;
    if let Some(metadata) = req.metadata {
        changes.metadata = Some(check_metadata(metadata, "metadata")?);
    }
    if changes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MissingField,
            "nothing to change: send at least one of scheduled_at, timezone, assignment, \
             notes, contact_name, metadata",
        ));
    }
    let judged = judge_changes(&state, &caller, &current, &changes).await?;
    let cb = state
        .store
        .update_callback(&caller.account_id, &id, &changes, now, &caller.actor)
        .await
        .map_err(|e| ApiError::from_change(e, "change"))?;
    let mut view = CallbackView::from(&cb);
    if let Some(judged) = judged {
        view.effective_dial_at = judged.effective_dial_at.map(|t| t.to_string());
        view.explanation = (!judged.explanation.is_empty()).then_some(judged.explanation);
    }
    Ok(Json(view))
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
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, description = "`invalid_state`: dialling has started or the callback has ended (`status` names its state).", body = super::error::ErrorBody),
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
    Ok(Json(CallbackView::from(&cb)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeRequest {
    pub outcome: Outcome,
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
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, description = "`invalid_state`: the callback is not in a state that takes an outcome (`status` names it).", body = super::error::ErrorBody),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
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
    let report = outcome_report(req)?;
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
    Ok(Json(CallbackView::from(&cb)))
}

/// Checks an outcome report's fields.
pub(crate) fn outcome_report(req: OutcomeRequest) -> Result<OutcomeReport, ApiError> {
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
    Ok(OutcomeReport {
        outcome: req.outcome,
        duration_seconds: req.duration_seconds,
        notes: req.notes,
    })
}
