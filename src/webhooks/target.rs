//! Where a webhook may go: http(s) URLs whose host does not resolve into the operator's own
//! network, checked when the URL is saved and again, on the resolved address, at delivery.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::ssrf::is_forbidden;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an http or https URL with a host")]
    Malformed,
    #[error("resolves to a loopback, private, link-local or otherwise internal address")]
    NotAllowed,
}

/// Checks a webhook URL when it is saved. A host that does not resolve now is accepted (DNS may
/// be unavailable to this server yet fine later); the delivery-time check still applies.
pub async fn check_url(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    let url = Url::parse(raw).map_err(|_| TargetError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::Malformed);
    }
    if url.host().is_none() {
        return Err(TargetError::Malformed);
    }
    if allow_private || !resolves_to_forbidden(&url).await {
        Ok(url)
    } else {
        Err(TargetError::NotAllowed)
    }
}

async fn resolves_to_forbidden(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let lookup = tokio::net::lookup_host((name, port));
            match tokio::time::timeout(Duration::from_secs(2), lookup).await {
                Ok(Ok(mut addrs)) => addrs.any(|a| is_forbidden(a.ip())),
                _ => false,
            }
        }
        _ => literal_host_forbidden(url),
    }
}

/// Is a URL's literal IP host forbidden? (Literal IPs never reach the resolver.)
pub fn literal_host_forbidden(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => is_forbidden(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_forbidden(IpAddr::V6(ip)),
        _ => false,
    }
}

/// A DNS resolver for the delivery client that drops internal addresses, so a name that
/// resolved to a public address when saved cannot be re-pointed at an internal one (DNS
/// rebinding): the connection is made only to an address that passed the check.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| !is_forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(
                    Box::new(TargetError::NotAllowed) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// An HTTP client for webhook deliveries: short timeout, no redirects, and (unless private
/// targets are allowed) only public addresses.
pub fn client(timeout: Duration, allow_private: bool) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .user_agent(concat!("ringback-webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
    }
    builder.build().expect("a TLS backend is compiled in")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1/hook",
            "http://10.0.0.1/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]:8080/hook",
            "http://localhost:9000/hook",
        ] {
            assert_eq!(
                check_url(url, false).await.unwrap_err(),
                TargetError::NotAllowed,
                "{url}"
            );
            assert!(check_url(url, true).await.is_ok(), "{url}");
        }
        assert_eq!(
            check_url("ftp://example.com/x", false).await.unwrap_err(),
            TargetError::Malformed
        );
        assert!(check_url("https://93.184.216.34/hook", false).await.is_ok());
    }
}
