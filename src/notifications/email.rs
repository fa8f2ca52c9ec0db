//! Emails through the account's SMTP server (`lettre`, over tokio and rustls): one session per
//! message, `STARTTLS` required, TLS from the first byte, or plain, as the account says; the
//! password is handed to the server and nowhere else (never logged, never shown).

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::SendError;
use crate::domain::notification::{NotificationSettings, SmtpSecurity};

/// Whether `raw` is a sender or recipient as emails write it: `cb@example.com` or
/// `Acme <cb@example.com>`; the parser's reason if not.
pub fn check_mailbox(raw: &str) -> Result<(), String> {
    raw.parse::<Mailbox>().map(|_| ()).map_err(|e| e.to_string())
}

/// The SMTP transport of the account's settings.
fn transport(
    settings: &NotificationSettings,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let host = settings
        .smtp_host
        .as_deref()
        .ok_or_else(|| SendError::permanent("no SMTP server is set (smtp_host)"))?;
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned())
            .map_err(|e| SendError::permanent(format!("TLS cannot be set up for {host}: {e}")))
    };
    let security = match settings.smtp_security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(tls(host)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls(host)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(settings.smtp_port())
        .tls(security)
        .timeout(Some(timeout));
    if let Some(user) = &settings.smtp_username {
        let password = settings
            .smtp_password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// What an SMTP error says, and whether the server refused for good (a 5xx answer).
fn smtp_error(e: &lettre::transport::smtp::Error) -> SendError {
    let message = e.to_string();
    match e.is_permanent() {
        true => SendError::permanent(message),
        false => SendError::transient(message),
    }
}

/// Sends one plain-text email to `to`; the server's answer to it.
pub async fn send(
    settings: &NotificationSettings,
    timeout: Duration,
    to: &str,
    subject: &str,
    body: &str,
) -> Result<String, SendError> {
    let from = settings
        .email_from
        .as_deref()
        .ok_or_else(|| SendError::permanent("no sender is set (email_from)"))?;
    let from: Mailbox = from
        .parse()
        .map_err(|e| SendError::permanent(format!("the sender {from:?} is not valid: {e}")))?;
    let to_box: Mailbox = to
        .parse()
        .map_err(|e| SendError::permanent(format!("the address {to:?} is not valid: {e}")))?;
    let message = Message::builder()
        .from(from)
        .to(to_box)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| SendError::permanent(format!("the message cannot be built: {e}")))?;
    let transport = transport(settings, timeout)?;
    let response = transport
        .send(message)
        .await
        .map_err(|e| smtp_error(&e))?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}

/// Opens a session with the account's SMTP server as a send would (TLS, credentials) and
/// closes it: what happened, in words, or the server's (or the network's) error.
pub async fn test_connection(
    settings: &NotificationSettings,
    timeout: Duration,
) -> Result<String, String> {
    let transport = transport(settings, timeout).map_err(|e| e.message)?;
    let host = settings.smtp_host.as_deref().unwrap_or_default();
    let port = settings.smtp_port();
    match transport.test_connection().await {
        Ok(true) => Ok(format!(
            "connected to {host}:{port}{}{}: the server accepted the session",
            match settings.smtp_security {
                SmtpSecurity::Starttls => " with STARTTLS",
                SmtpSecurity::Tls => " over TLS",
                SmtpSecurity::None => "",
            },
            match settings.smtp_username {
                Some(_) => " and the credentials",
                None => "",
            },
        )),
        Ok(false) => Err(format!(
            "connected to {host}:{port}, but the server did not answer as an SMTP server"
        )),
        Err(e) => Err(e.to_string()),
    }
}
