//! `/v1/webhook-endpoints`, `/v1/events` and the account signing secret.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiJson, ApiQuery},
};
use crate::{
    app::AppState,
    domain::{
        ErrorCode, FieldError, SigningSecret, StoredEvent, WebhookEndpoint,
        ids::WebhookEndpointId,
        webhook::{Delivery, MAX_URL_LEN, UrlProblem, WebhookUrl, parse_event_types},
    },
    webhooks::target::{TargetError, check_url},
};

/// An endpoint as the API shows it: the secret only in the answer that created or rotated it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Shown once, when the endpoint is created or its secret rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl EndpointView {
    fn of(ep: &WebhookEndpoint, reveal_secret: bool) -> Self {
        Self {
            id: ep.id.to_string(),
            url: ep.url.clone(),
            description: ep.description.clone(),
            event_types: ep.event_types.clone(),
            enabled: ep.enabled,
            disabled_reason: ep.disabled_reason.clone(),
            created_at: ep.created_at.to_string(),
            updated_at: ep.updated_at.to_string(),
            secret: reveal_secret.then(|| ep.secret.expose().to_owned()),
        }
    }
}

/// Checks a webhook URL for saving: not an internal address unless the operator allows
/// private targets (this may resolve its host).
pub async fn checked_url(
    url: &WebhookUrl,
    field: &str,
    state: &AppState,
) -> Result<WebhookUrl, ApiError> {
    match check_url(url.as_str(), state.settings.allow_private_webhooks).await {
        Ok(url) => Ok(WebhookUrl::from_trusted(url.to_string())),
        // A parsed URL is well-formed; answered as a malformed one all the same.
        Err(TargetError::Malformed) => Err(not_http(field).into()),
        Err(TargetError::NotAllowed) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::WebhookUrlNotAllowed,
            "the URL points at a loopback, private, link-local or metadata address; \
             the operator can allow such targets with --allow-private-webhooks",
        )
        .field(field)),
    }
}

/// An endpoint's URL as received: every problem but its length is told as one.
fn endpoint_url(raw: &str, field: &str) -> Result<WebhookUrl, FieldError> {
    WebhookUrl::parse(raw).map_err(|problem| match problem {
        UrlProblem::TooLong => FieldError::new(
            ErrorCode::InvalidUrl,
            field,
            format!("must be at most {MAX_URL_LEN} characters"),
        ),
        UrlProblem::NotAUrl(_) | UrlProblem::NotHttp => not_http(field),
    })
}

fn not_http(field: &str) -> FieldError {
    FieldError::new(
        ErrorCode::InvalidUrl,
        field,
        "must be an http or https URL with a host",
    )
}

/// Stores a changed endpoint, stamping the time; 404 if it vanished meanwhile.
async fn save(state: &AppState, caller: &Caller, ep: &mut WebhookEndpoint) -> Result<(), ApiError> {
    ep.updated_at = state.clock.now();
    if state
        .store
        .update_webhook_endpoint(ep, &caller.actor)
        .await?
    {
        Ok(())
    } else {
        Err(ApiError::not_found("webhook endpoint"))
    }
}

fn endpoint_id(raw: &str) -> Result<WebhookEndpointId, ApiError> {
    WebhookEndpointId::parse(raw).ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

fn text(value: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > 500 => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be at most 500 characters",
        )
        .into()),
        other => Ok(other),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    pub url: String,
    /// Event types to receive; `["*"]` (the default) for all.
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Your own `whsec_...` secret; one is generated if absent.
    pub secret: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    summary = "Subscribe a URL to events",
    description = "`201` with the endpoint; its `secret` is shown in this answer only.",
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created; `secret` is shown once.", body = EndpointView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, response = super::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn create_endpoint(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    ApiJson(req): ApiJson<CreateEndpoint>,
) -> Result<(StatusCode, Json<EndpointView>), ApiError> {
    let url = checked_url(&endpoint_url(&req.url, "url")?, "url", &state)
        .await?
        .into_string();
    let event_types = parse_event_types(req.event_types)?;
    let secret = match req.secret {
        Some(s) => SigningSecret::parse(&s).ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                "secret",
                "must be whsec_ followed by 24 to 64 bytes in base64",
            )
        })?,
        None => SigningSecret::generate(),
    };
    let now = state.clock.now();
    let ep = WebhookEndpoint {
        id: WebhookEndpointId::generate(),
        account_id: caller.account_id.clone(),
        url,
        description: text(req.description, "description")?,
        event_types,
        secret,
        enabled: req.enabled.unwrap_or(true),
        disabled_reason: None,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .insert_webhook_endpoint(&ep, &caller.actor)
        .await?;
    Ok((StatusCode::CREATED, Json(EndpointView::of(&ep, true))))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    pub data: Vec<EndpointView>,
}

#[utoipa::path(
    get, path = "/v1/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks",
    summary = "List the account's webhook endpoints",
    responses(
        (status = 200, description = "Every endpoint; secrets are not shown.", body = EndpointList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn list_endpoints(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
) -> Result<Json<EndpointList>, ApiError> {
    let eps = state
        .store
        .list_webhook_endpoints(&caller.account_id)
        .await?;
    Ok(Json(EndpointList {
        data: eps.iter().map(|ep| EndpointView::of(ep, false)).collect(),
    }))
}

async fn load(state: &AppState, caller: &Caller, id: &str) -> Result<WebhookEndpoint, ApiError> {
    let id = endpoint_id(id)?;
    state
        .store
        .get_webhook_endpoint(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("webhook endpoint"))
}

#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}", operation_id = "get_webhook_endpoint", tag = "webhooks",
    summary = "Read one webhook endpoint",
    params(("id" = String, Path, description = "A webhook endpoint id (`whe_...`).")),
    responses(
        (status = 200, description = "The endpoint; its secret is not shown.", body = EndpointView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn get_endpoint(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let ep = load(&state, &caller, &id).await?;
    Ok(Json(EndpointView::of(&ep, false)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// Re-enabling an endpoint Ringback disabled resumes its held deliveries.
    pub enabled: Option<bool>,
}

#[utoipa::path(
    patch, path = "/v1/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint", tag = "webhooks",
    summary = "Change a webhook endpoint",
    params(("id" = String, Path, description = "A webhook endpoint id (`whe_...`).")),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "The changed endpoint.", body = EndpointView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, response = super::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn update_endpoint(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateEndpoint>,
) -> Result<Json<EndpointView>, ApiError> {
    let mut ep = load(&state, &caller, &id).await?;
    if let Some(url) = req.url {
        ep.url = checked_url(&endpoint_url(&url, "url")?, "url", &state)
            .await?
            .into_string();
    }
    if req.event_types.is_some() {
        ep.event_types = parse_event_types(req.event_types)?;
    }
    if req.description.is_some() {
        ep.description = text(req.description, "description")?;
    }
    if let Some(enabled) = req.enabled {
        ep.enabled = enabled;
        if enabled {
            ep.disabled_reason = None;
        }
    }
    save(&state, &caller, &mut ep).await?;
    Ok(Json(EndpointView::of(&ep, false)))
}

#[utoipa::path(
    post, path = "/v1/webhook-endpoints/{id}/rotate-secret", operation_id = "rotate_webhook_endpoint_secret", tag = "webhooks",
    summary = "Give a webhook endpoint a new secret",
    description = "The new `secret` is shown in this answer only.",
    params(("id" = String, Path, description = "A webhook endpoint id (`whe_...`).")),
    responses(
        (status = 200, description = "The endpoint with its new secret.", body = EndpointView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn rotate_endpoint_secret(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<Json<EndpointView>, ApiError> {
    let mut ep = load(&state, &caller, &id).await?;
    ep.secret = SigningSecret::generate();
    save(&state, &caller, &mut ep).await?;
    Ok(Json(EndpointView::of(&ep, true)))
}

#[utoipa::path(
    delete, path = "/v1/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint", tag = "webhooks",
    summary = "Delete a webhook endpoint",
    params(("id" = String, Path, description = "A webhook endpoint id (`whe_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn delete_endpoint(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = endpoint_id(&id)?;
    if state
        .store
        .delete_webhook_endpoint(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("webhook endpoint"))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LimitQuery {
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

fn limit(raw: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let n = raw.unwrap_or(default);
    if (1..=max).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            format!("must be between 1 and {max}"),
        )
        .field("limit"))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub data: Vec<Delivery>,
}

/// The delivery log of one endpoint, newest first.
#[utoipa::path(
    get, path = "/v1/webhook-endpoints/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(LimitQuery, ("id" = String, Path, description = "A webhook endpoint id (`whe_...`).")),
    responses(
        (status = 200, description = "The endpoint's deliveries, newest first.", body = DeliveryList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> Result<Json<DeliveryList>, ApiError> {
    let ep = load(&state, &caller, &id).await?;
    let data = state
        .store
        .list_deliveries(&caller.account_id, &ep.id, limit(q.limit, 100, 500)?)
        .await?;
    Ok(Json(DeliveryList { data }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// An id of one of the account's events (`evt_...`): the events after it. Or an RFC 3339
    /// instant: events at or after it.
    pub since: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub data: Vec<StoredEvent>,
    /// Pass as `since` to continue; null when there is nothing more now.
    pub next_since: Option<String>,
}

/// Events of the account, oldest first: how a receiver that was down catches up.
#[utoipa::path(
    get, path = "/v1/events", operation_id = "list_events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "Events, oldest first; follow `next_since` to continue.", body = EventList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn list_events(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = limit(q.limit, 100, 500)?;
    let bad_since = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be an id of one of this account's events (evt_...) or an RFC 3339 date-time",
        )
        .field("since")
    };
    let (after, since) = match q.since.as_deref() {
        None => (0, None),
        Some(s) if s.starts_with("evt_") => (
            StoredEvent::parse_id(&caller.account_id, s).ok_or_else(bad_since)?,
            None,
        ),
        Some(s) => (0, Some(s.parse().map_err(|_| bad_since())?)),
    };
    let events = state
        .store
        .list_events(&caller.account_id, after, since, q.kind.as_deref(), limit)
        .await?;
    let next_since = (events.len() == limit as usize)
        .then(|| events.last().map(|(_, e)| e.id.clone()))
        .flatten();
    Ok(Json(EventList {
        data: events.into_iter().map(|(_, e)| e).collect(),
        next_since,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RedeliverResponse {
    pub event_id: String,
    /// Deliveries queued: one per enabled endpoint that wants the event, plus the callback's
    /// own webhook URL.
    pub deliveries: usize,
}

#[utoipa::path(
    post, path = "/v1/events/{id}/redeliver", operation_id = "redeliver_event", tag = "events",
    summary = "Queue an event again",
    description = "Queues the event for every enabled endpoint that wants it, and for the callback's own `webhook_url`.",
    params(("id" = String, Path, description = "An event id (`evt_...`).")),
    responses(
        (status = 202, description = "Deliveries queued.", body = RedeliverResponse),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["webhooks:write"])),
)]
pub async fn redeliver_event(
    State(state): State<AppState>,
    caller: Authorized<scope::WebhooksWrite>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<RedeliverResponse>), ApiError> {
    let number = StoredEvent::parse_id(&caller.account_id, &id)
        .ok_or_else(|| ApiError::not_found("event"))?;
    let queued = state
        .store
        .redeliver_event(&caller.account_id, number, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found("event"))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RedeliverResponse {
            event_id: StoredEvent::id_for(&caller.account_id, number),
            deliveries: queued,
        }),
    ))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SigningSecretView {
    /// Signs dialer bridge requests and deliveries to callbacks' own `webhook_url`s. Shown only
    /// in this answer.
    pub signing_secret: String,
}

/// Replaces the account's signing secret and shows the new one, once.
#[utoipa::path(
    post, path = "/v1/signing-secret/rotate", operation_id = "rotate_signing_secret", tag = "webhooks",
    responses(
        (status = 200, description = "The new signing secret, shown in this answer only.", body = SigningSecretView),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn rotate_signing_secret(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<SigningSecretView>, ApiError> {
    let secret = SigningSecret::generate();
    state
        .store
        .set_signing_secret(
            &caller.account_id,
            &secret,
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    Ok(Json(SigningSecretView {
        signing_secret: secret.expose().to_owned(),
    }))
}
