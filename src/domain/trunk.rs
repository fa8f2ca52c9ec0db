//! Trunks: where an account's calls leave Ringback. Each trunk has a kind (the driver that
//! places its calls), the kind's settings and the limits dispatch respects.
//!
//! Kinds: `http_bridge` (a JSON POST of each call to the operator's bridge, the contract of
//! `--dialer-url`), `sip` (Ringback's own SIP user agent, through the trunk's proxy),
//! `twilio_compatible` (a provider's Calls API, `domain::twilio`), and `vapi` and `retell` (a
//! voice-AI vendor's API places the call: `voice_ai`). Secrets (a SIP password, a provider's
//! auth token, a vendor's API key) are write-only: they are stored, used by the driver and
//! never shown.

mod voice_ai;

use std::{borrow::Cow, fmt, str::FromStr};

use jiff::Timestamp;
use serde_json::{Map, Value};

pub use self::voice_ai::{RETELL_BASE_URL, RetellSettings, VAPI_BASE_URL, VapiSettings};
use super::{AccountId, ErrorCode, FieldError, PhoneNumber, WebhookUrl, ids::TrunkId};

/// Longest trunk name, in characters.
pub const MAX_NAME: usize = 100;
/// Highest `max_concurrent_calls` a trunk may have.
pub const MAX_CONCURRENT: u32 = 100_000;
/// Highest `calls_per_second` a trunk may have.
pub const MAX_CALLS_PER_SECOND: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct Trunk {
    pub id: TrunkId,
    pub account_id: AccountId,
    pub name: String,
    pub settings: TrunkSettings,
    pub limits: TrunkLimits,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set while the provider refuses the trunk's credentials: its calls wait (they are
    /// retried, never given up for it) until a call goes through or the trunk is changed.
    pub failing: Option<TrunkFailing>,
}

/// Why and since when a trunk is failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkFailing {
    pub since: Timestamp,
    /// The provider's own message.
    pub reason: String,
}

/// What dispatch respects on a trunk: calls over either limit wait for a later claim; they
/// never fail for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrunkLimits {
    /// Calls under way on the trunk at once (claimed and not ended); `None`: no limit.
    pub max_concurrent_calls: Option<u32>,
    /// Calls started in any one second; `None`: no limit.
    pub calls_per_second: Option<u32>,
}

impl TrunkLimits {
    /// Reads one limit of a request body: absent or `null` is no limit.
    pub fn parse_limit(
        value: Option<&Value>,
        field: &str,
        max: u32,
    ) -> Result<Option<u32>, FieldError> {
        match value {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=u64::from(max)).contains(n))
                .map(|n| Some(n as u32))
                .ok_or_else(|| {
                    FieldError::new(
                        ErrorCode::InvalidField,
                        field,
                        format!("must be a whole number from 1 to {max}, or null for no limit"),
                    )
                }),
        }
    }
}

/// The kind of a trunk, which is the driver that places its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrunkKind {
    HttpBridge,
    Sip,
    TwilioCompatible,
    Vapi,
    Retell,
}

impl TrunkKind {
    pub const ALL: [TrunkKind; 5] = [
        TrunkKind::HttpBridge,
        TrunkKind::Sip,
        TrunkKind::TwilioCompatible,
        TrunkKind::Vapi,
        TrunkKind::Retell,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrunkKind::HttpBridge => "http_bridge",
            TrunkKind::Sip => "sip",
            TrunkKind::TwilioCompatible => "twilio_compatible",
            TrunkKind::Vapi => "vapi",
            TrunkKind::Retell => "retell",
        }
    }

    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| {
                FieldError::new(
                    ErrorCode::InvalidField,
                    field,
                    "must be one of: http_bridge, sip, twilio_compatible, vapi, retell",
                )
            })
    }
}

/// A kind's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrunkSettings {
    /// Calls are POSTed to `url` as today's `--dialer-url` bridge receives them.
    HttpBridge {
        url: WebhookUrl,
    },
    Sip(SipSettings),
    /// Calls placed through a provider speaking Twilio's Calls API (`domain::twilio`).
    TwilioCompatible(super::twilio::TwilioSettings),
    Vapi(VapiSettings),
    Retell(RetellSettings),
}

impl TrunkSettings {
    pub fn kind(&self) -> TrunkKind {
        match self {
            TrunkSettings::HttpBridge { .. } => TrunkKind::HttpBridge,
            TrunkSettings::Sip(_) => TrunkKind::Sip,
            TrunkSettings::TwilioCompatible(_) => TrunkKind::TwilioCompatible,
            TrunkSettings::Vapi(_) => TrunkKind::Vapi,
            TrunkSettings::Retell(_) => TrunkKind::Retell,
        }
    }

    /// Parses a kind's `settings` object as received, naming each field under `field`
    /// (`settings.proxy`). With `before`, keys the object leaves out keep their value, and a
    /// secret is kept unless given (a new value) or `null` (cleared): a partial update.
    pub fn parse(
        kind: TrunkKind,
        value: &Value,
        field: &str,
        before: Option<&TrunkSettings>,
    ) -> Result<Self, FieldError> {
        let Value::Object(obj) = value else {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                field,
                "must be an object",
            ));
        };
        let fields = Fields { obj, field };
        match kind {
            TrunkKind::HttpBridge => {
                fields.only(&["url"])?;
                let before_url = match before {
                    Some(TrunkSettings::HttpBridge { url }) => Some(url.clone()),
                    _ => None,
                };
                let url = match (fields.text("url")?, before_url) {
                    (Some(raw), _) => WebhookUrl::parse_field(raw, &fields.name("url"))?,
                    (None, Some(url)) => url,
                    (None, None) => return Err(fields.missing("url")),
                };
                Ok(TrunkSettings::HttpBridge { url })
            }
            TrunkKind::Sip => {
                let before = match before {
                    Some(TrunkSettings::Sip(s)) => Some(s),
                    _ => None,
                };
                SipSettings::parse(&fields, before).map(TrunkSettings::Sip)
            }
            TrunkKind::TwilioCompatible => {
                let before = match before {
                    Some(TrunkSettings::TwilioCompatible(s)) => Some(s),
                    _ => None,
                };
                super::twilio::TwilioSettings::parse(&fields, before)
                    .map(TrunkSettings::TwilioCompatible)
            }
            TrunkKind::Vapi => {
                let before = match before {
                    Some(TrunkSettings::Vapi(s)) => Some(s),
                    _ => None,
                };
                VapiSettings::parse(&fields, before).map(TrunkSettings::Vapi)
            }
            TrunkKind::Retell => {
                let before = match before {
                    Some(TrunkSettings::Retell(s)) => Some(s),
                    _ => None,
                };
                RetellSettings::parse(&fields, before).map(TrunkSettings::Retell)
            }
        }
    }

    /// Refuses settings a new trunk cannot work without that a stored one may lack (a
    /// vendor's API key, Vapi's webhook secret), naming the field under `field`.
    pub fn require_secrets(&self, field: &str) -> Result<(), FieldError> {
        let obj = Map::new();
        let fields = Fields { obj: &obj, field };
        match self {
            TrunkSettings::Vapi(s) => s.require_secrets(&fields),
            TrunkSettings::Retell(s) => s.require_secrets(&fields),
            TrunkSettings::HttpBridge { .. }
            | TrunkSettings::Sip(_)
            | TrunkSettings::TwilioCompatible(_) => Ok(()),
        }
    }

    /// The settings as the API shows them: secrets left out, with `password_set` saying
    /// whether one is stored.
    pub fn to_json(&self) -> Value {
        match self {
            TrunkSettings::HttpBridge { url } => serde_json::json!({ "url": url.as_str() }),
            TrunkSettings::Sip(s) => serde_json::json!({
                "proxy": s.proxy.to_string(),
                "transport": s.transport.as_str(),
                "username": s.username,
                "password_set": s.password.is_some(),
                "from_domain": s.from_domain,
                "caller_id": s.caller_id.as_ref().map(PhoneNumber::as_str),
            }),
            TrunkSettings::TwilioCompatible(s) => s.to_json(),
            TrunkSettings::Vapi(s) => s.to_json(),
            TrunkSettings::Retell(s) => s.to_json(),
        }
    }

    /// What the store keeps besides the secret: the shown settings without `password_set`.
    pub fn to_stored(&self) -> Value {
        let mut v = self.to_json();
        if let Value::Object(obj) = &mut v {
            obj.retain(|k, _| !k.ends_with("_set"));
        }
        v
    }

    /// The secret the store keeps apart from the settings.
    pub fn secret(&self) -> Option<Cow<'_, str>> {
        match self {
            TrunkSettings::Sip(s) => s.password.as_ref().map(|p| Cow::Borrowed(p.expose())),
            TrunkSettings::TwilioCompatible(s) => {
                s.auth_token.as_ref().map(|t| Cow::Borrowed(t.expose()))
            }
            TrunkSettings::Vapi(s) => s.stored_secret().map(Cow::Owned),
            TrunkSettings::Retell(s) => s.api_key.as_ref().map(|k| Cow::Borrowed(k.expose())),
            TrunkSettings::HttpBridge { .. } => None,
        }
    }

    /// Settings read back from the store (written by [`TrunkSettings::to_stored`]).
    pub fn from_stored(kind: TrunkKind, stored: &Value, secret: Option<String>) -> Option<Self> {
        if kind == TrunkKind::TwilioCompatible {
            // The token is required by the parser: put it back before parsing.
            let mut stored = stored.clone();
            if let (Value::Object(obj), Some(token)) = (&mut stored, &secret) {
                obj.insert("auth_token".to_owned(), Value::String(token.clone()));
            }
            return Self::parse(kind, &stored, "settings", None).ok();
        }
        let mut settings = Self::parse(kind, stored, "settings", None).ok()?;
        match &mut settings {
            TrunkSettings::Sip(s) => s.password = secret.map(Secret),
            TrunkSettings::Vapi(s) => s.restore_secret(secret.as_deref()),
            TrunkSettings::Retell(s) => s.api_key = secret.map(Secret),
            // Restored before parsing, above.
            TrunkSettings::TwilioCompatible(_) | TrunkSettings::HttpBridge { .. } => {}
        }
        Some(settings)
    }
}

/// The settings of a `sip` trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipSettings {
    /// Where INVITEs are sent: the carrier's proxy or session border controller.
    pub proxy: HostPort,
    pub transport: SipTransport,
    /// Digest credentials, answered to a 401 or 407 challenge.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The host of the From URI; the proxy's host when absent.
    pub from_domain: Option<String>,
    /// The number calls come from when the callback names none.
    pub caller_id: Option<PhoneNumber>,
}

impl SipSettings {
    fn parse(f: &Fields<'_>, before: Option<&SipSettings>) -> Result<Self, FieldError> {
        f.only(&[
            "proxy",
            "transport",
            "username",
            "password",
            "from_domain",
            "caller_id",
        ])?;
        let proxy = match (f.text("proxy")?, before) {
            (Some(raw), _) => HostPort::parse(raw).map_err(|why| f.invalid("proxy", why))?,
            (None, Some(b)) => b.proxy.clone(),
            (None, None) => return Err(f.missing("proxy")),
        };
        let transport = match (f.text("transport")?, before) {
            (Some(raw), _) => SipTransport::from_str(raw)
                .map_err(|()| f.invalid("transport", "must be one of: udp, tcp, tls"))?,
            (None, Some(b)) => b.transport,
            (None, None) => SipTransport::Udp,
        };
        let username = f.optional_text("username", 128, before.and_then(|b| b.username.clone()))?;
        if let Some(name) = &username
            && !name
                .chars()
                .all(|c| c.is_ascii_graphic() && c != ':' && c != '@')
        {
            return Err(f.invalid(
                "username",
                "must be printable ASCII without spaces, ':' or '@'",
            ));
        }
        let password = match f.obj.get("password") {
            None => before.and_then(|b| b.password.clone()),
            Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 256 => {
                Some(Secret(s.clone()))
            }
            Some(_) => {
                return Err(f.invalid(
                    "password",
                    "must be a string of 1 to 256 characters, or null to clear it",
                ));
            }
        };
        if password.is_some() && username.is_none() {
            return Err(f.invalid("username", "is required with a password"));
        }
        let from_domain = f.optional_text(
            "from_domain",
            253,
            before.and_then(|b| b.from_domain.clone()),
        )?;
        if let Some(domain) = &from_domain
            && HostPort::parse(domain).map_or(true, |h| h.port.is_some())
        {
            return Err(f.invalid("from_domain", "must be a host name or IP address"));
        }
        let caller_id = match f.obj.get("caller_id") {
            None => before.and_then(|b| b.caller_id.clone()),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(PhoneNumber::parse(s, &f.name("caller_id"))?),
            Some(_) => return Err(f.invalid("caller_id", "must be an E.164 phone number")),
        };
        Ok(SipSettings {
            proxy,
            transport,
            username,
            password,
            from_domain,
            caller_id,
        })
    }

    /// The port INVITEs go to: the proxy's, else the transport's default.
    pub fn port(&self) -> u16 {
        self.proxy.port.unwrap_or(self.transport.default_port())
    }
}

/// A secret the API accepts and never shows; `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SipTransport {
    Udp,
    Tcp,
    Tls,
}

impl SipTransport {
    pub fn as_str(self) -> &'static str {
        match self {
            SipTransport::Udp => "udp",
            SipTransport::Tcp => "tcp",
            SipTransport::Tls => "tls",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            SipTransport::Tls => 5061,
            SipTransport::Udp | SipTransport::Tcp => 5060,
        }
    }
}

impl FromStr for SipTransport {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "udp" => Ok(SipTransport::Udp),
            "tcp" => Ok(SipTransport::Tcp),
            "tls" => Ok(SipTransport::Tls),
            _ => Err(()),
        }
    }
}

/// `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: Option<u16>,
}

impl HostPort {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        const WHY: &str = "must be host or host:port (a DNS name, an IPv4 address or [IPv6])";
        let raw = raw.trim();
        let (host, port) = if let Some(rest) = raw.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or(WHY)?;
            v6.parse::<std::net::Ipv6Addr>().map_err(|_| WHY)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(WHY)?),
            };
            (format!("[{v6}]"), port)
        } else {
            let (host, port) = match raw.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (raw, None),
            };
            let is_name = !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            if !is_name {
                return Err(WHY);
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = port
            .map(|p| p.parse::<u16>().ok().filter(|&p| p > 0).ok_or(WHY))
            .transpose()?;
        Ok(HostPort { host, port })
    }
}

impl HostPort {
    /// The host as a resolver takes it: an IPv6 address without its brackets.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// A `sip:` or `sips:` URI with a host (`sip:agent1@pbx.example.com:5070;transport=tcp`): where
/// an agent or a voice-AI bot is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    text: String,
    pub user: Option<String>,
    pub host: HostPort,
    pub secure: bool,
}

impl SipUri {
    pub const MAX_LEN: usize = 512;

    pub fn parse(raw: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = || {
            FieldError::new(
                ErrorCode::InvalidField,
                field,
                "must be a SIP URI such as sip:agent@pbx.example.com",
            )
        };
        let raw = raw.trim();
        if raw.len() > Self::MAX_LEN || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (secure, rest) = if let Some(rest) = raw.strip_prefix("sips:") {
            (true, rest)
        } else if let Some(rest) = raw.strip_prefix("sip:") {
            (false, rest)
        } else {
            return Err(invalid());
        };
        // Parameters and headers follow the host part.
        let address = rest.split([';', '?']).next().unwrap_or_default();
        let (user, host) = match address.rsplit_once('@') {
            Some((user, host)) if !user.is_empty() => (Some(user.to_owned()), host),
            Some(_) => return Err(invalid()),
            None => (None, address),
        };
        let host = HostPort::parse(host).map_err(|_| invalid())?;
        Ok(SipUri {
            text: raw.to_owned(),
            user,
            host,
            secure,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One `settings` object being read, with its path for error messages.
pub(super) struct Fields<'a> {
    pub(super) obj: &'a Map<String, Value>,
    field: &'a str,
}

impl Fields<'_> {
    pub(super) fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.field)
    }

    pub(super) fn invalid(&self, key: &str, why: &str) -> FieldError {
        FieldError::new(ErrorCode::InvalidField, self.name(key), why)
    }

    pub(super) fn missing(&self, key: &str) -> FieldError {
        FieldError::new(ErrorCode::MissingField, self.name(key), "is required")
    }

    /// Refuses keys the kind does not have.
    pub(super) fn only(&self, known: &[&str]) -> Result<(), FieldError> {
        match self.obj.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(FieldError::new(
                ErrorCode::UnknownField,
                self.name(k),
                format!(
                    "is not a setting of this kind (known: {})",
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// A string setting, if given.
    pub(super) fn text(&self, key: &str) -> Result<Option<&str>, FieldError> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    /// An optional string setting: absent keeps `before`, `null` clears it.
    pub(super) fn optional_text(
        &self,
        key: &str,
        max: usize,
        before: Option<String>,
    ) -> Result<Option<String>, FieldError> {
        match self.obj.get(key) {
            None => Ok(before),
            Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
                Ok(Some(s.trim().to_owned()))
            }
            Some(_) => Err(self.invalid(
                key,
                &format!("must be a non-empty string of at most {max} characters, or null"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn sip(value: Value) -> Result<TrunkSettings, FieldError> {
        TrunkSettings::parse(TrunkKind::Sip, &value, "settings", None)
    }

    #[test]
    fn sip_settings_default_udp_and_keep_the_password_out_of_view() {
        let s =
            sip(json!({"proxy": "sip.carrier.example:5080", "username": "acme", "password": "pw"}))
                .unwrap();
        let TrunkSettings::Sip(inner) = &s else {
            panic!("a sip trunk")
        };
        assert_eq!(inner.transport, SipTransport::Udp);
        assert_eq!(inner.port(), 5080);
        assert_eq!(s.secret().as_deref(), Some("pw"));
        let shown = s.to_json();
        assert_eq!(shown["password_set"], json!(true));
        assert!(shown.get("password").is_none());
        assert!(!format!("{s:?}").contains("pw\""));
        let back = TrunkSettings::from_stored(TrunkKind::Sip, &s.to_stored(), Some("pw".into()));
        assert_eq!(back.as_ref(), Some(&s));
    }

    #[test]
    fn a_partial_update_keeps_what_it_leaves_out() {
        let before = sip(json!({"proxy": "10.0.0.1", "username": "a", "password": "pw"})).unwrap();
        let after = TrunkSettings::parse(
            TrunkKind::Sip,
            &json!({"transport": "tcp"}),
            "settings",
            Some(&before),
        )
        .unwrap();
        assert_eq!(after.secret().as_deref(), Some("pw"));
        assert_eq!(after.to_json()["proxy"], json!("10.0.0.1"));
        assert_eq!(after.to_json()["transport"], json!("tcp"));
        let cleared = TrunkSettings::parse(
            TrunkKind::Sip,
            &json!({"password": null}),
            "settings",
            Some(&after),
        )
        .unwrap();
        assert_eq!(cleared.secret(), None);
    }

    #[test]
    fn bad_settings_name_their_field() {
        let cases = [
            (json!({}), "settings.proxy"),
            (json!({"proxy": "bad host!"}), "settings.proxy"),
            (json!({"proxy": "h:0"}), "settings.proxy"),
            (json!({"proxy": "h:70000"}), "settings.proxy"),
            (json!({"proxy": "[::1"}), "settings.proxy"),
            (
                json!({"proxy": "h", "transport": "sctp"}),
                "settings.transport",
            ),
            (json!({"proxy": "h", "password": "x"}), "settings.username"),
            (
                json!({"proxy": "h", "caller_id": "12"}),
                "settings.caller_id",
            ),
            (
                json!({"proxy": "h", "from_domain": "a.b:5060"}),
                "settings.from_domain",
            ),
            (json!({"proxy": "h", "colour": "red"}), "settings.colour"),
        ];
        for (value, field) in cases {
            let err = sip(value.clone()).unwrap_err();
            assert_eq!(err.field, field, "{value}");
        }
        let err = TrunkSettings::parse(
            TrunkKind::HttpBridge,
            &json!({"url": "ftp://x"}),
            "settings",
            None,
        )
        .unwrap_err();
        assert_eq!(err.field, "settings.url");
    }

    #[test]
    fn host_and_port_forms() {
        assert_eq!(
            HostPort::parse("[::1]:5060").unwrap().to_string(),
            "[::1]:5060"
        );
        assert_eq!(HostPort::parse("127.0.0.1").unwrap().port, None);
        assert_eq!(
            HostPort::parse("Sip.Example.COM:5061").unwrap().host,
            "sip.example.com"
        );
        assert!(HostPort::parse("").is_err());
        assert!(HostPort::parse("a..b").is_err());
        assert!(HostPort::parse("-a.b").is_err());
    }

    #[test]
    fn sip_uris() {
        let uri =
            SipUri::parse("sip:agent1@pbx.example.com:5070;transport=tcp", "sip_uri").unwrap();
        assert_eq!(uri.user.as_deref(), Some("agent1"));
        assert_eq!(uri.host.port, Some(5070));
        assert!(SipUri::parse("sips:bot@[::1]", "x").unwrap().secure);
        assert!(SipUri::parse("sip:127.0.0.1", "x").unwrap().user.is_none());
        for bad in [
            "tel:+15551234567",
            "sip:",
            "sip:@host",
            "http://x",
            "sip:a b@host",
            "agent",
        ] {
            assert_eq!(
                SipUri::parse(bad, "sip_uri").unwrap_err().field,
                "sip_uri",
                "{bad}"
            );
        }
    }

    #[test]
    fn limits() {
        assert_eq!(TrunkLimits::parse_limit(None, "x", 10).unwrap(), None);
        assert_eq!(
            TrunkLimits::parse_limit(Some(&json!(null)), "x", 10).unwrap(),
            None
        );
        assert_eq!(
            TrunkLimits::parse_limit(Some(&json!(3)), "x", 10).unwrap(),
            Some(3)
        );
        for bad in [json!(0), json!(11), json!(-1), json!(1.5), json!("2")] {
            assert!(
                TrunkLimits::parse_limit(Some(&bad), "x", 10).is_err(),
                "{bad}"
            );
        }
    }
}
