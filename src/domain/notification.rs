//! Confirmations and reminders to the customer: the account's notification settings (which
//! channels are on, the SMS trunk and sender, the SMTP server, the reminder's lead), the
//! message templates and how they are checked and rendered, and when a reminder is due.
//!
//! Templates are Jinja (`minijinja`, as the playbooks' `initial_message`), one per channel and
//! kind (`confirmation` on create, `rescheduled` on a new time, `reminder` before the call),
//! emails with a subject and a body. They read these variables: `contact_name` (the callback's,
//! else its contact's first and last name; undefined when unknown, so `| default("there")`
//! applies), `time` (the callback's time in the customer's zone, written out:
//! "Tuesday, January 5, 2027 at 10:00 AM PST"), `scheduled_at_local` (the same instant in RFC
//! 3339 with the local offset), `timezone` (the IANA name), `link` (the callback's
//! `customer_link`) and `company` (`company_name`, else the account's name). A template is
//! checked when saved: its syntax, that it reads only those variables, and that it renders on a
//! sample callback with and without a name; the error names the field and minijinja's reason.
//! Unset templates use the defaults below.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use minijinja::{Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::{Callback, ErrorCode, FieldError, PhoneNumber, Zone, ids::TrunkId, trunk::Secret};

/// Longest template, in characters.
const MAX_TEMPLATE: usize = 2_000;
/// Longest rendered text, in characters; longer output is cut.
const MAX_MESSAGE: usize = 4_000;
/// Instructions one rendering may run.
const FUEL: u64 = 100_000;
/// The longest reminder lead: a week.
pub const MAX_REMINDER_MINUTES: u32 = 7 * 24 * 60;

/// The variables a template may read.
pub const VARIABLES: &[&str] = &[
    "contact_name",
    "time",
    "scheduled_at_local",
    "timezone",
    "link",
    "company",
];

/// How a message reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Sms, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Which message: the template it is rendered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NotificationKind {
    /// The callback was created.
    Confirmation,
    /// The callback was given a new time.
    Rescheduled,
    /// The callback's time is `customer_reminder_minutes_before` away.
    Reminder,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 3] = [
        NotificationKind::Confirmation,
        NotificationKind::Rescheduled,
        NotificationKind::Reminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Confirmation => "confirmation",
            NotificationKind::Rescheduled => "rescheduled",
            NotificationKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with `STARTTLS` (required; port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a relay on the same host or network only).
    None,
}

impl SmtpSecurity {
    /// The port its servers usually listen on.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        }
    }
}

/// One part of one message: the SMS text, or an email's subject or body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    Sms,
    Subject,
    Body,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Sms, Part::Subject, Part::Body];

    /// The field a template of this part and kind is given in.
    pub fn field(self, kind: NotificationKind) -> String {
        match self {
            Part::Sms => format!("templates.sms.{}", kind.as_str()),
            Part::Subject => format!("templates.email.{}.subject", kind.as_str()),
            Part::Body => format!("templates.email.{}.body", kind.as_str()),
        }
    }
}

/// The template used when the account set none.
pub fn default_template(part: Part, kind: NotificationKind) -> &'static str {
    use NotificationKind::*;
    match (part, kind) {
        (Part::Sms, Confirmation) => {
            "{{ company }}: we will call you {{ time }}. To confirm, move or cancel: {{ link }}"
        }
        (Part::Sms, Rescheduled) => {
            "{{ company }}: your callback is now {{ time }}. To confirm, move or cancel: {{ link }}"
        }
        (Part::Sms, Reminder) => {
            "{{ company }}: reminder, we will call you {{ time }}. To move or cancel: {{ link }}"
        }
        (Part::Subject, Confirmation) => "Your callback from {{ company }}",
        (Part::Subject, Rescheduled) => "Your callback from {{ company }} has a new time",
        (Part::Subject, Reminder) => "Reminder: {{ company }} calls you {{ time }}",
        (Part::Body, Confirmation) => {
            "Hi {{ contact_name | default(\"there\") }},\n\n{{ company }} will call you \
             {{ time }}.\n\nTo confirm, move or cancel the call: {{ link }}\n"
        }
        (Part::Body, Rescheduled) => {
            "Hi {{ contact_name | default(\"there\") }},\n\nYour callback from {{ company }} \
             now takes place {{ time }}.\n\nTo confirm, move or cancel the call: {{ link }}\n"
        }
        (Part::Body, Reminder) => {
            "Hi {{ contact_name | default(\"there\") }},\n\nA reminder: {{ company }} will call \
             you {{ time }}.\n\nTo move or cancel the call: {{ link }}\n"
        }
    }
}

/// A checked template: it parses, reads only [`VARIABLES`] and renders on a sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationTemplate(String);

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(20);
    // Messages are plain text: nothing is HTML-escaped.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

fn describe(e: &minijinja::Error) -> String {
    let what = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    match e.line() {
        Some(line) => format!("{what} (line {line})"),
        None => what,
    }
}

impl NotificationTemplate {
    pub fn parse(source: &str, field: &str) -> Result<Self, FieldError> {
        let invalid = |why: String| FieldError::new(ErrorCode::InvalidField, field, why);
        if source.trim().is_empty() {
            return Err(invalid(
                "must not be empty (null restores the default)".to_owned(),
            ));
        }
        if source.chars().count() > MAX_TEMPLATE {
            return Err(invalid(format!(
                "must be at most {MAX_TEMPLATE} characters"
            )));
        }
        let env = environment();
        let template = env
            .template_from_str(source)
            .map_err(|e| invalid(format!("template syntax error: {}", describe(&e))))?;
        let mut unknown: Vec<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|name| !VARIABLES.contains(&name.as_str()))
            .collect();
        unknown.sort();
        if let Some(name) = unknown.first() {
            return Err(invalid(format!(
                "unknown variable {name:?}; a template may read {}",
                VARIABLES.join(", ")
            )));
        }
        for named in [true, false] {
            template
                .render(MessageContext::sample(named).values())
                .map_err(|e| invalid(format!("template cannot be rendered: {}", describe(&e))))?;
        }
        Ok(Self(source.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Renders `source` for `ctx`; a template that checked out on save renders, and should one
/// still fail (out of fuel on an unusually long value) the answer is its error.
pub fn render(source: &str, ctx: &MessageContext) -> Result<String, String> {
    let env = environment();
    let mut text = env
        .render_str(source, ctx.values())
        .map_err(|e| format!("the template could not be rendered: {}", describe(&e)))?;
    if text.chars().count() > MAX_MESSAGE {
        text = text.chars().take(MAX_MESSAGE).collect();
    }
    Ok(text)
}

/// What a message is about: the values its template reads.
#[derive(Debug, Clone)]
pub struct MessageContext {
    pub contact_name: Option<String>,
    /// The callback's time.
    pub at: Timestamp,
    /// The customer's zone.
    pub zone: Zone,
    pub link: String,
    pub company: String,
}

impl MessageContext {
    /// A callback an hour after a fixed instant in New York, with or without a name.
    fn sample(named: bool) -> Self {
        Self {
            contact_name: named.then(|| "Ann Lee".to_owned()),
            at: Timestamp::from_second(1_800_000_000).expect("a valid instant"),
            zone: Zone::parse("America/New_York", "timezone").expect("a known zone"),
            link: "https://callbacks.example.com/c/sample".to_owned(),
            company: "Acme".to_owned(),
        }
    }

    /// The callback's time in the customer's zone, written out: "Tuesday, January 5, 2027 at
    /// 10:00 AM PST".
    pub fn time(&self) -> String {
        format_time(self.at, &self.zone)
    }

    fn values(&self) -> minijinja::Value {
        let mut ctx: BTreeMap<&str, minijinja::Value> = BTreeMap::new();
        if let Some(name) = &self.contact_name {
            ctx.insert("contact_name", name.as_str().into());
        }
        ctx.insert("time", self.time().into());
        ctx.insert("scheduled_at_local", self.zone.format_local(self.at).into());
        ctx.insert("timezone", self.zone.name().into());
        ctx.insert("link", self.link.as_str().into());
        ctx.insert("company", self.company.as_str().into());
        minijinja::Value::from(minijinja::value::Serde(&ctx))
    }
}

/// An instant in a zone as messages write it: "Tuesday, January 5, 2027 at 10:00 AM PST".
pub fn format_time(at: Timestamp, zone: &Zone) -> String {
    at.to_zoned(zone.tz().clone())
        .strftime("%A, %B %-d, %Y at %-I:%M %p %Z")
        .to_string()
}

/// Whether the customer is told of a callback: every callback but a campaign's calls (which
/// nobody asked for).
pub fn confirms(cb: &Callback) -> bool {
    cb.campaign_id.is_none()
}

/// When the reminder of a callback due at `due_at` goes, `minutes` before it; `None` when that
/// is not after `now` (too late for a reminder: the confirmation says as much).
pub fn reminder_at(due_at: Timestamp, minutes: u32, now: Timestamp) -> Option<Timestamp> {
    let at = due_at
        .checked_sub(SignedDuration::from_mins(i64::from(minutes)))
        .ok()?;
    (at > now).then_some(at)
}

/// The account's notification settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationSettings {
    /// What `{{ company }}` says; `None`: the account's name.
    pub company_name: Option<String>,
    pub sms_enabled: bool,
    /// The `twilio_compatible` trunk texts go out on.
    pub sms_trunk_id: Option<TrunkId>,
    /// The number texts come from; `None`: the trunk's `caller_id`.
    pub sms_from: Option<PhoneNumber>,
    /// Texts go only to numbers with `sms` consent recorded (a revoked `sms` consent stops
    /// them whatever this says).
    pub sms_requires_consent: bool,
    pub email_enabled: bool,
    /// The sender of emails: `callbacks@example.com` or `Acme <callbacks@example.com>`.
    pub email_from: Option<String>,
    pub smtp_host: Option<String>,
    /// `None`: the security's usual port.
    pub smtp_port: Option<u16>,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: Option<String>,
    /// Write-only.
    pub smtp_password: Option<Secret>,
    /// `None`: no reminders.
    pub reminder_minutes_before: Option<u32>,
    /// The account's own templates; a part and kind left out uses [`default_template`].
    pub templates: BTreeMap<(Part, NotificationKind), NotificationTemplate>,
}

impl NotificationSettings {
    /// Which channels send.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        Channel::ALL.into_iter().filter(|c| match c {
            Channel::Sms => self.sms_enabled,
            Channel::Email => self.email_enabled,
        })
    }

    pub fn smtp_port(&self) -> u16 {
        self.smtp_port
            .unwrap_or_else(|| self.smtp_security.default_port())
    }

    /// The template of `part` and `kind`: the account's, else the default.
    pub fn template(&self, part: Part, kind: NotificationKind) -> &str {
        self.templates.get(&(part, kind)).map_or_else(
            || default_template(part, kind),
            NotificationTemplate::as_str,
        )
    }

    /// The texts of one message: the SMS text, or an email's subject and body.
    pub fn render(
        &self,
        channel: Channel,
        kind: NotificationKind,
        ctx: &MessageContext,
    ) -> Result<Rendered, String> {
        Ok(match channel {
            Channel::Sms => Rendered {
                subject: None,
                body: render(self.template(Part::Sms, kind), ctx)?,
            },
            Channel::Email => Rendered {
                // A subject is one line.
                subject: Some(
                    render(self.template(Part::Subject, kind), ctx)?
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                body: render(self.template(Part::Body, kind), ctx)?,
            },
        })
    }

    /// Whether every setting an enabled channel needs is there; the first missing one as an
    /// error on its field.
    pub fn check_complete(&self) -> Result<(), FieldError> {
        let missing = |field: &str, why: &str| {
            Err(FieldError::new(
                ErrorCode::MissingField,
                field,
                why.to_owned(),
            ))
        };
        if self.sms_enabled && self.sms_trunk_id.is_none() {
            return missing(
                "sms_trunk_id",
                "texts need a twilio_compatible trunk to go out on",
            );
        }
        if self.email_enabled && self.smtp_host.is_none() {
            return missing("smtp_host", "emails need an SMTP server");
        }
        if self.email_enabled && self.email_from.is_none() {
            return missing("email_from", "emails need a sender address");
        }
        if self.smtp_password.is_some() && self.smtp_username.is_none() {
            return missing("smtp_username", "a password needs a user name");
        }
        Ok(())
    }

    /// The settings as stored (the password apart), the templates as given.
    pub fn to_stored(&self) -> serde_json::Value {
        let mut templates = serde_json::Map::new();
        for ((part, kind), template) in &self.templates {
            templates.insert(part.field(*kind), template.as_str().into());
        }
        serde_json::json!({
            "company_name": self.company_name,
            "sms_trunk_id": self.sms_trunk_id.as_ref().map(|t| t.as_str()),
            "sms_from": self.sms_from.as_ref().map(|p| p.as_str()),
            "sms_requires_consent": self.sms_requires_consent,
            "email_from": self.email_from,
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_security": self.smtp_security,
            "smtp_username": self.smtp_username,
            "templates": templates,
        })
    }

    /// Settings read back from the store (written by [`Self::to_stored`]).
    pub fn from_stored(
        sms_enabled: bool,
        email_enabled: bool,
        reminder_minutes_before: Option<u32>,
        stored: &serde_json::Value,
        smtp_password: Option<String>,
    ) -> Self {
        let text = |key: &str| stored[key].as_str().map(str::to_owned);
        let mut templates = BTreeMap::new();
        for part in Part::ALL {
            for kind in NotificationKind::ALL {
                if let Some(source) = stored["templates"][part.field(kind)].as_str() {
                    templates.insert((part, kind), NotificationTemplate(source.to_owned()));
                }
            }
        }
        Self {
            company_name: text("company_name"),
            sms_enabled,
            sms_trunk_id: text("sms_trunk_id").map(TrunkId::from_trusted),
            sms_from: text("sms_from").map(PhoneNumber::from_trusted),
            sms_requires_consent: stored["sms_requires_consent"].as_bool().unwrap_or(false),
            email_enabled,
            email_from: text("email_from"),
            smtp_host: text("smtp_host"),
            smtp_port: stored["smtp_port"]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok()),
            smtp_security: serde_json::from_value(stored["smtp_security"].clone())
                .unwrap_or_default(),
            smtp_username: text("smtp_username"),
            smtp_password: smtp_password.map(Secret::new),
            reminder_minutes_before,
            templates,
        }
    }
}

/// A message's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// An email's subject; `None` for a text.
    pub subject: Option<String>,
    pub body: String,
}

/// A host name or address an SMTP server is reached at.
pub fn parse_smtp_host(raw: &str, field: &str) -> Result<String, FieldError> {
    let host = raw.trim();
    let ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'));
    match ok {
        true => Ok(host.to_owned()),
        false => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be a host name or an IP address, without scheme or port",
        )),
    }
}

/// An SMTP port: 1 to 65535.
pub fn parse_smtp_port(raw: i64, field: &str) -> Result<u16, FieldError> {
    u16::try_from(raw)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| FieldError::new(ErrorCode::InvalidField, field, "must be 1 to 65535"))
}

/// A reminder's lead: 1 to [`MAX_REMINDER_MINUTES`].
pub fn parse_reminder_minutes(raw: i64, field: &str) -> Result<u32, FieldError> {
    u32::try_from(raw)
        .ok()
        .filter(|m| (1..=MAX_REMINDER_MINUTES).contains(m))
        .ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                field,
                format!("must be 1 to {MAX_REMINDER_MINUTES} minutes, or null for no reminder"),
            )
        })
}

/// A text setting: trimmed, non-empty, at most `max` characters, no control characters.
pub fn parse_text(raw: &str, max: usize, field: &str) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be 1 to {max} characters without control characters, or null"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(name: Option<&str>) -> MessageContext {
        MessageContext {
            contact_name: name.map(str::to_owned),
            at: "2027-01-05T18:00:00Z".parse().unwrap(),
            zone: Zone::parse("America/Los_Angeles", "timezone").unwrap(),
            link: "https://cb.example.com/c/abc".to_owned(),
            company: "Acme".to_owned(),
        }
    }

    #[test]
    fn times_are_written_in_the_customers_zone() {
        assert_eq!(ctx(None).time(), "Tuesday, January 5, 2027 at 10:00 AM PST");
    }

    #[test]
    fn the_defaults_render_every_variable_and_greet_someone_unnamed() {
        let settings = NotificationSettings::default();
        for kind in NotificationKind::ALL {
            let sms = settings.render(Channel::Sms, kind, &ctx(None)).unwrap();
            assert!(sms.body.contains("https://cb.example.com/c/abc"), "{sms:?}");
            assert!(sms.body.contains("10:00 AM PST"), "{sms:?}");
            assert!(sms.body.starts_with("Acme: "));
            let email = settings.render(Channel::Email, kind, &ctx(None)).unwrap();
            assert!(email.body.starts_with("Hi there,"), "{email:?}");
            assert!(!email.subject.unwrap().contains('\n'));
            let named = settings
                .render(Channel::Email, kind, &ctx(Some("Ann")))
                .unwrap();
            assert!(named.body.starts_with("Hi Ann,"));
        }
    }

    #[test]
    fn a_template_that_does_not_render_is_refused_with_minijinjas_reason() {
        let e =
            NotificationTemplate::parse("{{ link | no_such_filter }}", "templates.sms.reminder")
                .unwrap_err();
        assert_eq!(e.field, "templates.sms.reminder");
        assert!(e.message.contains("cannot be rendered"), "{}", e.message);
        assert!(e.message.contains("no_such_filter"), "{}", e.message);
        let e = NotificationTemplate::parse("{% if %}", "f").unwrap_err();
        assert!(e.message.contains("syntax error"), "{}", e.message);
        let e = NotificationTemplate::parse("Hi {{ phone }}", "f").unwrap_err();
        assert!(
            e.message.contains("unknown variable \"phone\""),
            "{}",
            e.message
        );
        let e = NotificationTemplate::parse("  ", "f").unwrap_err();
        assert!(e.message.contains("empty"), "{}", e.message);
        assert!(NotificationTemplate::parse("Hi {{ contact_name }} {{ time }}", "f").is_ok());
    }

    #[test]
    fn messages_are_not_html_escaped() {
        let mut settings = NotificationSettings::default();
        settings.templates.insert(
            (Part::Sms, NotificationKind::Confirmation),
            NotificationTemplate::parse("{{ contact_name }} & {{ link }}", "f").unwrap(),
        );
        let sms = settings
            .render(
                Channel::Sms,
                NotificationKind::Confirmation,
                &ctx(Some("O'Brien <Jo>")),
            )
            .unwrap();
        assert_eq!(sms.body, "O'Brien <Jo> & https://cb.example.com/c/abc");
    }

    #[test]
    fn a_reminder_goes_its_minutes_before_and_never_in_the_past() {
        let due: Timestamp = "2027-01-05T18:00:00Z".parse().unwrap();
        let early: Timestamp = "2027-01-05T12:00:00Z".parse().unwrap();
        assert_eq!(
            reminder_at(due, 60, early),
            Some("2027-01-05T17:00:00Z".parse().unwrap())
        );
        assert_eq!(
            reminder_at(due, 60, "2027-01-05T17:00:00Z".parse().unwrap()),
            None
        );
        assert_eq!(reminder_at(due, 600, early), None);
    }

    #[test]
    fn stored_settings_read_back_the_same() {
        let mut s = NotificationSettings {
            company_name: Some("Acme".into()),
            sms_enabled: true,
            sms_trunk_id: Some(TrunkId::generate()),
            sms_from: Some(PhoneNumber::from_trusted("+14155550100".into())),
            sms_requires_consent: true,
            email_enabled: true,
            email_from: Some("Acme <cb@example.com>".into()),
            smtp_host: Some("smtp.example.com".into()),
            smtp_port: Some(2525),
            smtp_security: SmtpSecurity::Tls,
            smtp_username: Some("acme".into()),
            smtp_password: Some(Secret::new("pw".into())),
            reminder_minutes_before: Some(30),
            templates: BTreeMap::new(),
        };
        s.templates.insert(
            (Part::Body, NotificationKind::Reminder),
            NotificationTemplate::parse("Soon: {{ time }}", "f").unwrap(),
        );
        let back = NotificationSettings::from_stored(
            true,
            true,
            Some(30),
            &s.to_stored(),
            Some("pw".into()),
        );
        assert_eq!(back, s);
        assert!(!s.to_stored().to_string().contains("\"pw\""));
    }

    #[test]
    fn ports_and_leads_are_checked() {
        assert_eq!(parse_smtp_port(587, "p").unwrap(), 587);
        assert!(parse_smtp_port(0, "p").is_err());
        assert!(parse_smtp_port(65536, "p").is_err());
        assert!(parse_smtp_port(-1, "p").is_err());
        assert!(parse_reminder_minutes(0, "m").is_err());
        assert_eq!(parse_reminder_minutes(60, "m").unwrap(), 60);
        assert!(parse_reminder_minutes(i64::from(MAX_REMINDER_MINUTES) + 1, "m").is_err());
        assert!(parse_smtp_host("smtp.example.com", "h").is_ok());
        assert!(parse_smtp_host("smtp://x", "h").is_err());
    }
}
