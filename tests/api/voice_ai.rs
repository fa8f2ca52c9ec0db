//! `vapi` and `retell` trunks: each vendor's create request checked field by field against its
//! SDK's type definitions, its webhooks' signatures checked (Retell's computed by its own SDK),
//! and a whole call each against a stand-in for the vendor that answers the create request as
//! documented and then plays the end-of-call webhook to Ringback. The stand-in also serves as
//! an AI-calls call's `webhook_url`, which hears the dialect's own lifecycle.

use std::{
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, http::StatusCode, routing::post};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::*;

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
}

#[derive(Clone)]
struct StandIn {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<(u16, Value)>>,
}

impl StandIn {
    /// A vendor stand-in answering every POST with `status` and `body`.
    async fn start(status: u16, body: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stand_in = StandIn {
            url,
            received: Arc::default(),
            answer: Arc::new(Mutex::new((status, body))),
        };
        async fn take(
            State(s): State<StandIn>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, axum::Json<Value>) {
            s.received.lock().unwrap().push(Received {
                path: uri.path().to_owned(),
                headers,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            });
            let (status, body) = s.answer.lock().unwrap().clone();
            (StatusCode::from_u16(status).unwrap(), axum::Json(body))
        }
        let router = Router::new()
            .route("/{*path}", post(take))
            .with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        stand_in
    }

    async fn wait_for(&self, path: &str, n: usize) -> Vec<Received> {
        eventually(Duration::from_secs(20), path, || async {
            let got: Vec<Received> = self
                .received
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.path == path)
                .cloned()
                .collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// The vendors' SDK type definitions, read by `tests/vendor/fields.mjs`.
fn sdk_fields() -> Value {
    let out = Command::new("node")
        .arg("tests/vendor/fields.mjs")
        .output()
        .expect("node runs (the vendor reference tests need Node.js; .ci/run installs it)");
    assert!(
        out.status.success(),
        "tests/vendor/fields.mjs failed (run `npm ci` in tests/vendor): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every key of `object` is a field `fields` declares.
fn declared(object: &Value, fields: &Value, what: &str) {
    let fields: Vec<&str> = fields
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for key in object
        .as_object()
        .unwrap_or_else(|| panic!("{what} is an object"))
        .keys()
    {
        assert!(
            fields.contains(&key.as_str()),
            "{what}.{key} is not in the SDK's type ({fields:?})"
        );
    }
}

/// Retell's signature of `body` with `key`, made by Retell's own SDK.
fn retell_sign(body: &str, key: &str) -> String {
    use std::io::Write;
    let mut child = Command::new("node")
        .args(["tests/vendor/retell_sign.mjs", key])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (the vendor reference tests need Node.js; .ci/run installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tests/vendor/retell_sign.mjs failed (run `npm ci` in tests/vendor): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Vapi's HMAC credential with its defaults: hex HMAC-SHA256 of `<timestamp>.<body>`.
fn vapi_sign(body: &str, secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn post_signed(app: &TestApp, path: &str, body: &str, headers: &[(&str, String)]) -> u16 {
    let mut request = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json");
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    request
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn vapi_trunk(app: &TestApp, vendor: &StandIn) -> String {
    let created = app
        .post_json(
            "/v1/trunks",
            &json!({"name": "Vapi", "kind": "vapi", "settings": {
                "api_key": "vapi-private-key", "assistant_id": "asst_123",
                "phone_number_id": "pn_456", "webhook_secret": "whs-vapi",
                "base_url": vendor.url }}),
        )
        .await;
    assert!(
        !created.text.contains("vapi-private-key") && !created.text.contains("whs-vapi"),
        "{}",
        created.text
    );
    let created = created.expect(201);
    assert_eq!(
        created["settings"],
        json!({"assistant_id": "asst_123", "phone_number_id": "pn_456", "api_key_set": true,
               "webhook_secret_set": true, "base_url": vendor.url})
    );
    created["id"].as_str().unwrap().to_owned()
}

async fn retell_trunk(app: &TestApp, vendor: &StandIn) -> String {
    let created = app
        .post_json(
            "/v1/trunks",
            &json!({"name": "Retell", "kind": "retell", "settings": {
                "api_key": "key_retell_1", "agent_id": "agent_9", "from_number": "+14155550100",
                "base_url": vendor.url }}),
        )
        .await;
    assert!(!created.text.contains("key_retell_1"), "{}", created.text);
    let created = created.expect(201);
    assert_eq!(created["settings"]["api_key_set"], true);
    created["id"].as_str().unwrap().to_owned()
}

async fn ai_callback(app: &TestApp, trunk: &str) -> (String, String) {
    let phone = unique_phone();
    let cb = app
        .create(
            &json!({"phone": phone, "scheduled_at": in_ms(1500), "trunk_id": trunk,
                        "dialing_mode": "ai", "contact_name": "Ann Lee",
                        "initial_message": "Hi Ann, about your renewal",
                        "metadata": {"plan": "gold", "seats": 3}}),
        )
        .await;
    (cb["id"].as_str().unwrap().to_owned(), phone)
}

async fn status_of(app: &TestApp, id: &str, want: &str) -> Value {
    eventually(Duration::from_secs(20), want, || async {
        let cb = app.get_callback(id).await;
        (cb["status"] == want).then_some(cb)
    })
    .await
}

#[tokio::test]
async fn a_vapi_call_is_created_as_vapi_documents_and_its_signed_report_ends_the_attempt() {
    let vendor = StandIn::start(201, json!({"id": "vapi-call-1", "status": "queued"})).await;
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let trunk = vapi_trunk(&app, &vendor).await;
    let (id, phone) = ai_callback(&app, &trunk).await;

    let sent = vendor.wait_for("/call", 1).await;
    let req = &sent[0];
    assert_eq!(req.headers["authorization"], "Bearer vapi-private-key");
    let body = &req.body;
    let fields = sdk_fields();
    declared(body, &fields["vapi_call"], "body");
    declared(&body["customer"], &fields["vapi_customer"], "customer");
    declared(
        &body["assistantOverrides"],
        &fields["vapi_overrides"],
        "assistantOverrides",
    );
    declared(
        &body["assistantOverrides"]["artifactPlan"],
        &fields["vapi_artifact_plan"],
        "artifactPlan",
    );
    assert_eq!(body["assistantId"], "asst_123");
    assert_eq!(body["phoneNumberId"], "pn_456");
    assert_eq!(body["customer"]["number"], phone.as_str());
    assert!(
        body.get("schedulePlan").is_none(),
        "Ringback schedules: {body}"
    );
    let vars = &body["assistantOverrides"]["variableValues"];
    assert_eq!(vars["contact_name"], "Ann Lee");
    assert_eq!(vars["first_name"], "Ann");
    assert_eq!(vars["plan"], "gold");
    assert_eq!(vars["seats"], "3");
    assert_eq!(vars["callback_id"], id.as_str());
    assert_eq!(
        body["assistantOverrides"]["firstMessage"],
        "Hi Ann, about your renewal"
    );

    // The vendor's id is stored with the acceptance.
    let cb = status_of(&app, &id, "in_progress").await;
    let detail = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        detail["attempts"][0]["provider_call_id"], "vapi-call-1",
        "{cb}"
    );

    let report = json!({"message": {"type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": "vapi-call-1"}, "startedAt": "2026-01-01T10:00:00Z", "endedAt": "2026-01-01T10:00:42Z",
        "artifact": {"transcript": "AI: Hi Ann\nUser: Hello", "recordingUrl": "https://storage.vapi.ai/rec.wav"},
        "analysis": {"summary": "Ann renews."}}})
    .to_string();
    let path = format!("/telephony/vapi/{trunk}/events");
    let now = jiff::Timestamp::now().as_second();
    // Unsigned, signed with another secret, or stale: refused, nothing changed.
    assert_eq!(post_signed(&app, &path, &report, &[]).await, 403);
    let wrong = [
        ("x-signature", vapi_sign(&report, "other", now)),
        ("x-timestamp", now.to_string()),
    ];
    assert_eq!(post_signed(&app, &path, &report, &wrong).await, 403);
    let stale = [
        ("x-signature", vapi_sign(&report, "whs-vapi", now - 3600)),
        ("x-timestamp", (now - 3600).to_string()),
    ];
    assert_eq!(post_signed(&app, &path, &report, &stale).await, 403);
    assert_eq!(app.get_callback(&id).await["status"], "in_progress");
    // Another trunk id, or a call the trunk did not place: 404.
    let signed = [
        ("x-signature", vapi_sign(&report, "whs-vapi", now)),
        ("x-timestamp", now.to_string()),
    ];
    assert_eq!(
        post_signed(
            &app,
            "/telephony/vapi/trk_01JD3M6Q0Y8W4ZK1T2V5R7X9AB/events",
            &report,
            &signed
        )
        .await,
        404
    );
    let other_call = report.replace("vapi-call-1", "vapi-call-unknown");
    let signed_other = [
        ("x-signature", vapi_sign(&other_call, "whs-vapi", now)),
        ("x-timestamp", now.to_string()),
    ];
    assert_eq!(
        post_signed(&app, &path, &other_call, &signed_other).await,
        404
    );
    assert_eq!(app.get_callback(&id).await["status"], "in_progress");

    assert_eq!(post_signed(&app, &path, &report, &signed).await, 204);
    let cb = status_of(&app, &id, "completed").await;
    assert_eq!(cb["outcome"], "answered");
    let detail = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    let attempt = &detail["attempts"][0];
    assert_eq!(attempt["outcome"], "answered");
    assert_eq!(attempt["duration_seconds"], 42);
    assert_eq!(
        attempt["provider_details"]["transcript"],
        "AI: Hi Ann\nUser: Hello"
    );
    assert_eq!(attempt["provider_details"]["summary"], "Ann renews.");
    assert_eq!(
        attempt["provider_details"]["recording_url"],
        "https://storage.vapi.ai/rec.wav"
    );
    assert_eq!(
        attempt["provider_details"]["ended_reason"],
        "customer-ended-call"
    );
    let completed = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "callback.completed")
        .cloned()
        .expect("a callback.completed event");
    assert_eq!(
        completed["data"]["provider_details"]["summary"],
        "Ann renews."
    );
    assert_eq!(
        completed["data"]["provider_details"]["transcript"],
        "AI: Hi Ann\nUser: Hello"
    );
}

#[tokio::test]
async fn a_retell_call_is_created_as_retell_documents_and_its_sdk_signed_webhook_ends_the_attempt()
{
    let vendor = StandIn::start(
        201,
        json!({"call_id": "retell-call-7", "call_status": "registered",
                                             "agent_id": "agent_9"}),
    )
    .await;
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let trunk = retell_trunk(&app, &vendor).await;
    let (id, phone) = ai_callback(&app, &trunk).await;

    let sent = vendor.wait_for("/v2/create-phone-call", 1).await;
    let body = &sent[0].body;
    assert_eq!(sent[0].headers["authorization"], "Bearer key_retell_1");
    declared(body, &sdk_fields()["retell_call"], "body");
    assert_eq!(body["from_number"], "+14155550100");
    assert_eq!(body["to_number"], phone.as_str());
    assert_eq!(body["override_agent_id"], "agent_9");
    assert_eq!(body["metadata"]["ringback_callback_id"], id.as_str());
    let vars = body["retell_llm_dynamic_variables"].as_object().unwrap();
    assert!(
        vars.values().all(Value::is_string),
        "Retell takes only strings: {vars:?}"
    );
    assert_eq!(vars["contact_name"], "Ann Lee");
    status_of(&app, &id, "in_progress").await;

    let path = format!("/telephony/retell/{trunk}/events");
    let started = json!({"event": "call_started", "call": {"call_id": "retell-call-7", "call_status": "ongoing"}}).to_string();
    assert_eq!(
        post_signed(
            &app,
            &path,
            &started,
            &[("x-retell-signature", retell_sign(&started, "key_retell_1"))]
        )
        .await,
        204
    );
    assert_eq!(
        app.get_callback(&id).await["status"],
        "in_progress",
        "call_started ends nothing"
    );

    let ended =
        json!({"event": "call_ended", "call": {"call_id": "retell-call-7", "call_status": "ended",
        "disconnection_reason": "voicemail_reached", "duration_ms": 9000,
        "transcript": "Agent: Hello?", "recording_url": "https://retell.example/rec.wav"}})
        .to_string();
    assert_eq!(post_signed(&app, &path, &ended, &[]).await, 403);
    let forged = retell_sign(&ended, "key_not_retells");
    assert_eq!(
        post_signed(&app, &path, &ended, &[("x-retell-signature", forged)]).await,
        403
    );
    assert_eq!(app.get_callback(&id).await["status"], "in_progress");

    let signature = retell_sign(&ended, "key_retell_1");
    assert_eq!(
        post_signed(&app, &path, &ended, &[("x-retell-signature", signature)]).await,
        204
    );
    let cb = eventually(Duration::from_secs(20), "the attempt ends", || async {
        let cb = app
            .get(&format!("/v1/callbacks/{id}"))
            .await
            .expect(200)
            .clone();
        (!cb["attempts"][0]["outcome"].is_null()).then_some(cb)
    })
    .await;
    let attempt = &cb["attempts"][0];
    assert_eq!(attempt["outcome"], "voicemail");
    assert_eq!(attempt["duration_seconds"], 9);
    assert_eq!(attempt["provider_call_id"], "retell-call-7");
    assert_eq!(attempt["provider_details"]["transcript"], "Agent: Hello?");
    assert_eq!(
        attempt["provider_details"]["recording_url"],
        "https://retell.example/rec.wav"
    );

    // The analysis that follows adds its summary to the ended attempt.
    let analyzed = json!({"event": "call_analyzed", "call": {"call_id": "retell-call-7",
        "disconnection_reason": "voicemail_reached", "call_analysis": {"call_summary": "Reached voicemail.", "in_voicemail": true}}}).to_string();
    assert_eq!(
        post_signed(
            &app,
            &path,
            &analyzed,
            &[("x-retell-signature", retell_sign(&analyzed, "key_retell_1"))]
        )
        .await,
        204
    );
    let cb = app
        .get(&format!("/v1/callbacks/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        cb["attempts"][0]["provider_details"]["summary"],
        "Reached voicemail."
    );
    assert_eq!(
        cb["attempts"][0]["provider_details"]["transcript"],
        "Agent: Hello?"
    );
}

#[tokio::test]
async fn bad_vendor_settings_name_their_field_and_a_vendor_401_refuses_the_dispatch_with_its_message()
 {
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let cases = [
        (
            json!({"kind": "vapi", "settings": {"api_key": "k", "phone_number_id": "p", "webhook_secret": "s"}}),
            "settings.assistant_id",
        ),
        (
            json!({"kind": "vapi", "settings": {"api_key": "k", "assistant_id": 5, "phone_number_id": "p", "webhook_secret": "s"}}),
            "settings.assistant_id",
        ),
        (
            json!({"kind": "vapi", "settings": {"assistant_id": "a", "phone_number_id": "p", "webhook_secret": "s"}}),
            "settings.api_key",
        ),
        (
            json!({"kind": "vapi", "settings": {"api_key": "k", "assistant_id": "a", "phone_number_id": "p"}}),
            "settings.webhook_secret",
        ),
        (
            json!({"kind": "vapi", "settings": {"api_key": "k", "assistant_id": "a", "phone_number_id": "p", "webhook_secret": "s", "base_url": "ftp://x"}}),
            "settings.base_url",
        ),
        (
            json!({"kind": "retell", "settings": {"api_key": "k"}}),
            "settings.from_number",
        ),
        (
            json!({"kind": "retell", "settings": {"api_key": "k", "from_number": "12"}}),
            "settings.from_number",
        ),
        (
            json!({"kind": "retell", "settings": {"from_number": "+14155550100"}}),
            "settings.api_key",
        ),
        (
            json!({"kind": "retell", "settings": {"api_key": "k", "from_number": "+14155550100", "voice": "x"}}),
            "settings.voice",
        ),
    ];
    for (mut body, field) in cases {
        body["name"] = json!("T");
        let resp = app.post_json("/v1/trunks", &body).await;
        assert_eq!(resp.status, 400, "{body}: {}", resp.text);
        assert_eq!(resp.body["error"]["field"], field, "{body}: {}", resp.text);
    }

    let vendor = StandIn::start(401, json!({"message": "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.", "error": "Unauthorized", "statusCode": 401})).await;
    let trunk = vapi_trunk(&app, &vendor).await;
    let (id, _) = ai_callback(&app, &trunk).await;
    vendor.wait_for("/call", 1).await;
    let failed = eventually(Duration::from_secs(20), "the refused dispatch", || async {
        let cb = app
            .get(&format!("/v1/callbacks/{id}"))
            .await
            .expect(200)
            .clone();
        cb["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == "callback.dispatch_failed")
            .cloned()
    })
    .await;
    assert_eq!(failed["data"]["bridge_status"], 401);
    let error = failed["data"]["error"].as_str().unwrap();
    assert!(
        error.contains("vapi answered 401") && error.contains("Invalid Key"),
        "{error}"
    );
    assert!(!error.contains("vapi-private-key"), "{error}");
}

#[tokio::test]
async fn an_ai_calls_call_tells_its_webhook_url_started_then_completed_in_the_pages_shape() {
    let vendor = StandIn::start(201, json!({"id": "vapi-call-ai", "status": "queued"})).await;
    let receiver = StandIn::start(200, json!({})).await;
    let app = spawn_app_with(|c| c.allow_private_webhooks = true).await;
    let trunk = vapi_trunk(&app, &vendor).await;
    app.settings(json!({"calling_window": {"start": "00:00", "end": "24:00"},
                        "allow_customer_requested_times": true, "max_attempts": null,
                        "attempt_window_days": 7, "default_trunk_id": trunk}))
        .await;
    let contact = app
        .post_json(
            "/v1/contacts",
            &json!({"phone": unique_phone(), "first_name": "Ann", "last_name": "Lee", "timezone": "America/New_York"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let scheduled = app
        .post_json("/v1/calls/scheduled", &json!({"contact_id": contact, "scheduled_at": in_ms(2000),
            "initial_message": "Hi {{first_name}}", "webhook_url": format!("{}/ai-calls", receiver.url),
            "metadata": {"priority": "high"}}))
        .await;
    assert_eq!(scheduled.status, 201, "{}", scheduled.text);
    let call_id = scheduled.body["data"]["call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    vendor.wait_for("/call", 1).await;
    status_of(&app, &call_id, "in_progress").await;
    let report =
        json!({"message": {"type": "end-of-call-report", "endedReason": "assistant-ended-call",
        "call": {"id": "vapi-call-ai"}, "durationSeconds": 30, "analysis": {"summary": "Done."},
        "artifact": {"transcript": "AI: Hi Ann"}}})
        .to_string();
    let now = jiff::Timestamp::now().as_second();
    let signed = [
        ("x-signature", vapi_sign(&report, "whs-vapi", now)),
        ("x-timestamp", now.to_string()),
    ];
    assert_eq!(
        post_signed(
            &app,
            &format!("/telephony/vapi/{trunk}/events"),
            &report,
            &signed
        )
        .await,
        204
    );

    let got = receiver.wait_for("/ai-calls", 2).await;
    let events: Vec<&str> = got
        .iter()
        .map(|r| r.body["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        events,
        ["started", "completed"],
        "only the page's events, in order: {got:?}"
    );
    for r in &got {
        assert!(
            r.headers.contains_key("webhook-signature"),
            "signed like native webhooks"
        );
        assert_eq!(r.body["data"]["call_id"], call_id.as_str());
        assert_eq!(r.body["data"]["contact_id"], contact.as_str());
        assert_eq!(r.body["data"]["metadata"], json!({"priority": "high"}));
        assert!(
            r.body.get("type").is_none(),
            "not the native vocabulary: {}",
            r.body
        );
    }
    assert_eq!(got[0].body["data"]["status"], "in_progress");
    let done = &got[1].body["data"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["outcome"]["result"], "answered");
    assert_eq!(done["outcome"]["duration_seconds"], 30);
    assert_eq!(done["outcome"]["summary"], "Done.");
    assert_eq!(done["outcome"]["transcript"], "AI: Hi Ann");
}
