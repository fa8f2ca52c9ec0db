//! `POST /v1/callbacks` (with idempotency keys and duplicate checks) and
//! `POST /v1/callbacks/batch`.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::judge::judge_new;
use super::prepare::{Prepared, Unjudged, prepare, prepare_unjudged};
use super::{
    super::{
        auth::{Caller, require},
        authorized::{Authorized, scope},
        error::ApiError,
        extract::{ApiJson, ApiQuery, RawJson},
    },
    DryRun, MAX_BATCH, duplicate, policy,
};
use crate::{
    app::AppState,
    domain::{Callback, CallbackView, ErrorCode, Origin, Scope, callback::NewCallback},
    store::{BatchItem, BookingOutcome, IdempotentResponse, InsertOutcome},
};

/// Schedule a callback.
#[utoipa::path(
    post, path = "/v1/callbacks", operation_id = "create_callback", tag = "callbacks",
    description = "`201` with the stored callback. With an `Idempotency-Key`, a repeat of the same body answers the first answer again (with `Idempotent-Replayed: true`).",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible characters; a retry with the same key and body is not scheduled twice."), DryRun),
    request_body = NewCallback,
    responses(
        (status = 201, description = "Scheduled.", body = CallbackView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 409, description = "`duplicate_active_callback`: an active callback for this phone exists (`existing_id` names it); set `allow_duplicate` to schedule another. With a `slot_id`: `slot_full` (no place left) or `slot_unavailable` (not offered for this number), each with `next_slots`, up to five free slots of the same queue and length (shaped like `GET /v1/availability`'s).", body = crate::api::error::ErrorBody),
        (status = 413, response = crate::api::error::PayloadTooLarge),
        (status = 415, response = crate::api::error::UnsupportedMediaType),
        (status = 422, description = "`idempotency_key_reused`: the Idempotency-Key was used with a different body.", body = crate::api::error::ErrorBody),
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
    let idempotency_key = idempotency_key(headers)?;
    let request_hash = hex::encode(Sha256::digest(body));
    if let Some(key) = &idempotency_key
        && let Some(seen) = state
            .store
            .find_idempotent_response(&caller.account_id, key)
            .await?
    {
        return replay(seen, &request_hash);
    }
    let new: NewCallback = crate::api::extract::parse_json(body)?;
    let Prepared {
        callback,
        allow_duplicate,
        judged,
        slot,
    } = prepare(&state, &caller, new, origin, policy(&state), "").await?;
    let mut view = CallbackView::with_link(&callback, &state.links);
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
    let stored = match &slot {
        None => {
            state
                .store
                .insert_callback(&callback, allow_duplicate, idem.as_ref(), &caller.actor)
                .await?
        }
        Some(booked) => match state
            .store
            .book_slot(
                &callback,
                allow_duplicate,
                idem.as_ref(),
                &caller.actor,
                &booked.booking,
            )
            .await?
        {
            BookingOutcome::Stored(outcome) => outcome,
            BookingOutcome::Full => {
                let zone = callback.timezone.clone();
                return Err(crate::api::availability::refused(
                    &state,
                    &caller,
                    &callback,
                    &booked.id,
                    ErrorCode::SlotFull,
                    &zone,
                )
                .await);
            }
        },
    };
    match stored {
        InsertOutcome::Inserted => {
            tracing::debug!(callback_id = %callback.id, account_id = %caller.account_id, "callback scheduled");
            Ok(json_response(StatusCode::CREATED, body_json))
        }
        InsertOutcome::Replayed(seen) => replay(seen, &request_hash),
        InsertOutcome::Duplicate { existing_id } => Err(duplicate(&existing_id)),
    }
}

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 visible characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
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
        })?;
    Ok(Some(key.to_owned()))
}

/// The stored answer to an earlier request with the same key, if the body is the same.
pub(crate) fn replay(seen: IdempotentResponse, request_hash: &str) -> Result<Response, ApiError> {
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

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
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
    /// 1 to 1,000 callbacks shaped like `NewCallback`; each is judged alone, so an item that is
    /// not one fails in its result, not the request.
    #[schema(min_items = 1, max_items = 1000)]
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
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 413, response = crate::api::error::PayloadTooLarge),
        (status = 415, response = crate::api::error::UnsupportedMediaType),
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
    // Each item prepared as a single create is (fields, webhook URL, assignees); then the dial
    // decision on the valid ones together.
    let mut valid: Vec<(usize, Callback, bool)> = Vec::with_capacity(req.callbacks.len());
    for (index, raw) in req.callbacks.into_iter().enumerate() {
        let prefix = format!("callbacks[{index}].");
        let checked = async {
            let new = crate::api::extract::from_value::<NewCallback>(raw, &prefix)?;
            prepare_unjudged(&state, &caller, new, Origin::Api, policy, now, &prefix).await
        };
        match checked.await {
            Ok(Unjudged {
                callback,
                allow_duplicate,
            }) => valid.push((index, callback, allow_duplicate)),
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
