//! Extractors whose rejections use the API's error body.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::ErrorCode;

/// A JSON body: checks the content type (415), the size (413), the syntax and every field's
/// type, naming the offending field by its path (`callbacks[2].phone`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The bytes of a JSON body, its content type and size checked, not yet parsed (for handlers
/// that hash the exact body, such as idempotent creates).
pub struct RawJson(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than the server accepts",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidJson,
                    "the request body could not be read",
                )
            }
        })?;
        Ok(RawJson(bytes))
    }
}

/// Refuses a body that is not declared as JSON.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") || mime.ends_with("+json") {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with Content-Type: application/json",
        )
        .field("Content-Type"))
    }
}

/// Parses JSON with a precise error: code, field path and reason.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        use serde_json::error::Category;
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                format!("the body is not valid JSON: {message}"),
            ),
            Category::Data => {
                let named = |prefix: &str| {
                    message
                        .strip_prefix(prefix)
                        .and_then(|rest| rest.split('`').next())
                        .map(str::to_owned)
                };
                let join = |name: String| {
                    if path == "." || path.is_empty() {
                        name
                    } else {
                        format!("{path}.{name}")
                    }
                };
                let strip_position = |m: &str| match m.find(" at line ") {
                    Some(i) => m[..i].to_owned(),
                    None => m.to_owned(),
                };
                if let Some(name) = named("unknown field `") {
                    // serde names the unknown field itself; the path points at its parent.
                    let parent = path.rsplit_once('.').map(|(p, _)| p.to_owned());
                    let field = match parent {
                        Some(p) if !p.is_empty() && p != "." => format!("{p}.{name}"),
                        _ => name.clone(),
                    };
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::UnknownField,
                        format!("unknown field {name:?}"),
                    )
                    .field(field)
                } else if let Some(name) = named("missing field `") {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::MissingField,
                        format!("{name:?} is required"),
                    )
                    .field(join(name))
                } else {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ErrorCode::InvalidField,
                        strip_position(&message),
                    )
                    .field(if path == "." { String::new() } else { path })
                }
            }
        }
    })
}

/// Query-string parameters, with the API's error body on bad values.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let field = err.path().to_string();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    err.into_inner().to_string(),
                )
                .field(field)
            })
    }
}
