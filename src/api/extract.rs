//! Extractors whose rejections use the API's error body.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;

use super::{
    csv::{CsvBody, Row, RowErrors},
    error::ApiError,
};
use crate::domain::ErrorCode;

/// A JSON body: checks the content type (415), the size (413), the syntax and every field's
/// type, naming the offending field by its path (`callbacks[2].phone`).
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawJson(bytes) = RawJson::from_request(req, state).await?;
        // Every body is an object: serde would read a struct from an array of its fields too.
        if bytes.trim_ascii_start().first() != Some(&b'{') {
            parse_json::<serde::de::IgnoredAny>(&bytes)?;
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidJson,
                "the body must be a JSON object",
            ));
        }
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
        refuse_nul(&bytes)?;
        Ok(RawJson(bytes))
    }
}

/// Refuses text holding the NUL character (`\u0000`): no field has a use for it, and
/// PostgreSQL cannot store it. Names the first field that holds one.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    let escaped = |w: &[u8]| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|&b| b == b'0');
    if !bytes.windows(6).any(escaped) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        // Not JSON: the parser names what is wrong.
        return Ok(());
    };
    match nul_path(&value, String::new()) {
        Some(field) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "text may not contain the NUL character (U+0000)",
        )
        .field(field)),
        None => Ok(()),
    }
}

/// The path of the first string (or object key) in `value` that holds a NUL character.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, format!("{path}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            let here = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            if name.contains('\0') {
                Some(here)
            } else {
                nul_path(item, here)
            }
        }),
        _ => None,
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
    serde_path_to_error::deserialize(de)
        .map_err(|err| json_error(err.path().to_string(), err.into_inner(), ""))
}

/// Reads an already-parsed JSON value (a batch item) into `T`, naming fields under `prefix`
/// (`callbacks[3].`) with the same codes as a whole body.
pub fn from_value<T: DeserializeOwned>(
    value: serde_json::Value,
    prefix: &str,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value)
        .map_err(|err| json_error(err.path().to_string(), err.into_inner(), prefix))
}

/// Turns a serde error at `path` into the API error naming the field.
fn json_error(path: String, inner: serde_json::Error, prefix: &str) -> ApiError {
    use serde_json::error::Category;
    let message = inner.to_string();
    let path = if path == "." { String::new() } else { path };
    let within = |name: &str| {
        let full = if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        format!("{prefix}{full}")
    };
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {message}"),
        ),
        Category::Data => {
            let named = |start: &str| {
                message
                    .strip_prefix(start)
                    .and_then(|rest| rest.split('`').next())
                    .map(str::to_owned)
            };
            if let Some(name) = named("unknown field `") {
                // serde names the unknown field itself; the path points at it already.
                let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
                let field = if parent.is_empty() {
                    format!("{prefix}{name}")
                } else {
                    format!("{prefix}{parent}.{name}")
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
                .field(within(&name))
            } else {
                let reason = match message.find(" at line ") {
                    Some(i) => message[..i].to_owned(),
                    None => message.clone(),
                };
                let field = if path.is_empty() {
                    prefix.trim_end_matches('.').to_owned()
                } else {
                    format!("{prefix}{path}")
                };
                ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidField, reason).field(field)
            }
        }
    }
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

/// A 400 `invalid_query` naming the query parameter at fault.
pub fn invalid_query(field: &str, message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).field(field)
}

/// A list's page size: `raw`, else `default`; refused outside 1 to `max`.
pub fn page_limit(raw: Option<u32>, default: u32, max: u32) -> Result<u32, ApiError> {
    let limit = raw.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(invalid_query(
            "limit",
            &format!("must be between 1 and {max}"),
        ))
    }
}

/// A list's `cursor` parameter read by `parse`; refused with `message` when it does not parse.
pub fn page_cursor<T>(
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
    message: &str,
) -> Result<Option<T>, ApiError> {
    raw.map(|c| parse(c).ok_or_else(|| invalid_query("cursor", message)))
        .transpose()
}

/// Rows of a CSV import committed together.
pub const IMPORT_BATCH: usize = 500;

/// The next row of a CSV import that could be read: every row read is counted in `rows`, and one
/// that could not be read is reported in `errors` and skipped.
pub async fn next_import_row(
    csv: &mut CsvBody,
    rows: &mut u64,
    errors: &mut RowErrors,
) -> Result<Option<Row>, ApiError> {
    while let Some(next) = csv.next().await? {
        *rows += 1;
        match next {
            Ok(row) => return Ok(Some(row)),
            Err((row, e)) => errors.push(&row, e),
        }
    }
    Ok(None)
}
