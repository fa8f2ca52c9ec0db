//! The settings of trunks whose calls a voice-AI vendor places through its own API: `vapi`
//! (`POST /call`) and `retell` (`POST /v2/create-phone-call`). The vendor's API key, and for
//! Vapi the secret it signs its webhooks with, are write-only like a SIP password.

use serde_json::Value;

use super::{Fields, Secret};
use crate::domain::{PhoneNumber, WebhookUrl};

/// Where Vapi's API is, unless a trunk says otherwise.
pub const VAPI_BASE_URL: &str = "https://api.vapi.ai";
/// Where Retell's API is, unless a trunk says otherwise.
pub const RETELL_BASE_URL: &str = "https://api.retellai.com";

/// Longest vendor id (assistant, agent, phone number) accepted.
const MAX_ID: usize = 128;

/// The settings of a `vapi` trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VapiSettings {
    /// The private API key (`Authorization: Bearer`).
    pub api_key: Option<Secret>,
    /// The assistant that talks to the customer (`assistantId`).
    pub assistant_id: String,
    /// The Vapi phone number calls come from (`phoneNumberId`).
    pub phone_number_id: String,
    /// The secret key of the HMAC credential Vapi signs its server messages with.
    pub webhook_secret: Option<Secret>,
    /// The API's address; Vapi's own unless set (a test stand-in, a proxy).
    pub base_url: Option<WebhookUrl>,
}

/// The settings of a `retell` trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetellSettings {
    /// The API key: `Authorization: Bearer`, and the key Retell signs its webhooks with.
    pub api_key: Option<Secret>,
    /// The agent that takes the call (`override_agent_id`); the number's own agent when absent.
    pub agent_id: Option<String>,
    /// The Retell number calls come from (`from_number`).
    pub from_number: PhoneNumber,
    /// The API's address; Retell's own unless set.
    pub base_url: Option<WebhookUrl>,
}

/// A write-only secret of a settings object: absent keeps `before`, `null` clears it.
fn secret(
    f: &Fields<'_>,
    key: &str,
    before: Option<Secret>,
) -> Result<Option<Secret>, crate::domain::FieldError> {
    match f.obj.get(key) {
        None => Ok(before),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 512 => {
            Ok(Some(Secret(s.trim().to_owned())))
        }
        Some(_) => Err(f.invalid(
            key,
            "must be a string of 1 to 512 characters, or null to clear it",
        )),
    }
}

/// A vendor's id: required unless `before` has one.
fn id(
    f: &Fields<'_>,
    key: &str,
    before: Option<&str>,
) -> Result<Option<String>, crate::domain::FieldError> {
    match (f.obj.get(key), before) {
        (None, before) => Ok(before.map(str::to_owned)),
        (Some(Value::String(s)), _)
            if !s.trim().is_empty()
                && s.len() <= MAX_ID
                && s.trim().chars().all(|c| c.is_ascii_graphic()) =>
        {
            Ok(Some(s.trim().to_owned()))
        }
        (Some(_), _) => Err(f.invalid(
            key,
            &format!("must be the vendor's id: 1 to {MAX_ID} printable ASCII characters"),
        )),
    }
}

fn base_url(
    f: &Fields<'_>,
    before: Option<WebhookUrl>,
) -> Result<Option<WebhookUrl>, crate::domain::FieldError> {
    match f.obj.get("base_url") {
        None => Ok(before),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            WebhookUrl::parse_field(s.trim_end_matches('/'), &f.name("base_url")).map(Some)
        }
        Some(_) => Err(f.invalid("base_url", "must be an http(s) URL, or null")),
    }
}

impl VapiSettings {
    pub(super) fn parse(
        f: &Fields<'_>,
        before: Option<&VapiSettings>,
    ) -> Result<Self, crate::domain::FieldError> {
        f.only(&[
            "api_key",
            "assistant_id",
            "phone_number_id",
            "webhook_secret",
            "base_url",
        ])?;
        let api_key = secret(f, "api_key", before.and_then(|b| b.api_key.clone()))?;
        let assistant_id = id(f, "assistant_id", before.map(|b| b.assistant_id.as_str()))?
            .ok_or_else(|| f.missing("assistant_id"))?;
        let phone_number_id = id(
            f,
            "phone_number_id",
            before.map(|b| b.phone_number_id.as_str()),
        )?
        .ok_or_else(|| f.missing("phone_number_id"))?;
        let webhook_secret = secret(
            f,
            "webhook_secret",
            before.and_then(|b| b.webhook_secret.clone()),
        )?;
        Ok(VapiSettings {
            api_key,
            assistant_id,
            phone_number_id,
            webhook_secret,
            base_url: base_url(f, before.and_then(|b| b.base_url.clone()))?,
        })
    }

    /// A new trunk needs what its calls and webhooks need.
    pub(super) fn require_secrets(&self, f: &Fields<'_>) -> Result<(), crate::domain::FieldError> {
        if self.api_key.is_none() {
            return Err(f.missing("api_key"));
        }
        if self.webhook_secret.is_none() {
            return Err(f.missing("webhook_secret"));
        }
        Ok(())
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .as_ref()
            .map_or(VAPI_BASE_URL, |u| u.as_str().trim_end_matches('/'))
    }

    pub(super) fn to_json(&self) -> Value {
        serde_json::json!({
            "assistant_id": self.assistant_id,
            "phone_number_id": self.phone_number_id,
            "api_key_set": self.api_key.is_some(),
            "webhook_secret_set": self.webhook_secret.is_some(),
            "base_url": self.base_url(),
        })
    }

    /// Both secrets as the store keeps them (one column): a JSON object.
    pub(super) fn stored_secret(&self) -> Option<String> {
        if self.api_key.is_none() && self.webhook_secret.is_none() {
            return None;
        }
        Some(
            serde_json::json!({
                "api_key": self.api_key.as_ref().map(Secret::expose),
                "webhook_secret": self.webhook_secret.as_ref().map(Secret::expose),
            })
            .to_string(),
        )
    }

    pub(super) fn restore_secret(&mut self, stored: Option<&str>) {
        let v: Value = stored
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        let get = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .map(|s| Secret(s.to_owned()))
        };
        self.api_key = get("api_key");
        self.webhook_secret = get("webhook_secret");
    }
}

impl RetellSettings {
    pub(super) fn parse(
        f: &Fields<'_>,
        before: Option<&RetellSettings>,
    ) -> Result<Self, crate::domain::FieldError> {
        f.only(&["api_key", "agent_id", "from_number", "base_url"])?;
        let api_key = secret(f, "api_key", before.and_then(|b| b.api_key.clone()))?;
        let agent_id = match f.obj.get("agent_id") {
            Some(Value::Null) => None,
            _ => id(f, "agent_id", before.and_then(|b| b.agent_id.as_deref()))?,
        };
        let from_number = match (f.obj.get("from_number"), before) {
            (None, Some(b)) => b.from_number.clone(),
            (None, None) => return Err(f.missing("from_number")),
            (Some(Value::String(s)), _) => PhoneNumber::parse(s, &f.name("from_number"))?,
            (Some(_), _) => return Err(f.invalid("from_number", "must be an E.164 phone number")),
        };
        Ok(RetellSettings {
            api_key,
            agent_id,
            from_number,
            base_url: base_url(f, before.and_then(|b| b.base_url.clone()))?,
        })
    }

    pub(super) fn require_secrets(&self, f: &Fields<'_>) -> Result<(), crate::domain::FieldError> {
        match self.api_key {
            Some(_) => Ok(()),
            None => Err(f.missing("api_key")),
        }
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .as_ref()
            .map_or(RETELL_BASE_URL, |u| u.as_str().trim_end_matches('/'))
    }

    pub(super) fn to_json(&self) -> Value {
        serde_json::json!({
            "agent_id": self.agent_id,
            "from_number": self.from_number.as_str(),
            "api_key_set": self.api_key.is_some(),
            "base_url": self.base_url(),
        })
    }
}
