//! The HTTP server's client connections ([`serve`]): each must send its request header within
//! `--header-read-timeout-seconds`, a kept-alive one is closed after `--idle-timeout-seconds`
//! without a request, at most `--max-connections` are open at once, and accept errors are
//! retried after a growing pause.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use hyper_util::{rt::TokioIo, server::graceful::GracefulShutdown, service::TowerToHyperService};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
};
use tokio_util::sync::CancellationToken;

use crate::{config::ServeConfig, store};

/// `--max-connections` when the open-file limit leaves room for it.
const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// The pause after a failed accept; it doubles with each failure in a row, up to
/// [`ACCEPT_BACKOFF_MAX`], and starts again after a success.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How the HTTP server treats client connections.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnectionLimits {
    /// `--header-read-timeout-seconds`.
    header_read: Duration,
    /// `--idle-timeout-seconds`; zero turns keep-alive off.
    idle: Duration,
    /// `--max-connections`, or its default from the open-file limit.
    max_connections: usize,
}

impl ConnectionLimits {
    pub(super) fn of(config: &ServeConfig) -> Self {
        // `None`: unlimited.
        let open_files = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
        let reserved = reserved_file_handles(config);
        let max_connections = config
            .max_connections
            .unwrap_or_else(|| default_max_connections(open_files, reserved))
            .max(1);
        if let Some(limit) = open_files
            && max_connections as u64 + reserved > limit
        {
            tracing::warn!(
                open_file_limit = limit,
                max_connections,
                reserved,
                "the open-file limit ({limit}) is lower than {max_connections} connections and \
                 {reserved} other file handles may need: accepting connections or outbound \
                 requests may fail with \"Too many open files\"; raise it (ulimit -n, \
                 LimitNOFILE=) or lower --max-connections, --bridge-concurrency or \
                 --webhook-concurrency"
            );
        }
        tracing::info!(
            max_connections,
            open_file_limit = ?open_files,
            "serving at most {max_connections} connections at once"
        );
        Self {
            header_read: Duration::from_secs(config.header_read_timeout_seconds.max(1)),
            idle: Duration::from_secs(config.idle_timeout_seconds),
            max_connections,
        }
    }
}

/// File handles the process needs besides client connections: standard streams, the runtime,
/// the listener and logs; the database's connections (SQLite's writer and four readers, each
/// with the database file and its two journal files; PostgreSQL's pool and its LISTEN
/// connection); and outbound HTTP to the bridge and to webhook receivers, one connection per
/// request in flight at most.
fn reserved_file_handles(config: &ServeConfig) -> u64 {
    let database = match store::Backend::of(&config.database.database_url) {
        Some(store::Backend::Postgres) => u64::from(config.database.database_max_connections) + 1,
        _ => 5 * 3,
    };
    32 + database + config.bridge_concurrency as u64 + config.webhook_concurrency as u64
}

/// The default `--max-connections`: [`DEFAULT_MAX_CONNECTIONS`], but no more than the
/// open-file limit leaves after `reserved`. A limit too low even for the reserve still gives
/// client connections a quarter of it (the server warns at start).
fn default_max_connections(open_file_limit: Option<u64>, reserved: u64) -> usize {
    let Some(limit) = open_file_limit else {
        return DEFAULT_MAX_CONNECTIONS;
    };
    let room = limit.saturating_sub(reserved).max(limit / 4).max(1);
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .min(DEFAULT_MAX_CONNECTIONS)
}

/// Serves HTTP/1.1 with `router` on `listener` until `shutdown` is cancelled; then accepts no
/// more connections, closes the idle ones and returns once the requests in flight are answered.
///
/// With `--max-connections` connections open the loop stops accepting: new connections wait,
/// complete but unaccepted, in the kernel's listen backlog, where they cost no file handle, and
/// are taken in arrival order as open ones close, which the header read and idle timeouts make
/// happen within seconds even when the open ones belong to an attacker. Accepting and closing
/// them at once instead would spend an accept and a file handle on each and turn a burst that
/// would have been served a moment later into errors. When the backlog is full too, the kernel
/// drops new connection attempts and clients retry them.
///
/// A failed accept that concerns one connection (it was reset or aborted while queued) is
/// skipped at once: the next accept takes another connection, so this cannot spin. Any other
/// (out of file handles, out of memory) leaves the connection queued and would fail again at
/// once, so the loop pauses, 10 ms doubling to 1 s, and logs it at most once a second.
pub(super) async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.keep_alive(!limits.idle.is_zero())
        .header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut at_cap = LogThrottle::new(Duration::from_secs(60));
    let mut accept_failed = LogThrottle::new(Duration::from_secs(1));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if at_cap.ready().is_some() {
                    let max = limits.max_connections;
                    tracing::warn!(
                        max_connections = max,
                        "connection limit reached: {max} connections are open, so new ones \
                         wait in the listen backlog until one closes; raise --max-connections \
                         (RINGBACK_MAX_CONNECTIONS) if the open-file limit allows more"
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => {
                        slot.expect("the connection semaphore is never closed")
                    }
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF_MIN;
                stream
            }
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "a connection went away before it was accepted");
                continue;
            }
            Err(e) => {
                if let Some(held_back) = accept_failed.ready() {
                    let hint = if is_out_of_file_handles(&e) {
                        " (out of file handles: lower --max-connections or raise the open-file \
                         limit)"
                    } else {
                        ""
                    };
                    tracing::error!(
                        error = %e,
                        retry_in_ms = backoff.as_millis() as u64,
                        not_logged = held_back,
                        "could not accept a connection{hint}"
                    );
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let reads = Arc::new(AtomicU64::new(0));
        let mut http = http.clone();
        http.timer(HeaderTimer {
            reads: reads.clone(),
            header_read: limits.header_read,
            idle: limits.idle,
        });
        let io = TokioIo::new(CountedReads { stream, reads });
        let connection =
            graceful.watch(http.serve_connection(io, TowerToHyperService::new(router.clone())));
        tokio::spawn(async move {
            // Timeouts end connections with an error too; none is worth more than a debug line.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A failed accept about one queued connection, not about the server.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

fn is_out_of_file_handles(e: &io::Error) -> bool {
    use rustix::io::Errno;
    Errno::from_io_error(e).is_some_and(|errno| errno == Errno::MFILE || errno == Errno::NFILE)
}

/// Lets a repeated log line through at most once per `every`.
struct LogThrottle {
    every: Duration,
    last: Option<Instant>,
    held_back: u64,
}

impl LogThrottle {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            held_back: 0,
        }
    }

    /// `Some(lines held back since the last one)` when a line may be logged now.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < self.every) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// A client connection's socket, counting the reads that brought bytes (for [`HeaderTimer`]).
struct CountedReads {
    stream: TcpStream,
    reads: Arc<AtomicU64>,
}

impl AsyncRead for CountedReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for CountedReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// One connection's timer for hyper, whose HTTP/1 server uses a timer only for its
/// `header_read_timeout`. hyper starts that timeout when a connection opens and again each
/// time a kept-alive connection waits for its next request, so on its own it would also be the
/// idle timeout. This timer keeps it for the first request, and gives a kept-alive connection
/// `idle` to send the first byte of its next request and `header_read` from that byte on for
/// the rest of the header (as Go's `IdleTimeout` and `ReadHeaderTimeout` do).
struct HeaderTimer {
    /// The connection's reads that brought bytes ([`CountedReads`]).
    reads: Arc<AtomicU64>,
    header_read: Duration,
    idle: Duration,
}

impl hyper::rt::Timer for HeaderTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let reads = self.reads.load(Ordering::Relaxed);
        if reads == 0 {
            // The connection's first request: the header read timeout runs from now.
            return Box::pin(HeaderSleep {
                sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
                idle_since_reads: None,
                reads: self.reads.clone(),
                header_read: self.header_read,
            });
        }
        Box::pin(HeaderSleep {
            sleep: Box::pin(tokio::time::sleep(self.idle)),
            idle_since_reads: Some(reads),
            reads: self.reads.clone(),
            header_read: self.header_read,
        })
    }
}

/// See [`HeaderTimer`].
struct HeaderSleep {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// While the connection is idle: its read count when it became idle.
    idle_since_reads: Option<u64>,
    reads: Arc<AtomicU64>,
    header_read: Duration,
}

impl Future for HeaderSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // hyper polls this after each read of an unfinished header, on the connection's task.
        if let Some(reads) = self.idle_since_reads
            && self.reads.load(Ordering::Relaxed) != reads
        {
            // The next request has begun: it has `header_read` from now for its header.
            self.idle_since_reads = None;
            let deadline = tokio::time::Instant::now() + self.header_read;
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeaderSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_cap_leaves_the_reserve_of_the_open_file_limit() {
        assert_eq!(default_max_connections(None, 600), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(default_max_connections(Some(1_048_576), 600), 10_000);
        assert_eq!(default_max_connections(Some(4_096), 600), 3_496);
        assert_eq!(default_max_connections(Some(128), 79), 49);
        // A limit below the reserve still lets a quarter of it serve clients.
        assert_eq!(default_max_connections(Some(256), 600), 64);
        assert_eq!(default_max_connections(Some(2), 600), 1);
    }

    #[test]
    fn the_reserve_counts_the_database_and_outbound_http() {
        let sqlite = ServeConfig::new("127.0.0.1:0".parse().unwrap(), "sqlite://x.db");
        assert_eq!(reserved_file_handles(&sqlite), 32 + 15 + 256 + 256);
        let mut postgres = ServeConfig::new("127.0.0.1:0".parse().unwrap(), "postgres://h/db");
        postgres.bridge_concurrency = 8;
        postgres.webhook_concurrency = 8;
        assert_eq!(reserved_file_handles(&postgres), 32 + 17 + 16);
    }

    #[test]
    fn a_throttled_log_line_passes_once_per_interval() {
        let mut throttle = LogThrottle::new(Duration::from_secs(3600));
        assert_eq!(throttle.ready(), Some(0));
        assert_eq!(throttle.ready(), None);
        assert_eq!(throttle.ready(), None);
        throttle.last = Some(Instant::now() - Duration::from_secs(3601));
        assert_eq!(throttle.ready(), Some(2));
    }
}
