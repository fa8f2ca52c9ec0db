//! `/v1/settings/notifications`: the account's confirmations and reminders to customers (which
//! channels send, the SMS trunk and sender, the SMTP server, the reminder's lead, the
//! templates), and `POST /v1/settings/email/test`, which opens a session with the SMTP server
//! and reports its answer.
//!
//! A `PUT` changes the fields it gives and keeps the others (a `null` clears a value or restores
//! a template's default). `smtp_password` is write-only: answers show `smtp_password_set`. What
//! the templates read and how they are checked: `domain::notification`.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use super::{
    authorized::{Authorized, scope},
    error::ApiError,
    extract::ApiJson,
};
use crate::app::AppState;
use crate::domain::{
    ErrorCode, FieldError, PhoneNumber,
    notification::{
        NotificationKind, NotificationSettings, NotificationTemplate, Part, SmtpSecurity,
        parse_reminder_minutes, parse_smtp_host, parse_smtp_port, parse_text,
    },
    present,
    trunk::{Secret, TrunkSettings},
};

/// An email's templates of one kind.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EmailTemplateView {
    pub subject: String,
    pub body: String,
}

/// The text templates of each kind: `confirmation` (on create), `rescheduled` (on a new
/// time), `reminder` (`customer_reminder_minutes_before` the call).
#[derive(Serialize, utoipa::ToSchema)]
pub struct SmsTemplatesView {
    pub confirmation: String,
    pub rescheduled: String,
    pub reminder: String,
}

/// The email templates of each kind.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EmailTemplatesView {
    pub confirmation: EmailTemplateView,
    pub rescheduled: EmailTemplateView,
    pub reminder: EmailTemplateView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TemplatesView {
    pub sms: SmsTemplatesView,
    pub email: EmailTemplatesView,
}

/// The account's notification settings, templates shown as they are used (the defaults where
/// the account set none).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NotificationSettingsView {
    /// What `{{ company }}` says; `null`: the account's name.
    pub company_name: Option<String>,
    /// Texts go out (confirmations, new times, reminders). Off by default.
    pub sms_enabled: bool,
    /// The `twilio_compatible` trunk (profile `twilio` or `signalwire`) texts go out on.
    pub sms_trunk_id: Option<String>,
    /// The number texts come from; `null`: the trunk's `caller_id`.
    pub sms_from: Option<String>,
    /// Texts go only to numbers with `sms` consent recorded (`POST /v1/consents`). A revoked
    /// `sms` consent stops texts whatever this says.
    pub sms_requires_consent: bool,
    /// Emails go out, to the contact's `email` (else the callback's `metadata.email`). Off by
    /// default.
    pub email_enabled: bool,
    /// The sender: `callbacks@example.com` or `Acme <callbacks@example.com>`.
    pub email_from: Option<String>,
    pub smtp_host: Option<String>,
    /// The SMTP server's port (the security's usual one unless set: 587, 465 or 25).
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    pub smtp_username: Option<String>,
    /// Whether an SMTP password is stored (it is never shown).
    pub smtp_password_set: bool,
    /// Reminders go this many minutes before the callback's time; `null`: none.
    pub customer_reminder_minutes_before: Option<u32>,
    pub templates: TemplatesView,
}

impl From<&NotificationSettings> for NotificationSettingsView {
    fn from(s: &NotificationSettings) -> Self {
        let sms = |kind| s.template(Part::Sms, kind).to_owned();
        let email = |kind| EmailTemplateView {
            subject: s.template(Part::Subject, kind).to_owned(),
            body: s.template(Part::Body, kind).to_owned(),
        };
        use NotificationKind::*;
        Self {
            company_name: s.company_name.clone(),
            sms_enabled: s.sms_enabled,
            sms_trunk_id: s.sms_trunk_id.as_ref().map(ToString::to_string),
            sms_from: s.sms_from.as_ref().map(ToString::to_string),
            sms_requires_consent: s.sms_requires_consent,
            email_enabled: s.email_enabled,
            email_from: s.email_from.clone(),
            smtp_host: s.smtp_host.clone(),
            smtp_port: s.smtp_port(),
            smtp_security: s.smtp_security,
            smtp_username: s.smtp_username.clone(),
            smtp_password_set: s.smtp_password.is_some(),
            customer_reminder_minutes_before: s.reminder_minutes_before,
            templates: TemplatesView {
                sms: SmsTemplatesView {
                    confirmation: sms(Confirmation),
                    rescheduled: sms(Rescheduled),
                    reminder: sms(Reminder),
                },
                email: EmailTemplatesView {
                    confirmation: email(Confirmation),
                    rescheduled: email(Rescheduled),
                    reminder: email(Reminder),
                },
            },
        }
    }
}

/// A template change: text, or `null` for the default.
type TemplateChange = Option<Option<String>>;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplateRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub subject: TemplateChange,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub body: TemplateChange,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsTemplatesRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub confirmation: TemplateChange,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub rescheduled: TemplateChange,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub reminder: TemplateChange,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailTemplatesRequest {
    #[serde(default)]
    pub confirmation: Option<EmailTemplateRequest>,
    #[serde(default)]
    pub rescheduled: Option<EmailTemplateRequest>,
    #[serde(default)]
    pub reminder: Option<EmailTemplateRequest>,
}

/// Template changes: each given one is checked (syntax, variables, a render on a sample) and
/// refused with its field and minijinja's reason; `null` restores the default.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatesRequest {
    #[serde(default)]
    pub sms: Option<SmsTemplatesRequest>,
    #[serde(default)]
    pub email: Option<EmailTemplatesRequest>,
}

/// A change of the notification settings: the fields given change, the others keep their
/// values; `null` clears a value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub company_name: Option<Option<String>>,
    #[serde(default)]
    pub sms_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub sms_trunk_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub sms_from: Option<Option<String>>,
    #[serde(default)]
    pub sms_requires_consent: Option<bool>,
    #[serde(default)]
    pub email_enabled: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email_from: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub smtp_host: Option<Option<String>>,
    /// 1 to 65535; `null`: the security's usual port.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub smtp_port: Option<Option<i64>>,
    #[serde(default)]
    pub smtp_security: Option<SmtpSecurity>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub smtp_username: Option<Option<String>>,
    /// Write-only: stored, never shown (`smtp_password_set`); `null` forgets it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, write_only)]
    pub smtp_password: Option<Option<String>>,
    /// Shown in answers; ignored in a request (so an answer can be sent back as it is).
    #[serde(default)]
    #[schema(read_only)]
    pub smtp_password_set: Option<bool>,
    /// 1 to 10080; `null`: no reminders.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    pub customer_reminder_minutes_before: Option<Option<i64>>,
    #[serde(default)]
    pub templates: Option<TemplatesRequest>,
}

#[utoipa::path(
    get, path = "/v1/settings/notifications", operation_id = "get_notification_settings",
    tag = "notifications",
    summary = "The account's confirmations and reminders to customers",
    responses(
        (status = 200, description = "The settings (the SMTP password never shown).",
         body = NotificationSettingsView),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn get_notification_settings(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let settings = state
        .store
        .notification_settings(&caller.account_id)
        .await?;
    Ok(Json(NotificationSettingsView::from(&settings)))
}

/// `given` when the request changes a field, else `kept`; `parse` reads a new value.
fn change<T, R>(
    given: Option<Option<R>>,
    kept: Option<T>,
    parse: impl FnOnce(R) -> Result<T, FieldError>,
) -> Result<Option<T>, FieldError> {
    match given {
        None => Ok(kept),
        Some(None) => Ok(None),
        Some(Some(raw)) => parse(raw).map(Some),
    }
}

/// Applies the template changes of `req` to `settings`.
fn change_templates(
    settings: &mut NotificationSettings,
    req: TemplatesRequest,
) -> Result<(), FieldError> {
    let mut apply = |part: Part, kind: NotificationKind, given: TemplateChange| {
        match given {
            None => {}
            Some(None) => {
                settings.templates.remove(&(part, kind));
            }
            Some(Some(source)) => {
                let template = NotificationTemplate::parse(&source, &part.field(kind))?;
                settings.templates.insert((part, kind), template);
            }
        }
        Ok::<_, FieldError>(())
    };
    use NotificationKind::*;
    if let Some(sms) = req.sms {
        apply(Part::Sms, Confirmation, sms.confirmation)?;
        apply(Part::Sms, Rescheduled, sms.rescheduled)?;
        apply(Part::Sms, Reminder, sms.reminder)?;
    }
    if let Some(email) = req.email {
        for (kind, given) in [
            (Confirmation, email.confirmation),
            (Rescheduled, email.rescheduled),
            (Reminder, email.reminder),
        ] {
            let given = given.unwrap_or_default();
            apply(Part::Subject, kind, given.subject)?;
            apply(Part::Body, kind, given.body)?;
        }
    }
    Ok(())
}

#[utoipa::path(
    put, path = "/v1/settings/notifications", operation_id = "put_notification_settings",
    tag = "notifications",
    summary = "Set the account's confirmations and reminders to customers",
    request_body = NotificationSettingsRequest,
    responses(
        (status = 200, description = "The settings.", body = NotificationSettingsView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn put_notification_settings(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(req): ApiJson<NotificationSettingsRequest>,
) -> Result<Json<NotificationSettingsView>, ApiError> {
    let before = state
        .store
        .notification_settings(&caller.account_id)
        .await?;
    let mut s = before.clone();
    let sms_from_given = req.sms_from.is_some();
    let host_given = req.smtp_host.is_some();
    s.company_name = change(req.company_name, s.company_name, |raw| {
        parse_text(&raw, 200, "company_name")
    })?;
    s.sms_enabled = req.sms_enabled.unwrap_or(s.sms_enabled);
    s.sms_from = change(req.sms_from, s.sms_from, |raw| {
        PhoneNumber::parse(&raw, "sms_from")
    })?;
    s.sms_requires_consent = req.sms_requires_consent.unwrap_or(s.sms_requires_consent);
    s.email_enabled = req.email_enabled.unwrap_or(s.email_enabled);
    s.email_from = change(req.email_from, s.email_from, |raw| {
        let raw = parse_text(&raw, 320, "email_from")?;
        crate::notifications::email::check_mailbox(&raw).map_err(|why| {
            FieldError::new(
                ErrorCode::InvalidField,
                "email_from",
                format!("must be an address such as `Acme <callbacks@example.com>`: {why}"),
            )
        })?;
        Ok(raw)
    })?;
    s.smtp_host = change(req.smtp_host, s.smtp_host, |raw| {
        parse_smtp_host(&raw, "smtp_host")
    })?;
    s.smtp_port = change(req.smtp_port, s.smtp_port, |raw| {
        parse_smtp_port(raw, "smtp_port")
    })?;
    s.smtp_security = req.smtp_security.unwrap_or(s.smtp_security);
    s.smtp_username = change(req.smtp_username, s.smtp_username, |raw| {
        parse_text(&raw, 320, "smtp_username")
    })?;
    s.smtp_password = change(req.smtp_password, s.smtp_password, |raw| {
        match raw.is_empty() || raw.chars().count() > 1024 || raw.chars().any(char::is_control) {
            true => Err(FieldError::new(
                ErrorCode::InvalidField,
                "smtp_password",
                "must be 1 to 1024 characters without control characters, or null",
            )),
            false => Ok(Secret::new(raw)),
        }
    })?;
    s.reminder_minutes_before = change(
        req.customer_reminder_minutes_before,
        s.reminder_minutes_before,
        |raw| parse_reminder_minutes(raw, "customer_reminder_minutes_before"),
    )?;
    if let Some(templates) = req.templates {
        change_templates(&mut s, templates)?;
    }
    // The SMS trunk: one of the account's, able to text.
    s.sms_trunk_id = match req.sms_trunk_id {
        None => s.sms_trunk_id,
        Some(None) => None,
        Some(Some(raw)) => {
            let id = super::trunks::named_trunk(&state, &caller, &raw, "sms_trunk_id").await?;
            let trunk = state.store.get_trunk(&caller.account_id, &id).await?;
            let texts = matches!(
                trunk.map(|t| t.settings),
                Some(TrunkSettings::TwilioCompatible(t)) if crate::notifications::sms::can_text(&t)
            );
            if !texts {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    "sms_trunk_id",
                    "must be a twilio_compatible trunk whose profile is twilio or signalwire",
                )
                .into());
            }
            Some(id)
        }
    };
    if let Some(number) = &s.sms_from
        && sms_from_given
        && state
            .store
            .owns_caller_id(&caller.account_id, number)
            .await?
            == Some(false)
    {
        return Err(FieldError::new(
            ErrorCode::CallerIdNotOwned,
            "sms_from",
            format!("{number} is not one of the account's registered numbers (/v1/caller-ids)"),
        )
        .into());
    }
    // Like a webhook URL: no internal address unless the server allows them (checked again at
    // each connection; a host that does not resolve now is accepted).
    if host_given
        && !state.settings.allow_private_webhooks
        && let Some(host) = &s.smtp_host
        && crate::notifications::email::internal(host, s.smtp_port()).await
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "smtp_host",
            "is or resolves to an internal address (loopback, private, link-local or \
             reserved), which the server does not connect to unless started with \
             --allow-private-webhooks",
        )
        .into());
    }
    s.check_complete()?;
    if s != before {
        state
            .store
            .put_notification_settings(&caller.account_id, &s, state.clock.now(), &caller.actor)
            .await?;
    }
    Ok(Json(NotificationSettingsView::from(&s)))
}

/// What the SMTP server said to a test session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EmailTestResult {
    /// The server accepted a session as a send opens it (TLS and credentials as set).
    pub ok: bool,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_security: SmtpSecurity,
    /// What happened, when `ok`.
    pub answer: Option<String>,
    /// The server's (or the network's) error, when not `ok`.
    pub error: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/settings/email/test", operation_id = "test_email_settings",
    tag = "notifications",
    summary = "Try the account's SMTP server",
    description = "Opens a session with the SMTP server of the notification settings as a send \
                   would (TLS, credentials) and closes it without sending. A server that cannot \
                   be reached or refuses is answered 200 with `ok: false` and its error: the \
                   request was good, the server's answer is the result. 400 when no SMTP server \
                   is set.",
    responses(
        (status = 200, description = "The server's answer.", body = EmailTestResult),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn test_email_settings(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
) -> Result<Json<EmailTestResult>, ApiError> {
    let settings = state
        .store
        .notification_settings(&caller.account_id)
        .await?;
    let Some(host) = settings.smtp_host.clone() else {
        return Err(FieldError::new(
            ErrorCode::MissingField,
            "smtp_host",
            "no SMTP server is set: PUT /v1/settings/notifications with smtp_host first",
        )
        .into());
    };
    let result = crate::notifications::email::test_connection(
        &settings,
        state.notification_timeout,
        state.settings.allow_private_webhooks,
    )
    .await;
    Ok(Json(EmailTestResult {
        ok: result.is_ok(),
        smtp_host: host,
        smtp_port: settings.smtp_port(),
        smtp_security: settings.smtp_security,
        answer: result.as_ref().ok().cloned(),
        error: result.err(),
    }))
}
