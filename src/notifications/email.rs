//! Emails through the account's SMTP server (`lettre`, over tokio and rustls): one session per
//! message, `STARTTLS` required, TLS from the first byte, or plain, as the account says; the
//! password is handed to the server and nowhere else (never logged, never shown).
//!
//! Like a webhook's, the server's host may not be or resolve to an internal address (loopback,
//! private, link-local, ...) unless the server runs with `--allow-private-webhooks`: it is
//! resolved once per session, checked, and connected to by that address (the TLS name is still
//! the host's), so a name that changes its answer in between reaches nothing internal.

use std::{net::IpAddr, time::Duration};

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
    raw.parse::<Mailbox>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Whether `host` is or resolves to an internal address; a host that does not resolve now is
/// not (the check at each connection still applies).
pub async fn internal(host: &str, port: u16) -> bool {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let lookup = tokio::net::lookup_host((name, port));
    match tokio::time::timeout(Duration::from_secs(2), lookup).await {
        Ok(Ok(mut addrs)) => addrs.any(|a| crate::webhooks::ssrf::is_forbidden(a.ip())),
        _ => false,
    }
}

/// The address to reach `host` at: the first it resolves to, unless any is internal and
/// internal targets are not allowed.
pub async fn resolve(host: &str, port: u16, allow_private: bool) -> Result<IpAddr, String> {
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let lookup = tokio::net::lookup_host((name, port));
    let addrs: Vec<IpAddr> = match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
        Ok(Err(e)) => return Err(format!("{host} does not resolve: {e}")),
        Err(_) => return Err(format!("{host} did not resolve in time")),
    };
    if !allow_private
        && addrs
            .iter()
            .any(|ip| crate::webhooks::ssrf::is_forbidden(*ip))
    {
        return Err(format!(
            "{host} is an internal address (loopback, private, link-local or reserved), which \
             the server does not connect to unless started with --allow-private-webhooks"
        ));
    }
    addrs
        .first()
        .copied()
        .ok_or_else(|| format!("{host} has no address"))
}

/// The SMTP transport of the account's settings.
async fn transport(
    settings: &NotificationSettings,
    timeout: Duration,
    allow_private: bool,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
    let host = settings
        .smtp_host
        .as_deref()
        .ok_or_else(|| SendError::permanent("no SMTP server is set (smtp_host)"))?;
    let address = resolve(host, settings.smtp_port(), allow_private)
        .await
        .map_err(SendError::transient)?;
    let tls = |host: &str| {
        TlsParameters::new(host.to_owned())
            .map_err(|e| SendError::permanent(format!("TLS cannot be set up for {host}: {e}")))
    };
    let security = match settings.smtp_security {
        SmtpSecurity::None => Tls::None,
        SmtpSecurity::Starttls => Tls::Required(tls(host)?),
        SmtpSecurity::Tls => Tls::Wrapper(tls(host)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(address.to_string())
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
    allow_private: bool,
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
    let transport = transport(settings, timeout, allow_private).await?;
    let response = transport.send(message).await.map_err(|e| smtp_error(&e))?;
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
    allow_private: bool,
) -> Result<String, String> {
    let transport = transport(settings, timeout, allow_private)
        .await
        .map_err(|e| e.message)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The check made at every connection, whatever was saved.
    #[tokio::test]
    async fn internal_hosts_are_reached_only_when_allowed() {
        assert!(
            resolve("127.0.0.1", 25, false)
                .await
                .unwrap_err()
                .contains("internal")
        );
        assert!(resolve("localhost", 25, false).await.is_err());
        assert!(resolve("[::1]", 25, false).await.is_err());
        assert_eq!(
            resolve("127.0.0.1", 25, true).await,
            Ok(IpAddr::from([127, 0, 0, 1]))
        );
        assert!(internal("127.0.0.1", 25).await);
        assert!(!internal("host.invalid", 25).await);
    }

    #[test]
    fn mailboxes_are_checked_as_emails_write_them() {
        assert!(check_mailbox("Acme <callbacks@acme.example>").is_ok());
        assert!(check_mailbox("callbacks@acme.example").is_ok());
        assert!(check_mailbox("not an address").is_err());
    }
}
