//! The AI outbound calls dialect: `POST /v1/calls/scheduled`, its envelope, call object and
//! documented errors, reading and canceling a call, and what the native API sees.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Resp, TestApp, spawn_app, spawn_app_with, tomorrow, two_days_ahead_at, unique_phone,
};

/// A contact of the app's account; returns its id.
async fn contact(app: &TestApp, body: Value) -> String {
    let resp = app.post_json("/v1/contacts", &body).await;
    resp.expect(201)["id"].as_str().unwrap().to_owned()
}

async fn ann(app: &TestApp) -> String {
    contact(
        app,
        json!({"phone": unique_phone(), "first_name": "Ann", "last_name": "Lee",
               "timezone": "America/Los_Angeles"}),
    )
    .await
}

/// The page's full example request, with a real contact and a future time.
fn full_example(contact_id: &str, at: &str) -> Value {
    json!({
        "contact_id": contact_id,
        "campaign_id": "camp_91ks11",
        "scheduled_at": at,
        "initial_message": "Hi {{first_name}}, this is the TemPhone AI assistant following up on your renewal.",
        "max_duration_seconds": 900,
        "caller_id": "+1-415-555-0199",
        "recording_enabled": true,
        "webhook_url": "https://webhooks.yourapp.com/ai-calls",
        "metadata": {
            "playbook": "renewal_followup_v2",
            "priority": "high"
        }
    })
}

/// Asserts the page's error envelope with this status and message.
#[track_caller]
fn expect_error(resp: &Resp, status: u16, message: &str) {
    let body = resp.expect(status);
    assert_eq!(body["status"], "error", "{}", resp.text);
    assert_eq!(body["message"], message, "{}", resp.text);
    assert!(body["data"].is_null(), "{}", resp.text);
    assert_eq!(body.as_object().unwrap().len(), 3, "{}", resp.text);
}

/// Asserts an error envelope with this status, returning its message.
#[track_caller]
fn error_message(resp: &Resp, status: u16) -> String {
    let body = resp.expect(status);
    assert_eq!(body["status"], "error", "{}", resp.text);
    assert!(body["data"].is_null(), "{}", resp.text);
    body["message"].as_str().unwrap().to_owned()
}

const CALL_FIELDS: &[&str] = &[
    "call_id",
    "contact_id",
    "campaign_id",
    "scheduled_at",
    "timezone",
    "initial_message",
    "max_duration_seconds",
    "caller_id",
    "recording_enabled",
    "webhook_url",
    "metadata",
    "status",
    "created_at",
    "updated_at",
];

#[tokio::test]
async fn the_full_example_answers_the_pages_envelope_and_call_object() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let at = "2027-03-15T15:00:00Z";
    let resp = app
        .post_json("/v1/calls/scheduled", &full_example(&contact_id, at))
        .await;
    let body = resp.expect(201);
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "AI outbound call scheduled successfully.");
    let data = &body["data"];
    let mut keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = CALL_FIELDS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "call object fields: {}", resp.text);
    assert!(data["call_id"].as_str().unwrap().starts_with("cb_"));
    assert_eq!(data["contact_id"], contact_id.as_str());
    assert_eq!(data["campaign_id"], "camp_91ks11");
    assert_eq!(data["scheduled_at"], at);
    // Omitted: the contact's zone.
    assert_eq!(data["timezone"], "America/Los_Angeles");
    assert_eq!(
        data["initial_message"],
        "Hi {{first_name}}, this is the TemPhone AI assistant following up on your renewal."
    );
    assert_eq!(data["max_duration_seconds"], 900);
    // Echoed as sent; the native callback holds it in E.164.
    assert_eq!(data["caller_id"], "+1-415-555-0199");
    assert_eq!(data["recording_enabled"], true);
    assert_eq!(data["webhook_url"], "https://webhooks.yourapp.com/ai-calls");
    assert_eq!(
        data["metadata"],
        json!({"playbook": "renewal_followup_v2", "priority": "high"})
    );
    assert_eq!(data["status"], "scheduled");
    // To the second, as the page writes them: `2026-03-15T14:22:11Z`.
    for f in ["created_at", "updated_at"] {
        let text = data[f].as_str().unwrap();
        assert_eq!(text.len(), "2026-03-15T14:22:11Z".len(), "{f}: {text}");
        assert!(text.ends_with('Z') && !text.contains('.'), "{f}: {text}");
        let at = crate::helpers::ts(&data[f]);
        assert!(at <= jiff::Timestamp::now(), "{f} is not in the future");
    }

    // The native API sees an AI callback with the ai_calls origin and the rendered message.
    let id = data["call_id"].as_str().unwrap();
    let cb = app.get_callback(id).await;
    assert_eq!(cb["origin"], "ai_calls");
    assert_eq!(cb["dialing_mode"], "ai");
    assert_eq!(cb["contact_name"], "Ann Lee");
    assert_eq!(cb["scheduled_at"], at);
    assert_eq!(cb["timezone"], "America/Los_Angeles");
    assert_eq!(
        cb["initial_message"],
        "Hi Ann, this is the TemPhone AI assistant following up on your renewal."
    );
    assert_eq!(cb["metadata"]["priority"], "high");
    assert_eq!(cb["metadata"]["ai_calls"]["campaign_id"], "camp_91ks11");
    assert_eq!(
        cb["metadata"]["ai_calls"]["contact_id"],
        contact_id.as_str()
    );
    assert_eq!(cb["caller_id"], "+14155550199");
    assert_eq!(cb["webhook_url"], "https://webhooks.yourapp.com/ai-calls");
    let listed = app.get("/v1/callbacks?origin=ai_calls").await;
    assert_eq!(listed.expect(200)["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_minimal_curl_example_takes_the_defaults() {
    let app = spawn_app().await;
    // A contact without a zone, in a country with one: the country's zone.
    let contact_id = contact(&app, json!({"phone": "+33612345678"})).await;
    let resp = app
        .post_json(
            "/v1/calls/scheduled",
            &json!({
                "contact_id": contact_id,
                "scheduled_at": tomorrow(),
                "initial_message": "Hi {{first_name}}, this is your AI assistant."
            }),
        )
        .await;
    let data = &resp.expect(201)["data"];
    assert_eq!(data["timezone"], "Europe/Paris");
    assert_eq!(data["max_duration_seconds"], 900);
    assert_eq!(data["recording_enabled"], true);
    assert!(data["campaign_id"].is_null());
    assert!(data["caller_id"].is_null());
    // The page shows metadata as an object: `{}` when none was given.
    assert_eq!(data["metadata"], json!({}));
    let cb = app.get_callback(data["call_id"].as_str().unwrap()).await;
    assert_eq!(
        cb["initial_message"],
        "Hi there, this is your AI assistant."
    );
}

#[tokio::test]
async fn an_explicit_timezone_wins_and_reads_local_times() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let resp = app
        .post_json(
            "/v1/calls/scheduled",
            &json!({"contact_id": contact_id, "scheduled_at": "2027-01-05T10:00:00",
                    "timezone": "America/New_York", "initial_message": "Hello"}),
        )
        .await;
    let data = &resp.expect(201)["data"];
    assert_eq!(data["timezone"], "America/New_York");
    assert_eq!(data["scheduled_at"], "2027-01-05T15:00:00Z");
}

#[tokio::test]
async fn the_documented_errors_have_the_pages_bodies() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;

    // 400: a time that is not ISO-8601, or in the past.
    for at in [
        "tomorrow at noon",
        "2026-03-15T15:00:00Z",
        "2027-02-30T10:00:00Z",
    ] {
        let resp = app
            .post_json(
                "/v1/calls/scheduled",
                &json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi"}),
            )
            .await;
        expect_error(
            &resp,
            400,
            "Field 'scheduled_at' must be a valid ISO-8601 timestamp in the future.",
        );
    }

    // 401, with no, a wrong or a malformed credential.
    let body = full_example(&contact_id, &tomorrow());
    for key in [None, Some("sk_test_51_fakeapikey123456")] {
        let resp = app
            .request_as(key, Method::POST, "/v1/calls/scheduled", Some(&body))
            .await;
        expect_error(&resp, 401, "Unauthorized.");
    }

    // 404: an unknown contact (or one that is not a contact id at all).
    for id in ["ctc_12kd88", "ctc_01JD0000000000000000000000"] {
        let resp = app
            .post_json("/v1/calls/scheduled", &full_example(id, &tomorrow()))
            .await;
        expect_error(&resp, 404, &format!("Contact not found: {id}."));
    }
    app.assert_no_callbacks("after refused calls").await;
}

#[tokio::test]
async fn bad_input_is_a_400_envelope_naming_the_field() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let at = tomorrow();
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"scheduled_at": at, "initial_message": "Hi"}),
            "contact_id",
        ),
        (
            json!({"contact_id": contact_id, "initial_message": "Hi"}),
            "scheduled_at",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at}),
            "initial_message",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": " "}),
            "initial_message",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "caller_id": "555-0199"}),
            "caller_id",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "max_duration_seconds": "900"}),
            "max_duration_seconds",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "max_duration_seconds": 1}),
            "max_duration_seconds",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "recording_enabled": "yes"}),
            "recording_enabled",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "metadata": ["a"]}),
            "metadata",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "metadata": {"ai_calls": 1}}),
            "metadata",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "webhook_url": "ftp://example.com"}),
            "webhook_url",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "webhook_url": "http://127.0.0.1/hook"}),
            "webhook_url",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at,
                "initial_message": "Hi {{ secret_code }}"}),
            "initial_message",
        ),
        (
            json!({"contact_id": contact_id, "scheduled_at": at, "initial_message": "Hi",
                "priority": "high"}),
            "priority",
        ),
        (
            json!({"contact_id": 42, "scheduled_at": at, "initial_message": "Hi"}),
            "contact_id",
        ),
    ];
    for (body, field) in cases {
        let resp = app.post_json("/v1/calls/scheduled", &body).await;
        let message = error_message(&resp, 400);
        assert!(
            message.contains(&format!("'{field}'")),
            "{body}: expected a message naming {field}, got {message:?}"
        );
    }
    let resp = app
        .post_raw("/v1/calls/scheduled", "application/json", "{not json")
        .await;
    expect_error(&resp, 400, "Request body must be valid JSON.");
    let resp = app
        .post_raw("/v1/calls/scheduled", "text/plain", "hello")
        .await;
    expect_error(&resp, 415, "Content-Type must be application/json.");
    app.assert_no_callbacks("after bad input").await;
}

#[tokio::test]
async fn each_refusal_gives_its_real_reason_naming_the_field() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    strict_window(&app).await;
    let page_message = "Field 'scheduled_at' must be a valid ISO-8601 timestamp in the future.";
    let base = |extra: Value| {
        let mut body = json!({"contact_id": contact_id, "initial_message": "Hi",
                              "scheduled_at": two_days_ahead_at("America/Los_Angeles", 10)});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        // 03:00 in Los Angeles, the contact's zone: valid, future, but outside the window.
        (
            base(json!({"scheduled_at": two_days_ahead_at("America/Los_Angeles", 3)})),
            "Field 'scheduled_at' is outside the calling window",
        ),
        (
            base(json!({"timezone": "Mars/Olympus"})),
            "Field 'timezone' ",
        ),
        (base(json!({"caller_id": "555-0199"})), "Field 'caller_id' "),
        (
            json!({"contact_id": contact_id, "initial_message": "Hi"}),
            "Field 'scheduled_at' is required.",
        ),
        (
            base(json!({"max_duration_seconds": 1})),
            "Field 'max_duration_seconds' must be between",
        ),
    ];
    for (body, expected) in cases {
        let resp = app.post_json("/v1/calls/scheduled", &body).await;
        let message = error_message(&resp, 400);
        assert!(
            message.starts_with(expected),
            "{body}: expected {expected:?}, got {message:?}"
        );
        assert_ne!(message, page_message, "{body}: the real reason is not said");
    }
    // The next opening is part of the calling-window refusal.
    let resp = app
        .post_json(
            "/v1/calls/scheduled",
            &base(json!({"scheduled_at": two_days_ahead_at("America/Los_Angeles", 3)})),
        )
        .await;
    let message = error_message(&resp, 400);
    assert!(
        message.contains(&format!(
            "The next opening is {}.",
            two_days_ahead_at("America/Los_Angeles", 8)
        )),
        "{message}"
    );
    // Inside the window it is scheduled.
    let resp = app.post_json("/v1/calls/scheduled", &base(json!({}))).await;
    resp.expect(201);
}

#[tokio::test]
async fn calls_are_listed_newest_first_by_status_and_page() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let resp = app
            .post_json(
                "/v1/calls/scheduled",
                &full_example(&contact_id, &tomorrow()),
            )
            .await;
        ids.push(
            resp.expect(201)["data"]["call_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // A native callback is not listed.
    app.create_at(&tomorrow()).await;
    app.request(
        Method::DELETE,
        &format!("/v1/calls/scheduled/{}", ids[0]),
        None,
    )
    .await
    .expect(200);

    let listed = app.get("/v1/calls/scheduled").await;
    let body = listed.expect(200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["message"], "AI outbound calls retrieved successfully.");
    assert_eq!(listed.headers["x-total-count"], "3");
    let shown: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(shown, [&ids[2], &ids[1], &ids[0]]);
    // Each item is the call object GET answers.
    let one = app.get(&format!("/v1/calls/scheduled/{}", ids[1])).await;
    assert_eq!(body["data"][1], one.expect(200)["data"]);

    let scheduled = app.get("/v1/calls/scheduled?status=scheduled").await;
    let data = scheduled.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 2);
    assert!(data.iter().all(|c| c["status"] == "scheduled"));
    let canceled = app.get("/v1/calls/scheduled?status=canceled").await;
    assert_eq!(canceled.expect(200)["data"][0]["call_id"], ids[0].as_str());

    let second = app.get("/v1/calls/scheduled?page=2&per_page=2").await;
    let data = second.expect(200)["data"].as_array().unwrap().clone();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["call_id"], ids[0].as_str());

    for (query, field) in [
        ("status=done", "status"),
        ("per_page=0", "per_page"),
        ("page=x", "page"),
        ("contact=ctc_1", "contact"),
    ] {
        let resp = app.get(&format!("/v1/calls/scheduled?{query}")).await;
        let message = error_message(&resp, 400);
        assert!(
            message.contains(&format!("'{field}'")),
            "{query}: {message}"
        );
    }
    // Another account's list is its own.
    let other = app.second_account().await;
    let resp = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            "/v1/calls/scheduled",
            None,
        )
        .await;
    assert_eq!(resp.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn an_oversized_body_is_a_413_envelope() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4 * 1024).await;
    let contact_id = ann(&app).await;
    let body = json!({"contact_id": contact_id, "scheduled_at": tomorrow(),
                      "initial_message": "x".repeat(8 * 1024)});
    let resp = app.post_json("/v1/calls/scheduled", &body).await;
    expect_error(&resp, 413, "Request body is too large.");
}

#[tokio::test]
async fn a_call_is_read_and_canceled_and_stays_in_its_account() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let created = app
        .post_json(
            "/v1/calls/scheduled",
            &full_example(&contact_id, &tomorrow()),
        )
        .await;
    let call = created.expect(201)["data"].clone();
    let id = call["call_id"].as_str().unwrap();
    let path = format!("/v1/calls/scheduled/{id}");

    let read = app.get(&path).await;
    let body = read.expect(200);
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"], call);

    // Another account sees neither the call nor the contact.
    let other = app.second_account().await;
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/cancel")),
    ] {
        let resp = app.request_as(Some(&other.api_key), method, &p, None).await;
        expect_error(&resp, 404, &format!("Call not found: {id}."));
    }
    let resp = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/calls/scheduled",
            Some(&full_example(&contact_id, &tomorrow())),
        )
        .await;
    expect_error(&resp, 404, &format!("Contact not found: {contact_id}."));

    // A native callback is not an AI call.
    let native = app.create_at(&tomorrow()).await;
    let resp = app.get(&format!("/v1/calls/scheduled/{native}")).await;
    expect_error(&resp, 404, &format!("Call not found: {native}."));

    let canceled = app.request(Method::DELETE, &path, None).await;
    let body = canceled.expect(200);
    assert_eq!(body["message"], "AI outbound call canceled successfully.");
    assert_eq!(body["data"]["status"], "canceled");
    assert_eq!(app.get_callback(id).await["status"], "canceled");
    // Canceling again changes nothing.
    let again = app.post_json(&format!("{path}/cancel"), &json!({})).await;
    assert_eq!(again.expect(200)["data"]["status"], "canceled");
}

#[tokio::test]
async fn scopes_are_checked_in_the_envelope() {
    let app = spawn_app().await;
    let contact_id = ann(&app).await;
    let key = app
        .post_json(
            "/v1/api-keys",
            &json!({"name": "reader", "scopes": ["callbacks:read"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request_as(
            Some(&key),
            Method::POST,
            "/v1/calls/scheduled",
            Some(&full_example(&contact_id, &tomorrow())),
        )
        .await;
    let message = error_message(&resp, 403);
    assert!(message.contains("callbacks:write"), "{message}");
}

#[tokio::test]
async fn wrong_methods_answer_in_the_envelope() {
    let app = spawn_app().await;
    let resp = app
        .request(Method::PUT, "/v1/calls/scheduled", Some(&json!({})))
        .await;
    expect_error(&resp, 405, "Method not allowed.");
}

/// The default 08:00-21:00 window, times outside it refused (as a new account has it).
async fn strict_window(app: &TestApp) {
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                         "allow_customer_requested_times": false, "max_attempts": null,
                         "attempt_window_days": 7 }),
    )
    .await;
}

/// The page's JavaScript (fetch) example, run by Node against the server with only the URL,
/// the key, the contact id and the time changed (10:00 in the contact's zone, inside the
/// default calling window, whatever the hour now). Skipped where Node is not installed.
#[tokio::test]
async fn the_pages_javascript_example_runs_unchanged_under_node() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("node is not installed; skipping");
        return;
    }
    let app = spawn_app().await;
    strict_window(&app).await;
    let contact_id = ann(&app).await;
    let script = r#"
const payload = {
  contact_id: 'ctc_12kd88',
  scheduled_at: '2026-03-15T15:00:00Z',
  initial_message:
    'Hi {{first_name}}, this is your AI assistant calling to confirm your upcoming appointment.'
};

const response = await fetch('https://api.example-ai.com/v1/calls/scheduled', {
  method: 'POST',
  headers: {
    Authorization: 'Bearer sk_test_51_fakeapikey123456',
    'Content-Type': 'application/json'
  },
  body: JSON.stringify(payload)
});

const result = await response.json();
console.log(result.data.call_id);
"#
    .replace("ctc_12kd88", &contact_id)
    .replace(
        "2026-03-15T15:00:00Z",
        &two_days_ahead_at("America/Los_Angeles", 10),
    )
    .replace("https://api.example-ai.com", &app.url(""))
    .replace("sk_test_51_fakeapikey123456", &app.api_key);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("example.mjs");
    std::fs::write(&file, script).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(&file)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let call_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(call_id.starts_with("cb_"), "printed {call_id:?}");
    let cb = app.get_callback(&call_id).await;
    assert_eq!(cb["origin"], "ai_calls");
    assert_eq!(
        cb["initial_message"],
        "Hi Ann, this is your AI assistant calling to confirm your upcoming appointment."
    );
}

/// The page's TypeScript (axios) example, run by Node with axios and the TypeScript compiler of
/// `tests/vendor` (`run_ts.mjs` strips the types and nothing else), with only the URL, the key,
/// the contact id and the time changed (10:00 in the contact's zone, inside the default
/// calling window). It prints `res.data.data?.status`.
#[tokio::test]
async fn the_pages_typescript_example_runs_unchanged_with_axios() {
    let vendor = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vendor");
    assert!(
        vendor.join("node_modules/axios").is_dir()
            && vendor.join("node_modules/typescript").is_dir(),
        "axios and typescript are not installed: run `npm ci` in tests/vendor"
    );
    let app = spawn_app().await;
    strict_window(&app).await;
    let contact_id = ann(&app).await;
    let at = two_days_ahead_at("America/Los_Angeles", 10);
    let script = r#"import axios, { AxiosResponse } from 'axios';

interface ScheduleCallPayload {
  contact_id: string;
  campaign_id?: string;
  scheduled_at: string;
  timezone?: string;
  initial_message: string;
  max_duration_seconds?: number;
  caller_id?: string;
  metadata?: Record<string, unknown>;
  recording_enabled?: boolean;
  webhook_url?: string;
}

interface ScheduledCall {
  call_id: string;
  contact_id: string;
  campaign_id?: string;
  scheduled_at: string;
  timezone?: string;
  initial_message: string;
  max_duration_seconds?: number;
  caller_id?: string;
  metadata?: Record<string, unknown>;
  recording_enabled: boolean;
  webhook_url?: string;
  status: 'scheduled' | 'in_progress' | 'completed' | 'failed' | 'canceled';
  created_at: string;
  updated_at: string;
}

interface ScheduleCallResponse {
  status: 'success' | 'error';
  message: string;
  data: ScheduledCall | null;
}

const payload: ScheduleCallPayload = {
  contact_id: 'ctc_12kd88',
  scheduled_at: '2026-03-15T15:00:00Z',
  initial_message:
    'Hi {{first_name}}, this is your AI assistant with an important reminder.'
};

const res: AxiosResponse<ScheduleCallResponse> = await axios.post(
  'https://api.example-ai.com/v1/calls/scheduled',
  payload,
  {
    headers: {
      Authorization: 'Bearer sk_test_51_fakeapikey123456'
    }
  }
);

console.log(res.data.data?.status);
"#
    .replace("ctc_12kd88", &contact_id)
    .replace("2026-03-15T15:00:00Z", &at)
    .replace("https://api.example-ai.com", &app.url(""))
    .replace("sk_test_51_fakeapikey123456", &app.api_key);
    // Beside tests/vendor's node_modules, so that `import axios` resolves.
    let dir = tempfile::Builder::new()
        .prefix(".sample-")
        .tempdir_in(&vendor)
        .unwrap();
    let file = dir.path().join("example.ts");
    std::fs::write(&file, script).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(vendor.join("run_ts.mjs"))
        .arg(&file)
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the sample failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "scheduled");
    // The call it made, as the page's response shows it.
    let listed = app.get("/v1/calls/scheduled").await.expect(200).clone();
    let call = &listed["data"][0];
    assert_eq!(call["contact_id"], contact_id.as_str());
    assert_eq!(call["scheduled_at"], at.as_str());
    assert_eq!(call["status"], "scheduled");
    assert_eq!(call["recording_enabled"], true);
    assert_eq!(call["max_duration_seconds"], 900);
    assert_eq!(
        call["initial_message"],
        "Hi {{first_name}}, this is your AI assistant with an important reminder."
    );
}

/// Runs `curl` with `args`; the body and the status, or `None` where curl is not installed.
async fn curl(args: &[String]) -> Option<(u16, Value)> {
    let out = tokio::process::Command::new("curl")
        .arg("-s")
        .args(args)
        .args(["-w", "\n%{http_code}"])
        .output()
        .await
        .ok()?;
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    Some((status.parse().unwrap(), serde_json::from_str(body).unwrap()))
}

/// The page's two curl samples, run by curl with only the host, the key, the contact id and
/// the time changed, on an account with the default calling window (08:00-21:00, times outside
/// it refused): the time is 10:00 tomorrow in the contact's zone, whatever the hour now.
#[tokio::test]
async fn the_pages_curl_samples_run_unchanged() {
    let app = spawn_app().await;
    strict_window(&app).await;
    let contact_id = ann(&app).await;
    let at = two_days_ahead_at("America/Los_Angeles", 10);
    let full = r#"{
    "contact_id": "ctc_12kd88",
    "campaign_id": "camp_91ks11",
    "scheduled_at": "2026-03-15T15:00:00Z",
    "initial_message": "Hi {{first_name}}, this is the TemPhone AI assistant following up on your renewal.",
    "max_duration_seconds": 900,
    "caller_id": "+1-415-555-0199",
    "recording_enabled": true,
    "webhook_url": "https://webhooks.yourapp.com/ai-calls",
    "metadata": {
      "playbook": "renewal_followup_v2",
      "priority": "high"
    }
  }"#;
    let minimal = r#"{
    "contact_id": "ctc_12kd88",
    "scheduled_at": "2026-03-15T15:00:00Z",
    "initial_message": "Hi {{first_name}}, this is your AI assistant."
  }"#;
    for sample in [full, minimal] {
        let body = sample
            .replace("ctc_12kd88", &contact_id)
            .replace("2026-03-15T15:00:00Z", &at);
        let args: Vec<String> = [
            "-X",
            "POST",
            &app.url("/v1/calls/scheduled"),
            "-H",
            &format!("Authorization: Bearer {}", app.api_key),
            "-H",
            "Content-Type: application/json",
            "-d",
            &body,
        ]
        .map(str::to_owned)
        .to_vec();
        let Some((status, answer)) = curl(&args).await else {
            eprintln!("curl is not installed; skipping");
            return;
        };
        assert_eq!(status, 201, "{answer}");
        assert_eq!(answer["status"], "success");
        assert_eq!(
            answer["message"],
            "AI outbound call scheduled successfully."
        );
        let data = &answer["data"];
        assert_eq!(data["contact_id"], contact_id.as_str());
        assert_eq!(data["scheduled_at"], at.as_str());
        assert_eq!(data["status"], "scheduled");
        let sent: Value = serde_json::from_str(&body).unwrap();
        for (field, value) in sent.as_object().unwrap() {
            assert_eq!(&data[field], value, "{field} is echoed as sent");
        }
    }
}
