//! Account administration: API keys, the JWT setting and the audit trail (all `admin` scope).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use jiff::Timestamp;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{
    auth::decoding_key,
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiJson, ApiQuery, invalid_query, page_cursor, page_limit},
};
use crate::{
    admin::{new_key, parse_scopes},
    app::AppState,
    domain::{
        ApiKey, ApiKeySecret, ErrorCode, FieldError, JwtAlgorithm, JwtKey, Scope, auth::AuditEntry,
        ids::ApiKeyId,
    },
    store::AuditFilter,
};

/// A key as the API shows it; `key` (the secret) only when it was just made.
#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// The secret: shown in this answer only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl KeyView {
    fn of(key: &ApiKey, secret: Option<&ApiKeySecret>) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            scopes: key.scopes.clone(),
            created_at: key.created_at.to_string(),
            revoked_at: key.revoked_at.map(|t| t.to_string()),
            key: secret.map(|s| s.expose().to_owned()),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 100 characters, not blank.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// E.g. `["callbacks:read", "callbacks:write"]`.
    #[schema(value_type = Vec<Scope>, min_items = 1)]
    pub scopes: Vec<String>,
}

#[utoipa::path(
    post, path = "/v1/api-keys", operation_id = "create_api_key", tag = "admin",
    summary = "Make an API key",
    description = "`201` with the key; the secret (`key`) is shown in this answer only.",
    request_body = CreateKey,
    responses(
        (status = 201, description = "Made; `key` is shown once.", body = KeyView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, response = super::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn create_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(req): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let scopes = parse_scopes(&req.scopes)?;
    let (key, secret) = new_key(&caller.account_id, &req.name, scopes, state.clock.now())?;
    state.store.insert_api_key(&key, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(KeyView::of(&key, Some(&secret)))))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub data: Vec<KeyView>,
}

#[utoipa::path(
    get, path = "/v1/api-keys", operation_id = "list_api_keys", tag = "admin",
    summary = "List the account's API keys",
    responses(
        (status = 200, description = "Every key, revoked ones included; secrets are not shown.", body = KeyList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn list_keys(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store.list_api_keys(&caller.account_id).await?;
    Ok(Json(KeyList {
        data: keys.iter().map(|k| KeyView::of(k, None)).collect(),
    }))
}

fn key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    ApiKeyId::parse(raw).ok_or_else(|| ApiError::not_found("API key"))
}

/// Revokes a key; it stops working at once.
#[utoipa::path(
    post, path = "/v1/api-keys/{id}/revoke", operation_id = "revoke_api_key", tag = "admin",
    params(("id" = String, Path, description = "An API key id (`key_...`).")),
    responses(
        (status = 200, description = "The revoked key.", body = KeyView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let id = key_id(&id)?;
    let key = state
        .store
        .revoke_api_key(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok(Json(KeyView::of(&key, None)))
}

/// Replaces a key by a new one with the same name and scopes; the old one stops working.
#[utoipa::path(
    post, path = "/v1/api-keys/{id}/rotate", operation_id = "rotate_api_key", tag = "admin",
    params(("id" = String, Path, description = "An API key id (`key_...`).")),
    responses(
        (status = 201, description = "The new key; `key` is shown once. The old one is revoked.", body = KeyView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn rotate_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<KeyView>), ApiError> {
    let id = key_id(&id)?;
    let keys = state.store.list_api_keys(&caller.account_id).await?;
    let old = keys
        .iter()
        .find(|k| k.id == id && k.revoked_at.is_none())
        .ok_or_else(|| ApiError::not_found("API key"))?;
    let (key, secret) = new_key(
        &caller.account_id,
        &old.name,
        old.scopes.clone(),
        state.clock.now(),
    )?;
    state
        .store
        .rotate_api_key(&caller.account_id, &id, &key, &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("API key"))?;
    Ok((StatusCode::CREATED, Json(KeyView::of(&key, Some(&secret)))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetJwtKey {
    /// `HS256`, `RS256` or `ES256`: the only algorithm accepted afterwards.
    pub algorithm: JwtAlgorithm,
    /// For HS256: the shared secret (at least 32 characters).
    pub secret: Option<String>,
    /// For RS256 and ES256: the PEM public key.
    pub public_key: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct JwtKeyView {
    pub algorithm: Option<JwtAlgorithm>,
}

/// Registers the account's JWT verification key (replacing any other).
#[utoipa::path(
    put, path = "/v1/jwt-key", operation_id = "set_jwt_key", tag = "admin",
    request_body = SetJwtKey,
    responses(
        (status = 200, description = "The algorithm now accepted.", body = JwtKeyView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, response = super::error::UnsupportedMediaType),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn set_jwt_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(req): ApiJson<SetJwtKey>,
) -> Result<Json<JwtKeyView>, ApiError> {
    let text = match (req.algorithm, req.secret, req.public_key) {
        (JwtAlgorithm::HS256, Some(secret), None) => {
            if secret.len() < 32 || secret.len() > 512 {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    "secret",
                    "an HS256 secret must be 32 to 512 characters",
                )
                .into());
            }
            secret
        }
        (JwtAlgorithm::HS256, _, _) => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                "secret",
                "HS256 takes a secret and no public_key",
            )
            .into());
        }
        (_, None, Some(pem)) if pem.len() <= 16 * 1024 => pem,
        (_, _, _) => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                "public_key",
                "RS256 and ES256 take a PEM public_key and no secret",
            )
            .into());
        }
    };
    let key = JwtKey {
        algorithm: req.algorithm,
        key: SecretString::from(text),
    };
    if decoding_key(&key).is_none() {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "public_key",
            "not a PEM public key for this algorithm",
        )
        .into());
    }
    state
        .store
        .set_jwt_key(
            &caller.account_id,
            Some(&key),
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    Ok(Json(JwtKeyView {
        algorithm: Some(key.algorithm),
    }))
}

#[utoipa::path(
    get, path = "/v1/jwt-key", operation_id = "get_jwt_key", tag = "admin",
    summary = "The JWT algorithm the account accepts",
    description = "`algorithm` is null when the account accepts no JWT. The key itself is never shown.",
    responses(
        (status = 200, description = "The accepted algorithm, or null.", body = JwtKeyView),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn get_jwt_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<JwtKeyView>, ApiError> {
    let key = state.store.jwt_key(&caller.account_id).await?;
    Ok(Json(JwtKeyView {
        algorithm: key.map(|k| k.algorithm),
    }))
}

/// Stops accepting JWTs for the account.
#[utoipa::path(
    delete, path = "/v1/jwt-key", operation_id = "delete_jwt_key", tag = "admin",
    responses(
        (status = 204, description = "JWTs are no longer accepted."),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn delete_jwt_key(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .set_jwt_key(&caller.account_id, None, state.clock.now(), &caller.actor)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries about this resource id.
    pub resource_id: Option<String>,
    /// E.g. `callback.update`.
    pub action: Option<String>,
    /// The key id, JWT subject or user.
    pub actor_id: Option<String>,
    /// RFC 3339: entries at or after.
    pub from: Option<String>,
    /// RFC 3339: entries before.
    pub to: Option<String>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuditList {
    pub data: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}

/// The audit trail, newest first.
#[utoipa::path(
    get, path = "/v1/audit", operation_id = "list_audit", tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries; follow `next_cursor` for the next.", body = AuditList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn list_audit(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditList>, ApiError> {
    let limit = page_limit(q.limit, 100, 500)?;
    let instant = |raw: &Option<String>, field: &str| {
        raw.as_deref()
            .map(|s| {
                s.parse::<Timestamp>()
                    .map_err(|_| invalid_query(field, "must be an RFC 3339 date-time"))
            })
            .transpose()
    };
    let before = page_cursor(
        q.cursor.as_deref(),
        |c| c.strip_prefix("aud_").and_then(|n| n.parse::<i64>().ok()),
        "not a cursor from a previous page",
    )?;
    let filter = AuditFilter {
        resource_id: q.resource_id,
        action: q.action,
        actor_id: q.actor_id,
        from: instant(&q.from, "from")?,
        to: instant(&q.to, "to")?,
        before,
        limit,
    };
    let data = state.store.list_audit(&caller.account_id, &filter).await?;
    let next_cursor = (data.len() == limit as usize)
        .then(|| data.last().map(|e| e.id.clone()))
        .flatten();
    Ok(Json(AuditList { data, next_cursor }))
}
