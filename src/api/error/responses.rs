//! The answers every handler may name in its `#[utoipa::path]` (`response = ...`): reusable
//! OpenAPI responses whose body is the API's error body ([`super::ErrorBody`]), each with an
//! example.

use utoipa::{
    ToResponse,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, RefOr, Response, ResponseBuilder, Type,
    },
};

/// A reusable response whose body is the API's error body.
fn error_response(description: &str, example: serde_json::Value) -> RefOr<Response> {
    error_response_builder(description, example).build().into()
}

fn error_response_builder(description: &str, example: serde_json::Value) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
            .example(Some(example))
            .build(),
    )
}

fn example(code: &str, message: &str, field: Option<&str>) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message, "field": field } })
}

macro_rules! error_responses {
    ($($name:ident: $description:literal, $code:literal, $message:literal, $field:expr;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    (
                        stringify!($name),
                        error_response($description, example($code, $message, $field)),
                    )
                }
            }
        )*
    };
}

error_responses! {
    BadRequest: "The body, a field or a query parameter is invalid; `error.field` names it.",
        "invalid_field", "must be between 1 and 200", Some("limit");
    Unauthorized: "The `Authorization` header is missing or malformed, or its credential is unknown or revoked.",
        "unauthorized", "unknown or revoked API key", None;
    Forbidden: "The credential is valid but lacks the scope the operation names in its security requirement (`required_scope`).",
        "forbidden", "this needs the callbacks:write scope", None;
    NotFound: "No such resource in the caller's account (a malformed id answers the same).",
        "not_found", "callback not found", None;
    TrunkInUse: "The trunk is the account's default, or a callback that has not ended or a running or paused campaign names it.",
        "trunk_in_use", "the trunk cannot be deleted: it is the account's default trunk (settings.default_trunk_id)", None;
    AudioInUse: "A playbook plays the audio (its `voicemail_audio_id`).",
        "audio_in_use", "the audio cannot be deleted: the playbook 2f0c5e1a-8d9b-4c3e-9f1a-6b7d8e9f0a1b plays it (voicemail_audio_id)", None;
    PayloadTooLarge: "The request body is larger than the server accepts.",
        "payload_too_large", "the request body is larger than the server accepts", None;
    UnsupportedMediaType: "The body is not declared as JSON.",
        "unsupported_media_type", "send the body as JSON with Content-Type: application/json", Some("Content-Type");
    RequestTimeout: "The request took longer than the server's request timeout.",
        "request_timeout", "the request took too long", None;
    Internal: "An internal error; details are in the server's log, never in the answer.",
        "internal", "internal error; it has been logged", None;
    Unavailable: "The store is busy or unreachable; retry shortly.",
        "unavailable", "the store is busy or unreachable; retry shortly", None;
}

/// Too many requests for this credential; the answer says when to retry.
pub struct RateLimited;

impl<'r> ToResponse<'r> for RateLimited {
    fn response() -> (&'r str, RefOr<Response>) {
        let mut body = example(
            "rate_limited",
            "too many requests for this key; slow down",
            None,
        );
        body["error"]["retry_after_seconds"] = 1.into();
        let response = error_response_builder(
            "Too many requests for this credential; retry after `Retry-After` seconds (also \
             `error.retry_after_seconds`).",
            body,
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before the next request."))
                .build(),
        );
        ("RateLimited", response.build().into())
    }
}
