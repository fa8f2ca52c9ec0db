//! `/v1/trunks`: where the account's calls leave Ringback (an HTTP dialer bridge or a SIP
//! trunk), with the limits dispatch respects. Secrets are write-only: a SIP password is
//! accepted and used, and shown only as `password_set`.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    error::ApiError,
    extract::ApiJson,
    webhooks::checked_url,
};
use crate::app::AppState;
use crate::domain::{
    ErrorCode, FieldError,
    ids::TrunkId,
    trunk::{self, HostPort, Trunk, TrunkKind, TrunkLimits, TrunkSettings},
};
use crate::store::TrunkDeletion;

/// A trunk as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TrunkView {
    pub id: String,
    pub name: String,
    /// `http_bridge`, `sip`, `twilio_compatible`, `vapi` or `retell`.
    pub kind: String,
    /// The kind's settings without secrets. `http_bridge`: `url`. `sip`: `proxy`,
    /// `transport`, `username`, `password_set`, `from_domain`, `caller_id`.
    /// `twilio_compatible`: `profile`, `account_sid`, `auth_token_set`, `caller_id`,
    /// `status_callback_base`, `base_url`, `space`, `application_sid`, `public_key`,
    /// `ai_stream_url`, `inbound_queue_id`, `inbound_redirect_url`. `vapi`: `assistant_id`, `phone_number_id`, `api_key_set`,
    /// `webhook_secret_set`, `base_url`. `retell`: `agent_id`, `from_number`, `api_key_set`,
    /// `base_url`.
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Calls under way on the trunk at once; `null`: no limit.
    pub max_concurrent_calls: Option<u32>,
    /// Calls started in any one second; `null`: no limit.
    pub calls_per_second: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    /// `ok`, or `failing` while the provider refuses the trunk's credentials (calls wait;
    /// a call that goes through or a change of the trunk clears it).
    pub status: String,
    /// The provider's message while `failing`.
    pub failing_reason: Option<String>,
    pub failing_since: Option<String>,
}

impl From<&Trunk> for TrunkView {
    fn from(t: &Trunk) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name.clone(),
            kind: t.settings.kind().as_str().to_owned(),
            settings: t.settings.to_json(),
            max_concurrent_calls: t.limits.max_concurrent_calls,
            calls_per_second: t.limits.calls_per_second,
            created_at: t.created_at.to_string(),
            updated_at: t.updated_at.to_string(),
            status: if t.failing.is_some() { "failing" } else { "ok" }.to_owned(),
            failing_reason: t.failing.as_ref().map(|f| f.reason.clone()),
            failing_since: t.failing.as_ref().map(|f| f.since.to_string()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TrunkList {
    pub data: Vec<TrunkView>,
}

/// The body of a create or an update, read field by field so each problem names its field.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // The OpenAPI description of the body; the handlers read it as JSON.
pub struct TrunkRequest {
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// `http_bridge`, `sip`, `twilio_compatible`, `vapi` or `retell`; fixed once created.
    kind: String,
    /// `http_bridge`: `{"url": "https://bridge.example.com/dial"}` (signed like today's
    /// `--dialer-url` bridge). `sip`: `{"proxy": "sip.carrier.example:5060", "transport":
    /// "udp" | "tcp" | "tls", "username": "...", "password": "...", "from_domain": "...",
    /// "caller_id": "+1..."}`; only `proxy` is required. `twilio_compatible`: `{"profile":
    /// "twilio" | "signalwire" | "telnyx_texml", "account_sid": "...", "auth_token": "...",
    /// "caller_id": "+1...", "status_callback_base": "https://...", "base_url": "...",
    /// "space": "...", "application_sid": "...", "public_key": "...", "ai_stream_url":
    /// "wss://...", "inbound_queue_id": "que_...", "inbound_redirect_url": "https://..."}`
    /// (`inbound_queue_id`: the account's queue that callers of the trunk's number join when
    /// they press 1 in the inbound flow, `/telephony/twilio/{trunk_id}/inbound`). `vapi`: `{"api_key": "...", "assistant_id": "...", "phone_number_id":
    /// "...", "webhook_secret": "...", "base_url": "https://api.vapi.ai"}` (all but `base_url`
    /// required). `retell`: `{"api_key": "...", "from_number": "+1...", "agent_id": "...",
    /// "base_url": "https://api.retellai.com"}` (`api_key` and `from_number` required). On an
    /// update, settings left out keep their value and a secret set to `null` is cleared.
    #[schema(value_type = Object)]
    settings: Value,
    /// 1 to 100,000, or null for no limit.
    #[schema(minimum = 1, maximum = 100000)]
    max_concurrent_calls: Option<u32>,
    /// 1 to 10,000, or null for no limit.
    #[schema(minimum = 1, maximum = 10000)]
    calls_per_second: Option<u32>,
}

const FIELDS: [&str; 5] = [
    "name",
    "kind",
    "settings",
    "max_concurrent_calls",
    "calls_per_second",
];

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    let Value::Object(obj) = body else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            "the body must be a JSON object",
        ));
    };
    if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(
            FieldError::new(ErrorCode::UnknownField, k, "is not a field of a trunk").into(),
        );
    }
    Ok(obj)
}

fn name(value: &Value) -> Result<String, FieldError> {
    match value.as_str().map(str::trim) {
        Some(v) if !v.is_empty() && v.chars().count() <= trunk::MAX_NAME => Ok(v.to_owned()),
        _ => Err(FieldError::new(
            ErrorCode::InvalidField,
            "name",
            format!("must be a string of 1 to {} characters", trunk::MAX_NAME),
        )),
    }
}

fn limits(obj: &Map<String, Value>, before: TrunkLimits) -> Result<TrunkLimits, FieldError> {
    let one = |key: &str, max: u32, was: Option<u32>| match obj.get(key) {
        None => Ok(was),
        value => TrunkLimits::parse_limit(value, key, max),
    };
    Ok(TrunkLimits {
        max_concurrent_calls: one(
            "max_concurrent_calls",
            trunk::MAX_CONCURRENT,
            before.max_concurrent_calls,
        )?,
        calls_per_second: one(
            "calls_per_second",
            trunk::MAX_CALLS_PER_SECOND,
            before.calls_per_second,
        )?,
    })
}

/// Checks what settings point at: a bridge URL is not an internal address (unless the operator
/// allows private targets), and a SIP proxy's name resolves.
async fn reachable(state: &AppState, settings: TrunkSettings) -> Result<TrunkSettings, ApiError> {
    match settings {
        TrunkSettings::HttpBridge { url } => Ok(TrunkSettings::HttpBridge {
            url: checked_url(&url, "settings.url", state).await?,
        }),
        TrunkSettings::Sip(sip) => {
            resolves(&sip.proxy, sip.port()).await?;
            Ok(TrunkSettings::Sip(sip))
        }
        // An overridden API root is held to the rule of bridge URLs.
        TrunkSettings::TwilioCompatible(s) => {
            if let Some(base) = &s.base_url {
                let url = crate::domain::WebhookUrl::parse_field(base, "settings.base_url")?;
                checked_url(&url, "settings.base_url", state).await?;
            }
            Ok(TrunkSettings::TwilioCompatible(s))
        }
        // A vendor's API address set for a stand-in or proxy is checked like a bridge URL.
        TrunkSettings::Vapi(mut s) => {
            if let Some(url) = &s.base_url {
                s.base_url = Some(checked_url(url, "settings.base_url", state).await?);
            }
            Ok(TrunkSettings::Vapi(s))
        }
        TrunkSettings::Retell(mut s) => {
            if let Some(url) = &s.base_url {
                s.base_url = Some(checked_url(url, "settings.base_url", state).await?);
            }
            Ok(TrunkSettings::Retell(s))
        }
    }
}

/// A `twilio_compatible` trunk's `inbound_queue_id` names one of the account's queues.
async fn inbound_queue_is_ours(
    state: &AppState,
    caller: &Caller,
    settings: &TrunkSettings,
) -> Result<(), ApiError> {
    if let TrunkSettings::TwilioCompatible(s) = settings
        && let Some(queue) = &s.inbound_queue_id
        && state
            .store
            .get_queue(&caller.account_id, queue)
            .await?
            .is_none()
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "settings.inbound_queue_id",
            format!("no queue {queue} in this account"),
        )
        .into());
    }
    Ok(())
}

async fn resolves(proxy: &HostPort, port: u16) -> Result<(), ApiError> {
    let host = proxy.bare_host();
    let lookup = tokio::net::lookup_host((host, port));
    let found = match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(mut addrs)) => addrs.next().is_some(),
        _ => false,
    };
    match found {
        true => Ok(()),
        false => Err(FieldError::new(
            ErrorCode::InvalidField,
            "settings.proxy",
            format!("the host {host} does not resolve to an address"),
        )
        .into()),
    }
}

#[utoipa::path(
    post, path = "/v1/trunks", operation_id = "create_trunk", tag = "trunks",
    summary = "Create a trunk",
    description = "A trunk is where calls leave Ringback. Calls go out on the trunk their \
        callback or campaign names (`trunk_id`), else on the account's `default_trunk_id` \
        (`PUT /v1/settings`), else on the server's `--dialer-url` bridge. Calls over a trunk's \
        limits wait for a place; they never fail for it.",
    request_body = TrunkRequest,
    responses(
        (status = 201, description = "The trunk.", body = TrunkView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn create_trunk(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(body): ApiJson<Value>,
) -> Result<(StatusCode, Json<TrunkView>), ApiError> {
    let obj = object(&body)?;
    let required = |key: &str| {
        obj.get(key)
            .ok_or_else(|| FieldError::new(ErrorCode::MissingField, key, "is required"))
    };
    let name = name(required("name")?)?;
    let kind = match required("kind")? {
        Value::String(s) => TrunkKind::parse(s, "kind")?,
        _ => TrunkKind::parse("", "kind")?,
    };
    let settings = TrunkSettings::parse(kind, required("settings")?, "settings", None)?;
    settings.require_secrets("settings")?;
    let limits = limits(obj, TrunkLimits::default())?;
    let settings = reachable(&state, settings).await?;
    inbound_queue_is_ours(&state, &caller, &settings).await?;
    let now = state.clock.now();
    let trunk = Trunk {
        id: TrunkId::generate(),
        account_id: caller.account_id.clone(),
        name,
        settings,
        limits,
        created_at: now,
        updated_at: now,
        failing: None,
    };
    state.store.insert_trunk(&trunk, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(TrunkView::from(&trunk))))
}

#[utoipa::path(
    get, path = "/v1/trunks", operation_id = "list_trunks", tag = "trunks",
    summary = "List trunks, oldest first",
    responses(
        (status = 200, description = "The account's trunks.", body = TrunkList),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn list_trunks(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<TrunkList>, ApiError> {
    let trunks = state.store.list_trunks(&caller.account_id).await?;
    Ok(Json(TrunkList {
        data: trunks.iter().map(TrunkView::from).collect(),
    }))
}

/// The caller's trunk `raw`, or 404 (another account's trunk is not found either).
async fn load(state: &AppState, caller: &Caller, raw: &str) -> Result<Trunk, ApiError> {
    let id = TrunkId::parse(raw).ok_or_else(|| ApiError::not_found("trunk"))?;
    state
        .store
        .get_trunk(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("trunk"))
}

#[utoipa::path(
    get, path = "/v1/trunks/{id}", operation_id = "get_trunk", tag = "trunks",
    summary = "Get a trunk",
    params(("id" = String, Path, description = "A trunk id (`trk_...`).")),
    responses(
        (status = 200, description = "The trunk.", body = TrunkView),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn get_trunk(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(id): Path<String>,
) -> Result<Json<TrunkView>, ApiError> {
    Ok(Json(TrunkView::from(&load(&state, &caller, &id).await?)))
}

#[utoipa::path(
    patch, path = "/v1/trunks/{id}", operation_id = "update_trunk", tag = "trunks",
    summary = "Change a trunk",
    description = "Fields left out keep their value, and so do settings left out of \
        `settings`. `kind` cannot change.",
    params(("id" = String, Path, description = "A trunk id (`trk_...`).")),
    request_body = TrunkRequest,
    responses(
        (status = 200, description = "The trunk.", body = TrunkView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn update_trunk(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<TrunkView>, ApiError> {
    let obj = object(&body)?;
    let mut trunk = load(&state, &caller, &id).await?;
    let kind = trunk.settings.kind();
    if let Some(k) = obj.get("kind")
        && k.as_str() != Some(kind.as_str())
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "kind",
            "cannot be changed; create another trunk",
        )
        .into());
    }
    if let Some(n) = obj.get("name") {
        trunk.name = name(n)?;
    }
    trunk.limits = limits(obj, trunk.limits)?;
    if let Some(settings) = obj.get("settings") {
        let parsed = TrunkSettings::parse(kind, settings, "settings", Some(&trunk.settings))?;
        trunk.settings = reachable(&state, parsed).await?;
        inbound_queue_is_ours(&state, &caller, &trunk.settings).await?;
    }
    trunk.updated_at = state.clock.now();
    // A change of the trunk is the operator's answer to a failing one: it is tried again.
    trunk.failing = None;
    if !state.store.update_trunk(&trunk, &caller.actor).await? {
        return Err(ApiError::not_found("trunk"));
    }
    Ok(Json(TrunkView::from(&trunk)))
}

#[utoipa::path(
    delete, path = "/v1/trunks/{id}", operation_id = "delete_trunk", tag = "trunks",
    summary = "Delete a trunk",
    description = "Refused with 409 `trunk_in_use` while the trunk is the account's default, or \
        is named by a callback that has not ended or by a running or paused campaign.",
    params(("id" = String, Path, description = "A trunk id (`trk_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
        (status = 404, response = super::error::NotFound),
        (status = 409, response = super::error::TrunkInUse),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn delete_trunk(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = TrunkId::parse(&id).ok_or_else(|| ApiError::not_found("trunk"))?;
    match state
        .store
        .delete_trunk(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?
    {
        TrunkDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        TrunkDeletion::NotFound => Err(ApiError::not_found("trunk")),
        TrunkDeletion::InUse { what } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::TrunkInUse,
            format!("the trunk cannot be deleted: {what}"),
        )),
    }
}

/// A `trunk_id` a request names: one of the caller's trunks, else 400 naming `field`.
pub async fn named_trunk(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    field: &str,
) -> Result<TrunkId, ApiError> {
    let unknown = || {
        FieldError::new(
            ErrorCode::InvalidField,
            field,
            "names no trunk of this account",
        )
    };
    let id = TrunkId::parse(raw).ok_or_else(unknown)?;
    match state.store.get_trunk(&caller.account_id, &id).await? {
        Some(_) => Ok(id),
        None => Err(unknown().into()),
    }
}
