//! Configuration: the `serve` command's flags, each also read from a `RINGBACK_*` variable.

use std::{
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    time::Duration,
};

use clap::Args;
use url::Url;

/// Settings of a running server.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "RINGBACK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Minimum time between now and a callback's scheduled time, in seconds.
    #[arg(long, env = "RINGBACK_MIN_LEAD_SECONDS", default_value_t = 60)]
    pub min_lead_seconds: u64,

    /// The dialer bridge: the HTTP endpoint that places calls. Due callbacks are POSTed to it.
    #[arg(long, env = "RINGBACK_DIALER_URL")]
    pub dialer_url: Option<Url>,

    /// The URL this server is reached at, used in the `outcome_url` sent to the bridge.
    /// Defaults to `http://<listen address>`.
    #[arg(long, env = "RINGBACK_PUBLIC_URL")]
    pub public_url: Option<Url>,

    /// How long a claim on a callback dispatch or a webhook delivery lasts before another
    /// scheduler (or this one after a crash) may take it over, in seconds.
    #[arg(long, env = "RINGBACK_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u64,

    /// Timeout of one request to the dialer bridge, in milliseconds.
    #[arg(long, env = "RINGBACK_BRIDGE_TIMEOUT_MS", default_value_t = 10_000)]
    pub bridge_timeout_ms: u64,

    /// Most requests open to the dialer bridge at once (each on a kept-alive connection).
    #[arg(long, env = "RINGBACK_BRIDGE_CONCURRENCY", default_value_t = 256)]
    pub bridge_concurrency: usize,

    /// How many schedulers claim due callbacks side by side on this node (they share
    /// `--dispatch-concurrency`). Defaults to 1 on SQLite, whose single writer they would
    /// share, and 2 on PostgreSQL.
    #[arg(long, env = "RINGBACK_CLAIMERS")]
    pub claimers: Option<usize>,

    /// Most claimed dispatches at once (waiting for their due time or in flight to the bridge).
    #[arg(long, env = "RINGBACK_DISPATCH_CONCURRENCY", default_value_t = 8192)]
    pub dispatch_concurrency: usize,

    /// How far ahead of its time a callback is claimed, in milliseconds; it then fires from a
    /// timer at its due time. Within this margin a callback can no longer be changed.
    #[arg(long, env = "RINGBACK_CLAIM_AHEAD_MS", default_value_t = 1000)]
    pub claim_ahead_ms: u64,

    /// Most callbacks claimed in one store transaction.
    #[arg(long, env = "RINGBACK_CLAIM_BATCH", default_value_t = 2000)]
    pub claim_batch: u32,

    /// On shutdown, how long to wait for in-flight dispatches before handing them back.
    #[arg(long, env = "RINGBACK_DRAIN_SECONDS", default_value_t = 10)]
    pub drain_seconds: u64,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "RINGBACK_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest request body of `POST /v1/campaigns`, which carries the contact list.
    #[arg(long, env = "RINGBACK_MAX_BULK_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub max_bulk_body_bytes: usize,

    /// Longest time a request may take before it is answered 408, in seconds.
    #[arg(long, env = "RINGBACK_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,

    /// Longest time a client may take to send a request's header, in seconds (at least 1),
    /// counted from when its connection opens or, on a kept-alive connection, from the first
    /// byte of the request. A slower connection is closed.
    #[arg(
        long,
        env = "RINGBACK_HEADER_READ_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub header_read_timeout_seconds: u64,

    /// How long a kept-alive connection may wait for its next request before it is closed, in
    /// seconds. 0 turns keep-alive off: one request per connection.
    #[arg(long, env = "RINGBACK_IDLE_TIMEOUT_SECONDS", default_value_t = 60)]
    pub idle_timeout_seconds: u64,

    /// Most client connections open at once; beyond it new connections wait in the listen
    /// backlog until one closes. Defaults to 10000, or fewer when the open-file limit
    /// (`ulimit -n`) would not also leave room for the database, logs and outbound HTTP.
    #[arg(long, env = "RINGBACK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,

    /// Allow webhook URLs that point at loopback, private or link-local addresses. Off by
    /// default: such URLs are refused with `webhook_url_not_allowed`.
    #[arg(long, env = "RINGBACK_ALLOW_PRIVATE_WEBHOOKS")]
    pub allow_private_webhooks: bool,

    /// Timeout of one webhook delivery, in milliseconds.
    #[arg(long, env = "RINGBACK_WEBHOOK_TIMEOUT_MS", default_value_t = 5_000)]
    pub webhook_timeout_ms: u64,

    /// Delays before each webhook retry, in milliseconds, comma-separated; after the last a
    /// delivery is failed (and its endpoint disabled). The default spans about a day.
    #[arg(
        long,
        env = "RINGBACK_WEBHOOK_RETRY_DELAYS_MS",
        value_delimiter = ',',
        default_value = "5000,30000,120000,600000,3600000,21600000,43200000"
    )]
    pub webhook_retry_delays_ms: Vec<u64>,

    /// Most webhook deliveries in flight at once.
    #[arg(long, env = "RINGBACK_WEBHOOK_CONCURRENCY", default_value_t = 256)]
    pub webhook_concurrency: usize,

    /// Requests per second allowed to one API key or JWT subject (0: no limit).
    #[arg(long, env = "RINGBACK_RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,

    /// Requests one key may send in a burst above its rate.
    #[arg(long, env = "RINGBACK_RATE_LIMIT_BURST", default_value_t = 100)]
    pub rate_limit_burst: u32,

    /// How long an offer to an agent stands when the callback's queue names no timeout.
    #[arg(long, env = "RINGBACK_OFFER_TIMEOUT_SECONDS", default_value_t = 30)]
    pub offer_timeout_seconds: u64,

    /// How long an agent who rejected a callback (or let its offer run out) is passed over
    /// for it while others may take it.
    #[arg(long, env = "RINGBACK_REOFFER_AFTER_SECONDS", default_value_t = 60)]
    pub reoffer_after_seconds: u64,

    /// Name of this node in claims and logs. Defaults to a random one per process.
    #[arg(long, env = "RINGBACK_NODE_ID")]
    pub node_id: Option<String>,

    /// Where the SIP user agent of `sip` trunks listens (UDP), e.g. `0.0.0.0:5060`. Without
    /// it, the user agent starts on `0.0.0.0:5060` when the server starts if an account has a
    /// `sip` trunk, else with the first call on one.
    #[arg(long, env = "RINGBACK_SIP_LISTEN")]
    pub sip_listen: Option<SocketAddr>,

    /// A PEM file of certificate authorities trusted for `tls` trunks, besides the system's
    /// (a carrier or a PBX with a private CA).
    #[arg(long, env = "RINGBACK_SIP_TLS_CA_FILE")]
    pub sip_tls_ca_file: Option<std::path::PathBuf>,

    /// This server's certificate chain (PEM) for SIP over TLS: with `--sip-tls-key`, the SIP
    /// user agent also listens for TLS on the port after its UDP port (5061), where `tls`
    /// trunks' peers send in-dialog requests such as the customer's BYE.
    #[arg(long, env = "RINGBACK_SIP_TLS_CERTIFICATE", requires = "sip_tls_key")]
    pub sip_tls_certificate: Option<std::path::PathBuf>,

    /// The private key (PEM) of `--sip-tls-certificate`.
    #[arg(long, env = "RINGBACK_SIP_TLS_KEY", requires = "sip_tls_certificate")]
    pub sip_tls_key: Option<std::path::PathBuf>,

    /// The address SIP peers reach this server at, put in Contact and SDP (behind NAT).
    #[arg(long, env = "RINGBACK_SIP_PUBLIC_ADDRESS")]
    pub sip_public_address: Option<IpAddr>,

    /// The UDP ports calls' audio uses, `first-last`.
    #[arg(long, env = "RINGBACK_RTP_PORTS", default_value = "20000-20999", value_parser = port_range)]
    pub rtp_ports: RangeInclusive<u16>,

    /// On shutdown, how long to let calls under way on `sip` trunks go on (they end at their
    /// `max_duration_seconds` at the latest) before the process exits and drops them.
    #[arg(long, env = "RINGBACK_DRAIN_TIMEOUT_SECONDS", default_value_t = 900)]
    pub drain_timeout_seconds: u64,

    /// How long a call on a `sip` trunk rings before it is CANCELed (outcome `no_answer`).
    #[arg(long, env = "RINGBACK_RING_TIMEOUT_SECONDS", default_value_t = 30)]
    pub ring_timeout_seconds: u64,

    /// Where recordings of calls on `sip` trunks are written (`<account>/<call id>.wav`; the
    /// attempt's `recording_url` serves them).
    #[arg(long, env = "RINGBACK_RECORDINGS_DIR", default_value = "recordings")]
    pub recordings_dir: std::path::PathBuf,

    /// A call on a `sip` trunk whose node stopped without ending it (a crash) is ended
    /// `failed` (`node_lost`) by any node this long after the latest instant it could still be
    /// live (its ring timeouts and its `max_duration_seconds`). A `twilio_compatible` call whose
    /// end its provider never reported is read back from the provider after the same grace.
    #[arg(long, env = "RINGBACK_LOST_CALL_GRACE_SECONDS", default_value_t = 120)]
    pub lost_call_grace_seconds: u64,

    /// How often recordings past their account's `recording_retention_days` are looked for and
    /// deleted.
    #[arg(long, env = "RINGBACK_RECORDING_SWEEP_SECONDS", default_value_t = 300)]
    pub recording_sweep_seconds: u64,

    /// The fewest days an account may keep audit entries (its `audit_retention_days`): a
    /// setting below it is refused, and entries are never deleted younger than it. The default
    /// is four years, the limitation period of TCPA claims.
    #[arg(
        long,
        env = "RINGBACK_AUDIT_RETENTION_FLOOR_DAYS",
        default_value_t = 1461,
        value_parser = clap::value_parser!(u32).range(1..=36_500)
    )]
    pub audit_retention_floor_days: u32,

    /// Delays before each retry of a confirmation or reminder to a customer (SMS, email), in
    /// milliseconds, comma-separated; after the last the message is recorded as failed.
    #[arg(
        long,
        env = "RINGBACK_NOTIFICATION_RETRY_DELAYS_MS",
        value_delimiter = ',',
        default_value = "30000,120000,600000,3600000"
    )]
    pub notification_retry_delays_ms: Vec<u64>,

    /// Timeout of one SMS request or SMTP session to send a customer message, in milliseconds.
    #[arg(
        long,
        env = "RINGBACK_NOTIFICATION_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub notification_timeout_ms: u64,
}

/// `first-last`, with `first <= last`.
fn port_range(raw: &str) -> Result<RangeInclusive<u16>, String> {
    let bad = || format!("{raw:?} is not a port range like 20000-20999");
    let (first, last) = raw.split_once('-').ok_or_else(bad)?;
    let first: u16 = first.trim().parse().map_err(|_| bad())?;
    let last: u16 = last.trim().parse().map_err(|_| bad())?;
    if first == 0 || first > last {
        return Err(bad());
    }
    Ok(first..=last)
}

#[derive(Debug, Clone, Args)]
pub struct DatabaseConfig {
    /// Where data lives: `sqlite://FILE` (created if missing, one node) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (any number of nodes sharing it).
    #[arg(
        long,
        env = "RINGBACK_DATABASE_URL",
        default_value = "sqlite://ringback.db"
    )]
    pub database_url: String,

    /// PostgreSQL only: most connections this node opens to the database (one more is kept
    /// for LISTEN).
    #[arg(long, env = "RINGBACK_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// PostgreSQL only: the `statement_timeout` of every connection, in milliseconds; a
    /// statement running longer is cancelled and its request fails instead of hanging.
    #[arg(
        long,
        env = "RINGBACK_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub database_statement_timeout_ms: u64,

    /// The server's key, which encrypts every secret kept in the database (webhook and signing
    /// secrets, trunk credentials, SMTP passwords). Made (mode 0600) when absent. SQLite:
    /// default beside the database file (`ringback.db.key`). PostgreSQL: required, the same
    /// file on every node. Back it up apart from the database.
    #[arg(long, env = "RINGBACK_SECRET_KEY_FILE")]
    pub secret_key_file: Option<std::path::PathBuf>,
}

impl DatabaseConfig {
    /// Defaults for `database_url`, as the command line would give.
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            database_max_connections: 16,
            database_statement_timeout_ms: 30_000,
            secret_key_file: None,
        }
    }
}

impl ServeConfig {
    /// Defaults for a server on `listen` with `database_url`, as the command line would give.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen,
            database: DatabaseConfig::new(database_url),
            min_lead_seconds: 60,
            dialer_url: None,
            public_url: None,
            lease_seconds: 30,
            bridge_timeout_ms: 10_000,
            bridge_concurrency: 256,
            claimers: None,
            dispatch_concurrency: 8192,
            claim_ahead_ms: 1000,
            claim_batch: 2000,
            drain_seconds: 10,
            max_body_bytes: 1024 * 1024,
            max_bulk_body_bytes: 64 * 1024 * 1024,
            request_timeout_seconds: 30,
            header_read_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            max_connections: None,
            allow_private_webhooks: false,
            webhook_timeout_ms: 5_000,
            webhook_concurrency: 256,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            webhook_retry_delays_ms: crate::domain::webhook::DEFAULT_RETRY_DELAYS
                .iter()
                .map(|d| d.as_millis() as u64)
                .collect(),
            offer_timeout_seconds: 30,
            reoffer_after_seconds: 60,
            node_id: None,
            sip_listen: None,
            sip_tls_ca_file: None,
            sip_tls_certificate: None,
            sip_tls_key: None,
            sip_public_address: None,
            rtp_ports: 20000..=20999,
            ring_timeout_seconds: 30,
            drain_timeout_seconds: 900,
            recordings_dir: "recordings".into(),
            lost_call_grace_seconds: 120,
            recording_sweep_seconds: 300,
            audit_retention_floor_days: 1461,
            notification_retry_delays_ms: vec![30_000, 120_000, 600_000, 3_600_000],
            notification_timeout_ms: 10_000,
        }
    }

    pub fn routing(&self) -> crate::domain::routing::RoutingSettings {
        crate::domain::routing::RoutingSettings {
            default_offer_timeout: Duration::from_secs(self.offer_timeout_seconds.max(1)),
            reoffer_after: Duration::from_secs(self.reoffer_after_seconds),
        }
    }

    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_seconds.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::port_range;

    #[test]
    fn rtp_port_ranges() {
        assert_eq!(port_range("20000-20999"), Ok(20000..=20999));
        assert_eq!(port_range(" 5000 - 5000 "), Ok(5000..=5000));
        for bad in ["", "20000", "2-1", "0-10", "a-b", "1-70000", "20000-"] {
            let err = port_range(bad).unwrap_err();
            assert!(err.contains("port range"), "{bad}: {err}");
        }
    }
}
