//! The real binary: account creation from the CLI, graceful stops, crashes and restarts.

use std::{
    path::{Path, PathBuf},
    process::{ExitStatus, Stdio},
    time::{Duration, Instant},
};

use jiff::Timestamp;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::{database::TestDatabase, helpers::*};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `ringback serve` process, killed when dropped.
pub(crate) struct Server {
    child: tokio::process::Child,
    pub(crate) base: String,
    log: PathBuf,
    client: reqwest::Client,
    api_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

impl Server {
    pub(crate) async fn start(env: &Env, extra: &[&str]) -> Self {
        Self::start_on(env, &env.database_url, extra).await
    }

    /// [`Server::start`] on another database (a restored copy of `env`'s).
    pub(crate) async fn start_on(env: &Env, database_url: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let n = std::fs::read_dir(env.dir.path()).unwrap().count();
        let log = env.dir.path().join(format!("server-{n}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let child = tokio::process::Command::new(BIN)
            .args([
                "serve",
                "--listen",
                &listen,
                "--database-url",
                database_url,
                "--min-lead-seconds",
                "1",
                "--dialer-url",
                &env.bridge.url,
                // The tests poll faster than the default per-key rate limit allows.
                "--rate-limit-per-second",
                "0",
            ])
            .args(extra)
            .envs(crate::database::key_env_of(database_url))
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("ringback starts");
        let mut server = Self {
            child,
            base: format!("http://{listen}"),
            log,
            client: http_client(),
            api_key: env.tenant.api_key.clone(),
        };
        server.wait_healthy().await;
        // Tests run around the clock: take callbacks at any hour.
        server
            .send(
                reqwest::Method::PUT,
                "/v1/settings",
                Some(&serde_json::json!({
                    "calling_window": { "start": "08:00", "end": "21:00" },
                    "allow_customer_requested_times": true,
                    "max_attempts": null,
                    "attempt_window_days": 7,
                })),
            )
            .await
            .expect(200);
        server
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "ringback exited with {status} before it was healthy:\n{}",
                    tail(&self.log)
                );
            }
            if let Ok(resp) = self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                && resp.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ringback did not become healthy:\n{}",
                tail(&self.log)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub(crate) fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("the server is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    pub(crate) async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!(
                "ringback did not exit within {timeout:?}:\n{}",
                tail(&self.log)
            ),
        }
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::read(req.send().await.expect("the server answers")).await
    }

    async fn create(&self, body: &Value) -> Value {
        self.send(reqwest::Method::POST, "/v1/callbacks", Some(body))
            .await
            .expect(201)
            .clone()
    }

    pub(crate) async fn get_callback(&self, id: &str) -> Value {
        self.send(reqwest::Method::GET, &format!("/v1/callbacks/{id}"), None)
            .await
            .expect(200)
            .clone()
    }

    pub(crate) async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        eventually(WAIT, &format!("{id} to become {status}"), || async {
            let cb = self.get_callback(id).await;
            (cb["status"] == status).then_some(cb)
        })
        .await
    }
}

/// A database file, an account created with the CLI and a fake bridge.
pub(crate) struct Env {
    _db: TestDatabase,
    dir: TempDir,
    pub(crate) database_url: String,
    pub(crate) tenant: Tenant,
    bridge: FakeBridge,
}

async fn cli(args: &[&str]) -> std::process::Output {
    // The key file of the database the command names (PostgreSQL has no default).
    let key = args
        .windows(2)
        .find(|w| w[0] == "--database-url")
        .and_then(|w| crate::database::key_env_of(w[1]));
    tokio::process::Command::new(BIN)
        .args(args)
        .envs(key)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("ringback runs")
}

async fn create_account(database_url: &str) -> Tenant {
    let out = cli(&[
        "accounts",
        "create",
        "Acme Corp",
        "--json",
        "--database-url",
        database_url,
    ])
    .await;
    assert!(
        out.status.success(),
        "accounts create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("accounts create --json printed {stdout:?}: {e}"));
    let obj = json.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["account_id", "api_key"], "{stdout}");
    let account_id = obj["account_id"].as_str().unwrap().to_owned();
    let api_key = obj["api_key"].as_str().unwrap().to_owned();
    assert!(account_id.starts_with("acc_"), "{account_id}");
    assert!(api_key.starts_with("rbk_"), "{api_key}");
    Tenant {
        account_id,
        api_key,
    }
}

pub(crate) async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let database_url = db.url.clone();
    let tenant = create_account(&database_url).await;
    Env {
        _db: db,
        dir,
        database_url,
        tenant,
        bridge: FakeBridge::start().await,
    }
}

#[tokio::test]
async fn the_help_lists_the_commands() {
    let out = cli(&["--help"]).await;
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "migrate", "accounts"] {
        assert!(
            help.lines().any(|l| l.trim_start().starts_with(command)),
            "`ringback --help` does not list {command}:\n{help}"
        );
    }
}

#[tokio::test]
async fn migrate_creates_the_schema_and_can_run_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create_empty(dir.path()).await;
    let database_url = db.url.clone();
    for _ in 0..2 {
        let out = cli(&["migrate", "--database-url", &database_url]).await;
        assert!(
            out.status.success(),
            "migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if crate::BACKEND == ringback::store::Backend::Sqlite {
        assert!(dir.path().join("rb.db").exists());
    }
    // The migrated database takes an account.
    create_account(&database_url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_due_while_the_server_was_stopped_are_dispatched_once_after_a_restart() {
    let env = env().await;
    let mut server = Server::start(&env, &[]).await;
    const N: usize = 20;
    let first_due = at_ms(3_000);
    let mut expected = Vec::new();
    for i in 0..N {
        let at = Timestamp::from_millisecond(first_due.as_millisecond() + 10 * i as i64).unwrap();
        let cb = server
            .create(&new_callback(&unique_phone(), &at.to_string()))
            .await;
        assert_eq!(cb["account_id"], env.tenant.account_id.as_str());
        expected.push((cb["id"].as_str().unwrap().to_owned(), at));
    }
    let last_due = expected.last().unwrap().1;

    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(
        status.success(),
        "SIGTERM should stop ringback cleanly: {status}"
    );
    assert!(
        Timestamp::now() < first_due,
        "the server took too long to stop; the test cannot tell a restart from a normal run"
    );
    drop(server);

    sleep_until(last_due + jiff::SignedDuration::from_millis(300)).await;
    assert_eq!(env.bridge.count(), 0, "dispatched while stopped");

    let server = Server::start(&env, &[]).await;
    env.bridge.wait_for(N, WAIT).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let by_key = env.bridge.deliveries_by_key();
    assert_eq!(env.bridge.count(), N, "deliveries: {by_key:?}");
    for (id, at) in &expected {
        let key = format!("{id}:1");
        assert_eq!(by_key.get(&key), Some(&1), "deliveries of {key}");
        let r = &env.bridge.requests_for(id)[0];
        assert!(r.received_at >= *at);
        assert_eq!(r.body["resend"], false);
        let cb = server.wait_for_status(id, "in_progress").await;
        assert_eq!(cb["attempt_count"], 1);
        let due = events_of(&cb, "callback.due");
        assert_eq!(due.len(), 1, "{cb}");
        let lateness = due[0]["data"]["lateness_ms"].as_i64().unwrap();
        assert!(lateness > 0, "lateness_ms {lateness} for a late dispatch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_in_flight_when_the_server_crashes_is_resent_with_the_same_key() {
    let env = env().await;
    env.bridge.delay(Duration::from_secs(3));
    // The lease is written when a callback is claimed, so the crashed server needs the short
    // lease as much as the one that takes over.
    let mut server = Server::start(&env, &["--lease-seconds", "2"]).await;
    let cb = server
        .create(&new_callback(&unique_phone(), &in_ms(1_500)))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    let first = env.bridge.wait_for_callback(&id, 1, WAIT).await.remove(0);
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).await;
    drop(server);
    env.bridge.delay(Duration::ZERO);
    assert_eq!(env.bridge.requests_for(&id).len(), 1);

    let server = Server::start(&env, &["--lease-seconds", "2"]).await;
    let requests = env.bridge.wait_for_callback(&id, 2, WAIT).await;
    let again = &requests[1];
    let key = format!("{id}:1");
    assert_eq!(first.idempotency_key.as_deref(), Some(key.as_str()));
    assert_eq!(
        again.idempotency_key.as_deref(),
        Some(key.as_str()),
        "a new key was used"
    );
    assert_eq!(again.body["attempt"], 1);
    assert_eq!(again.body["resend"], true);

    let cb = server.wait_for_status(&id, "in_progress").await;
    assert_eq!(cb["attempt_count"], 1);
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{cb}");
    assert!(attempts[0]["resends"].as_u64().unwrap() >= 1, "{cb}");
    assert_eq!(attempts[0]["bridge_requests"], 2);
    let due = events_of(&cb, "callback.due");
    assert_eq!(due.len(), 2, "{cb}");
    assert_eq!(due[1]["data"]["resend"], true);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(env.bridge.requests_for(&id).len(), 2);
}

/// A claim taken ahead of its time and lost in a crash before its request went out: the
/// request that the bridge finally sees is the first, not a resend, and nothing counts twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_lost_in_a_crash_before_its_time_is_sent_later_as_the_first_request() {
    let env = env().await;
    // Claimed up to two seconds ahead (a third of the lease).
    let args = ["--lease-seconds", "6", "--claim-ahead-ms", "2000"];
    let mut server = Server::start(&env, &args).await;
    let cb = server
        .create(&new_callback(&unique_phone(), &in_ms(1_800)))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    server.wait_for_status(&id, "dispatching").await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).await;
    drop(server);
    assert_eq!(
        env.bridge.requests_for(&id).len(),
        0,
        "the test needs the crash before the due time"
    );

    let server = Server::start(&env, &args).await;
    let requests = env.bridge.wait_for_callback(&id, 1, WAIT).await;
    assert_eq!(requests[0].body["resend"], false, "{:?}", requests[0].body);
    let cb = server.wait_for_status(&id, "in_progress").await;
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{cb}");
    assert_eq!(attempts[0]["bridge_requests"], 1, "{cb}");
    assert_eq!(attempts[0]["resends"], 0, "{cb}");
    let due = events_of(&cb, "callback.due");
    assert_eq!(due.len(), 2, "{cb}");
    assert_eq!(due[1]["data"]["resend"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_waits_for_the_dispatch_in_flight() {
    let env = env().await;
    env.bridge.delay(Duration::from_millis(1_000));
    let mut server = Server::start(&env, &[]).await;
    let cb = server
        .create(&new_callback(&unique_phone(), &in_ms(1_200)))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    env.bridge.wait_for_callback(&id, 1, WAIT).await;
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}");
    drop(server);

    let server = Server::start(&env, &[]).await;
    let cb = server.get_callback(&id).await;
    assert_eq!(
        cb["status"], "in_progress",
        "the bridge's answer was not recorded before the stop: {cb}"
    );
    assert_eq!(cb["attempts"][0]["resends"], 0);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        env.bridge.requests_for(&id).len(),
        1,
        "re-sent after a graceful stop"
    );
    let cb = server
        .send(
            reqwest::Method::POST,
            &format!("/v1/callbacks/{id}/outcome"),
            Some(&json!({ "outcome": "answered", "duration_seconds": 12 })),
        )
        .await;
    assert_eq!(cb.expect(200)["status"], "completed");
}

#[tokio::test]
async fn webhook_deliveries_in_flight_when_the_server_crashes_arrive_after_restart() {
    let env = env().await;
    // The receiver holds its answers, so the server dies with deliveries unacknowledged.
    let receiver = FakeBridge::start().await;
    receiver.delay(Duration::from_secs(3));
    let args = ["--lease-seconds", "2", "--allow-private-webhooks"];
    let mut server = Server::start(&env, &args).await;
    server
        .send(
            reqwest::Method::POST,
            "/v1/webhook-endpoints",
            Some(&json!({ "url": receiver.url, "event_types": ["callback.created"] })),
        )
        .await
        .expect(201);
    let mut ids = Vec::new();
    for _ in 0..5 {
        let cb = server
            .create(&new_callback(&unique_phone(), &tomorrow()))
            .await;
        ids.push(cb["id"].as_str().unwrap().to_owned());
    }
    receiver.wait_for(1, WAIT).await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).await;
    drop(server);
    receiver.delay(Duration::ZERO);
    let before_restart = receiver.count();

    let server = Server::start(&env, &args).await;
    // Every callback's created event arrives, each with one event id however often it is sent.
    let requests = eventually(WAIT, "every event delivered after the restart", || async {
        let requests = receiver.requests();
        let seen: std::collections::HashSet<String> = requests
            .iter()
            .filter_map(|r| r.body["data"]["object"]["id"].as_str().map(str::to_owned))
            .collect();
        (ids.iter().all(|id| seen.contains(id)) && requests.len() > before_restart)
            .then_some(requests)
    })
    .await;
    let mut event_ids: std::collections::HashMap<String, String> = Default::default();
    for r in &requests {
        let callback = r.body["data"]["object"]["id"].as_str().unwrap().to_owned();
        let event = r.body["id"].as_str().unwrap().to_owned();
        let known = event_ids.entry(callback).or_insert_with(|| event.clone());
        assert_eq!(*known, event, "a repeat carried another event id");
    }
    // The resent deliveries are recorded as delivered.
    let endpoints = server
        .send(reqwest::Method::GET, "/v1/webhook-endpoints", None)
        .await;
    let endpoint = endpoints.expect(200)["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually(WAIT, "all deliveries marked delivered", || async {
        let log = server
            .send(
                reqwest::Method::GET,
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                None,
            )
            .await;
        let data = log.body["data"].as_array()?.clone();
        (data.len() == 5 && data.iter().all(|d| d["status"] == "delivered")).then_some(())
    })
    .await;
}

/// A call on a `sip` trunk answered and live when its server is killed: nobody hangs it up or
/// reports it, and no node may dial it again. Once past the latest instant it could still be
/// live (its rings and its duration cap, plus `--lost-call-grace-seconds`), the restarted
/// server ends it `failed` with `node_lost`; the customer was INVITEd once.
#[tokio::test]
async fn a_sip_call_live_when_its_server_is_killed_ends_as_node_lost() {
    let env = env().await;
    let sipp = crate::sip::Sipp::start("answer", &[("CODECS", "0")]).await;
    let flags = [
        "--sip-listen",
        "127.0.0.1:0",
        "--ring-timeout-seconds",
        "2",
        "--lost-call-grace-seconds",
        "2",
    ];
    let mut server = Server::start(&env, &flags).await;
    let trunk = server
        .send(
            reqwest::Method::POST,
            "/v1/trunks",
            Some(&json!({ "name": "Carrier", "kind": "sip",
                          "settings": { "proxy": format!("127.0.0.1:{}", sipp.port) } })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = new_callback(&unique_phone(), &in_ms(1_500));
    body["trunk_id"] = json!(trunk);
    body["max_duration_seconds"] = json!(10);
    let id = server.create(&body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    server.wait_for_status(&id, "in_progress").await;
    tokio::time::sleep(Duration::from_secs(1)).await; // answered by now
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(5)).await;
    drop(server);

    let server = Server::start(&env, &flags).await;
    let started = Instant::now();
    let cb = loop {
        let cb = server.get_callback(&id).await;
        if cb["status"] == "failed" {
            break cb;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "the lost call never ended: {cb}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let attempts = cb["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{cb}");
    assert_eq!(attempts[0]["outcome"], "failed");
    assert!(
        attempts[0]["sip_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("node_lost")),
        "{cb}"
    );
    assert_eq!(
        sipp.log().matches("INVITE sip:").count(),
        1,
        "the customer was INVITEd once"
    );
}

/// A callback on `trunk` (whose far end answers 486), ending `failed` / `busy`.
async fn busy_call(server: &Server, trunk: &str) {
    let mut body = new_callback(&unique_phone(), &in_ms(1_500));
    body["trunk_id"] = json!(trunk);
    let id = server.create(&body).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cb = server.wait_for_status(&id, "failed").await;
    assert_eq!(cb["attempts"][0]["outcome"], "busy", "{cb}");
    assert_eq!(cb["attempts"][0]["sip_code"], 486, "{cb}");
}

/// Without `--sip-listen`, the SIP user agent starts on the standard port by itself: with the
/// first call on a `sip` trunk of a server that had none, and with the server once an account
/// has one.
#[tokio::test]
async fn the_sip_user_agent_starts_by_itself_when_an_account_has_a_sip_trunk() {
    let env = env().await;
    let sipp =
        crate::sip::Sipp::start_for("reject", &[("CODE", "486"), ("REASON", "Busy Here")], 2).await;
    // No sip trunk when it starts: the first call on one starts the user agent.
    let mut server = Server::start(&env, &[]).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("SIP user agent"), "{log}");
    let trunk = server
        .send(
            reqwest::Method::POST,
            "/v1/trunks",
            Some(&json!({ "name": "Carrier", "kind": "sip",
                          "settings": { "proxy": format!("127.0.0.1:{}", sipp.port) } })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    busy_call(&server, &trunk).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("0.0.0.0:5060"), "{log}");
    server.signal("TERM");
    server.wait_exit(Duration::from_secs(10)).await;
    drop(server);

    // Started again, it runs the user agent from the start.
    let server = Server::start(&env, &[]).await;
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("an account has a sip trunk: starting the SIP user agent on 0.0.0.0:5060"),
        "{log}"
    );
    busy_call(&server, &trunk).await;
    assert_eq!(
        sipp.log().matches("INVITE sip:").count(),
        2,
        "one INVITE per call"
    );
}
