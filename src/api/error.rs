//! The one error type of the HTTP edge and its stable JSON body:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`.

mod responses;

pub use responses::{
    AudioInUse, BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, RateLimited,
    RequestTimeout, TrunkInUse, Unauthorized, Unavailable, UnsupportedMediaType,
};

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Serialize;

use crate::{
    domain::{ErrorCode, FieldError, Status},
    store::{ChangeError, StoreError},
};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Extra members of the error object (e.g. `existing_id`, `status`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorObject {
    pub code: ErrorCode,
    pub message: String,
    /// The offending input, or null.
    #[schema(required = true)]
    pub field: Option<String>,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            extra: serde_json::Map::new(),
        }
    }

    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Seconds a client should wait before trying again (a rate limit), if the error says.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.extra
            .get("retry_after_seconds")
            .and_then(serde_json::Value::as_u64)
    }

    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn invalid_state(status: Status, action: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            format!("cannot {action} a callback that is {}", status.as_str()),
        )
        .with("status", status.as_str())
    }

    pub fn internal(error: &dyn std::error::Error) -> Self {
        // Details go to the log, never to the client.
        tracing::error!(error = %error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; it has been logged",
        )
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        // A value another resource already holds conflicts; every other field error is a 400.
        let status = match e.code {
            ErrorCode::DuplicateExternalId => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::new(status, e.code, e.message).field(e.field)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            _ if e.is_unavailable() => {
                tracing::error!(error = %e, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the store is busy or unreachable; retry shortly",
                )
            }
            _ => Self::internal(&e),
        }
    }
}

impl ApiError {
    /// Maps a failed change to one callback, naming the action for the 409 message.
    pub fn from_change(e: ChangeError, action: &str) -> Self {
        match e {
            ChangeError::NotFound => Self::not_found("callback"),
            ChangeError::InvalidState(status) => Self::invalid_state(status, action),
            ChangeError::Conflict => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidState,
                "the callback changed while this request ran; read it and retry",
            ),
            ChangeError::CampaignState(status) => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::InvalidState,
                    format!("the campaign is {}: it cannot {action}", status.as_str()),
                );
                e.extra
                    .insert("status".to_owned(), serde_json::json!(status.as_str()));
                e
            }
            ChangeError::NotHeld(status) => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::OfferNotHeld,
                    "this agent holds no offer of the callback: the offer ran out, was withdrawn \
                     or went to another agent",
                );
                e.extra
                    .insert("status".to_owned(), serde_json::json!(status.as_str()));
                e
            }
            ChangeError::SlotFull => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::SlotFull,
                "the slot has no place left; pick another from GET /v1/availability",
            )
            .field("slot_id"),
            ChangeError::Blocked(block) => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::DialBlocked,
                    format!("the call may not be placed now: {}", block.reason),
                );
                e.extra
                    .insert("rule".to_owned(), serde_json::json!(block.code.as_str()));
                e.extra.insert(
                    "until".to_owned(),
                    serde_json::json!(block.until.map(|t| t.to_string())),
                );
                e
            }
            ChangeError::Store(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after_seconds();
        let body = ErrorBody {
            error: ErrorObject {
                code: self.code,
                message: self.message,
                field: self.field,
                extra: self.extra,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        set_retry_after(&mut resp, retry_after);
        resp
    }
}

/// Sets `Retry-After` on an answer, when there is a wait to tell (every error shape, native or
/// a vendor's, carries it the same way).
pub fn set_retry_after(resp: &mut Response, seconds: Option<u64>) {
    if let Some(seconds) = seconds {
        resp.headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
}

/// The answer to a delete: 204 when `deleted`, else 404 naming `what`.
pub fn deleted_or_not_found(deleted: bool, what: &str) -> Result<StatusCode, ApiError> {
    if deleted {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(what))
    }
}
