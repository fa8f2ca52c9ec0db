//! End-to-end benchmark of the `ringback` server binary.
//!
//! Every scenario starts the real server (`ringback serve`) as a separate process on a fresh
//! SQLite file in a temporary directory, creates an account with the CLI, and talks to it over
//! HTTP on 127.0.0.1. A stand-in dialer bridge runs inside this process and answers 200 at once,
//! recording when each dispatch arrived.
//!
//! Scenarios (all by default):
//! - `single`: 64 keep-alive connections POST /v1/callbacks for a fixed time.
//! - `batch`: POST /v1/callbacks/batch with 1,000 items per request from a few clients.
//! - `lateness`: 100,000 callbacks due uniformly within 10 s; how late does the bridge hear?
//! - `pending`: 1,000,000 pending callbacks; restart time and memory.
//! - `webhooks`: a burst of 50,000 events to one endpoint (deliveries/s), then 500 state changes
//!   a second (latency from the change to the receiver).
//! - `campaign`: a 100,000-contact campaign created in one request, the same number of contacts
//!   imported as CSV and launched by id, then the dialer-bridge dispatch rate while pacing
//!   allows it.
//! - `routing`: 1,000 agents in 10 queues and 100,000 due preview callbacks; agents become
//!   available one by one (time from `available` to the offer on their event stream), then all
//!   work as fast as they can (accept, complete, next offer: offers per second). With
//!   `RINGBACK_BENCH_ROUTING_SKILLS=1`, with priorities and skills on: agents hold two of 10
//!   skills at levels 1 to 5, two thirds of the callbacks require one of their queue's skills
//!   at a level 1 to 5, priorities spread over 0 to 100, queues age priority by 1 a minute and
//!   relax skills after 10 minutes.
//!
//! Environment:
//! - `RINGBACK_BENCH_SCALE=0.1` multiplies every count (and the single-create duration).
//! - `RINGBACK_BENCH_ONLY=single,batch,lateness,pending,webhooks,routing` runs a subset.
//! - `RINGBACK_BENCH_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test` runs every scenario
//!   on PostgreSQL instead: each deployment gets a fresh database, created and dropped through
//!   that URL with `psql`.
//! - `RINGBACK_BENCH_SERVER_ARGS="--claim-batch 200"` adds flags to every `ringback serve`
//!   (`--min-lead-seconds 1` and, where the server has it, `--rate-limit-per-second 0` are
//!   always given).
//! - `RUST_LOG` is passed on to the server (its log goes to a file in the temporary directory).
//!
//! Run: `cargo bench --bench core`.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    fs::File,
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use hdrhistogram::Histogram;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

const SERVER_BIN: &str = env!("CARGO_BIN_EXE_ringback");
const MAX_BATCH: usize = 1_000;
const SCENARIOS: [&str; 7] = [
    "single", "batch", "lateness", "pending", "webhooks", "routing", "campaign",
];

// ---------------------------------------------------------------------------------------------
// Settings and results
// ---------------------------------------------------------------------------------------------

struct Settings {
    scale: f64,
    only: Option<HashSet<String>>,
    server_args: Vec<String>,
}

impl Settings {
    fn from_env() -> Self {
        let scale = std::env::var("RINGBACK_BENCH_SCALE")
            .ok()
            .map(|s| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| *v > 0.0)
                    .expect("RINGBACK_BENCH_SCALE must be a positive number")
            })
            .unwrap_or(1.0);
        let only = std::env::var("RINGBACK_BENCH_ONLY")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                s.split(',')
                    .map(|p| p.trim().to_ascii_lowercase())
                    .filter(|p| !p.is_empty())
                    .collect::<HashSet<_>>()
            });
        if let Some(only) = &only {
            for name in only {
                assert!(
                    SCENARIOS.contains(&name.as_str()),
                    "unknown scenario {name:?} in RINGBACK_BENCH_ONLY (expected one of {})",
                    SCENARIOS.join(", ")
                );
            }
        }
        let mut server_args: Vec<String> = Vec::new();
        // A throughput benchmark: lift the per-key request rate limit where the server has one
        // (RINGBACK_BENCH_SERVER_ARGS may set it again).
        let help = Command::new(SERVER_BIN)
            .args(["serve", "--help"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        if help.contains("--rate-limit-per-second") {
            server_args.extend(["--rate-limit-per-second".to_owned(), "0".to_owned()]);
        }
        server_args.extend(
            std::env::var("RINGBACK_BENCH_SERVER_ARGS")
                .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default(),
        );
        Self {
            scale,
            only,
            server_args,
        }
    }

    fn runs(&self, scenario: &str) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(scenario))
    }

    fn count(&self, full: u64) -> u64 {
        ((full as f64 * self.scale).round() as u64).max(1)
    }
}

struct SummaryRow {
    scenario: &'static str,
    metric: String,
    value: String,
    target: String,
    met: Option<bool>,
}

#[derive(Default)]
struct Summary {
    rows: Vec<SummaryRow>,
}

impl Summary {
    fn add(&mut self, scenario: &'static str, metric: &str, value: String) {
        self.rows.push(SummaryRow {
            scenario,
            metric: metric.to_owned(),
            value,
            target: String::new(),
            met: None,
        });
    }

    fn target(
        &mut self,
        scenario: &'static str,
        metric: &str,
        value: String,
        target: &str,
        met: bool,
    ) {
        self.rows.push(SummaryRow {
            scenario,
            metric: metric.to_owned(),
            value,
            target: target.to_owned(),
            met: Some(met),
        });
    }

    fn print(&self) {
        let table: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                vec![
                    r.scenario.to_owned(),
                    r.metric.clone(),
                    r.value.clone(),
                    r.target.clone(),
                    match r.met {
                        Some(true) => "yes".to_owned(),
                        Some(false) => "NO".to_owned(),
                        None => String::new(),
                    },
                ]
            })
            .collect();
        print_table(
            "Summary",
            &["scenario", "metric", "value", "target", "met"],
            &table,
        );
    }
}

fn print_table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for (cell, w) in cells.iter().zip(&widths) {
            let _ = write!(s, " {cell:<w$} |");
        }
        s
    };
    println!();
    println!("## {title}");
    println!();
    println!(
        "{}",
        line(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>())
    );
    let mut sep = String::from("|");
    for w in &widths {
        let _ = write!(sep, "{}|", "-".repeat(w + 2));
    }
    println!("{sep}");
    for row in rows {
        println!("{}", line(row));
    }
    println!();
}

fn row(cells: &[&dyn std::fmt::Display]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn us_as_ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1e3)
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn thousands(n: f64) -> String {
    let n = n.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("can bind a loopback port")
        .port()
}

/// Memory figures of a process, from /proc/<pid>/status, in kB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kb: u64,
    hwm_kb: u64,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kb: field("VmRSS:"),
        hwm_kb: field("VmHWM:"),
    }
}

/// CPU time, in clock ticks (USER_HZ, 100 a second on Linux).
#[derive(Debug, Clone, Copy)]
struct CpuSnapshot {
    at: Instant,
    /// All processes: user + nice + system + irq + softirq, every core.
    machine: u64,
    server: u64,
    bench: u64,
}

const TICKS_PER_SECOND: f64 = 100.0;

fn process_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at field 3: state.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    let get = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    get(11) + get(12)
}

fn cpu_snapshot(server_pid: Option<u32>) -> CpuSnapshot {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let machine = stat
        .lines()
        .next()
        .map(|l| {
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal ...
            [0, 1, 2, 5, 6]
                .iter()
                .map(|&i| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .unwrap_or(0);
    CpuSnapshot {
        at: Instant::now(),
        machine,
        server: server_pid.map_or(0, |p| process_ticks(&p.to_string())),
        bench: process_ticks("self"),
    }
}

/// Cores kept busy between two snapshots: by the server, by this benchmark, by anything else.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    server: f64,
    bench: f64,
    other: f64,
    /// The server's CPU time over the span, in seconds.
    server_seconds: f64,
}

impl CpuUse {
    fn between(a: CpuSnapshot, b: CpuSnapshot) -> Self {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
        let cores = |t: u64| t as f64 / TICKS_PER_SECOND / secs;
        let server = cores(b.server.saturating_sub(a.server));
        let bench = cores(b.bench.saturating_sub(a.bench));
        let machine = cores(b.machine.saturating_sub(a.machine));
        Self {
            server,
            bench,
            other: (machine - server - bench).max(0.0),
            server_seconds: b.server.saturating_sub(a.server) as f64 / TICKS_PER_SECOND,
        }
    }
}

impl std::fmt::Display for CpuUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} / {:.2} / {:.2}",
            self.server, self.bench, self.other
        )
    }
}

/// A `ringback serve` process; killed when dropped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

/// Everything a scenario needs from one database: the directory, the account key, a server.
/// Field order matters: the server is dropped (killed) before the directory is removed.
struct Deployment {
    server: Option<Server>,
    api_key: String,
    account_id: String,
    db_url: String,
    dialer_url: Option<String>,
    extra_args: Vec<String>,
    dir: tempfile::TempDir,
    restarts: usize,
    /// On PostgreSQL: the server URL and the database made for this deployment.
    postgres: Option<(String, String)>,
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // The server first, then its database.
        self.server.take();
        if let Some((admin, name)) = &self.postgres {
            let _ = Command::new("psql")
                .args([admin.as_str(), "-qc"])
                .arg(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .output();
        }
    }
}

/// A fresh database for one deployment: a SQLite file in `dir`, or a PostgreSQL database when
/// `RINGBACK_BENCH_POSTGRES_URL` names a server.
/// The key file of a deployment's secrets (PostgreSQL has no default; every process of the
/// deployment names the same file).
fn key_file(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join("secret.key")
}

fn bench_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    let Ok(admin) = std::env::var("RINGBACK_BENCH_POSTGRES_URL") else {
        return (
            format!("sqlite://{}", dir.join("ringback.db").display()),
            None,
        );
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "ringback_bench_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args([admin.as_str(), "-qc"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql runs (RINGBACK_BENCH_POSTGRES_URL needs the PostgreSQL client)");
    assert!(
        out.status.success(),
        "creating {name} through {admin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    (format!("{base}/{name}"), Some((admin.clone(), name)))
}

impl Deployment {
    fn create(dialer_url: Option<String>, settings: &Settings) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ringback-bench-")
            .tempdir()
            .expect("can create a temporary directory");
        let (db_url, postgres) = bench_database(dir.path());
        let out = Command::new(SERVER_BIN)
            .args(["accounts", "create", "bench", "--json", "--database-url"])
            .arg(&db_url)
            .env("RINGBACK_SECRET_KEY_FILE", key_file(dir.path()))
            .output()
            .expect("can run `ringback accounts create`");
        assert!(
            out.status.success(),
            "`ringback accounts create` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        #[derive(Deserialize)]
        struct Created {
            api_key: String,
            account_id: String,
        }
        let created: Created = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "unexpected output of `ringback accounts create --json` ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        });
        Self {
            server: None,
            api_key: created.api_key,
            account_id: created.account_id,
            db_url,
            dialer_url,
            extra_args: settings.server_args.clone(),
            dir,
            restarts: 0,
            postgres,
        }
    }

    /// Starts the server and waits until GET /readyz answers 200. Returns the time that took.
    async fn start(&mut self, http: &reqwest::Client) -> Duration {
        assert!(self.server.is_none(), "server already running");
        let port = free_port();
        let log = self
            .dir
            .path()
            .join(format!("server-{}.log", self.restarts));
        self.restarts += 1;
        let log_file = File::create(&log).expect("can create the server log");
        let mut cmd = Command::new(SERVER_BIN);
        cmd.arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--database-url", &self.db_url])
            .env("RINGBACK_SECRET_KEY_FILE", key_file(self.dir.path()))
            .args(["--min-lead-seconds", "1"]);
        if let Some(url) = &self.dialer_url {
            cmd.args(["--dialer-url", url]);
        }
        cmd.args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("can clone a file handle"))
            .stderr(log_file);
        let started = Instant::now();
        let child = cmd.spawn().expect("can start `ringback serve`");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let ready = format!("{}/readyz", server.base);
        self.server = Some(server);
        loop {
            if let Ok(resp) = http.get(&ready).send().await
                && resp.status() == StatusCode::OK
            {
                let took = started.elapsed();
                self.allow_any_hour(http).await;
                return took;
            }
            let server = self.server.as_mut().expect("just started");
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "the server exited during start-up ({status}); log:\n{}",
                    server.log_tail()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the server was not ready after 120 s; log:\n{}",
                server.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Benchmarks run at any hour: calls may be placed all day, at the times asked for.
    async fn allow_any_hour(&self, http: &reqwest::Client) {
        let resp = http
            .put(format!("{}/v1/settings", self.base()))
            .header("authorization", format!("Bearer {}", self.api_key))
            .header("content-type", "application/json")
            .body(
                r#"{"calling_window":{"start":"00:00","end":"24:00"},"allow_customer_requested_times":true,"max_attempts":null,"attempt_window_days":7}"#,
            )
            .send()
            .await;
        // Servers from before the dialling policy have no such route; they need none.
        if let Ok(resp) = resp
            && resp.status() != StatusCode::OK
            && resp.status() != StatusCode::NOT_FOUND
        {
            panic!("setting the dialling policy failed: {}", resp.status());
        }
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("server is running")
    }

    fn base(&self) -> &str {
        &self.server().base
    }

    fn memory(&self) -> Memory {
        memory(self.server().child.id())
    }

    fn cpu(&self) -> CpuSnapshot {
        cpu_snapshot(self.server.as_ref().map(|s| s.child.id()))
    }

    /// On SQLite: the database's size (its pages, the write-ahead log's committed ones
    /// included) and the bytes of the dispatch path's events (`callback.due`,
    /// `callback.started`: their `data` and `changes`).
    async fn storage(&self) -> Option<Storage> {
        use sqlx::Connection;
        if self.postgres.is_some() {
            return None;
        }
        let mut conn = sqlx::SqliteConnection::connect(&self.db_url).await.ok()?;
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        // Databases older than change-only events have no `changes`.
        let mut dispatch_event_bytes = 0;
        for data in [
            "length(data) + COALESCE(length(changes), 0)",
            "length(data)",
        ] {
            if let Ok(bytes) = sqlx::query_scalar::<_, i64>(&format!(
                "SELECT COALESCE(SUM({data}), 0) FROM events \
                 WHERE type IN ('callback.due', 'callback.started')"
            ))
            .fetch_one(&mut conn)
            .await
            {
                dispatch_event_bytes = bytes;
                break;
            }
        }
        Some(Storage {
            bytes: pages * page_size,
            dispatch_event_bytes,
        })
    }

    /// SIGTERM, then waits for the process to exit. Returns how long it took.
    fn stop(&mut self) -> Duration {
        let mut server = self.server.take().expect("server is running");
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &server.child.id().to_string()])
            .status();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = server.child.try_wait() {
                return started.elapsed();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        eprintln!("server did not stop within 60 s of SIGTERM; killing it");
        started.elapsed()
    }

    /// SIGKILL, as a crash would.
    fn crash(&mut self) {
        let mut server = self.server.take().expect("server is running");
        let _ = server.child.kill();
        let _ = server.child.wait();
    }

    fn db_size(&self) -> u64 {
        if let Some((admin, name)) = &self.postgres {
            let out = Command::new("psql")
                .args([admin.as_str(), "-tAc"])
                .arg(format!("SELECT pg_database_size('{name}')"))
                .output();
            return out
                .ok()
                .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
                .unwrap_or(0);
        }
        std::fs::read_dir(self.dir.path())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("ringback.db"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

impl Server {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("can build an HTTP client")
}

// ---------------------------------------------------------------------------------------------
// The stand-in dialer bridge
// ---------------------------------------------------------------------------------------------

struct Receipt {
    callback_id: String,
    idempotency_key: String,
    /// Receipt time minus `due_at`, microseconds (negative if early).
    lateness_us: i64,
    /// When it arrived, microseconds since the Unix epoch.
    received_us: i64,
}

#[derive(Default)]
struct BridgeLog {
    receipts: Mutex<Vec<Receipt>>,
    count: AtomicU64,
    bad: AtomicU64,
}

#[derive(Deserialize)]
struct DispatchPayload {
    callback_id: String,
    due_at: Timestamp,
}

async fn dial(State(log): State<Arc<BridgeLog>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let now = Timestamp::now();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    match serde_json::from_slice::<DispatchPayload>(&body) {
        Ok(p) => {
            let receipt = Receipt {
                lateness_us: now.as_microsecond() - p.due_at.as_microsecond(),
                received_us: now.as_microsecond(),
                callback_id: p.callback_id,
                idempotency_key: key,
            };
            log.receipts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(receipt);
            log.count.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {
            log.bad.fetch_add(1, Ordering::Relaxed);
        }
    }
    StatusCode::OK
}

struct Bridge {
    url: String,
    log: Arc<BridgeLog>,
    task: tokio::task::JoinHandle<()>,
}

impl Bridge {
    async fn start() -> Self {
        let log = Arc::new(BridgeLog::default());
        let app = Router::new()
            .route("/dial", post(dial))
            .with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("can bind the bridge");
        let addr: SocketAddr = listener.local_addr().expect("bound");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/dial"),
            log,
            task,
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// A valid US number, different for each `n` (up to 8 million).
fn phone(n: u64) -> String {
    let n = n % 8_000_000;
    format!("+1415{}", 2_000_000 + n)
}

fn rfc3339(ts: Timestamp) -> String {
    ts.round(jiff::Unit::Millisecond)
        .expect("rounding a timestamp to ms")
        .to_string()
}

fn item(n: u64, scheduled_at: &str) -> String {
    item_in_mode(n, scheduled_at, "progressive")
}

/// A callback the bridge is asked to place itself: a `progressive` one waits for an agent to
/// be reserved first (issue 21), which the lateness scenario has none of.
fn unattended_item(n: u64, scheduled_at: &str) -> String {
    item_in_mode(n, scheduled_at, "unattended")
}

fn item_in_mode(n: u64, scheduled_at: &str, mode: &str) -> String {
    format!(
        r#"{{"phone":"{}","scheduled_at":"{scheduled_at}","timezone":"America/Los_Angeles","contact_name":"Bench Customer {n}","dialing_mode":"{mode}","allow_duplicate":true}}"#,
        phone(n)
    )
}

fn batch_body(items: impl Iterator<Item = String>) -> String {
    let mut body = String::from(r#"{"callbacks":["#);
    for (i, it) in items.enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&it);
    }
    body.push_str("]}");
    body
}

#[derive(Deserialize)]
struct BatchResult {
    id: Option<String>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct BatchResponse {
    created: u64,
    failed: u64,
    results: Vec<BatchResult>,
}

#[derive(Default)]
struct IngestReport {
    created: u64,
    failed: u64,
    requests: u64,
    errors: u64,
    elapsed: Duration,
    ids: Vec<String>,
    first_error: Option<String>,
    latency: Option<Histogram<u64>>,
}

/// POSTs the given batch bodies with `clients` concurrent connections.
async fn ingest(
    base: &str,
    api_key: &str,
    bodies: Vec<String>,
    clients: usize,
    keep_ids: bool,
) -> IngestReport {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/v1/callbacks/batch");
    let auth = format!("Bearer {api_key}");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, url, auth) = (bodies.clone(), next.clone(), url.clone(), auth.clone());
        tasks.push(tokio::spawn(async move {
            let http = client();
            let mut rep = IngestReport {
                latency: Some(Histogram::new(3).expect("histogram")),
                ..IngestReport::default()
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let t = Instant::now();
                let resp = http
                    .post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await;
                rep.requests += 1;
                match resp {
                    Ok(r) if r.status() == StatusCode::OK => {
                        let bytes = r.bytes().await.unwrap_or_default();
                        if let Some(h) = rep.latency.as_mut() {
                            let _ = h.record(t.elapsed().as_micros() as u64);
                        }
                        match serde_json::from_slice::<BatchResponse>(&bytes) {
                            Ok(b) => {
                                rep.created += b.created;
                                rep.failed += b.failed;
                                for r in b.results {
                                    if keep_ids && let Some(id) = r.id {
                                        rep.ids.push(id);
                                    }
                                    if rep.first_error.is_none()
                                        && let Some(e) = r.error
                                    {
                                        rep.first_error = Some(e.to_string());
                                    }
                                }
                            }
                            Err(e) => {
                                rep.errors += 1;
                                rep.first_error
                                    .get_or_insert(format!("bad batch answer: {e}"));
                            }
                        }
                    }
                    Ok(r) => {
                        rep.errors += 1;
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        rep.first_error.get_or_insert(format!("{status}: {text}"));
                    }
                    Err(e) => {
                        rep.errors += 1;
                        rep.first_error.get_or_insert(e.to_string());
                    }
                }
            }
            rep
        }));
    }
    let mut total = IngestReport {
        latency: Some(Histogram::new(3).expect("histogram")),
        ..IngestReport::default()
    };
    for t in tasks {
        let rep = t.await.expect("ingest task");
        total.created += rep.created;
        total.failed += rep.failed;
        total.requests += rep.requests;
        total.errors += rep.errors;
        total.ids.extend(rep.ids);
        if total.first_error.is_none() {
            total.first_error = rep.first_error;
        }
        if let (Some(a), Some(b)) = (total.latency.as_mut(), rep.latency.as_ref()) {
            let _ = a.add(b);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Batch bodies for `total` callbacks scheduled far in the future, numbered from `first`.
fn far_future_bodies(first: u64, total: u64) -> Vec<String> {
    let at = rfc3339(Timestamp::now() + SignedDuration::from_hours(24));
    let mut bodies = Vec::new();
    let mut n = first;
    let end = first + total;
    while n < end {
        let upto = (n + MAX_BATCH as u64).min(end);
        bodies.push(batch_body((n..upto).map(|i| item(i, &at))));
        n = upto;
    }
    bodies
}

// ---------------------------------------------------------------------------------------------
// Server metrics
// ---------------------------------------------------------------------------------------------

/// A Prometheus histogram read from /metrics.
struct PromHistogram {
    /// (upper bound, cumulative count)
    buckets: Vec<(f64, f64)>,
    count: f64,
    sum: f64,
}

impl PromHistogram {
    /// Reads the histogram `name` from the text exposition, summing series whose labels
    /// contain `filter`.
    fn parse(text: &str, name: &str, filter: &str) -> Option<Self> {
        let mut buckets: HashMap<String, f64> = HashMap::new();
        let (mut count, mut sum, mut seen) = (0.0, 0.0, false);
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if !series.contains(filter) {
                continue;
            }
            let labels = series.split_once('{').map_or("", |(_, l)| l);
            let metric = series.split('{').next().unwrap_or(series);
            if metric == format!("{name}_bucket") {
                let le = labels
                    .split("le=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                    .unwrap_or("+Inf")
                    .to_owned();
                *buckets.entry(le).or_default() += value;
                seen = true;
            } else if metric == format!("{name}_count") {
                count += value;
            } else if metric == format!("{name}_sum") {
                sum += value;
            }
        }
        if !seen {
            return None;
        }
        let mut buckets: Vec<(f64, f64)> = buckets
            .into_iter()
            .map(|(le, n)| (le.parse().unwrap_or(f64::INFINITY), n))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Self {
            buckets,
            count,
            sum,
        })
    }

    /// The upper bound of the bucket holding quantile `q`.
    fn quantile_bound(&self, q: f64) -> f64 {
        let want = q * self.count;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= want)
            .map_or(f64::INFINITY, |(le, _)| *le)
    }

    fn describe(&self) -> String {
        if self.count == 0.0 {
            return "no samples".to_owned();
        }
        let bound = |q| {
            let b = self.quantile_bound(q);
            if b.is_finite() {
                format!("<= {:.1} ms", b * 1e3)
            } else {
                "> last bucket".to_owned()
            }
        };
        format!(
            "n={} mean={:.2} ms p50 {} p99 {}",
            thousands(self.count),
            self.sum / self.count * 1e3,
            bound(0.5),
            bound(0.99)
        )
    }
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn print_server_histograms(text: &str, wanted: &[(&str, &str, &str)]) {
    let rows: Vec<Vec<String>> = wanted
        .iter()
        .map(|(label, name, filter)| {
            let d = PromHistogram::parse(text, name, filter)
                .map_or_else(|| "not reported".to_owned(), |h| h.describe());
            vec![(*label).to_owned(), d]
        })
        .collect();
    print_table(
        "Server-side histograms (from /metrics, bucket bounds)",
        &["histogram", "figures"],
        &rows,
    );
}

// ---------------------------------------------------------------------------------------------
// Scenario (a): single creates
// ---------------------------------------------------------------------------------------------

async fn scenario_single(settings: &Settings, summary: &mut Summary) {
    const CONNECTIONS: usize = 64;
    let duration = Duration::from_secs_f64((10.0 * settings.scale).max(2.0));
    println!(
        "\n# (a) Single creates: {CONNECTIONS} keep-alive connections POST /v1/callbacks for {:.0} s",
        duration.as_secs_f64()
    );
    let http = client();
    let mut dep = Deployment::create(None, settings);
    dep.start(&http).await;
    let url = format!("{}/v1/callbacks", dep.base());
    let auth = format!("Bearer {}", dep.api_key);
    let at = rfc3339(Timestamp::now() + SignedDuration::from_hours(24));

    // Open every connection first, so the timed part measures steady state.
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        let c = client();
        let _ = c.get(format!("{}/healthz", dep.base())).send().await;
        clients.push(c);
    }
    let cpu0 = dep.cpu();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (w, http) in clients.into_iter().enumerate() {
        let (url, auth, at) = (url.clone(), auth.clone(), at.clone());
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new(3).expect("histogram");
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut first_error = None;
            let mut n = w as u64 * 1_000_000;
            while Instant::now() < deadline {
                let body = item(n, &at);
                n += 1;
                let t = Instant::now();
                let resp = http
                    .post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let _ = r.bytes().await;
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                        ok += 1;
                    }
                    Ok(r) => {
                        failed += 1;
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        first_error.get_or_insert(format!("{status}: {text}"));
                    }
                    Err(e) => {
                        failed += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (hist, ok, failed, first_error)
        }));
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut first_error = None;
    for t in tasks {
        let (h, o, f, e) = t.await.expect("worker");
        let _ = hist.add(&h);
        ok += o;
        failed += f;
        if first_error.is_none() {
            first_error = e;
        }
    }
    let elapsed = started.elapsed();
    let cpu = CpuUse::between(cpu0, dep.cpu());
    let rate = ok as f64 / elapsed.as_secs_f64();
    let mem = dep.memory();
    let metrics = scrape(&http, dep.base()).await;
    print_table(
        "(a) Single creates",
        &[
            "created",
            "failed",
            "elapsed",
            "creates/s",
            "p50",
            "p90",
            "p99",
            "max",
            "server RSS / peak",
            "CPU cores server / bench / other",
        ],
        &[row(&[
            &thousands(ok as f64),
            &failed,
            &ms(elapsed),
            &thousands(rate),
            &us_as_ms(hist.value_at_quantile(0.5)),
            &us_as_ms(hist.value_at_quantile(0.9)),
            &us_as_ms(hist.value_at_quantile(0.99)),
            &us_as_ms(hist.max()),
            &format!("{} / {}", mb(mem.rss_kb), mb(mem.hwm_kb)),
            &cpu,
        ])],
    );
    if let Some(e) = first_error {
        println!("first error: {e}");
    }
    print_server_histograms(
        &metrics,
        &[(
            "HTTP POST /v1/callbacks (server time)",
            "ringback_http_request_duration_seconds",
            "route=\"/v1/callbacks\"",
        )],
    );
    summary.target(
        "single",
        "creates/s (64 connections)",
        thousands(rate),
        ">= 10,000/s",
        rate >= 10_000.0,
    );
    summary.add(
        "single",
        "latency p50 / p99",
        format!(
            "{} / {}",
            us_as_ms(hist.value_at_quantile(0.5)),
            us_as_ms(hist.value_at_quantile(0.99))
        ),
    );
    summary.add(
        "single",
        "CPU cores server / bench / other",
        cpu.to_string(),
    );
    if failed > 0 {
        summary.add("single", "failed requests", failed.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario (b): batch ingest
// ---------------------------------------------------------------------------------------------

async fn scenario_batch(settings: &Settings, summary: &mut Summary) {
    const CLIENTS: usize = 4;
    let total = settings.count(500_000);
    println!(
        "\n# (b) Batch ingest: {} callbacks, {MAX_BATCH} per request, {CLIENTS} clients",
        thousands(total as f64)
    );
    let http = client();
    let mut dep = Deployment::create(None, settings);
    dep.start(&http).await;
    let before = dep.memory();
    // Bodies are built before the clock starts: the client should not compete for the CPU.
    let bodies = far_future_bodies(0, total);
    let cpu0 = dep.cpu();
    let rep = ingest(dep.base(), &dep.api_key, bodies, CLIENTS, false).await;
    let cpu = CpuUse::between(cpu0, dep.cpu());
    let rate = rep.created as f64 / rep.elapsed.as_secs_f64();
    let mem = dep.memory();
    let metrics = scrape(&http, dep.base()).await;
    let lat = rep.latency.as_ref().expect("histogram");
    print_table(
        "(b) Batch ingest",
        &[
            "created",
            "failed",
            "requests",
            "errors",
            "elapsed",
            "callbacks/s",
            "request p50",
            "request p99",
            "RSS before",
            "RSS after / peak",
            "db size",
            "CPU cores server / bench / other",
        ],
        &[row(&[
            &thousands(rep.created as f64),
            &rep.failed,
            &rep.requests,
            &rep.errors,
            &ms(rep.elapsed),
            &thousands(rate),
            &us_as_ms(lat.value_at_quantile(0.5)),
            &us_as_ms(lat.value_at_quantile(0.99)),
            &mb(before.rss_kb),
            &format!("{} / {}", mb(mem.rss_kb), mb(mem.hwm_kb)),
            &mb(dep.db_size() / 1024),
            &cpu,
        ])],
    );
    if let Some(e) = &rep.first_error {
        println!("first error: {e}");
    }
    print_server_histograms(
        &metrics,
        &[(
            "HTTP POST /v1/callbacks/batch (server time)",
            "ringback_http_request_duration_seconds",
            "route=\"/v1/callbacks/batch\"",
        )],
    );
    summary.target(
        "batch",
        "callbacks/s (1,000 per request)",
        thousands(rate),
        ">= 200,000/s",
        rate >= 200_000.0,
    );
    summary.add(
        "batch",
        "server RSS after ingest (peak)",
        format!("{} ({})", mb(mem.rss_kb), mb(mem.hwm_kb)),
    );
    summary.add("batch", "CPU cores server / bench / other", cpu.to_string());
    if rep.failed + rep.errors > 0 {
        summary.add(
            "batch",
            "failed items / failed requests",
            format!("{} / {}", rep.failed, rep.errors),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario (c): lateness
// ---------------------------------------------------------------------------------------------

async fn scenario_lateness(settings: &Settings, summary: &mut Summary) {
    const CLIENTS: usize = 4;
    const WINDOW: Duration = Duration::from_secs(10);
    let total = settings.count(100_000);
    println!(
        "\n# (c) Lateness: {} callbacks due uniformly within {} s; the bridge answers 200 at once",
        thousands(total as f64),
        WINDOW.as_secs()
    );
    let http = client();
    let bridge = Bridge::start().await;
    let mut dep = Deployment::create(Some(bridge.url.clone()), settings);
    dep.start(&http).await;

    // The window opens a few seconds after the enqueue is expected to end (assuming a slow
    // 8,000 callbacks/s), so every item passes the 1 s minimum lead time and the enqueue is
    // over before the first callback falls due.
    let lead = Duration::from_secs(3) + Duration::from_secs_f64(total as f64 / 8_000.0);
    let window_start = Timestamp::now() + SignedDuration::try_from(lead).expect("small");
    let step_us = WINDOW.as_micros() as f64 / total as f64;
    let due = |i: u64| {
        let offset = SignedDuration::from_micros((i as f64 * step_us) as i64);
        window_start + offset
    };
    let mut bodies = Vec::new();
    let mut n = 0;
    while n < total {
        let upto = (n + MAX_BATCH as u64).min(total);
        bodies.push(batch_body(
            (n..upto).map(|i| unattended_item(i, &rfc3339(due(i)))),
        ));
        n = upto;
    }
    let rep = ingest(dep.base(), &dep.api_key, bodies, CLIENTS, true).await;
    let enqueued_at = Timestamp::now();
    let cpu0 = dep.cpu();
    let storage0 = dep.storage().await;
    let slack = window_start.duration_since(enqueued_at);
    println!(
        "enqueued {} (failed {}, request errors {}) in {}; window opens {:.2} s later",
        thousands(rep.created as f64),
        rep.failed,
        rep.errors,
        ms(rep.elapsed),
        slack.as_secs_f64()
    );
    if let Some(e) = &rep.first_error {
        println!("first error: {e}");
    }
    let expected: HashSet<String> = rep.ids.into_iter().collect();
    let window_end = due(total - 1);

    // Wait for every callback, then a little longer to catch duplicates.
    let give_up = window_end + SignedDuration::from_secs(120);
    loop {
        let got = bridge.log.count.load(Ordering::Relaxed);
        if got >= expected.len() as u64 || Timestamp::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu = CpuUse::between(cpu0, dep.cpu());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let metrics = scrape(&http, dep.base()).await;
    let mem = dep.memory();
    let storage1 = dep.storage().await;

    let receipts = std::mem::take(&mut *bridge.log.receipts.lock().expect("lock"));
    let mut per_id: HashMap<&str, u32> = HashMap::with_capacity(receipts.len());
    let mut keys: HashSet<&str> = HashSet::with_capacity(receipts.len());
    let mut hist = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("histogram");
    let (mut early, mut last_received) = (0u64, i64::MIN);
    for r in &receipts {
        *per_id.entry(r.callback_id.as_str()).or_default() += 1;
        keys.insert(r.idempotency_key.as_str());
        if r.lateness_us < 0 {
            early += 1;
        }
        let _ = hist.record((r.lateness_us.max(1) as u64).min(600_000_000));
        last_received = last_received.max(r.received_us);
    }
    let duplicates: u64 = per_id.values().map(|n| u64::from(n - 1)).sum();
    let missing = expected
        .iter()
        .filter(|id| !per_id.contains_key(id.as_str()))
        .count();
    let unexpected = per_id.keys().filter(|id| !expected.contains(**id)).count();
    let drain_ms = if last_received == i64::MIN {
        f64::NAN
    } else {
        (last_received - window_end.as_microsecond()) as f64 / 1e3
    };
    let p = |q: f64| us_as_ms(hist.value_at_quantile(q));
    print_table(
        "(c) Lateness (bridge receipt time minus due_at)",
        &[
            "enqueued",
            "received",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
            "early",
            "last receipt after last due_at",
            "server RSS / peak",
            "CPU cores server / bench / other",
        ],
        &[row(&[
            &thousands(expected.len() as f64),
            &thousands(receipts.len() as f64),
            &p(0.5),
            &p(0.9),
            &p(0.99),
            &p(0.999),
            &us_as_ms(hist.max()),
            &early,
            &format!("{drain_ms:.1} ms"),
            &format!("{} / {}", mb(mem.rss_kb), mb(mem.hwm_kb)),
            &cpu,
        ])],
    );
    print_table(
        "(c) Exactly once",
        &[
            "distinct ids received",
            "duplicates",
            "missing",
            "unknown ids",
            "distinct idempotency keys",
            "unparseable dispatches",
        ],
        &[row(&[
            &thousands(per_id.len() as f64),
            &duplicates,
            &missing,
            &unexpected,
            &thousands(keys.len() as f64),
            &bridge.log.bad.load(Ordering::Relaxed),
        ])],
    );
    print_server_histograms(
        &metrics,
        &[
            (
                "ringback_dispatch_lateness_seconds (at dispatch start)",
                "ringback_dispatch_lateness_seconds",
                "",
            ),
            (
                "ringback_claim_duration_seconds",
                "ringback_claim_duration_seconds",
                "",
            ),
        ],
    );
    let p99_ms = hist.value_at_quantile(0.99) as f64 / 1e3;
    summary.target(
        "lateness",
        &format!(
            "p99 lateness ({} due in {} s)",
            thousands(total as f64),
            WINDOW.as_secs()
        ),
        p(0.99),
        "<= 50 ms",
        p99_ms <= 50.0,
    );
    summary.add(
        "lateness",
        "p50 / max lateness",
        format!("{} / {}", p(0.5), us_as_ms(hist.max())),
    );
    summary.add(
        "lateness",
        "last receipt after last due_at",
        format!("{drain_ms:.1} ms"),
    );
    summary.add(
        "lateness",
        "CPU cores server / bench / other (window + drain)",
        cpu.to_string(),
    );
    // What each dispatched callback cost: server CPU over the window and the drain, and on
    // SQLite what the database grew by and what its two events hold.
    let dispatched = receipts.len().max(1) as f64;
    let server_us = cpu.server_seconds * 1e6 / dispatched;
    summary.add(
        "lateness",
        "server CPU per dispatched callback",
        format!("{server_us:.0} µs"),
    );
    if let (Some(before), Some(after)) = (storage0, storage1) {
        summary.add(
            "lateness",
            "database growth / dispatch events per dispatched callback (SQLite)",
            format!(
                "{:.0} B / {:.0} B",
                (after.bytes - before.bytes) as f64 / dispatched,
                after.dispatch_event_bytes as f64 / dispatched
            ),
        );
    }
    summary.target(
        "lateness",
        "exactly once (duplicates / missing)",
        format!("{duplicates} / {missing}"),
        "0 / 0",
        duplicates == 0 && missing == 0 && rep.failed == 0 && rep.errors == 0,
    );
}

/// What a SQLite database holds ([`Deployment::storage`]).
#[derive(Debug, Clone, Copy)]
struct Storage {
    bytes: i64,
    dispatch_event_bytes: i64,
}

// ---------------------------------------------------------------------------------------------
// Scenario (d): one million pending
// ---------------------------------------------------------------------------------------------

async fn timed_get(http: &reqwest::Client, url: &str, auth: &str) -> (Duration, String) {
    let t = Instant::now();
    let resp = http
        .get(url)
        .header("authorization", auth)
        .send()
        .await
        .expect("GET");
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "GET {url}: {status} {body}");
    (t.elapsed(), body)
}

/// Signs a supervisor in to the Callback Manager and times pages of its list: several pages of
/// each order and filter, following the cursor. The flag says whether the read counts towards
/// the 200 ms target (all of them do).
async fn callback_manager_reads(
    http: &reqwest::Client,
    dep: &Deployment,
) -> Vec<(String, Duration, bool)> {
    let password = "bench password 1";
    let out = Command::new(SERVER_BIN)
        .args(["users", "create", "--account", &dep.account_id])
        .args(["--email", "bench@example.com", "--role", "supervisor"])
        .arg("--database-url")
        .arg(&dep.db_url)
        .env("RINGBACK_SECRET_KEY_FILE", key_file(dep.dir.path()))
        .env("RINGBACK_USER_PASSWORD", password)
        .output()
        .expect("can run `ringback users create`");
    assert!(
        out.status.success(),
        "`ringback users create` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = http
        .post(format!("{}/ui/api/session", dep.base()))
        .json(&serde_json::json!({ "email": "bench@example.com", "password": password }))
        .send()
        .await
        .expect("sign in");
    assert!(resp.status().is_success(), "sign-in: {}", resp.status());
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .expect("a cookie")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    let day = rfc3339(Timestamp::now() + SignedDuration::from_hours(23));
    let next_day = rfc3339(Timestamp::now() + SignedDuration::from_hours(48));
    let queries: [(&str, String, bool); 8] = [
        ("newest first", String::new(), true),
        ("by scheduled time", "sort=scheduled_asc".into(), true),
        (
            "scheduled, latest first",
            "sort=scheduled_desc".into(),
            true,
        ),
        ("status=scheduled", "status=scheduled".into(), true),
        (
            "origin=api, oldest first",
            "origin=api&sort=created_asc".into(),
            true,
        ),
        (
            "date range, by scheduled time",
            format!("from={day}&to={next_day}&sort=scheduled_asc"),
            true,
        ),
        ("phone=+1415200 (prefix)", "phone=%2B1415200".into(), true),
        (
            "agent filter (nobody assigned)",
            "agent=agt_01J00000000000000000000000".into(),
            true,
        ),
    ];
    let mut reads = Vec::new();
    for (label, query, indexed) in queries {
        let mut cursor: Option<String> = None;
        for page in 1..=3 {
            let mut url = format!("{}/ui/api/callbacks?limit=50&{query}", dep.base());
            if let Some(c) = &cursor {
                url.push_str("&cursor=");
                url.push_str(c);
            }
            let t = Instant::now();
            let resp = http
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .expect("GET");
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            let took = t.elapsed();
            assert!(status.is_success(), "GET {url}: {status} {body}");
            #[derive(Deserialize)]
            struct Page {
                next_cursor: Option<String>,
            }
            cursor = serde_json::from_str::<Page>(&body)
                .ok()
                .and_then(|p| p.next_cursor);
            reads.push((
                format!("GET /ui/api/callbacks {label} (page {page})"),
                took,
                indexed,
            ));
            if cursor.is_none() {
                break;
            }
        }
    }
    reads
}

async fn scenario_pending(settings: &Settings, summary: &mut Summary) {
    const CLIENTS: usize = 4;
    let total = settings.count(1_000_000);
    println!(
        "\n# (d) {} pending callbacks: ingest, restart, start-up time and memory",
        thousands(total as f64)
    );
    let http = client();
    let mut dep = Deployment::create(None, settings);
    dep.start(&http).await;
    // Generated in chunks so the client never holds a million bodies at once.
    let mut created = 0;
    let mut failed = 0;
    let mut elapsed = Duration::ZERO;
    let chunk = 100_000;
    let mut n = 0;
    let cpu0 = dep.cpu();
    while n < total {
        let upto = (n + chunk).min(total);
        let bodies = far_future_bodies(n, upto - n);
        let rep = ingest(dep.base(), &dep.api_key, bodies, CLIENTS, false).await;
        created += rep.created;
        failed += rep.failed + rep.errors;
        elapsed += rep.elapsed;
        if let Some(e) = &rep.first_error {
            println!("first error: {e}");
        }
        n = upto;
    }
    let ingest_mem = dep.memory();
    let cpu = CpuUse::between(cpu0, dep.cpu());
    let stop = dep.stop();
    let db_size = dep.db_size();
    print_table(
        "(d) Ingest",
        &[
            "created",
            "failed",
            "ingest time",
            "callbacks/s",
            "server RSS / peak after ingest",
            "graceful stop",
            "db size",
            "CPU cores server / bench / other",
        ],
        &[row(&[
            &thousands(created as f64),
            &failed,
            &ms(elapsed),
            &thousands(created as f64 / elapsed.as_secs_f64()),
            &format!("{} / {}", mb(ingest_mem.rss_kb), mb(ingest_mem.hwm_kb)),
            &ms(stop),
            &mb(db_size / 1024),
            &cpu,
        ])],
    );

    // Restart on the full database.
    let startup = dep.start(&http).await;
    let after_start = dep.memory();
    let auth = format!("Bearer {}", dep.api_key);
    let mut reads = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 1..=5 {
        let mut url = format!("{}/v1/callbacks?limit=50", dep.base());
        if let Some(c) = &cursor {
            url.push_str("&cursor=");
            url.push_str(c);
        }
        let (took, body) = timed_get(&http, &url, &auth).await;
        #[derive(Deserialize)]
        struct Page {
            next_cursor: Option<String>,
        }
        cursor = serde_json::from_str::<Page>(&body)
            .ok()
            .and_then(|p| p.next_cursor);
        reads.push((format!("GET /v1/callbacks?limit=50 (page {page})"), took));
    }
    let (took, _) = timed_get(
        &http,
        &format!("{}/v1/callbacks?limit=50&status=scheduled", dep.base()),
        &auth,
    )
    .await;
    reads.push((
        "GET /v1/callbacks?limit=50&status=scheduled".to_owned(),
        took,
    ));
    let (took, _) = timed_get(&http, &format!("{}/metrics", dep.base()), &auth).await;
    reads.push(("GET /metrics".to_owned(), took));
    let ui_reads = callback_manager_reads(&http, &dep).await;
    let after_reads = dep.memory();

    // And once more after a crash (SIGKILL: no clean close of the database).
    dep.crash();
    let startup_after_crash = dep.start(&http).await;
    let after_crash = dep.memory();
    let (first_read, _) = timed_get(
        &http,
        &format!("{}/v1/callbacks?limit=50", dep.base()),
        &auth,
    )
    .await;

    print_table(
        "(d) Restart with the pending callbacks",
        &["step", "time", "server RSS", "server peak RSS (VmHWM)"],
        &[
            row(&[
                &"start-up after SIGTERM (spawn to /readyz 200)",
                &ms(startup),
                &mb(after_start.rss_kb),
                &mb(after_start.hwm_kb),
            ]),
            row(&[
                &"after the API reads below",
                &"",
                &mb(after_reads.rss_kb),
                &mb(after_reads.hwm_kb),
            ]),
            row(&[
                &"start-up after SIGKILL (spawn to /readyz 200)",
                &ms(startup_after_crash),
                &mb(after_crash.rss_kb),
                &mb(after_crash.hwm_kb),
            ]),
        ],
    );
    reads.push((
        "GET /v1/callbacks?limit=50 (after the crash restart)".to_owned(),
        first_read,
    ));
    print_table(
        "(d) API reads on the restarted server",
        &["request", "time"],
        &reads
            .iter()
            .map(|(what, took)| row(&[what, &ms(*took)]))
            .collect::<Vec<_>>(),
    );
    summary.add(
        "pending",
        "batch ingest of the pending set (CPU server / bench / other)",
        format!(
            "{}/s ({cpu})",
            thousands(created as f64 / elapsed.as_secs_f64())
        ),
    );
    summary.target(
        "pending",
        &format!("start-up with {} pending", thousands(total as f64)),
        ms(startup),
        "<= 2 s",
        startup <= Duration::from_secs(2),
    );
    print_table(
        "(d) Callback Manager list pages on the restarted server (signed-in supervisor)",
        &["request", "time"],
        &ui_reads
            .iter()
            .map(|(what, took, _)| row(&[what, &ms(*took)]))
            .collect::<Vec<_>>(),
    );
    let worst = ui_reads
        .iter()
        .filter(|(_, _, indexed)| *indexed)
        .map(|(_, took, _)| *took)
        .max()
        .unwrap_or_default();
    summary.target(
        "pending",
        &format!(
            "slowest Callback Manager list page with {} callbacks (indexed filters and sorts)",
            thousands(total as f64)
        ),
        ms(worst),
        "< 200 ms",
        worst < Duration::from_millis(200),
    );
    summary.add("pending", "start-up after SIGKILL", ms(startup_after_crash));
    let peak = after_reads.hwm_kb.max(after_start.hwm_kb);
    summary.target(
        "pending",
        "peak RSS after start-up and reads",
        mb(peak),
        "<= 300 MB",
        peak <= 300 * 1024,
    );
    summary.add(
        "pending",
        "peak RSS of the server during ingest",
        mb(ingest_mem.hwm_kb),
    );
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// (e) Webhooks
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct HookLog {
    /// Receipt time minus the event's `timestamp`, microseconds.
    latencies_us: Mutex<Vec<i64>>,
    /// Receipt times, microseconds since the epoch.
    received_us: Mutex<Vec<i64>>,
    ids: Mutex<HashSet<String>>,
}

#[derive(Deserialize)]
struct HookBody {
    id: String,
    timestamp: Timestamp,
}

async fn hook(State(log): State<Arc<HookLog>>, body: Bytes) -> StatusCode {
    let now = Timestamp::now();
    if let Ok(h) = serde_json::from_slice::<HookBody>(&body) {
        let lock =
            |m: &Mutex<Vec<i64>>, v: i64| m.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        lock(
            &log.latencies_us,
            now.as_microsecond() - h.timestamp.as_microsecond(),
        );
        lock(&log.received_us, now.as_microsecond());
        log.ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(h.id);
    }
    StatusCode::OK
}

/// Webhook deliveries: sustained rate for a burst of events, and the latency from state change
/// to receipt at a steady pace.
async fn scenario_webhooks(settings: &Settings, summary: &mut Summary) {
    let burst = settings.count(50_000);
    let steady_rate = 500u64;
    let steady_secs = settings.count(10).max(2);
    println!(
        "\n# (e) Webhooks: a burst of {} callback.created events, then {steady_rate} state changes/s for {steady_secs} s",
        thousands(burst as f64)
    );
    let http = client();
    let log = Arc::new(HookLog::default());
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(log.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("bound");
    let receiver = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut settings_args = settings.server_args.clone();
    settings_args.push("--allow-private-webhooks".to_owned());
    let mut dep = Deployment::create(None, settings);
    dep.extra_args = settings_args;
    dep.start(&http).await;
    let auth = format!("Bearer {}", dep.api_key);
    let resp = http
        .post(format!("{}/v1/webhook-endpoints", dep.base()))
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"url":"http://{addr}/hook","event_types":["callback.created"]}}"#
        ))
        .send()
        .await
        .expect("endpoint created");
    assert_eq!(resp.status(), 201, "creating the endpoint failed");

    // Burst: events written as fast as batch ingest goes; how fast do deliveries drain?
    let far = rfc3339(Timestamp::now() + SignedDuration::from_hours(24));
    let mut bodies = Vec::new();
    let mut n = 0;
    while n < burst {
        let upto = (n + MAX_BATCH as u64).min(burst);
        bodies.push(batch_body((n..upto).map(|i| item(i, &far))));
        n = upto;
    }
    let started = Instant::now();
    let rep = ingest(dep.base(), &dep.api_key, bodies, 4, false).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (log.ids.lock().unwrap().len() as u64) < rep.created && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = started.elapsed();
    let received: Vec<i64> = log.received_us.lock().unwrap().clone();
    let (first, last) = (
        received.iter().min().copied().unwrap_or(0),
        received.iter().max().copied().unwrap_or(0),
    );
    let span = Duration::from_micros((last - first).max(1) as u64);
    let rate = received.len() as f64 / span.as_secs_f64();
    let delivered = log.ids.lock().unwrap().len();
    println!(
        "burst: {} events written in {}, {} delivered, all by {} after the first write; {}/s while delivering",
        thousands(rep.created as f64),
        ms(rep.elapsed),
        thousands(delivered as f64),
        ms(drained),
        thousands(rate)
    );

    // Steady: one create every 2 ms; latency from the event's time to receipt.
    log.latencies_us.lock().unwrap().clear();
    let before = log.ids.lock().unwrap().len();
    let total = steady_rate * steady_secs;
    let period = Duration::from_micros(1_000_000 / steady_rate);
    let url = format!("{}/v1/callbacks", dep.base());
    let mut ticker = tokio::time::interval(period);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        ticker.tick().await;
        let http = http.clone();
        let url = url.clone();
        let auth = auth.clone();
        let body = item(burst + i, &far);
        tasks.push(tokio::spawn(async move {
            let _ = http
                .post(url)
                .header("authorization", auth)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while log.ids.lock().unwrap().len() < before + total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut hist = Histogram::<u64>::new(3).expect("histogram");
    for us in log.latencies_us.lock().unwrap().iter() {
        let _ = hist.record((*us).max(0) as u64);
    }
    let p = |q: f64| us_as_ms(hist.value_at_quantile(q));
    print_table(
        "(e) Webhooks",
        &[
            "burst events",
            "delivered/s",
            "steady events",
            "received",
            "p50",
            "p99",
            "max",
        ],
        &[row(&[
            &thousands(rep.created as f64),
            &thousands(rate),
            &thousands(total as f64),
            &thousands(hist.len() as f64),
            &p(0.5),
            &p(0.99),
            &us_as_ms(hist.max()),
        ])],
    );
    summary.target(
        "webhooks",
        "sustained deliveries/s (burst)",
        thousands(rate),
        ">= 5,000/s",
        rate >= 5_000.0,
    );
    let p99_ms = hist.value_at_quantile(0.99) as f64 / 1000.0;
    summary.target(
        "webhooks",
        &format!("p99 state change to receipt ({steady_rate}/s)"),
        p(0.99),
        "<= 100 ms",
        p99_ms <= 100.0,
    );
    summary.add(
        "webhooks",
        "delivered (burst + steady) / written",
        format!(
            "{} / {}",
            thousands(log.ids.lock().unwrap().len() as f64),
            thousands((rep.created + total) as f64)
        ),
    );
    drop(dep);
    receiver.abort();
}

// ---------------------------------------------------------------------------------------------
// (f) Routing preview callbacks to agents
// ---------------------------------------------------------------------------------------------

/// Reads Server-Sent Events from a response, one `(event, data)` at a time.
struct SseReader {
    resp: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut event, mut data) = (None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(event) = event {
                    return Some((event, serde_json::from_str(&data).unwrap_or_default()));
                }
                continue;
            }
            let chunk = self.resp.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The id of the callback in the next `offer`.
    async fn next_offer(&mut self) -> Option<String> {
        loop {
            let (event, data) = self.next().await?;
            if event == "offer" {
                return data["callback"]["id"].as_str().map(str::to_owned);
            }
        }
    }
}

async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    auth: &str,
    body: String,
) -> serde_json::Value {
    let resp = http
        .request(method, url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or_default()
}

async fn scenario_routing(settings: &Settings, summary: &mut Summary) {
    let agents = settings.count(1_000).max(2) as usize;
    let callbacks = settings.count(100_000).max(agents as u64 * 2);
    let queues = 10.min(agents);
    let skilled = std::env::var("RINGBACK_BENCH_ROUTING_SKILLS").is_ok_and(|v| v == "1");
    println!(
        "\n# (f) Routing: {} agents in {queues} queues, {} preview callbacks due{}",
        thousands(agents as f64),
        thousands(callbacks as f64),
        if skilled {
            ", with priorities and 10 skills"
        } else {
            ""
        }
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .pool_max_idle_per_host(4 * agents)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(600))
        .build()
        .expect("an HTTP client");
    let mut dep = Deployment::create(None, settings);
    dep.start(&http).await;
    let base = dep.base().to_owned();
    let auth = format!("Bearer {}", dep.api_key);

    // Queues whose offers stand long (agents answer when the scenario says), and their agents.
    let mut queue_ids = Vec::new();
    for q in 0..queues {
        let queue = send_json(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/queues"),
            &auth,
            if skilled {
                format!(
                    r#"{{"name":"Queue {q}","offer_timeout_seconds":600,"priority_aging_per_minute":1,"skill_relax_after_seconds":600}}"#
                )
            } else {
                format!(r#"{{"name":"Queue {q}","offer_timeout_seconds":600}}"#)
            },
        )
        .await;
        queue_ids.push(queue["id"].as_str().expect("a queue id").to_owned());
    }
    let mut agent_ids = Vec::new();
    for a in 0..agents {
        let agent = send_json(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/agents"),
            &auth,
            if skilled {
                // The queue's own skill at a level 1 to 5, and another at 3.
                format!(
                    r#"{{"name":"Agent {a}","queue_ids":["{}"],"skills":{{"skill{}":{},"skill{}":3}}}}"#,
                    queue_ids[a % queues],
                    a % queues,
                    1 + (a / queues) % 5,
                    (a % queues + 3) % 10,
                )
            } else {
                format!(
                    r#"{{"name":"Agent {a}","queue_ids":["{}"]}}"#,
                    queue_ids[a % queues]
                )
            },
        )
        .await;
        agent_ids.push(agent["id"].as_str().expect("an agent id").to_owned());
    }

    // The callbacks, due over one second a minute from now (storing them takes 20 to 40 s),
    // spread over the queues.
    let due = Timestamp::now() + SignedDuration::from_secs(60);
    let mut bodies = Vec::new();
    let mut n = 0;
    while n < callbacks {
        let upto = (n + MAX_BATCH as u64).min(callbacks);
        bodies.push(batch_body((n..upto).map(|i| {
            let at = rfc3339(due + SignedDuration::from_millis((i * 1000 / callbacks) as i64));
            let q = i as usize % queues;
            // A priority 0 to 100, and (two in three) the queue's skill at a level 1 to 5.
            let routing = match (skilled, i % 3) {
                (false, _) => String::new(),
                (true, 0) => format!(r#","priority":{}"#, (i * 37) % 101),
                (true, _) => format!(
                    r#","priority":{},"skills":{{"skill{q}":{}}}"#,
                    (i * 37) % 101,
                    1 + (i / 3) % 5
                ),
            };
            format!(
                r#"{{"phone":"{}","scheduled_at":"{at}","dialing_mode":"preview","allow_duplicate":true,"assignment":{{"type":"queue","ids":["{}"]}}{routing}}}"#,
                phone(i),
                queue_ids[q]
            )
        })));
        n = upto;
    }
    let rep = ingest(&base, &dep.api_key, bodies, 4, true).await;
    assert_eq!(
        rep.created, callbacks,
        "every callback stored: {:?}",
        rep.first_error
    );
    let last = rep.ids.last().cloned().expect("ids kept");
    let started = Instant::now();
    loop {
        let cb = send_json(
            &http,
            reqwest::Method::GET,
            format!("{base}/v1/callbacks/{last}"),
            &auth,
            String::new(),
        )
        .await;
        if cb["status"] == "waiting" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "callbacks never joined the line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let line_up = Timestamp::now().duration_since(due);
    println!(
        "{} callbacks stored in {}; all waiting {} after the first was due",
        thousands(callbacks as f64),
        ms(rep.elapsed),
        ms(line_up.unsigned_abs())
    );

    // Every agent's desktop connects, then the agents become available one by one.
    let mut readers = Vec::with_capacity(agents);
    for id in &agent_ids {
        let resp = http
            .get(format!("{base}/v1/agents/{id}/events"))
            .header("authorization", &auth)
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(resp.status(), 200);
        readers.push(SseReader {
            resp,
            buffer: String::new(),
        });
    }
    let stagger = Duration::from_micros(10_000_000 / agents as u64);
    let first_offer = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let next_offer = Arc::new(Mutex::new(Histogram::<u64>::new(3).expect("histogram")));
    let offers = Arc::new(AtomicU64::new(0));
    let churn_start = Instant::now() + stagger * agents as u32 + Duration::from_secs(1);
    let churn_for = Duration::from_secs(10);
    let mut tasks = Vec::with_capacity(agents);
    for (i, (id, mut reader)) in agent_ids.iter().cloned().zip(readers).enumerate() {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        let (first_offer, next_offer, offers) =
            (first_offer.clone(), next_offer.clone(), offers.clone());
        let at = Instant::now() + stagger * i as u32;
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            let asked = Instant::now();
            send_json(
                &http,
                reqwest::Method::PUT,
                format!("{base}/v1/agents/{id}/presence"),
                &auth,
                r#"{"presence":"available"}"#.to_owned(),
            )
            .await;
            let mut held = reader.next_offer().await.expect("an offer");
            let _ = first_offer
                .lock()
                .unwrap()
                .record(asked.elapsed().as_micros() as u64);
            // Then work: accept, complete, and time the next offer.
            tokio::time::sleep_until(churn_start.into()).await;
            while churn_start.elapsed() < churn_for {
                let url = format!("{base}/v1/agents/{id}/callbacks/{held}");
                send_json(
                    &http,
                    reqwest::Method::POST,
                    format!("{url}/accept"),
                    &auth,
                    "{}".into(),
                )
                .await;
                send_json(
                    &http,
                    reqwest::Method::POST,
                    format!("{url}/complete"),
                    &auth,
                    r#"{"outcome":"answered"}"#.to_owned(),
                )
                .await;
                let freed = Instant::now();
                let Some(next) = reader.next_offer().await else {
                    break;
                };
                if churn_start.elapsed() < churn_for {
                    offers.fetch_add(1, Ordering::Relaxed);
                    let _ = next_offer
                        .lock()
                        .unwrap()
                        .record(freed.elapsed().as_micros() as u64);
                }
                held = next;
            }
        }));
    }
    let cpu = dep.cpu();
    for t in tasks {
        t.await.expect("an agent task");
    }
    let cpu = CpuUse::between(cpu, dep.cpu());
    let first = first_offer.lock().unwrap().clone();
    let next = next_offer.lock().unwrap().clone();
    let rate = offers.load(Ordering::Relaxed) as f64 / churn_for.as_secs_f64();
    let q = |h: &Histogram<u64>, q: f64| us_as_ms(h.value_at_quantile(q));
    print_table(
        "(f) Routing",
        &["measure", "count", "p50", "p99", "max"],
        &[
            row(&[
                &"available -> first offer (agents joining one by one)",
                &thousands(first.len() as f64),
                &q(&first, 0.5),
                &q(&first, 0.99),
                &us_as_ms(first.max()),
            ]),
            row(&[
                &"call completed -> next offer (all agents working)",
                &thousands(next.len() as f64),
                &q(&next, 0.5),
                &q(&next, 0.99),
                &us_as_ms(next.max()),
            ]),
        ],
    );
    println!(
        "offers while all agents worked: {}/s; cores busy (server / bench / other): {cpu}",
        thousands(rate)
    );
    let p99_ms = first.value_at_quantile(0.99) as f64 / 1000.0;
    summary.target(
        "routing",
        "p99 available -> offer",
        q(&first, 0.99),
        "<= 50 ms",
        p99_ms <= 50.0,
    );
    summary.add(
        "routing",
        "offers/s (accept + complete + next offer loop)",
        thousands(rate),
    );
    summary.add(
        "routing",
        "p99 call completed -> next offer",
        q(&next, 0.99),
    );
    summary.add(
        "routing",
        "callbacks due -> all waiting in line",
        ms(line_up.unsigned_abs()),
    );
    drop(dep);
}

// ---------------------------------------------------------------------------------------------
// (g) Campaigns
// ---------------------------------------------------------------------------------------------

async fn scenario_campaign(settings: &Settings, summary: &mut Summary) {
    let contacts = settings.count(100_000);
    println!(
        "\n# (g) Campaign: {} contacts in one request, by CSV, then dialled",
        thousands(contacts as f64)
    );
    let http = client();
    let bridge = Bridge::start().await;
    let mut dep = Deployment::create(Some(bridge.url.clone()), settings);
    dep.start(&http).await;
    let base = dep.base().to_owned();
    let auth = format!("Bearer {}", dep.api_key);
    let playbook = send_json(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/playbooks"),
        &auth,
        r#"{"name":"Renewals","initial_message":"Hi {{ first_name }}, this is Acme about your renewal."}"#
            .to_owned(),
    )
    .await;
    let playbook = playbook["id"].as_str().expect("a playbook id").to_owned();

    // One request: the contacts inline, launched a day from now (stored, not dialled).
    let launch = rfc3339(Timestamp::now() + SignedDuration::from_hours(24));
    let mut body = format!(
        r#"{{"playbook_id":"{playbook}","launch_at":"{launch}","pacing":{{"calls_per_second":10000,"max_concurrent_calls":10000}},"contacts":["#
    );
    for i in 0..contacts {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(
            body,
            r#"{{"phone":"{}","first_name":"Customer {i}","company":"Bench Ltd"}}"#,
            phone(i)
        );
    }
    body.push_str("]}");
    let bytes = body.len();
    let started = Instant::now();
    let created = send_json(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/campaigns"),
        &auth,
        body,
    )
    .await;
    let one_request = started.elapsed();
    assert_eq!(created["contacts_total"], contacts, "{created}");
    println!(
        "one request ({:.1} MB): {} contacts in {}",
        bytes as f64 / 1e6,
        thousands(contacts as f64),
        ms(one_request)
    );

    // By CSV: other numbers imported as contacts (in parts under the ordinary body limit),
    // then a campaign naming their ids.
    let started = Instant::now();
    let mut imported = 0u64;
    let mut n = 0;
    while n < contacts {
        let upto = (n + 10_000).min(contacts);
        let mut part = String::from("phone,first_name,company\n");
        for i in n..upto {
            let _ = writeln!(part, "{},Customer {i},Bench Ltd", phone(contacts + i));
        }
        n = upto;
        let resp = http
            .post(format!("{base}/v1/contacts/import"))
            .header("authorization", &auth)
            .header("content-type", "text/csv")
            .body(part)
            .send()
            .await
            .expect("the import answers");
        assert!(resp.status().is_success(), "import: {}", resp.status());
        let report: serde_json::Value = resp.json().await.expect("an import report");
        imported += report["created"].as_u64().unwrap_or(0);
    }
    let import_took = started.elapsed();
    let mut ids = Vec::with_capacity(contacts as usize);
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}/v1/contacts?limit=200&cursor={c}"),
            None => format!("{base}/v1/contacts?limit=200"),
        };
        let page = send_json(&http, reqwest::Method::GET, url, &auth, String::new()).await;
        for c in page["data"].as_array().expect("contacts") {
            ids.push(c["id"].as_str().expect("an id").to_owned());
        }
        match page["next_cursor"].as_str() {
            // Newest first: the imported ones come first.
            Some(c) if ids.len() < contacts as usize => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    ids.truncate(contacts as usize);
    let mut body = format!(r#"{{"playbook_id":"{playbook}","launch_at":"{launch}","contacts":["#);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(body, r#""{id}""#);
    }
    body.push_str("]}");
    let started = Instant::now();
    let by_ids = send_json(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/campaigns"),
        &auth,
        body,
    )
    .await;
    let by_ids_took = started.elapsed();
    assert_eq!(by_ids["contacts_total"], ids.len() as u64);
    println!(
        "CSV: {} contacts imported in {}, campaign over their ids in {}",
        thousands(imported as f64),
        ms(import_took),
        ms(by_ids_took)
    );

    // Dispatch rate: a campaign launched now, paced far above what the bridge can take.
    // At most the campaign's max_concurrent_calls (10,000): the stand-in bridge never reports
    // an outcome, so every call it takes stays in progress.
    let dial = settings.count(10_000).min(10_000);
    let mut body = format!(
        r#"{{"playbook_id":"{playbook}","pacing":{{"calls_per_second":10000,"max_concurrent_calls":10000}},"contacts":["#
    );
    for i in 0..dial {
        if i > 0 {
            body.push(',');
        }
        let _ = write!(body, r#"{{"phone":"{}"}}"#, phone(2 * contacts + i));
    }
    body.push_str("]}");
    let before = bridge.log.count.load(Ordering::Relaxed);
    send_json(
        &http,
        reqwest::Method::POST,
        format!("{base}/v1/campaigns"),
        &auth,
        body,
    )
    .await;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    let mut first: Option<Instant> = None;
    while bridge.log.count.load(Ordering::Relaxed) < before + dial && Instant::now() < deadline {
        if first.is_none() && bridge.log.count.load(Ordering::Relaxed) > before {
            first = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dialled = bridge.log.count.load(Ordering::Relaxed) - before;
    // From the first call to the last one's arrival.
    let span = first.map_or(started.elapsed(), |f| f.elapsed());
    let rate = dialled as f64 / span.as_secs_f64().max(1e-3);
    print_table(
        "(g) Campaign",
        &["measure", "value"],
        &[
            row(&[
                &format!("{} contacts, one request", thousands(contacts as f64)),
                &ms(one_request),
            ]),
            row(&[
                &format!("{} contacts, CSV import", thousands(imported as f64)),
                &ms(import_took),
            ]),
            row(&[&"campaign over those contact ids", &ms(by_ids_took)]),
            row(&[
                &format!("{} calls to the bridge", thousands(dialled as f64)),
                &format!("{}/s", thousands(rate)),
            ]),
        ],
    );
    summary.target(
        "campaign",
        "contacts in one request",
        ms(one_request),
        "<= 3 s",
        one_request <= Duration::from_secs(3),
    );
    summary.target(
        "campaign",
        "contacts by CSV (import + launch)",
        ms(import_took + by_ids_took),
        "<= 3 s",
        import_took + by_ids_took <= Duration::from_secs(3),
    );
    summary.target(
        "campaign",
        "bridge dispatch rate",
        format!("{}/s", thousands(rate)),
        ">= 2,000/s",
        rate >= 2_000.0,
    );
    drop(dep);
}

fn main() {
    let settings = Settings::from_env();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!("Ringback end-to-end benchmark");
    println!("server binary: {SERVER_BIN}");
    println!(
        "scale: {} (RINGBACK_BENCH_SCALE); scenarios: {} (RINGBACK_BENCH_ONLY); \
         server flags: --min-lead-seconds 1 {}; cores: {}",
        settings.scale,
        settings.only.as_ref().map_or_else(
            || "all".to_owned(),
            |o| {
                let mut v: Vec<_> = o.iter().cloned().collect();
                v.sort();
                v.join(",")
            }
        ),
        settings.server_args.join(" "),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    let mut summary = Summary::default();
    runtime.block_on(async {
        if settings.runs("single") {
            scenario_single(&settings, &mut summary).await;
        }
        if settings.runs("batch") {
            scenario_batch(&settings, &mut summary).await;
        }
        if settings.runs("lateness") {
            scenario_lateness(&settings, &mut summary).await;
        }
        if settings.runs("pending") {
            scenario_pending(&settings, &mut summary).await;
        }
        if settings.runs("webhooks") {
            scenario_webhooks(&settings, &mut summary).await;
        }
        if settings.runs("routing") {
            scenario_routing(&settings, &mut summary).await;
        }
        if settings.runs("campaign") {
            scenario_campaign(&settings, &mut summary).await;
        }
    });
    summary.print();
}
