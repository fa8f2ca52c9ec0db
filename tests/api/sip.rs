//! Calls on a `sip` trunk, placed by Ringback's SIP user agent against sipp playing the
//! customer's phone (or the carrier's proxy) on 127.0.0.1: answered and hung up at the duration
//! cap, busy, rung out and CANCELed, refused, and a 407 challenge answered with the trunk's
//! digest credentials. sipp must be installed (`.ci/run` installs Debian's `sip-tester`); a
//! test fails, saying so, without it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::*;

const CALLER_ID: &str = "+14155550100";

/// sipp running one scenario once, as the far end of a trunk.
pub(crate) struct Sipp {
    child: Child,
    pub(crate) port: u16,
    messages: PathBuf,
    _dir: tempfile::TempDir,
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sip")
        .join(format!("{name}.xml"))
}

impl Sipp {
    /// Runs scenario `name` with each `(placeholder, value)` of `fill` written into it.
    pub(crate) async fn start(name: &str, fill: &[(&str, &str)]) -> Self {
        Self::start_for(name, fill, 1).await
    }

    /// Like [`Sipp::start`], for `calls` calls (run side by side as they come).
    pub(crate) async fn start_for(name: &str, fill: &[(&str, &str)], calls: u32) -> Self {
        Self::start_on("u1", name, fill, calls).await
    }

    /// Like [`Sipp::start_for`], on sipp's `transport` (`u1` UDP, `t1` TCP).
    async fn start_on(transport: &str, name: &str, fill: &[(&str, &str)], calls: u32) -> Self {
        // A port free on UDP, and on TCP too for a sipp that listens on TCP.
        let port = loop {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
            let port = socket.local_addr().unwrap().port();
            if transport != "t1" || std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let messages = dir.path().join("messages.log");
        let mut text = std::fs::read_to_string(scenario(name)).unwrap();
        for (placeholder, value) in fill {
            text = text.replace(placeholder, value);
        }
        let file = dir.path().join(format!("{name}.xml"));
        std::fs::write(&file, text).unwrap();
        let mut command = Command::new("sipp");
        command
            .arg("-sf")
            .arg(&file)
            .args([
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-m",
                &calls.to_string(),
                "-t",
                transport,
                "-nostdin",
            ])
            .args([
                "-timeout",
                "60s",
                "-timeout_error",
                "-trace_msg",
                "-message_file",
            ])
            .arg(&messages)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("sipp could not be started ({e}): install Debian's sip-tester package")
        });
        // sipp binds its port at once; give it a moment before the INVITE comes.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Self {
            child,
            port,
            messages,
            _dir: dir,
        }
    }

    /// The messages sipp has seen so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.messages).unwrap_or_default()
    }

    /// Waits for the scenario to end; its exit status says whether every step happened.
    async fn finish(mut self) -> (bool, String) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("sipp ends its scenario within a minute")
            .unwrap();
        let log = std::fs::read_to_string(&self.messages).unwrap_or_default();
        (status.success(), log)
    }
}

async fn sip_app() -> TestApp {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.sip_listen = Some("127.0.0.1:0".parse().unwrap());
        c.ring_timeout_seconds = 2;
    })
    .await;
    app.any_hour().await;
    app
}

async fn sip_trunk(app: &TestApp, sipp: &Sipp, extra: Value) -> String {
    let mut settings = json!({ "proxy": format!("127.0.0.1:{}", sipp.port),
                               "caller_id": CALLER_ID });
    if let (Value::Object(s), Value::Object(extra)) = (&mut settings, extra) {
        s.extend(extra);
    }
    app.post_json(
        "/v1/trunks",
        &json!({ "name": "Carrier", "kind": "sip", "settings": settings }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The digest credentials of the trunks that face a challenging peer.
fn credentials() -> Value {
    json!({ "username": "acme", "password": "s3cret" })
}

/// A callback on `trunk` due at once; its id and phone.
async fn call(app: &TestApp, trunk: &str, extra: Value) -> (String, String) {
    let phone = unique_phone();
    let mut body = new_callback(&phone, &in_ms(200));
    body["trunk_id"] = json!(trunk);
    if let (Value::Object(b), Value::Object(extra)) = (&mut body, extra) {
        b.extend(extra);
    }
    (
        app.create(&body).await["id"].as_str().unwrap().to_owned(),
        phone,
    )
}

/// Waits until the callback's first attempt has an outcome and the callback has left the
/// call; the callback with its attempts.
async fn ended(app: &TestApp, id: &str) -> Value {
    eventually(Duration::from_secs(40), "the call's outcome", || async {
        let cb = app
            .get(&format!("/v1/callbacks/{id}"))
            .await
            .expect(200)
            .clone();
        // The callback and its attempts are read one after the other: both must show the end.
        let over = !cb["attempts"][0]["outcome"].is_null()
            && !matches!(cb["status"].as_str(), Some("in_progress" | "dispatching"));
        over.then_some(cb)
    })
    .await
}

#[tokio::test]
async fn an_answered_call_carries_the_caller_id_and_is_hung_up_at_its_duration_cap() {
    let app = sip_app().await;
    let sipp = Sipp::start("answer", &[("CODECS", "0")]).await;
    let trunk = sip_trunk(&app, &sipp, json!({})).await;
    let started = Instant::now();
    let (id, phone) = call(&app, &trunk, json!({ "max_duration_seconds": 10 })).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp's scenario (answer, then BYE) completed:\n{log}");
    assert_eq!(cb["outcome"], "answered", "{cb}");
    assert_eq!(cb["status"], "completed");
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["sip_code"], 200, "{attempt}");
    let duration = attempt["duration_seconds"].as_u64().unwrap();
    assert!(
        (9..=11).contains(&duration),
        "hung up at the 10 s cap: {duration}"
    );
    assert!(started.elapsed() >= Duration::from_secs(10));
    let invite = log
        .split("\n\n")
        .find(|m| m.contains("INVITE sip:"))
        .expect("sipp logged the INVITE");
    assert!(
        invite.contains(&format!(
            "INVITE sip:{phone}@127.0.0.1:{}",
            sipp_port(&log, invite)
        )),
        "the Request-URI names the number: {invite}"
    );
    assert!(
        invite.contains(&format!("sip:{CALLER_ID}@127.0.0.1")),
        "From carries the caller ID: {invite}"
    );
    assert!(invite.contains(&format!("X-Ringback-Callback-Id: {id}")));
    assert!(log.contains("BYE sip:"), "Ringback sent the BYE");
}

#[tokio::test]
async fn an_answer_without_a_common_codec_is_hung_up_as_failed() {
    let app = sip_app().await;
    // G.729 only, where Ringback offers PCMU and PCMA.
    let sipp = Sipp::start("answer", &[("CODECS", "18")]).await;
    let trunk = sip_trunk(&app, &sipp, json!({})).await;
    let (id, _) = call(&app, &trunk, json!({})).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp got the BYE:\n{log}");
    assert_eq!(cb["outcome"], "failed", "{cb}");
    let reason = cb["attempts"][0]["sip_reason"].as_str().unwrap();
    assert!(reason.starts_with("no common codec"), "{reason}");
}

#[tokio::test]
async fn a_stopping_server_lets_a_live_call_finish() {
    let app = sip_app().await;
    let sipp = Sipp::start("answer", &[("CODECS", "0")]).await;
    let trunk = sip_trunk(&app, &sipp, json!({})).await;
    let (id, _) = call(&app, &trunk, json!({ "max_duration_seconds": 10 })).await;
    app.wait_for_status(&id, "in_progress", WAIT).await;
    tokio::time::sleep(Duration::from_secs(1)).await; // answered by now
    let stop = Instant::now();
    app.shutdown.cancel();
    let mut stopped = app.stopped.clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !*stopped.borrow(),
        "the server waits for the call under way"
    );
    tokio::time::timeout(Duration::from_secs(30), stopped.wait_for(|done| *done))
        .await
        .expect("the server stops once the call has ended")
        .unwrap();
    assert!(
        stop.elapsed() >= Duration::from_secs(7),
        "{:?}",
        stop.elapsed()
    );
    let (ok, log) = sipp.finish().await;
    assert!(ok, "the call ended with Ringback's BYE at its cap:\n{log}");
    // The outcome was recorded before the server stopped.
    let cb_id = ringback::domain::CallbackId::parse(&id).unwrap();
    let account = ringback::domain::AccountId::from_trusted(app.account_id.clone());
    let cb = app
        .store
        .get_callback(&account, &cb_id)
        .await
        .unwrap()
        .expect("the callback is stored");
    assert_eq!(cb.outcome, Some(ringback::domain::Outcome::Answered));
}

/// The port in the INVITE's Request-URI (sipp's own).
fn sipp_port(_log: &str, invite: &str) -> String {
    invite
        .split_once("@127.0.0.1:")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn final_failures_become_outcomes_with_their_sip_code() {
    let app = sip_app().await;
    // Each callback has a recall policy: busy and failed calls are called again, a number the
    // network does not know never is.
    for (code, reason, outcome, recalled) in [
        ("486", "Busy Here", "busy", true),
        ("503", "Service Unavailable", "failed", true),
        ("404", "Not Found", "invalid_number", false),
        ("604", "Does Not Exist Anywhere", "invalid_number", false),
    ] {
        let sipp = Sipp::start("reject", &[("CODE", code), ("REASON", reason)]).await;
        let trunk = sip_trunk(&app, &sipp, json!({})).await;
        // The number is a stored contact's: an invalid number is flagged on it.
        let phone = unique_phone();
        let contact = app
            .post_json("/v1/contacts", &json!({ "phone": phone }))
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut body = new_callback(&phone, &in_ms(200));
        body["trunk_id"] = json!(trunk);
        body["recall"] = json!([60]);
        let id = app.create(&body).await["id"].as_str().unwrap().to_owned();
        let cb = ended(&app, &id).await;
        let flagged = app
            .get(&format!("/v1/contacts/{contact}"))
            .await
            .expect(200)["phone_invalid_at"]
            .clone();
        assert_eq!(
            flagged.is_string(),
            outcome == "invalid_number",
            "{code}: the contact's phone_invalid_at is {flagged}"
        );
        let (ok, log) = sipp.finish().await;
        assert!(ok, "sipp's scenario ({code}) completed:\n{log}");
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["outcome"], outcome, "{code}: {cb}");
        assert_eq!(
            attempt["sip_code"],
            code.parse::<u64>().unwrap(),
            "{attempt}"
        );
        assert_eq!(attempt["sip_reason"], reason, "{attempt}");
        if recalled {
            assert_eq!(
                cb["status"], "scheduled",
                "{code}: a recall is scheduled: {cb}"
            );
            assert!(!cb["next_attempt_at"].is_null(), "{cb}");
        } else {
            assert_eq!(cb["status"], "failed", "{code}: {cb}");
            assert_eq!(cb["outcome"], outcome);
            assert!(
                cb["next_attempt_at"].is_null(),
                "{code}: never recalled: {cb}"
            );
        }
    }
}

#[tokio::test]
async fn a_call_nobody_answers_is_canceled_at_the_ring_timeout() {
    let app = sip_app().await;
    // The server's ring timeout (2 s here)...
    let sipp = Sipp::start("ring", &[]).await;
    let trunk = sip_trunk(&app, &sipp, json!({})).await;
    let (id, _) = call(&app, &trunk, json!({})).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp saw the CANCEL:\n{log}");
    assert!(log.contains("CANCEL sip:"), "{log}");
    assert_eq!(cb["outcome"], "no_answer", "{cb}");
    assert_eq!(cb["attempts"][0]["sip_reason"], "no answer in 2 s (CANCEL)");

    // ... or the callback's own.
    let sipp = Sipp::start("ring", &[]).await;
    let trunk = sip_trunk(&app, &sipp, json!({})).await;
    let (id, _) = call(&app, &trunk, json!({ "ring_timeout_seconds": 5 })).await;
    assert_eq!(app.get_callback(&id).await["ring_timeout_seconds"], 5);
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp saw the CANCEL:\n{log}");
    assert_eq!(cb["attempts"][0]["sip_reason"], "no answer in 5 s (CANCEL)");

    for bad in [json!(4), json!(301), json!("10")] {
        let mut body = new_callback(&unique_phone(), &in_ms(60_000));
        body["ring_timeout_seconds"] = bad;
        app.post_callback(&body).await.expect_field_error(
            400,
            "invalid_field",
            "ring_timeout_seconds",
        );
    }
}

#[tokio::test]
async fn a_401_challenge_is_answered_with_the_trunks_credentials() {
    let app = sip_app().await;
    let sipp = Sipp::start("auth", &[("USER", "acme"), ("PASS", "s3cret")]).await;
    let trunk = sip_trunk(&app, &sipp, credentials()).await;
    let (id, _) = call(&app, &trunk, json!({ "max_duration_seconds": 10 })).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp verified the digest:\n{log}");
    assert!(log.contains("Authorization: Digest"), "{log}");
    assert_eq!(cb["outcome"], "answered", "{cb}");

    // Wrong credentials: sipp answers 403 and the call fails.
    let sipp = Sipp::start("auth", &[("USER", "acme"), ("PASS", "other")]).await;
    let trunk = sip_trunk(&app, &sipp, credentials()).await;
    let (id, _) = call(&app, &trunk, json!({})).await;
    let cb = ended(&app, &id).await;
    let _ = sipp.finish().await;
    assert_eq!(cb["outcome"], "failed", "{cb}");
    assert_eq!(cb["attempts"][0]["sip_code"], 403);
}

/// The value of `key` in a digest header (`key="value"` or `key=value`).
fn digest_param<'a>(header: &'a str, key: &str) -> &'a str {
    let start = header
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("{key} in {header}"))
        + key.len()
        + 1;
    let rest = &header[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap()],
        None => rest.split([',', '\r', '\n']).next().unwrap().trim(),
    }
}

#[tokio::test]
async fn a_407_challenge_is_answered_with_a_digest_of_the_trunks_credentials() {
    use md5::{Digest, Md5};
    let md5 = |text: String| hex::encode(Md5::digest(text.as_bytes()));

    let app = sip_app().await;
    let sipp = Sipp::start("auth407", &[]).await;
    let trunk = sip_trunk(&app, &sipp, credentials()).await;
    let (id, _) = call(&app, &trunk, json!({ "max_duration_seconds": 10 })).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp's scenario completed:\n{log}");
    assert_eq!(cb["outcome"], "answered", "{cb}");
    let header = log
        .lines()
        .find(|l| l.starts_with("Proxy-Authorization: Digest"))
        .unwrap_or_else(|| panic!("the second INVITE carries Proxy-Authorization:\n{log}"));
    assert_eq!(digest_param(header, "username"), "acme");
    assert_eq!(digest_param(header, "realm"), "ringback.test");
    let uri = digest_param(header, "uri");
    let nonce = digest_param(header, "nonce");
    let ha1 = md5("acme:ringback.test:s3cret".to_owned());
    let ha2 = md5(format!("INVITE:{uri}"));
    assert_eq!(
        digest_param(header, "response"),
        md5(format!("{ha1}:{nonce}:{ha2}")),
        "the digest is the trunk's password's: {header}"
    );
}

/// The SIP message of `log` (sipp's) that starts with `first_line`.
fn message<'a>(log: &'a str, first_line: &str) -> &'a str {
    log.split("\n\n")
        .find(|m| m.contains(first_line))
        .unwrap_or_else(|| panic!("sipp logged no {first_line}:\n{log}"))
}

#[tokio::test]
async fn an_ai_call_connects_the_answered_customer_to_the_bot_with_the_calls_context() {
    let app = sip_app().await;
    let customer = Sipp::start("answer", &[("CODECS", "8 0")]).await;
    let bot = Sipp::start("answer", &[("CODECS", "8")]).await;
    let trunk = sip_trunk(&app, &customer, json!({})).await;
    let bot_uri = format!("sip:bot@127.0.0.1:{}", bot.port);
    let settings = app.get("/v1/settings").await.expect(200).clone();
    let mut put = settings.clone();
    put["ai_sip_uri"] = json!(bot_uri);
    let saved = app
        .request(reqwest::Method::PUT, "/v1/settings", Some(&put))
        .await;
    assert_eq!(saved.expect(200)["ai_sip_uri"], bot_uri.as_str());
    let (id, phone) = call(
        &app,
        &trunk,
        json!({ "dialing_mode": "ai", "max_duration_seconds": 10,
                "initial_message": "Hi Ana, this is Acme about your invoice.",
                "contact_name": "Ana Silva", "metadata": { "invoice": "A-17" } }),
    )
    .await;
    let cb = ended(&app, &id).await;
    let (customer_ok, customer_log) = customer.finish().await;
    let (bot_ok, bot_log) = bot.finish().await;
    assert!(
        customer_ok,
        "the customer was answered and hung up:\n{customer_log}"
    );
    assert!(bot_ok, "the bot was called and hung up:\n{bot_log}");
    assert_eq!(cb["outcome"], "answered", "{cb}");
    let attempt = &cb["attempts"][0];
    let reason = attempt["sip_reason"].as_str().unwrap();
    assert!(
        reason.contains(&bot_uri) && reason.contains("duration cap"),
        "{reason}"
    );
    let invite = message(&bot_log, "INVITE sip:bot@");
    for header in [
        format!("X-Ringback-Callback-Id: {id}"),
        "X-Ringback-Attempt: 1".to_owned(),
        format!("X-Ringback-Phone: {phone}"),
        "X-Ringback-Contact-Name: Ana Silva".to_owned(),
        "X-Ringback-Initial-Message: Hi Ana, this is Acme about your invoice.".to_owned(),
        r#"X-Ringback-Metadata: {"invoice":"A-17"}"#.to_owned(),
        format!("sip:{phone}@127.0.0.1"),
    ] {
        assert!(
            invite.contains(&header),
            "the bot's INVITE carries {header}:\n{invite}"
        );
    }
    // The bot is offered the codec the customer answered with, and only that.
    assert!(
        invite.contains("RTP/AVP 8\r\n") || invite.contains("RTP/AVP 8\n"),
        "{invite}"
    );
    // The bot was called after the customer answered.
    assert!(message(&bot_log, "BYE sip:").contains("BYE"));
}

#[tokio::test]
async fn an_ai_call_whose_bot_refuses_hangs_up_the_customer_and_fails() {
    let app = sip_app().await;
    let customer = Sipp::start("answer", &[("CODECS", "0")]).await;
    let bot = Sipp::start(
        "reject",
        &[("CODE", "503"), ("REASON", "Service Unavailable")],
    )
    .await;
    let trunk = sip_trunk(&app, &customer, json!({})).await;
    let mut put = app.get("/v1/settings").await.expect(200).clone();
    put["ai_sip_uri"] = json!(format!("sip:bot@127.0.0.1:{}", bot.port));
    app.request(reqwest::Method::PUT, "/v1/settings", Some(&put))
        .await
        .expect(200);
    let (id, _) = call(&app, &trunk, json!({ "dialing_mode": "ai" })).await;
    let cb = ended(&app, &id).await;
    let (customer_ok, customer_log) = customer.finish().await;
    let (bot_ok, bot_log) = bot.finish().await;
    assert!(customer_ok, "the customer got a BYE:\n{customer_log}");
    assert!(bot_ok, "{bot_log}");
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["outcome"], "failed", "{cb}");
    assert_eq!(attempt["sip_code"], 503, "{attempt}");
    let reason = attempt["sip_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("the AI agent sip:bot@") && reason.ends_with("Service Unavailable"),
        "{reason}"
    );
}

#[tokio::test]
async fn an_ai_call_without_a_bot_to_connect_is_not_dialled() {
    let app = sip_app().await;
    let customer = Sipp::start("answer", &[("CODECS", "0")]).await;
    let trunk = sip_trunk(&app, &customer, json!({})).await;
    let (id, _) = call(&app, &trunk, json!({ "dialing_mode": "ai" })).await;
    let failure = eventually(Duration::from_secs(20), "a refused dispatch", || async {
        let cb = app.get_callback(&id).await;
        cb["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "callback.dispatch_failed")
            .cloned()
    })
    .await;
    assert!(failure.to_string().contains("ai_sip_uri"), "{failure}");
    assert!(
        !std::fs::read_to_string(&customer.messages)
            .unwrap_or_default()
            .contains("INVITE sip:"),
        "nobody was called"
    );
    // A bad URI is refused by name.
    let mut put = app.get("/v1/settings").await.expect(200).clone();
    put["ai_sip_uri"] = json!("tel:+14155550100");
    app.request(reqwest::Method::PUT, "/v1/settings", Some(&put))
        .await
        .expect_field_error(400, "invalid_field", "ai_sip_uri");
}

#[tokio::test]
async fn progressive_calls_ring_only_for_free_agents_and_reach_the_reserved_one() {
    let app = sip_app().await;
    let customers = Sipp::start_for("answer", &[("CODECS", "0")], 3).await;
    let desks = [
        Sipp::start_for("answer", &[("CODECS", "0 8")], 2).await,
        Sipp::start_for("answer", &[("CODECS", "0 8")], 2).await,
    ];
    let trunk = sip_trunk(&app, &customers, json!({})).await;
    let mut agents = Vec::new();
    for (n, desk) in desks.iter().enumerate() {
        agents.push(agent_at(&app, desk, &format!("agent{n}")).await);
    }
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (id, _) = call(
            &app,
            &trunk,
            json!({ "dialing_mode": "progressive", "max_duration_seconds": 10 }),
        )
        .await;
        ids.push(id);
    }
    // Never more calls under way than agents: poll until all three have ended.
    let mut most = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let finished = loop {
        let mut live = 0;
        let mut done = Vec::new();
        for id in &ids {
            let cb = app.get_callback(id).await;
            match cb["status"].as_str() {
                Some("dispatching" | "in_progress") => live += 1,
                Some("completed" | "failed") => done.push(cb),
                _ => {}
            }
        }
        most = most.max(live);
        if done.len() == ids.len() {
            break done;
        }
        assert!(
            Instant::now() < deadline,
            "the three calls did not end in a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(most, 2, "at most two calls at once, for two agents");
    let mut ends = Vec::new();
    let mut starts = Vec::new();
    for cb in &finished {
        assert_eq!(cb["outcome"], "answered", "{cb}");
        let attempt = &cb["attempts"][0];
        let agent = attempt["agent_id"]
            .as_str()
            .expect("the attempt names its agent");
        assert!(agents.iter().any(|a| a == agent), "{attempt}");
        assert!(
            attempt["sip_reason"].as_str().unwrap().contains(agent),
            "{attempt}"
        );
        starts.push(ts(&attempt["started_at"]));
        ends.push(ts(&attempt["ended_at"]));
    }
    // The third call was dialled only once one of the first two had ended.
    starts.sort();
    ends.sort();
    assert!(starts[2] >= ends[0], "{starts:?} {ends:?}");
    // Each desk was called as its own agent.
    let mut connected = 0;
    for (desk, agent) in desks.iter().zip(&agents) {
        let log = desk.log();
        let invites: Vec<&str> = log
            .split("\n\n")
            .filter(|m| m.contains("INVITE sip:agent"))
            .collect();
        for invite in &invites {
            assert!(
                invite.contains(&format!("X-Ringback-Agent-Id: {agent}")),
                "{invite}"
            );
        }
        connected += invites.len();
    }
    assert_eq!(connected, 3, "each answered customer reached an agent");
    assert_eq!(
        customers.log().matches("INVITE sip:+").count(),
        3,
        "each customer was dialled once"
    );
}

/// An available agent reached at `desk`; its id.
async fn agent_at(app: &TestApp, desk: &Sipp, name: &str) -> String {
    app.available_agent(
        json!({ "name": name, "sip_uri": format!("sip:{name}@127.0.0.1:{}", desk.port) }),
    )
    .await
}

/// Waits until `agent` is offered `id`, then accepts it; the accepted callback.
async fn accept_when_offered(app: &TestApp, agent: &str, id: &str) -> Value {
    app.wait_for_status(id, "offered", WAIT).await;
    app.post_json(
        &format!("/v1/agents/{agent}/callbacks/{id}/accept"),
        &json!({}),
    )
    .await
    .expect(200)
    .clone()
}

/// When sipp logged the message starting with `first_line` (its trace's timestamp line).
fn logged_at(log: &str, first_line: &str) -> String {
    let at = log
        .find(first_line)
        .unwrap_or_else(|| panic!("sipp logged no {first_line}:\n{log}"));
    log[..at]
        .lines()
        .rev()
        .find_map(|line| {
            let stamp = line.trim_start_matches('-').trim();
            (stamp.len() >= 19 && stamp.as_bytes()[4] == b'-').then(|| stamp.to_owned())
        })
        .unwrap_or_else(|| panic!("no timestamp before {first_line}:\n{log}"))
}

#[tokio::test]
async fn accepting_a_preview_offer_rings_the_agent_first_then_the_customer() {
    let app = sip_app().await;
    let customer = Sipp::start("answer", &[("CODECS", "0 8")]).await;
    let desk = Sipp::start("answer", &[("CODECS", "8")]).await;
    let trunk = sip_trunk(&app, &customer, json!({})).await;
    let ann = agent_at(&app, &desk, "ann").await;
    let (id, phone) = call(
        &app,
        &trunk,
        json!({ "dialing_mode": "preview", "max_duration_seconds": 10 }),
    )
    .await;
    let accepted = accept_when_offered(&app, &ann, &id).await;
    assert_eq!(accepted["agent_id"], ann.as_str(), "{accepted}");
    let cb = ended(&app, &id).await;
    let (desk_ok, desk_log) = desk.finish().await;
    let (customer_ok, customer_log) = customer.finish().await;
    assert!(desk_ok, "the agent answered and got a BYE:\n{desk_log}");
    assert!(
        customer_ok,
        "the customer answered and got a BYE:\n{customer_log}"
    );
    assert_eq!(cb["outcome"], "answered", "{cb}");
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["agent_id"], ann.as_str(), "{attempt}");
    let agent_invite = message(&desk_log, "INVITE sip:ann@");
    assert!(
        agent_invite.contains(&format!("X-Ringback-Agent-Id: {ann}")),
        "{agent_invite}"
    );
    assert!(
        agent_invite.contains(&format!("X-Ringback-Phone: {phone}")),
        "{agent_invite}"
    );
    // The customer is offered the codec the agent answered with.
    let customer_invite = message(&customer_log, "INVITE sip:");
    assert!(
        customer_invite.contains("RTP/AVP 8\r\n") || customer_invite.contains("RTP/AVP 8\n"),
        "{customer_invite}"
    );
    // The agent's phone rang first.
    let (agent_rang, customer_rang) = (
        logged_at(&desk_log, "INVITE sip:ann@"),
        logged_at(&customer_log, "INVITE sip:"),
    );
    assert!(agent_rang < customer_rang, "{agent_rang} < {customer_rang}");
}

#[tokio::test]
async fn a_preview_call_whose_agent_does_not_answer_never_rings_the_customer() {
    let app = sip_app().await;
    let customer = Sipp::start("answer", &[("CODECS", "0")]).await;
    let desk = Sipp::start(
        "reject",
        &[("CODE", "480"), ("REASON", "Temporarily Unavailable")],
    )
    .await;
    let trunk = sip_trunk(&app, &customer, json!({})).await;
    let ann = agent_at(&app, &desk, "ann").await;
    let (id, _) = call(&app, &trunk, json!({ "dialing_mode": "preview" })).await;
    accept_when_offered(&app, &ann, &id).await;
    let cb = ended(&app, &id).await;
    let (desk_ok, desk_log) = desk.finish().await;
    assert!(desk_ok, "{desk_log}");
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["outcome"], "failed", "{cb}");
    let reason = attempt["sip_reason"].as_str().unwrap();
    assert!(reason.starts_with(&format!("agent {ann}")), "{reason}");
    assert!(
        !customer.log().contains("INVITE sip:"),
        "the customer was not called"
    );
}

#[tokio::test]
async fn a_tcp_trunk_places_and_ends_its_calls_over_one_tcp_connection() {
    let app = sip_app().await;
    let sipp = Sipp::start_on("t1", "answer", &[("CODECS", "0")], 1).await;
    let trunk = sip_trunk(&app, &sipp, json!({ "transport": "tcp" })).await;
    let (id, phone) = call(&app, &trunk, json!({ "max_duration_seconds": 10 })).await;
    let cb = ended(&app, &id).await;
    let (ok, log) = sipp.finish().await;
    assert!(ok, "sipp (TCP) answered and got Ringback's BYE:\n{log}");
    assert_eq!(cb["outcome"], "answered", "{cb}");
    let invite = message(&log, "INVITE sip:");
    assert!(invite.contains(&format!("INVITE sip:{phone}@")), "{invite}");
    assert!(
        invite.contains("SIP/2.0/TCP"),
        "the INVITE came over TCP: {invite}"
    );
    assert!(log.contains("BYE sip:"), "{log}");
}
