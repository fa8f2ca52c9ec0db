//! Three `ringback serve` processes on one PostgreSQL database share the work, and a node
//! killed with SIGKILL loses nothing: its claims are taken over by the others once their
//! lease runs out, and every callback reaches the dialer bridge under one idempotency key.
//!
//! Needs the PostgreSQL at `RINGBACK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without it the test fails saying so.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Json, Router, extract::State, routing::post};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use sqlx::Connection;

/// The store the shared database helper creates.
pub const BACKEND: ringback::store::Backend = ringback::store::Backend::Postgres;

#[path = "../api/database.rs"]
mod database;

const BIN: &str = env!("CARGO_BIN_EXE_ringback");
const NODES: usize = 3;
const CALLBACKS: usize = 10_000;
/// Every callback falls due within this window.
const SPREAD: Duration = Duration::from_secs(5);
const LEASE_SECONDS: u64 = 3;

/// One delivery the bridge received.
#[derive(Debug, Clone)]
struct Delivery {
    resend: bool,
}

/// A dialer bridge that answers 200 at once and remembers every delivery by idempotency key.
#[derive(Clone, Default)]
struct Bridge {
    seen: Arc<Mutex<HashMap<String, Vec<Delivery>>>>,
}

impl Bridge {
    async fn start(&self) -> String {
        async fn receive(State(bridge): State<Bridge>, Json(body): Json<Value>) -> &'static str {
            let key = body["idempotency_key"].as_str().unwrap_or("").to_owned();
            let resend = body["resend"].as_bool().unwrap_or(false);
            bridge
                .seen
                .lock()
                .unwrap()
                .entry(key)
                .or_default()
                .push(Delivery { resend });
            "ok"
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/")
    }

    fn distinct(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A node, killed when dropped.
struct Node {
    name: String,
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

async fn start_node(name: &str, dir: &Path, database_url: &str, bridge_url: &str) -> Node {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let lease = LEASE_SECONDS.to_string();
    let child = tokio::process::Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &listen,
            "--database-url",
            database_url,
            "--node-id",
            name,
            // Two tests run at once, three nodes each: at the default of 16 connections a
            // node, they could together ask PostgreSQL for more than its 100.
            "--database-max-connections",
            "8",
            "--lease-seconds",
            &lease,
            "--min-lead-seconds",
            "0",
            "--rate-limit-per-second",
            "0",
            "--dialer-url",
            bridge_url,
        ])
        // Every node of the cluster: the same key file.
        .envs(database::key_env_of(database_url))
        .env("RUST_LOG", "ringback=info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .expect("ringback starts");
    let mut node = Node {
        name: name.to_owned(),
        child,
        base: format!("http://{listen}"),
        log,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = node.child.try_wait().unwrap() {
            panic!("{name} exited with {status}:\n{}", tail(&node.log));
        }
        if let Ok(resp) = client.get(format!("{}/readyz", node.base)).send().await
            && resp.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not ready:\n{}",
            tail(&node.log)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node.name = name.to_owned();
    node
}

async fn create_account(database_url: &str) -> String {
    let account = create_account_json(database_url).await;
    account["api_key"].as_str().unwrap().to_owned()
}

/// A new account through the CLI: `{"account_id": "...", "api_key": "..."}`.
async fn create_account_json(database_url: &str) -> Value {
    let out = tokio::process::Command::new(BIN)
        .args([
            "accounts",
            "create",
            "Cluster",
            "--json",
            "--database-url",
            database_url,
        ])
        .envs(database::key_env_of(database_url))
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Brings the schema up to date once, so the nodes do not all wait on the migrator together.
async fn migrate(database_url: &str) {
    let migrated = tokio::process::Command::new(BIN)
        .args(["migrate", "--database-url", database_url])
        .envs(database::key_env_of(database_url))
        .output()
        .await
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
}

/// Tests run around the clock: the account takes callbacks at any hour.
async fn allow_any_time(client: &reqwest::Client, base: &str, key: &str) {
    let settings = client
        .put(format!("{base}/v1/settings"))
        .bearer_auth(key)
        .json(&json!({
            "calling_window": { "start": "08:00", "end": "21:00" },
            "allow_customer_requested_times": true,
            "max_attempts": null,
            "attempt_window_days": 7,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 200, "{}", settings.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_work_and_a_killed_nodes_claims_are_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let db = database::TestDatabase::create(dir.path()).await;
    let bridge = Bridge::default();
    let bridge_url = bridge.start().await;

    migrate(&db.url).await;
    let key = create_account(&db.url).await;
    let mut nodes = Vec::new();
    for i in 1..=NODES {
        nodes.push(start_node(&format!("node{i}"), dir.path(), &db.url, &bridge_url).await);
    }
    let client = reqwest::Client::new();
    allow_any_time(&client, &nodes[0].base, &key).await;

    // 10,000 callbacks due uniformly within five seconds, created through all three nodes.
    let start = Timestamp::now() + SignedDuration::from_secs(6);
    let spread_ms = SPREAD.as_millis() as i64;
    for (batch, chunk) in (0..CALLBACKS).collect::<Vec<_>>().chunks(1000).enumerate() {
        let items: Vec<Value> = chunk
            .iter()
            .map(|&i| {
                let due =
                    start + SignedDuration::from_millis(i as i64 * spread_ms / CALLBACKS as i64);
                json!({
                    "phone": format!("+14152{i:06}"),
                    "scheduled_at": due.to_string(),
                    "timezone": "America/New_York",
                })
            })
            .collect();
        let node = &nodes[batch % NODES];
        let resp = client
            .post(format!("{}/v1/callbacks/batch", node.base))
            .bearer_auth(&key)
            .json(&json!({ "callbacks": items }))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "batch {batch}: {status} {body}");
        assert_eq!(body["created"], chunk.len(), "batch {batch}: {body}");
    }
    assert!(
        Timestamp::now() < start,
        "creating the callbacks overran their due window; the test would prove nothing"
    );

    // Midway through the window, kill one node outright.
    let kill_at = start + SignedDuration::from_millis(spread_ms / 2);
    tokio::time::sleep(
        Duration::try_from(kill_at.duration_since(Timestamp::now())).unwrap_or_default(),
    )
    .await;
    let mut victim = nodes.remove(1);
    victim.child.start_kill().unwrap();
    let _ = victim.child.wait().await;
    let killed = Timestamp::now();
    // The dead node's claims, with the instant each lease runs out.
    let held: Vec<(String, i64)> = {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_as(
            "SELECT c.id, k.lease_expires_at FROM calls k JOIN callbacks c \
             ON c.id = k.callback_id AND c.attempt = k.number \
             WHERE c.status = 'dispatching' AND k.open_claim = 1 \
             AND k.lease_expires_at IS NOT NULL \
             AND (k.claimed_by = $1 OR k.claimed_by LIKE $1 || '#%')",
        )
        .bind(&victim.name)
        .fetch_all(&mut conn)
        .await
        .unwrap()
    };
    let delivered_before_kill = bridge.distinct();

    // Everything arrives: the survivors' own share, then the dead node's claims.
    let deadline = Instant::now() + SPREAD + Duration::from_secs(LEASE_SECONDS + 30);
    while bridge.distinct() < CALLBACKS {
        assert!(
            Instant::now() < deadline,
            "only {} of {CALLBACKS} callbacks reached the bridge\nnode1:\n{}\nnode3:\n{}",
            bridge.distinct(),
            tail(&nodes[0].log),
            tail(&nodes[1].log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let seen = bridge.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), CALLBACKS, "distinct idempotency keys");
    // A key delivered twice is a claim of the dead node sent again after the takeover,
    // marked as a resend; nothing is ever sent twice as new.
    let mut resent = 0;
    for (key, deliveries) in &seen {
        let fresh = deliveries.iter().filter(|d| !d.resend).count();
        assert!(
            fresh <= 1,
            "{key} was sent {fresh} times as new: {deliveries:?}"
        );
        resent += deliveries.iter().filter(|d| d.resend).count();
    }
    assert!(
        !held.is_empty(),
        "the killed node held no claims when it died ({delivered_before_kill} delivered before); \
         the test proved nothing"
    );
    assert!(
        resent <= held.len(),
        "{resent} resends, but the dead node held only {} claims",
        held.len()
    );
    // Each of the dead node's claims was taken over by a survivor after its lease ran out,
    // never before, and within the claim loop's bound: a claimer looks at the store at the
    // earliest lease's end and at least every `max_idle` (2 s) however busy the machine, and
    // taken-over claims come first in a claim.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let ids: Vec<&str> = held.iter().map(|(id, _)| id.as_str()).collect();
    let retaken: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT resource_id, MIN(occurred_at) FROM events WHERE type = 'callback.due' \
         AND resource_id = ANY($1) AND split_part(data::jsonb ->> 'claimed_by', '#', 1) <> $2 \
         GROUP BY resource_id",
    )
    .bind(&ids)
    .bind(&victim.name)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    const CLAIM_LOOP_BOUND_MS: i64 = 2_000 + 1_000;
    let mut last_takeover = 0;
    let mut slowest = 0;
    for (id, lease_ends) in &held {
        let at = *retaken
            .get(id)
            .unwrap_or_else(|| panic!("{id}, held by the dead node, was never claimed again"));
        assert!(
            at >= *lease_ends,
            "{id} was taken over {} ms before its lease ran out",
            lease_ends - at
        );
        slowest = slowest.max(at - lease_ends);
        last_takeover = last_takeover.max(at);
    }
    assert!(
        slowest <= CLAIM_LOOP_BOUND_MS,
        "a claim was taken over {slowest} ms after its lease ran out (bound {CLAIM_LOOP_BOUND_MS} ms)"
    );
    let takeover = Duration::from_millis((last_takeover - killed.as_millisecond()).max(0) as u64);

    // The survivors recorded every answer: nothing is left dispatching or scheduled.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // A callback stored `dispatching` whose call the bridge accepted is in progress.
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM callbacks c WHERE c.status = 'scheduled' \
             OR (c.status = 'dispatching' AND NOT EXISTS (SELECT 1 FROM calls k \
             WHERE k.callback_id = c.id AND k.number = c.attempt AND k.accepted_at IS NOT NULL))",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} callbacks never left dispatching"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let started: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM callbacks c WHERE c.status = 'in_progress' \
             OR (c.status = 'dispatching' AND EXISTS (SELECT 1 FROM calls k \
             WHERE k.callback_id = c.id AND k.number = c.attempt AND k.accepted_at IS NOT NULL))",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(started, CALLBACKS as i64);
    // The survivors' metrics show the takeovers and how long claims took.
    let mut takeovers = 0.0;
    for node in &nodes {
        let text = client
            .get(format!("{}/metrics", node.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let value = |name: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(name) && !l.starts_with('#'))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        takeovers += value("ringback_lease_takeovers_total");
        assert!(
            value("ringback_claim_duration_seconds_count") > 0.0,
            "{} has no claim latency in its metrics:\n{text}",
            node.name
        );
    }
    assert_eq!(
        takeovers,
        held.len() as f64,
        "the survivors' ringback_lease_takeovers_total"
    );

    // Each node did a share of the work.
    let per_node: Vec<(String, i64)> = sqlx::query_as(
        // A node's second claimer is named `node#2`.
        "SELECT split_part(data::jsonb ->> 'claimed_by', '#', 1), COUNT(*) FROM events \
         WHERE type = 'callback.due' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let names: Vec<&str> = per_node.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["node1", "node2", "node3"], "{per_node:?}");
    assert!(per_node.iter().all(|(_, n)| *n > 0), "{per_node:?}");
    println!(
        "killed node held {} claims; {resent} resent after takeover; last takeover \
         {takeover:?} after the kill, at most {slowest} ms after a lease ran out; \
         callback.due events by node: {per_node:?}",
        held.len()
    );
}

/// Every connection of both nodes is cut, as a database restart does: the nodes reconnect on
/// their own, stay ready, and callbacks created afterwards are dispatched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_reconnect_after_the_database_drops_their_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = database::TestDatabase::create(dir.path()).await;
    let bridge = Bridge::default();
    let bridge_url = bridge.start().await;
    let key = create_account(&db.url).await;
    let a = start_node("node-a", dir.path(), &db.url, &bridge_url).await;
    let b = start_node("node-b", dir.path(), &db.url, &bridge_url).await;
    let client = reqwest::Client::new();
    allow_any_time(&client, &a.base, &key).await;

    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(cut.len() >= 4, "both nodes had connections open: {cut:?}");

    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = client.get(format!("{}/readyz", node.base)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never ready again:\n{}",
                node.name,
                tail(&node.log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let due = Timestamp::now() + SignedDuration::from_secs(2);
    let mut ids = Vec::new();
    for (i, node) in [&a, &b].into_iter().enumerate() {
        let resp = client
            .post(format!("{}/v1/callbacks", node.base))
            .bearer_auth(&key)
            .json(&json!({
                "phone": format!("+1415300000{i}"),
                "scheduled_at": due.to_string(),
                "timezone": "UTC",
            }))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "{} after the cut: {body}", node.name);
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while bridge.distinct() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "callbacks created after the cut never reached the bridge\n{}\n{}",
            tail(&a.log),
            tail(&b.log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = bridge.seen.lock().unwrap().clone();
    for id in &ids {
        assert!(
            seen.keys().any(|k| k.starts_with(id.as_str())),
            "{id} not dispatched: {seen:?}"
        );
    }

    // With the database gone for good, the nodes say they are not ready.
    drop(admin);
    let mut server = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    sqlx::query(&format!(
        "DROP DATABASE {} WITH (FORCE)",
        db.name().unwrap()
    ))
    .execute(&mut server)
    .await
    .unwrap();
    for node in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = client
                .get(format!("{}/readyz", node.base))
                .send()
                .await
                .unwrap();
            if ready.status() == 503 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} still ready without its database",
                node.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Three routers on one database never fill one agent slot twice: twelve agents work forty
/// preview callbacks through all three nodes while the slots are watched in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_routers_never_offer_one_agent_slot_twice() {
    const AGENTS: usize = 12;
    const PREVIEWS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let db = database::TestDatabase::create(dir.path()).await;
    let bridge = Bridge::default();
    let bridge_url = bridge.start().await;
    migrate(&db.url).await;
    let key = create_account(&db.url).await;
    let mut nodes = Vec::new();
    for i in 1..=NODES {
        nodes.push(start_node(&format!("router{i}"), dir.path(), &db.url, &bridge_url).await);
    }
    let bases: Vec<String> = nodes.iter().map(|n| n.base.clone()).collect();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, node: usize, path: String, body: Value| {
        let request = client
            .request(method, format!("{}{path}", bases[node % NODES]))
            .bearer_auth(&key)
            .json(&body);
        async move {
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    allow_any_time(&client, &bases[0], &key).await;
    let mut agents = Vec::new();
    for i in 0..AGENTS {
        let (status, agent) = call(
            reqwest::Method::POST,
            i,
            "/v1/agents".into(),
            json!({ "name": format!("Agent {i}") }),
        )
        .await;
        assert_eq!(status, 201, "{agent}");
        let id = agent["id"].as_str().unwrap().to_owned();
        let (status, body) = call(
            reqwest::Method::PUT,
            i + 1,
            format!("/v1/agents/{id}/presence"),
            json!({ "presence": "available" }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        agents.push(id);
    }
    // All due at once, far enough ahead that forty creates on a busy machine end before.
    let due = Timestamp::now() + SignedDuration::from_secs(4);
    for i in 0..PREVIEWS {
        let (status, body) = call(
            reqwest::Method::POST,
            i,
            "/v1/callbacks".into(),
            json!({
                "phone": format!("+1415400{i:04}"),
                "scheduled_at": due.to_string(),
                "timezone": "UTC",
                "dialing_mode": "preview",
            }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    // Agents work their offers through a different node for each step, while the slots are
    // counted straight from the database.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut busiest = 0_i64;
    let mut step = 0_usize;
    loop {
        let most: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM callbacks \
             WHERE status IN ('offered', 'in_progress') AND agent_id IS NOT NULL \
             GROUP BY agent_id) AS held",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        busiest = busiest.max(most.unwrap_or(0));
        let completed: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM callbacks WHERE status = 'completed'")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        if completed == PREVIEWS as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {completed} of {PREVIEWS} preview callbacks completed"
        );
        for (i, agent) in agents.iter().enumerate() {
            step += 1;
            let (status, work) = call(
                reqwest::Method::GET,
                step + i,
                format!("/v1/agents/{agent}/callbacks"),
                Value::Null,
            )
            .await;
            assert_eq!(status, 200, "{work}");
            for cb in work.as_array().unwrap() {
                if cb["agent_id"] != agent.as_str() {
                    continue;
                }
                let id = cb["id"].as_str().unwrap();
                let action = match cb["status"].as_str() {
                    Some("offered") => ("accept", json!({})),
                    Some("in_progress") => ("complete", json!({ "outcome": "answered" })),
                    _ => continue,
                };
                let (status, body) = call(
                    reqwest::Method::POST,
                    step + i + 1,
                    format!("/v1/agents/{agent}/callbacks/{id}/{}", action.0),
                    action.1,
                )
                .await;
                // An offer may run out between reading and answering it.
                assert!(
                    status == 200 || status == 409,
                    "{} {id}: {status} {body}",
                    action.0
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        busiest, 1,
        "an agent of concurrency 1 held {busiest} callbacks at once"
    );
    let answered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM calls WHERE outcome = 'answered'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        answered, PREVIEWS as i64,
        "each preview callback was called once"
    );
}

/// How long a node may go on accepting credentials revoked, rotated or removed elsewhere
/// (through another node or with `ringback keys revoke`), although it caches what it looked up.
const CREDENTIALS_BOUND: Duration = Duration::from_millis(500);

/// `GET /v1/callbacks` on `base` with `token`: the status.
async fn status_with(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    client
        .get(format!("{base}/v1/callbacks?limit=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// How a node went on after credentials changed elsewhere.
struct Refusal {
    /// When it first answered 401, after the change was made.
    refused_after: Duration,
    /// Requests it still accepted, and when the last of them was.
    accepted: usize,
    last_accepted: Option<Duration>,
}

/// Asks `node` with `token` until it answers 401 (or for longer than any cache would keep it).
async fn until_refused(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    since: Instant,
) -> Refusal {
    let mut accepted = 0;
    let mut last_accepted = None;
    loop {
        let status = status_with(client, &node.base, token).await;
        let after = since.elapsed();
        match status {
            401 => {
                return Refusal {
                    refused_after: after,
                    accepted,
                    last_accepted,
                };
            }
            200 if after < Duration::from_secs(8) => {
                accepted += 1;
                last_accepted = Some(after);
            }
            other => panic!("{} answered {other} {after:?} after the change", node.name),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A new key with `callbacks:read`, made through `base`: its id and secret.
async fn new_read_key(client: &reqwest::Client, base: &str, admin: &str) -> (String, String) {
    let resp = client
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(admin)
        .json(&json!({ "name": "reader", "scopes": ["callbacks:read"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let key: Value = resp.json().await.unwrap();
    (
        key["id"].as_str().unwrap().to_owned(),
        key["key"].as_str().unwrap().to_owned(),
    )
}

/// An HS256 JWT for `account` with `callbacks:read`, valid for ten minutes.
fn jwt(secret: &str, account: &str) -> String {
    let now = Timestamp::now().as_second();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({
            "account_id": account, "sub": "cluster-test", "scope": "callbacks:read",
            "iat": now, "exp": now + 600,
        }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// Credentials revoked, rotated or removed through node A, or with `ringback keys revoke`,
/// stop working on node B within milliseconds although B had just used (and cached) them;
/// and B trusts nothing it cached before its listening connection was cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_rotated_and_removed_credentials_stop_working_on_every_node() {
    const SECRET_1: &str = "the-first-shared-secret-of-32-characters-or-more";
    const SECRET_2: &str = "the-second-shared-secret-of-32-characters-or-more";
    let dir = tempfile::tempdir().unwrap();
    let db = database::TestDatabase::create(dir.path()).await;
    let bridge = Bridge::default();
    let bridge_url = bridge.start().await;
    migrate(&db.url).await;
    let account = create_account_json(&db.url).await;
    let account_id = account["account_id"].as_str().unwrap().to_owned();
    let admin = account["api_key"].as_str().unwrap().to_owned();
    let a = start_node("node-a", dir.path(), &db.url, &bridge_url).await;
    let b = start_node("node-b", dir.path(), &db.url, &bridge_url).await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", a.base))
            .bearer_auth(&admin);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut results: Vec<(&str, Refusal)> = Vec::new();

    // A key revoked through node A.
    let (id, key) = new_read_key(&client, &a.base, &admin).await;
    assert_eq!(status_with(&client, &b.base, &key).await, 200);
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("/v1/api-keys/{id}/revoke"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let since = Instant::now();
    results.push((
        "key revoked through node A",
        until_refused(&client, &b, &key, since).await,
    ));

    // A key rotated through node A: the old secret stops, the new one works on B.
    let (id, key) = new_read_key(&client, &a.base, &admin).await;
    assert_eq!(status_with(&client, &b.base, &key).await, 200);
    let (status, body) = call(
        reqwest::Method::POST,
        &format!("/v1/api-keys/{id}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let since = Instant::now();
    results.push((
        "key rotated through node A",
        until_refused(&client, &b, &key, since).await,
    ));
    let rotated = body["key"].as_str().unwrap();
    assert_eq!(status_with(&client, &b.base, rotated).await, 200);

    // A key revoked by `ringback keys revoke`, another process.
    let (id, key) = new_read_key(&client, &a.base, &admin).await;
    assert_eq!(status_with(&client, &b.base, &key).await, 200);
    let revoked = tokio::process::Command::new(BIN)
        .args([
            "keys",
            "revoke",
            &id,
            "--account",
            &account_id,
            "--database-url",
            &db.url,
        ])
        .envs(db.key_env())
        .output()
        .await
        .unwrap();
    assert!(revoked.status.success(), "{revoked:?}");
    let since = Instant::now();
    results.push((
        "key revoked by the CLI",
        until_refused(&client, &b, &key, since).await,
    ));

    // The JWT key replaced, then removed, through node A.
    let set = |secret: &str| json!({ "algorithm": "HS256", "secret": secret });
    let (status, body) = call(reqwest::Method::PUT, "/v1/jwt-key", Some(set(SECRET_1))).await;
    assert_eq!(status, 200, "{body}");
    let first = jwt(SECRET_1, &account_id);
    assert_eq!(status_with(&client, &b.base, &first).await, 200);
    let (status, body) = call(reqwest::Method::PUT, "/v1/jwt-key", Some(set(SECRET_2))).await;
    assert_eq!(status, 200, "{body}");
    let since = Instant::now();
    results.push((
        "JWT key replaced through node A",
        until_refused(&client, &b, &first, since).await,
    ));
    let second = jwt(SECRET_2, &account_id);
    assert_eq!(status_with(&client, &b.base, &second).await, 200);
    let (status, _) = call(reqwest::Method::DELETE, "/v1/jwt-key", None).await;
    assert_eq!(status, 204);
    let since = Instant::now();
    results.push((
        "JWT key deleted through node A",
        until_refused(&client, &b, &second, since).await,
    ));

    // A revocation B never heard of (written straight into the database, as one made while
    // B's listening connection is down would be): B still trusts its cache, until the
    // listening connections are cut; then it must trust nothing it cached before the gap.
    let (id, key) = new_read_key(&client, &a.base, &admin).await;
    assert_eq!(status_with(&client, &b.base, &key).await, 200);
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2")
        .bind(Timestamp::now().as_millisecond())
        .bind(&id)
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        status_with(&client, &b.base, &key).await,
        200,
        "node B did not answer from its cache; the test would prove nothing"
    );
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(cut, [true, true], "each node had a listening connection");
    let since = Instant::now();
    results.push((
        "key revoked unheard, then the listeners cut",
        until_refused(&client, &b, &key, since).await,
    ));

    let report: Vec<String> = results
        .iter()
        .map(|(what, r)| {
            format!(
                "{what}: refused on node B after {:?} ({} requests accepted meanwhile, the last after {:?})",
                r.refused_after, r.accepted, r.last_accepted
            )
        })
        .collect();
    println!("{}", report.join("\n"));
    assert!(
        results
            .iter()
            .all(|(_, r)| r.refused_after <= CREDENTIALS_BOUND),
        "node B went on accepting credentials changed elsewhere (bound {CREDENTIALS_BOUND:?}):\n{}\n{}",
        report.join("\n"),
        tail(&b.log)
    );
}
