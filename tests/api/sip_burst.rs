//! A crash in the middle of a burst of SIP calls. 200 callbacks on a `sip` trunk fall due
//! within 1.5 s; sipp (`tests/sip/burst.xml`) plays the customers' phones (answered after a
//! short ring, numbers ending in 7 busy); the real `ringback` binary is killed with SIGKILL
//! once some INVITEs have reached sipp and before all have, and started again on the same
//! database (SQLite here, PostgreSQL in `api_postgres`).
//!
//! What must hold: sipp's message log shows no number INVITEd twice for the same attempt (one
//! Call-ID per callback id and attempt; retransmissions and challenged re-INVITEs share their
//! Call-ID), and a callback not INVITEd before the kill is INVITEd after the restart, unless
//! the new node took over a claim that fell inside the dead node's send horizon (it may have
//! been sent) and ended it `failed` with `node_lost`, as the README says; those are counted and
//! must have been due by the kill, give or take the horizon's lead.
//!
//! Calls that were live on the dead node (their acceptance recorded) are ended `failed`
//! (`node_lost`) by the restarted node's sweep once they cannot be live any more (here, with
//! `--lost-call-grace-seconds 1`, ring timeout plus duration cap plus a second): in the end
//! every callback is in a final or recall state, within the time limit.
//!
//! Which node sent an INVITE is read off its SDP: each node gets its own `--rtp-ports` range.
//! sipp must be installed (Debian's `sip-tester`); the test fails, saying so, without it.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::RangeInclusive,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::{database::TestDatabase, helpers::*};

const BIN: &str = env!("CARGO_BIN_EXE_ringback");
const CALLS: usize = 200;
/// The due times are spread over this long.
const SPREAD_MS: i64 = 1_500;
/// The server is killed once sipp has seen this many INVITEs.
const KILL_AFTER: usize = 50;
/// Short, so the dead node's claims are taken over within the test, yet well above how long
/// recording a dispatch's acceptance may take on a busy machine: a claim whose acceptance is
/// not stored within its lease is taken over even from a live node (see the last assertion).
const LEASE_SECONDS: &str = "8";
const MAX_DURATION_SECONDS: u64 = 10;

fn free_tcp_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A port free for both UDP and TCP: the SIP user agent listens on both.
fn free_sip_port() -> u16 {
    loop {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Each node's RTP ports: the INVITE's SDP names its node. Apart per backend, so the SQLite
/// and PostgreSQL runs never share a range.
fn rtp_ports(node: usize) -> RangeInclusive<u16> {
    let base = match crate::BACKEND {
        ringback::store::Backend::Sqlite => 23_000,
        ringback::store::Backend::Postgres => 25_000,
    };
    let first = base + 1_000 * node as u16;
    first..=first + 999
}

/// A `ringback serve` process, killed when dropped.
struct Server {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
    api_key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Server {
    async fn start(dir: &Path, database_url: &str, api_key: &str, node: usize, sip: u16) -> Self {
        let port = free_tcp_port();
        let log = dir.join(format!("server-{node}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let listen = format!("127.0.0.1:{port}");
        let ports = rtp_ports(node);
        let child = tokio::process::Command::new(BIN)
            .args(["serve", "--listen", &listen, "--database-url", database_url])
            .args(["--min-lead-seconds", "1", "--rate-limit-per-second", "0"])
            .args(["--sip-listen", &format!("127.0.0.1:{sip}")])
            .args(["--rtp-ports", &format!("{}-{}", ports.start(), ports.end())])
            .args([
                "--ring-timeout-seconds",
                "5",
                "--lease-seconds",
                LEASE_SECONDS,
            ])
            .args(["--node-id", &format!("node-{node}")])
            .args(["--lost-call-grace-seconds", "1"])
            .arg("--recordings-dir")
            .arg(dir.join("recordings"))
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
            api_key: api_key.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                panic!(
                    "ringback exited with {status} before it was healthy:\n{}",
                    tail(&server.log)
                );
            }
            if let Ok(resp) = server
                .client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                && resp.status() == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ringback did not become healthy:\n{}",
                tail(&server.log)
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        server
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> Resp {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.api_key);
        if let Some(b) = body {
            req = req.json(b);
        }
        Resp::read(req.send().await.expect("the server answers")).await
    }

    fn kill(&self) {
        let pid = self.child.id().expect("the server is running");
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -KILL {pid} failed");
    }
}

async fn create_account(database_url: &str) -> String {
    let out = tokio::process::Command::new(BIN)
        .args(["accounts", "create", "Burst", "--json"])
        .args(["--database-url", database_url])
        .envs(crate::database::key_env_of(database_url))
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

/// sipp answering every call of `tests/sip/burst.xml` until it is killed (dropped).
struct Sipp {
    child: tokio::process::Child,
    port: u16,
    messages: PathBuf,
}

impl Sipp {
    fn start(dir: &Path) -> Self {
        let port = free_sip_port();
        let messages = dir.join("sipp-messages.log");
        let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sip/burst.xml");
        let child = tokio::process::Command::new("sipp")
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-mp", &free_sip_port().to_string()])
            // Never ends by itself: calls of the dead node wait for a BYE that never comes.
            .args(["-m", "100000", "-l", "10000", "-nostdin"])
            .args(["-trace_msg", "-message_file"])
            .arg(&messages)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "\n\n!!! sipp could not be started ({e}).\n\
                     !!! The SIP burst test needs it: install Debian's sip-tester package.\n\n"
                )
            });
        Self {
            child,
            port,
            messages,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.messages).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("sipp exited with {status}:\n{}", self.log());
        }
    }
}

/// An initial INVITE as sipp received it.
#[derive(Debug, Clone)]
struct Invite {
    call_id: String,
    callback_id: String,
    attempt: String,
    /// The SDP's audio port: which node sent it.
    rtp_port: u16,
    /// The Request-URI's user: the number dialled.
    number: String,
}

/// The value of header `name` in `message` (case-insensitive name).
fn header<'a>(message: &'a str, name: &str) -> Option<&'a str> {
    message.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

/// Every INVITE sipp received, once per Call-ID and CSeq (retransmissions dropped), in order.
fn invites(log: &str) -> Vec<(Invite, u32)> {
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for chunk in log.split("-----------------------------------------------") {
        let Some((_, rest)) = chunk.split_once("message received") else {
            continue;
        };
        let message = rest.split_once("\n\n").map_or("", |(_, m)| m).trim_start();
        let Some(request_line) = message.lines().next() else {
            continue;
        };
        let Some(uri) = request_line.strip_prefix("INVITE ") else {
            continue;
        };
        let cseq = header(message, "CSeq").unwrap_or_default();
        if !cseq.ends_with("INVITE") {
            continue;
        }
        let cseq: u32 = cseq
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        let call_id = header(message, "Call-ID").unwrap_or_default().to_owned();
        if !seen.insert((call_id.clone(), cseq)) {
            continue; // a retransmission
        }
        let rtp_port = message
            .lines()
            .find_map(|l| l.trim().strip_prefix("m=audio "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let number = uri
            .trim_start_matches("sip:")
            .split('@')
            .next()
            .unwrap_or_default()
            .to_owned();
        found.push((
            Invite {
                call_id,
                callback_id: header(message, "X-Ringback-Callback-Id")
                    .unwrap_or_default()
                    .to_owned(),
                attempt: header(message, "X-Ringback-Attempt")
                    .unwrap_or_default()
                    .to_owned(),
                rtp_port,
                number,
            },
            cseq,
        ));
    }
    found
}

/// Initial INVITEs only: one per Call-ID (the first seen; a challenged INVITE is sent again in
/// the same dialog with the next CSeq).
fn initial_invites(log: &str) -> Vec<Invite> {
    let mut calls = BTreeSet::new();
    invites(log)
        .into_iter()
        .filter(|(invite, _)| calls.insert(invite.call_id.clone()))
        .map(|(invite, _)| invite)
        .collect()
}

fn node_of(invite: &Invite) -> Option<usize> {
    (1..=2).find(|&n| rtp_ports(n).contains(&invite.rtp_port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_of_sip_calls_never_invites_an_attempt_twice() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path()).await;
    let api_key = create_account(&db.url).await;
    let mut sipp = Sipp::start(dir.path());
    let sip_port = free_sip_port();
    let first = Server::start(dir.path(), &db.url, &api_key, 1, sip_port).await;
    sipp.assert_running();

    first
        .send(
            reqwest::Method::PUT,
            "/v1/settings",
            Some(
                &json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                          "allow_customer_requested_times": true, "max_attempts": null,
                          "attempt_window_days": 7 }),
            ),
        )
        .await
        .expect(200);
    let trunk = first
        .send(
            reqwest::Method::POST,
            "/v1/trunks",
            Some(&json!({ "name": "sipp", "kind": "sip",
                          "settings": { "proxy": format!("127.0.0.1:{}", sipp.port),
                                        "caller_id": "+14155550100" } })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let first_due = at_ms(3_000);
    let items: Vec<Value> = (0..CALLS)
        .map(|i| {
            let at = Timestamp::from_millisecond(
                first_due.as_millisecond() + SPREAD_MS * i as i64 / CALLS as i64,
            )
            .unwrap();
            json!({ "phone": unique_phone(), "scheduled_at": at.to_string(),
                    "trunk_id": trunk, "max_duration_seconds": MAX_DURATION_SECONDS })
        })
        .collect();
    let batch = first
        .send(
            reqwest::Method::POST,
            "/v1/callbacks/batch",
            Some(&json!({ "callbacks": items })),
        )
        .await;
    let batch = batch.expect(200).clone();
    assert_eq!(batch["created"], CALLS, "{batch}");
    // Each callback's id, number and due time.
    let mut callbacks: BTreeMap<String, (String, Timestamp)> = BTreeMap::new();
    for (result, item) in batch["results"].as_array().unwrap().iter().zip(&items) {
        callbacks.insert(
            result["id"].as_str().unwrap().to_owned(),
            (
                item["phone"].as_str().unwrap().to_owned(),
                ts(&item["scheduled_at"]),
            ),
        );
    }
    assert!(
        Timestamp::now() < first_due,
        "creating the callbacks took too long: the burst began before the test watched it"
    );

    // Kill the server once some INVITEs have reached sipp, and before all have.
    let deadline = Instant::now() + Duration::from_secs(15);
    let seen_at_kill = loop {
        let seen = initial_invites(&sipp.log()).len();
        if seen >= KILL_AFTER {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "only {seen} INVITEs reached sipp in 15 s; the server's log:\n{}",
            tail(&first.log)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    first.kill();
    let killed_at = Timestamp::now();
    let mut first = first;
    tokio::time::timeout(Duration::from_secs(5), first.child.wait())
        .await
        .expect("ringback dies at SIGKILL")
        .unwrap();
    let first_log = first.log.clone();
    drop(first);
    assert!(
        seen_at_kill < CALLS,
        "all {CALLS} INVITEs were out before the kill ({seen_at_kill}): the test proves nothing"
    );

    let second = Server::start(dir.path(), &db.url, &api_key, 2, sip_port).await;

    // Run until every callback is in a final or recall state (the calls the new node placed
    // have ended, the dead node's were swept as node_lost), or until the time limit.
    let limit = started + Duration::from_secs(55);
    let (statuses, settled) = loop {
        let page = second
            .send(reqwest::Method::GET, "/v1/callbacks?limit=200", None)
            .await;
        // A callback `scheduled` again after an attempt waits for a recall.
        let statuses: BTreeMap<String, String> = page.expect(200)["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|cb| {
                let status = cb["status"].as_str().unwrap();
                let recall = status == "scheduled" && cb["attempt_count"].as_u64() > Some(0);
                (
                    cb["id"].as_str().unwrap().to_owned(),
                    (if recall { "recall" } else { status }).to_owned(),
                )
            })
            .collect();
        let settled = statuses.len() == CALLS
            && statuses.values().all(|status| {
                !matches!(status.as_str(), "scheduled" | "dispatching" | "in_progress")
            });
        if settled || Instant::now() >= limit {
            break (statuses, settled);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    sipp.assert_running();
    let log = sipp.log();
    let invites = initial_invites(&log);

    // 1. No attempt INVITEd twice: one Call-ID per (callback id, attempt).
    let mut by_attempt: BTreeMap<(String, String), Vec<&Invite>> = BTreeMap::new();
    for invite in &invites {
        assert!(
            callbacks.contains_key(&invite.callback_id),
            "an INVITE without a known X-Ringback-Callback-Id: {invite:?}"
        );
        assert!(
            node_of(invite).is_some(),
            "an INVITE whose SDP port is in neither node's --rtp-ports: {invite:?}"
        );
        assert_eq!(
            invite.number, callbacks[&invite.callback_id].0,
            "the INVITE dials its callback's number"
        );
        by_attempt
            .entry((invite.callback_id.clone(), invite.attempt.clone()))
            .or_default()
            .push(invite);
    }
    let twice: Vec<_> = by_attempt
        .iter()
        .filter(|(_, calls)| calls.len() > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "{} attempts were INVITEd more than once (distinct Call-IDs): {twice:#?}",
        twice.len()
    );

    // 2. What each node dialled, and what became of every callback.
    let mut reads = BTreeMap::new();
    for id in callbacks.keys() {
        let cb = second
            .send(reqwest::Method::GET, &format!("/v1/callbacks/{id}"), None)
            .await;
        reads.insert(id.clone(), cb.expect(200).clone());
    }
    let dialled_by = |node: usize| -> BTreeSet<&str> {
        invites
            .iter()
            .filter(|i| node_of(i) == Some(node))
            .map(|i| i.callback_id.as_str())
            .collect()
    };
    let (before, after) = (dialled_by(1), dialled_by(2));
    let node_lost = |cb: &Value| {
        cb["attempts"].as_array().is_some_and(|attempts| {
            attempts.iter().any(|a| {
                a["sip_reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("node_lost"))
            })
        })
    };
    let mut never_dialled = Vec::new();
    let mut lost_unsent = Vec::new();
    for (id, (_, due)) in &callbacks {
        if before.contains(id.as_str()) || after.contains(id.as_str()) {
            continue;
        }
        let due_after_kill_ms = due.as_millisecond() - killed_at.as_millisecond();
        if node_lost(&reads[id]) {
            lost_unsent.push((id.clone(), due_after_kill_ms));
        } else {
            never_dialled.push((id.clone(), due_after_kill_ms, reads[id]["status"].clone()));
        }
    }
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for status in statuses.values() {
        *states.entry(status.clone()).or_default() += 1;
    }
    let lost_after_invite = callbacks
        .keys()
        .filter(|id| before.contains(id.as_str()) && node_lost(&reads[*id]))
        .count();
    println!(
        "sip burst: {CALLS} callbacks; {seen_at_kill} INVITEs seen when the server was killed; \
         INVITEd by the killed node: {}, by the restarted node: {}, by both: {}; \
         ended node_lost after the killed node's INVITE (taken over or swept): \
         {lost_after_invite}; \
         never INVITEd, ended node_lost (claim inside the dead node's send horizon): {} \
         (due, ms after the kill: {:?}); \
         statuses {states:?}; settled: {settled}; {:.1} s",
        before.len(),
        after.len(),
        before.intersection(&after).count(),
        lost_unsent.len(),
        lost_unsent.iter().map(|(_, ms)| ms).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64(),
    );

    // 3. A callback not INVITEd before the kill was dialled after the restart, or its claim
    // was inside the dead node's send horizon (due by then, give or take the horizon's lead and
    // the claim's second ahead) and it ended `node_lost`.
    assert!(
        never_dialled.is_empty(),
        "{} callbacks never INVITEd before the kill were not dialled after the restart \
         (id, due ms after the kill, status): {never_dialled:?}\nthe restarted node's log:\n{}",
        never_dialled.len(),
        tail(&second.log)
    );
    for (id, due_after_kill_ms) in &lost_unsent {
        assert!(
            *due_after_kill_ms <= 1_500,
            "{id}, due {due_after_kill_ms} ms after the kill, was never INVITEd and ended \
             node_lost: {}",
            reads[id]
        );
    }
    assert!(
        settled,
        "not settled within the time limit: statuses {states:?}; the killed node's log:\n{}\n\
         the restarted node's log:\n{}",
        tail(&first_log),
        tail(&second.log)
    );
    // Every callback ended with an outcome: what the restarted node dialled as sipp answered
    // it, what the killed node dialled either so (a busy line, recorded before the kill) or
    // as node_lost.
    for (id, cb) in &reads {
        let status = cb["status"].as_str().unwrap();
        assert!(
            matches!(status, "completed" | "failed" | "scheduled"),
            "{id} is {status}: {cb}"
        );
        assert!(!cb["outcome"].is_null() || status == "scheduled", "{cb}");
        // A live node's call is never ended as lost. (It would be if recording the dispatch's
        // acceptance outlasted the claim's lease: the node's other claimer takes the claim
        // over as a resend and ends the live call node_lost.)
        if after.contains(id.as_str()) {
            assert!(
                !node_lost(cb),
                "{id}, dialled after the restart, ended node_lost while its call was live: {cb}"
            );
        }
    }
}
