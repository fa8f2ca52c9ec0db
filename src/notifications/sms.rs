//! Texts through a `twilio_compatible` trunk: one `POST {api root}/Accounts/{sid}/Messages.json`
//! (`To`, `From`, `Body`) with the trunk's credentials, as its driver places calls.

use serde_json::Value;

use super::SendError;
use crate::domain::twilio::{Profile, TwilioSettings};

/// Where a trunk's texts are created.
pub fn messages_url(s: &TwilioSettings) -> String {
    format!("{}/Accounts/{}/Messages.json", s.api_root(), s.account_sid)
}

/// Whether a trunk can send texts this way: Twilio's and SignalWire's do; Telnyx's TeXML API
/// has no Messages resource.
pub fn can_text(s: &TwilioSettings) -> bool {
    s.profile != Profile::TelnyxTexml
}

/// Sends `body` to `to` from `from`; the message's `sid`.
pub async fn send(
    client: &reqwest::Client,
    s: &TwilioSettings,
    from: &str,
    to: &str,
    body: &str,
) -> Result<String, SendError> {
    if !can_text(s) {
        return Err(SendError::permanent(
            "the trunk's provider (telnyx_texml) has no Messages API",
        ));
    }
    let resp = client
        .post(messages_url(s))
        .basic_auth(&s.account_sid, Some(s.token()))
        .form(&[("To", to), ("From", from), ("Body", body)])
        .send()
        .await
        .map_err(|e| {
            SendError::transient(match e.is_timeout() {
                true => "the provider did not answer in time".to_owned(),
                false => format!("could not reach the provider: {}", e.without_url()),
            })
        })?;
    let status = resp.status();
    let answer: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(answer["sid"].as_str().unwrap_or_default().to_owned());
    }
    // Twilio's error body: `{"code": 21211, "message": "The 'To' number ... is not valid"}`.
    let said = match (answer["code"].as_i64(), answer["message"].as_str()) {
        (Some(code), Some(message)) => format!(": {code} {message}"),
        (None, Some(message)) => format!(": {message}"),
        _ => String::new(),
    };
    let message = format!("the provider answered {status}{said}");
    // A refused message (bad number, unknown sender) stays refused; throttling, credentials
    // being fixed and the provider's own trouble may pass.
    match status.as_u16() {
        400 | 404 | 422 => Err(SendError::permanent(message)),
        _ => Err(SendError::transient(message)),
    }
}
