//! `/v1/calls/{id}`: what Ringback's own dialer kept of one call (an attempt of a callback,
//! `cb_....2`): its recording.

use axum::{
    body::Body,
    extract::{Path, State},
    http::header,
    response::Response,
};

use super::{
    authorized::{Authorized, scope},
    error::ApiError,
};
use crate::app::AppState;
use crate::domain::CallbackId;

/// The callback and attempt number a call id (`cb_....2`) names.
fn parse_call_id(raw: &str) -> Option<(CallbackId, u32)> {
    let (callback, number) = raw.rsplit_once('.')?;
    let number = number.parse::<u32>().ok().filter(|n| *n > 0)?;
    Some((CallbackId::parse(callback)?, number))
}

#[utoipa::path(
    get, path = "/v1/calls/{id}/recording", operation_id = "get_call_recording", tag = "callbacks",
    summary = "A call's recording",
    description = "The WAV recording (8 kHz, 16-bit; left channel the customer, right channel \
        the agent or bot they were connected to) of a call placed on a `sip` trunk with \
        `recording_enabled`. The attempt's `recording_url` names it; recordings past the \
        account's `recording_retention_days` are gone (404).",
    params(("id" = String, Path, description = "A call id: the callback id, a dot and the \
        attempt number (`cb_....2`).")),
    responses(
        (status = 200, description = "The recording.", content_type = "audio/wav"),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get_call_recording(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found("recording");
    let (callback, number) = parse_call_id(&id).ok_or_else(not_found)?;
    let file = state
        .store
        .call_recording(&caller.account_id, &callback, number)
        .await?
        .ok_or_else(not_found)?;
    // The stored name is the server's own (`<account>/<call id>.wav`); it never leaves the
    // directory.
    if file.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(not_found());
    }
    let bytes = match tokio::fs::read(state.settings.recordings_dir.join(&file)).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(ApiError::internal(&e)),
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "audio/wav")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{id}.wav\""),
        )
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_id_is_a_callback_id_and_an_attempt() {
        let cb = CallbackId::generate();
        let (id, n) = parse_call_id(&format!("{cb}.2")).unwrap();
        assert_eq!((id, n), (cb.clone(), 2));
        for bad in [
            format!("{cb}"),
            format!("{cb}.0"),
            format!("{cb}.x"),
            "nope.1".to_owned(),
            String::new(),
        ] {
            assert_eq!(parse_call_id(&bad), None, "{bad}");
        }
    }
}
