//! `twilio_compatible` trunks: calls placed through a provider that speaks Twilio's Calls API
//! (Twilio itself, SignalWire's LaML API, Telnyx's TeXML API), as data: the trunk's settings,
//! the TwiML a call runs, the status callback's verification (HMAC-SHA1 for Twilio and
//! SignalWire, Ed25519 for Telnyx) and what its statuses mean. No I/O and no clock: time is an
//! argument.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde_json::Value;

use super::{
    FieldError, Outcome, PhoneNumber, SigningSecret,
    ids::QueueId,
    trunk::{Fields, Secret},
};

/// Which provider a `twilio_compatible` trunk talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `https://api.twilio.com/2010-04-01`, HTTP Basic with the account SID and auth token.
    Twilio,
    /// `https://{space}.signalwire.com/api/laml/2010-04-01`, the project id as account SID.
    SignalWire,
    /// Telnyx TeXML: JSON bodies, a Bearer API key, the TeXML application's `ApplicationSid`.
    TelnyxTexml,
}

impl Profile {
    pub const ALL: [Profile; 3] = [Profile::Twilio, Profile::SignalWire, Profile::TelnyxTexml];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Twilio => "twilio",
            Profile::SignalWire => "signalwire",
            Profile::TelnyxTexml => "telnyx_texml",
        }
    }
}

/// The settings of a `twilio_compatible` trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioSettings {
    pub profile: Profile,
    /// Twilio's `AC...`, SignalWire's project id, Telnyx's account SID.
    pub account_sid: String,
    /// Write-only: Twilio's auth token (also the key its signatures use), SignalWire's API
    /// token, Telnyx's API key.
    pub auth_token: Option<Secret>,
    /// The account's own number calls come from when the callback names none.
    pub caller_id: PhoneNumber,
    /// Ringback's public URL, which status callbacks and voicemail audio are fetched from.
    pub status_callback_base: String,
    /// The API root, overriding the profile's (tests, regional edges).
    pub base_url: Option<String>,
    /// SignalWire's space (`{space}.signalwire.com`).
    pub space: Option<String>,
    /// Telnyx: the TeXML application calls run under.
    pub application_sid: Option<String>,
    /// Telnyx: the account's Ed25519 public key (base64), which its webhooks are signed with.
    pub public_key: Option<String>,
    /// A `wss://` media stream an `ai` call is connected to (`<Connect><Stream>`) instead of the
    /// account's `ai_sip_uri`.
    pub ai_stream_url: Option<String>,
    /// The queue (`que_...`, the account's) callers of the trunk's number join when they
    /// choose a callback in the inbound flow (`/telephony/twilio/{trunk_id}/inbound`);
    /// `None`: the flow offers no callback.
    pub inbound_queue_id: Option<QueueId>,
    /// Where the inbound flow sends a caller who does not choose a callback (`<Redirect>`,
    /// e.g. the operator's hold queue); `None`: the call ends politely.
    pub inbound_redirect_url: Option<String>,
}

const KNOWN: [&str; 12] = [
    "profile",
    "account_sid",
    "auth_token",
    "caller_id",
    "status_callback_base",
    "base_url",
    "space",
    "application_sid",
    "public_key",
    "ai_stream_url",
    "inbound_queue_id",
    "inbound_redirect_url",
];

/// An `http` or `https` URL with a host and nothing after its path, without a trailing `/`.
fn base(raw: &str, schemes: &[&str]) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    let ok = schemes.contains(&url.scheme())
        && url.host().is_some()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && raw.len() <= 1024;
    ok.then(|| url.as_str().trim_end_matches('/').to_owned())
}

fn sid_like(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == ':')
}

impl TwilioSettings {
    pub(super) fn parse(
        f: &Fields<'_>,
        before: Option<&TwilioSettings>,
    ) -> Result<Self, FieldError> {
        f.only(&KNOWN)?;
        let profile = match (f.text("profile")?, before) {
            (Some(raw), _) => Profile::ALL
                .into_iter()
                .find(|p| p.as_str() == raw)
                .ok_or_else(|| {
                    f.invalid(
                        "profile",
                        "must be one of: twilio, signalwire, telnyx_texml",
                    )
                })?,
            (None, Some(b)) => b.profile,
            (None, None) => return Err(f.missing("profile")),
        };
        let account_sid = match (f.text("account_sid")?, before) {
            (Some(raw), _) => raw.trim().to_owned(),
            (None, Some(b)) => b.account_sid.clone(),
            (None, None) => return Err(f.missing("account_sid")),
        };
        let sid_ok = match profile {
            Profile::Twilio => {
                account_sid.len() == 34
                    && account_sid.starts_with("AC")
                    && account_sid[2..].chars().all(|c| c.is_ascii_hexdigit())
            }
            Profile::SignalWire | Profile::TelnyxTexml => sid_like(&account_sid),
        };
        if !sid_ok {
            return Err(f.invalid(
                "account_sid",
                match profile {
                    Profile::Twilio => "must be a Twilio account SID: AC and 32 hex digits",
                    _ => "must be 1 to 64 letters, digits, '-', '_' or ':'",
                },
            ));
        }
        let auth_token = match f.obj.get("auth_token") {
            None => before.and_then(|b| b.auth_token.clone()),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => {
                Some(Secret::new(s.clone()))
            }
            Some(_) => {
                return Err(f.invalid("auth_token", "must be a string of 1 to 256 characters"));
            }
        };
        if auth_token.is_none() {
            return Err(f.missing("auth_token"));
        }
        let caller_id = match (f.obj.get("caller_id"), before) {
            (Some(Value::String(s)), _) => PhoneNumber::parse(s, &f.name("caller_id"))?,
            (None, Some(b)) => b.caller_id.clone(),
            (None, None) => return Err(f.missing("caller_id")),
            (Some(_), _) => return Err(f.invalid("caller_id", "must be an E.164 phone number")),
        };
        let status_callback_base = match (f.text("status_callback_base")?, before) {
            (Some(raw), _) => base(raw, &["http", "https"]).ok_or_else(|| {
                f.invalid(
                    "status_callback_base",
                    "must be Ringback's public http or https URL, without query or fragment",
                )
            })?,
            (None, Some(b)) => b.status_callback_base.clone(),
            (None, None) => return Err(f.missing("status_callback_base")),
        };
        let url_setting =
            |key: &str, schemes: &[&str], was: Option<String>, why: &str| match f.obj.get(key) {
                None => Ok(was),
                Some(Value::Null) => Ok(None),
                Some(Value::String(raw)) => base(raw, schemes)
                    .map(Some)
                    .ok_or_else(|| f.invalid(key, why)),
                Some(_) => Err(f.invalid(key, why)),
            };
        let base_url = url_setting(
            "base_url",
            &["http", "https"],
            before.and_then(|b| b.base_url.clone()),
            "must be an http or https URL without query or fragment, or null",
        )?;
        let ai_stream_url = url_setting(
            "ai_stream_url",
            &["ws", "wss"],
            before.and_then(|b| b.ai_stream_url.clone()),
            "must be a ws or wss URL without query or fragment, or null",
        )?;
        let inbound_redirect_url = url_setting(
            "inbound_redirect_url",
            &["http", "https"],
            before.and_then(|b| b.inbound_redirect_url.clone()),
            "must be an http or https URL without query or fragment, or null",
        )?;
        let inbound_queue_id = match f.obj.get("inbound_queue_id") {
            None => before.and_then(|b| b.inbound_queue_id.clone()),
            Some(Value::Null) => None,
            Some(Value::String(raw)) => Some(
                QueueId::parse(raw.trim())
                    .ok_or_else(|| f.invalid("inbound_queue_id", "must be a queue id (que_...)"))?,
            ),
            Some(_) => {
                return Err(f.invalid("inbound_queue_id", "must be a queue id (que_...) or null"));
            }
        };
        let space = f.optional_text("space", 63, before.and_then(|b| b.space.clone()))?;
        if let Some(space) = &space
            && !space.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(f.invalid("space", "must be letters, digits and '-'"));
        }
        if profile == Profile::SignalWire && space.is_none() && base_url.is_none() {
            return Err(f.missing("space"));
        }
        let application_sid = f.optional_text(
            "application_sid",
            64,
            before.and_then(|b| b.application_sid.clone()),
        )?;
        if let Some(sid) = &application_sid
            && !sid_like(sid)
        {
            return Err(f.invalid(
                "application_sid",
                "must be 1 to 64 letters, digits, '-', '_' or ':'",
            ));
        }
        let public_key =
            f.optional_text("public_key", 128, before.and_then(|b| b.public_key.clone()))?;
        if let Some(key) = &public_key
            && verifying_key(key).is_none()
        {
            return Err(f.invalid(
                "public_key",
                "must be the base64 of an Ed25519 public key (32 bytes)",
            ));
        }
        if profile == Profile::TelnyxTexml {
            if application_sid.is_none() {
                return Err(f.missing("application_sid"));
            }
            if public_key.is_none() {
                return Err(f.missing("public_key"));
            }
        }
        Ok(TwilioSettings {
            profile,
            account_sid,
            auth_token,
            caller_id,
            status_callback_base,
            base_url,
            space,
            application_sid,
            public_key,
            ai_stream_url,
            inbound_queue_id,
            inbound_redirect_url,
        })
    }

    /// The settings as the API shows them (the token left out, `auth_token_set` instead).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "profile": self.profile.as_str(),
            "account_sid": self.account_sid,
            "auth_token_set": self.auth_token.is_some(),
            "caller_id": self.caller_id.as_str(),
            "status_callback_base": self.status_callback_base,
            "base_url": self.base_url,
            "space": self.space,
            "application_sid": self.application_sid,
            "public_key": self.public_key,
            "ai_stream_url": self.ai_stream_url,
            "inbound_queue_id": self.inbound_queue_id.as_ref().map(|q| q.as_str()),
            "inbound_redirect_url": self.inbound_redirect_url,
        })
    }

    /// The API root calls are placed under: `base_url`, else the profile's.
    pub fn api_root(&self) -> String {
        if let Some(url) = &self.base_url {
            return url.clone();
        }
        match self.profile {
            Profile::Twilio => "https://api.twilio.com/2010-04-01".to_owned(),
            Profile::SignalWire => format!(
                "https://{}.signalwire.com/api/laml/2010-04-01",
                self.space.as_deref().unwrap_or_default()
            ),
            Profile::TelnyxTexml => "https://api.telnyx.com/v2/texml".to_owned(),
        }
    }

    /// Where calls are created (and looked up).
    pub fn calls_url(&self) -> String {
        format!(
            "{}/Accounts/{}/Calls.json",
            self.api_root(),
            self.account_sid
        )
    }

    /// The status callback URL of trunk `trunk_id`, exactly as the provider signs it.
    pub fn status_callback(&self, trunk_id: &str) -> String {
        format!(
            "{}/telephony/twilio/{trunk_id}/status",
            self.status_callback_base
        )
    }

    /// The messaging webhook URL of trunk `trunk_id` (set it as the number's "A message comes
    /// in" URL): inbound `STOP` texts revoke consent.
    pub fn messaging_webhook(&self, trunk_id: &str) -> String {
        format!(
            "{}/telephony/twilio/{trunk_id}/sms",
            self.status_callback_base
        )
    }

    /// The inbound call webhook URL of trunk `trunk_id` (set it as the number's "A call comes
    /// in" URL): the callback-instead-of-hold flow.
    pub fn inbound_webhook(&self, trunk_id: &str) -> String {
        format!(
            "{}/telephony/twilio/{trunk_id}/inbound",
            self.status_callback_base
        )
    }

    pub fn token(&self) -> &str {
        self.auth_token.as_ref().map_or("", Secret::expose)
    }
}

fn verifying_key(b64: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let bytes: [u8; 32] = STANDARD.decode(b64.trim()).ok()?.try_into().ok()?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// Twilio's request signature (`X-Twilio-Signature`, also SignalWire's): base64 of
/// HMAC-SHA1, keyed with the auth token, of the full URL followed by each POST parameter's
/// name and value, sorted by name (then value).
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(twilio_mac(token, url, params).finalize().into_bytes())
}

fn twilio_mac(token: &str, url: &str, params: &[(String, String)]) -> Hmac<sha1::Sha1> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac
}

/// Whether `signature` is Twilio's signature of this request (compared in constant time).
pub fn twilio_signature_valid(
    token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    match STANDARD.decode(signature.trim()) {
        Ok(raw) => twilio_mac(token, url, params).verify_slice(&raw).is_ok(),
        Err(_) => false,
    }
}

/// How far a Telnyx webhook's timestamp may be from now, in seconds (replays are refused).
pub const TELNYX_TOLERANCE_SECONDS: i64 = 300;

/// Whether a Telnyx webhook is signed by the account's key: `telnyx-signature-ed25519` is the
/// base64 Ed25519 signature of `"{telnyx-timestamp}|{body}"`, and the timestamp (Unix seconds)
/// is within [`TELNYX_TOLERANCE_SECONDS`] of `now_seconds`.
pub fn telnyx_signature_valid(
    public_key: &str,
    signature: &str,
    timestamp: &str,
    body: &[u8],
    now_seconds: i64,
) -> bool {
    let Some(key) = verifying_key(public_key) else {
        return false;
    };
    let Ok(at) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if (now_seconds - at).abs() > TELNYX_TOLERANCE_SECONDS {
        return false;
    }
    let Ok(raw) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(signature) = ed25519_dalek::Signature::from_slice(&raw) else {
        return false;
    };
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.trim().as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature).is_ok()
}

/// What a status callback says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallProgress {
    /// The call is still under way: only its leg state changes.
    Leg(&'static str),
    /// The call ended with this outcome.
    Ended(Outcome),
}

/// Reads `CallStatus` (and `AnsweredBy`, this callback's or an earlier one's) as the call's
/// progress; `None` for a status nobody documents.
pub fn progress(call_status: &str, answered_by: Option<&str>, drop: bool) -> Option<CallProgress> {
    let machine = answered_by.is_some_and(|a| a.starts_with("machine") || a == "fax");
    Some(match call_status {
        "queued" | "initiated" => CallProgress::Leg("initiated"),
        "ringing" => CallProgress::Leg("ringing"),
        "in-progress" | "answered" => CallProgress::Leg("answered"),
        "completed"
            if machine && drop && answered_by.is_some_and(|a| a.starts_with("machine_end")) =>
        {
            CallProgress::Ended(Outcome::VoicemailLeft)
        }
        "completed" if machine => CallProgress::Ended(Outcome::Voicemail),
        "completed" => CallProgress::Ended(Outcome::Answered),
        "busy" => CallProgress::Ended(Outcome::Busy),
        "no-answer" => CallProgress::Ended(Outcome::NoAnswer),
        "failed" | "canceled" => CallProgress::Ended(Outcome::Failed),
        _ => return None,
    })
}

/// `answered_by` as the calls table keeps it: `human`, `machine` or `unknown`.
pub fn answered_by(raw: &str) -> &'static str {
    match raw {
        "human" => "human",
        r if r.starts_with("machine") || r == "fax" => "machine",
        _ => "unknown",
    }
}

/// Text made safe inside XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// Where an answered call goes, as TwiML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Script<'a> {
    /// A voice-AI agent's media stream, with the call's first words as a parameter.
    Stream {
        url: &'a str,
        initial_message: Option<&'a str>,
    },
    /// A SIP party (a voice-AI agent or the reserved agent); the message travels in a header.
    Sip {
        uri: &'a str,
        initial_message: Option<&'a str>,
    },
    /// A message left on an answering machine.
    Play { url: &'a str },
    /// The call's message read out (an unattended call).
    Say { text: &'a str },
    /// Nobody to connect: the call ends when answered.
    Hangup,
}

impl Script<'_> {
    pub fn twiml(&self) -> String {
        let body = match self {
            Script::Stream {
                url,
                initial_message,
            } => {
                let parameter = initial_message.map_or(String::new(), |m| {
                    format!(
                        "<Parameter name=\"initial_message\" value=\"{}\"/>",
                        xml_escape(m)
                    )
                });
                format!(
                    "<Connect><Stream url=\"{}\">{parameter}</Stream></Connect>",
                    xml_escape(url)
                )
            }
            Script::Sip {
                uri,
                initial_message,
            } => {
                let uri = match initial_message {
                    Some(m) => {
                        let sep = if uri.contains('?') { '&' } else { '?' };
                        let value: String =
                            url::form_urlencoded::byte_serialize(m.as_bytes()).collect();
                        format!("{uri}{sep}X-Initial-Message={value}")
                    }
                    None => (*uri).to_owned(),
                };
                format!("<Dial><Sip>{}</Sip></Dial>", xml_escape(&uri))
            }
            Script::Play { url } => format!("<Play>{}</Play>", xml_escape(url)),
            Script::Say { text } => format!("<Say>{}</Say>", xml_escape(text)),
            Script::Hangup => "<Hangup/>".to_owned(),
        };
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
    }
}

/// The signature of a voicemail audio URL: hex HMAC-SHA256, keyed with the account's signing
/// secret, of `"{path}:{expires}"` (`expires` in Unix seconds).
pub fn audio_signature(secret: &SigningSecret, path: &str, expires: i64) -> String {
    secret.hmac_hex(format!("{path}:{expires}").as_bytes())
}

/// Whether a voicemail audio URL's signature is right and it has not expired.
pub fn audio_signature_valid(
    secret: &SigningSecret,
    path: &str,
    expires: i64,
    signature: &str,
    now_seconds: i64,
) -> bool {
    now_seconds <= expires
        && secret.hmac_hex_valid(format!("{path}:{expires}").as_bytes(), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_signature_matches_twilios_documented_example() {
        // The value Twilio's helper library (`RequestValidator.compute_signature`) gives.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let url = "https://example.com/myapp.php?foo=1&bar=2";
        let sig = twilio_signature("12345", url, &params);
        assert_eq!(sig, "vNe7KK2kJwCsxc9K3OLkkKB3qqI=");
        assert!(twilio_signature_valid("12345", url, &params, &sig));
        assert!(!twilio_signature_valid("12346", url, &params, &sig));
    }

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(
            progress("completed", Some("human"), false),
            Some(CallProgress::Ended(Outcome::Answered))
        );
        assert_eq!(
            progress("completed", Some("machine_start"), false),
            Some(CallProgress::Ended(Outcome::Voicemail))
        );
        assert_eq!(
            progress("completed", Some("machine_end_beep"), true),
            Some(CallProgress::Ended(Outcome::VoicemailLeft))
        );
        assert_eq!(
            progress("ringing", None, false),
            Some(CallProgress::Leg("ringing"))
        );
        assert_eq!(progress("bogus", None, false), None);
    }

    #[test]
    fn twiml_escapes_what_it_carries() {
        let twiml = Script::Stream {
            url: "wss://ai.example/s",
            initial_message: Some("Hi \"Ann\" & <co>"),
        }
        .twiml();
        assert!(
            twiml.contains("value=\"Hi &quot;Ann&quot; &amp; &lt;co&gt;\""),
            "{twiml}"
        );
    }
}
