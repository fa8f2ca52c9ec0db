//! Connection handling of the real binary, through raw sockets: connections that never finish
//! their request header, kept-alive connections left idle, more connections than the process
//! has file handles, and accept errors.
//!
//! The server is configured through its `RINGBACK_*` variables, so these tests also run (and
//! fail) against a binary that does not know them.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::Value;
use tempfile::TempDir;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{database::TestDatabase, helpers::eventually};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `ringback serve` process, optionally under a lower open-file limit (`ulimit -n`), killed
/// when dropped.
struct Server {
    child: tokio::process::Child,
    addr: String,
    pid: u32,
    log: PathBuf,
    api_key: String,
    _db: TestDatabase,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// The server's log, without the terminal colour codes it may carry.
fn log_text(path: &Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences: ESC [ parameters, then a final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            text.push(c);
        }
    }
    text
}

fn tail(path: &Path) -> String {
    let text = log_text(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Server {
    /// Starts the server with `vars` set, under `ulimit -n nofile` if given, on a fresh
    /// database with one account, and waits until it answers.
    async fn start(vars: &[(&str, &str)], nofile: Option<u32>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = TestDatabase::create(dir.path()).await;
        let api_key = create_account(&db.url).await;
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = match nofile {
            // The limit applies to the shell, which then becomes the server (same pid).
            Some(n) => {
                let mut c = tokio::process::Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), BIN]);
                c
            }
            None => tokio::process::Command::new(BIN),
        };
        command
            .args(["serve", "--listen", &addr, "--database-url", &db.url])
            .env_remove("RUST_LOG")
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let mut child = command.spawn().expect("ringback starts");
        let pid = child.id().expect("the server is running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("ringback exited with {status}:\n{}", tail(&log));
            }
            if let Ok(Ok(resp)) =
                tokio::time::timeout(Duration::from_secs(2), get(&addr, "/healthz", None)).await
                && resp.starts_with("HTTP/1.1 200")
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ringback did not become healthy:\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Self {
            child,
            addr,
            pid,
            log,
            api_key,
            _db: db,
            _dir: dir,
        }
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(&self.addr)
            .await
            .expect("the server's port takes connections")
    }

    fn log(&self) -> String {
        log_text(&self.log)
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("ringback exited with {status}:\n{}", tail(&self.log));
        }
    }

    /// CPU time the server has used so far (user and system).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .expect("/proc/<pid>/stat is readable");
        // Fields after the command name, which is in parentheses: state is field 3, utime 14,
        // stime 15 (proc(5)).
        let rest = &stat[stat.rfind(')').expect("a stat line") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 1000 / clock_ticks_per_second())
    }

    /// An authenticated request on a new connection, answered within `patience`.
    async fn authenticated_request(&self, patience: Duration) -> Result<String, String> {
        let started = Instant::now();
        match tokio::time::timeout(
            patience,
            get(&self.addr, "/v1/callbacks", Some(&self.api_key)),
        )
        .await
        {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(format!("failed after {:?}: {e}", started.elapsed())),
            Err(_) => Err(format!("no answer within {patience:?}")),
        }
    }
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

async fn create_account(database_url: &str) -> String {
    let out = tokio::process::Command::new(BIN)
        .args([
            "accounts",
            "create",
            "Acme Corp",
            "--json",
            "--database-url",
            database_url,
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("ringback runs");
    assert!(
        out.status.success(),
        "accounts create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("accounts create prints JSON");
    json["api_key"].as_str().expect("an api_key").to_owned()
}

/// `GET path` on a new connection that asks to be closed after the answer; the whole answer.
async fn get(addr: &str, path: &str, api_key: Option<&str>) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    let auth = api_key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// Reads one answer with a `Content-Length` from a kept-alive connection.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .expect("the answer has a Content-Length");
            if buf.len() >= end + 4 + length {
                return String::from_utf8_lossy(&buf).into_owned();
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the answer arrives")
            .expect("the answer can be read");
        assert!(n > 0, "the connection closed mid-answer: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Waits up to `patience` for the server to close `stream` (end of file or reset), reading and
/// dropping whatever it sends; how long after `since` that happened, or `None`.
async fn closed_within(
    stream: &mut tokio::net::tcp::OwnedReadHalf,
    since: Instant,
    patience: Duration,
) -> Option<Duration> {
    let mut chunk = [0u8; 1024];
    let deadline = since + patience;
    loop {
        match tokio::time::timeout_at(deadline.into(), stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(since.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_connection_that_does_not_send_its_header_in_time_is_closed() {
    let server = Server::start(
        &[
            ("RINGBACK_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("RINGBACK_IDLE_TIMEOUT_SECONDS", "30"),
        ],
        None,
    )
    .await;
    let started = Instant::now();
    // Sends nothing at all.
    let (mut silent, _silent_w) = server.connect().await.into_split();
    // Sends half a request line and stops.
    let (mut partial, mut partial_w) = server.connect().await.into_split();
    partial_w.write_all(b"GET /healthz HT").await.unwrap();
    // Slowloris: a valid request, one byte every 250 ms (it would take about 10 s).
    let (mut slow, mut slow_w) = server.connect().await.into_split();
    let dripping = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: ringback\r\nX-Slow: yes\r\n\r\n" {
            if slow_w.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    let patience = Duration::from_secs(4);
    let (silent, partial, slow) = tokio::join!(
        closed_within(&mut silent, started, patience),
        closed_within(&mut partial, started, patience),
        closed_within(&mut slow, started, patience),
    );
    dripping.abort();
    for (what, closed) in [
        ("a silent connection", silent),
        ("a partial request line", partial),
        ("a header sent one byte every 250 ms", slow),
    ] {
        let after = closed.unwrap_or_else(|| {
            panic!(
                "{what} was still open after {patience:?} (header read timeout 1 s):\n{}",
                server.log()
            )
        });
        assert!(
            after >= Duration::from_millis(800),
            "{what} was closed after {after:?}, before the header read timeout"
        );
    }
    // The server still answers a whole request.
    let answer = get(&server.addr, "/healthz", None).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(
        &[
            ("RINGBACK_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("RINGBACK_IDLE_TIMEOUT_SECONDS", "2"),
        ],
        None,
    )
    .await;
    let mut stream = server.connect().await;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Waiting for the next request is not reading a header: idle for longer than the header
    // read timeout (but less than the idle one), the connection still takes a request.
    tokio::time::sleep(Duration::from_millis(1_400)).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle_since = Instant::now();
    let (mut read, _write) = stream.into_split();
    let closed = closed_within(&mut read, idle_since, Duration::from_secs(5)).await;
    let after = closed.unwrap_or_else(|| {
        panic!(
            "an idle kept-alive connection was still open after 5 s (idle timeout 2 s):\n{}",
            server.log()
        )
    });
    assert!(
        after >= Duration::from_millis(1_600),
        "closed after {after:?} idle, before the idle timeout of 2 s"
    );
}

/// More idle connections than the process has file handles: the server stops at its
/// connection cap (derived from `ulimit -n`), says so once, does not spin, and answers a
/// normal request as soon as the idle connections have timed out.
#[tokio::test]
async fn idle_connections_beyond_the_open_file_limit_do_not_lock_out_a_normal_request() {
    const NOFILE: u32 = 128;
    const IDLE: usize = 140;
    let mut server = Server::start(
        &[
            ("RINGBACK_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("RINGBACK_IDLE_TIMEOUT_SECONDS", "1"),
            // No outbound HTTP in this test: keep that reserve small.
            ("RINGBACK_BRIDGE_CONCURRENCY", "16"),
            ("RINGBACK_WEBHOOK_CONCURRENCY", "16"),
        ],
        Some(NOFILE),
    )
    .await;
    // Opens the database's read connections while file handles are free.
    let warm_up = server.authenticated_request(Duration::from_secs(5)).await;
    assert!(warm_up.is_ok_and(|a| a.starts_with("HTTP/1.1 200")));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(server.connect().await);
    }
    let cap_line = eventually(
        Duration::from_secs(5),
        "the log line saying the connection cap was reached",
        || async {
            server
                .log()
                .lines()
                .find(|l| l.contains("connection limit reached"))
                .map(str::to_owned)
        },
    )
    .await;
    assert!(cap_line.contains("--max-connections"), "{cap_line}");
    let cap: u32 = cap_line
        .split("max_connections=")
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("the cap line names no max_connections: {cap_line}"));
    assert!(
        cap < NOFILE,
        "a cap of {cap} leaves no file handles under ulimit -n {NOFILE}"
    );

    // While the sockets are held, the server waits instead of spinning.
    let before = server.cpu_time();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = server.cpu_time() - before;
    assert!(
        used < Duration::from_millis(300),
        "the server used {used:?} of CPU in 1 s holding idle connections:\n{}",
        tail(&server.log)
    );

    let started = Instant::now();
    let answer = server
        .authenticated_request(Duration::from_secs(8))
        .await
        .unwrap_or_else(|e| panic!("the normal request {e}:\n{}", tail(&server.log)));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    eprintln!(
        "answered {:?} after the idle connections",
        started.elapsed()
    );
    let warnings = server
        .log()
        .lines()
        .filter(|l| l.contains("connection limit reached"))
        .count();
    assert!(
        warnings <= 2,
        "the cap was logged {warnings} times, not once in a while:\n{}",
        tail(&server.log)
    );
    server.assert_running();
    drop(idle);
}

/// A cap set above what the open-file limit allows: accepting fails with "Too many open
/// files". The server backs off (little CPU, few log lines) and recovers once the idle
/// connections time out.
#[tokio::test]
async fn accept_errors_back_off_and_the_server_recovers() {
    const NOFILE: u32 = 64;
    const IDLE: usize = 90;
    let mut server = Server::start(
        &[
            ("RINGBACK_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("RINGBACK_IDLE_TIMEOUT_SECONDS", "1"),
            ("RINGBACK_MAX_CONNECTIONS", "1000"),
            ("RINGBACK_BRIDGE_CONCURRENCY", "16"),
            ("RINGBACK_WEBHOOK_CONCURRENCY", "16"),
        ],
        Some(NOFILE),
    )
    .await;
    // Opens the database's read connections while file handles are free.
    let warm_up = server.authenticated_request(Duration::from_secs(5)).await;
    assert!(warm_up.is_ok_and(|a| a.starts_with("HTTP/1.1 200")));
    let mut idle = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        idle.push(server.connect().await);
    }
    let accept_errors = |log: &str| {
        log.lines()
            .filter(|l| l.contains("Too many open files") && l.contains("accept"))
            .count()
    };
    eventually(
        Duration::from_secs(5),
        "an accept error in the log",
        || async { (accept_errors(&server.log()) > 0).then_some(()) },
    )
    .await;
    let before = server.cpu_time();
    let logged_before = accept_errors(&server.log());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let used = server.cpu_time() - before;
    let logged = accept_errors(&server.log()) - logged_before;
    assert!(
        used < Duration::from_millis(300),
        "the server used {used:?} of CPU in 1 s of accept errors:\n{}",
        tail(&server.log)
    );
    assert!(
        logged <= 2,
        "{logged} accept errors logged in 1 s:\n{}",
        tail(&server.log)
    );

    let answer = server
        .authenticated_request(Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("the normal request {e}:\n{}", tail(&server.log)));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.assert_running();
    drop(idle);
}
