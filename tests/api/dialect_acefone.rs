//! The Acefone-style dialer: `POST /v1/dialer/schedule_call/`, its `{success, message}`
//! answers, and what the native API sees.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Resp, TestApp, WAIT, at_ms, events_of, eventually, spawn_app, spawn_app_with, unique_phone,
};

const PATH: &str = "/v1/dialer/schedule_call/";

/// `YYYY-MM-DD HH:MM:SS` (UTC, the dialect zone of accounts without one) `hours` from now.
fn date_time_in(hours: i64) -> String {
    local_in(at_ms(hours * 3600 * 1000), "UTC")
}

/// `at` as `YYYY-MM-DD HH:MM:SS` in `zone`.
fn local_in(at: jiff::Timestamp, zone: &str) -> String {
    at.to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A request with every field of the page, for an agent of the account.
fn request(agent: &str, phone: &str) -> Value {
    json!({
        "customer_name": "Ravi Kumar",
        "schedule_date_time": date_time_in(24),
        "assigned_to": agent,
        "customer_number": phone,
        "reminder_schedule_callbacks": true,
        "reminder_time": 10,
        "call_end_min": 30,
    })
}

/// Sends the page's curl request: POST with `accept` and `content-type` JSON headers.
async fn send(app: &TestApp, path: &str, key: Option<&str>, body: &Value) -> Resp {
    let mut req = app
        .client
        .post(app.url(path))
        .header("accept", "application/json")
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(key) = key {
        req = req.header("Authorization", format!("Bearer {key}"));
    }
    Resp::read(req.send().await.unwrap()).await
}

/// Asserts `{"success": false, "message": ...}` with this status; returns the message.
#[track_caller]
fn failure(resp: &Resp, status: u16) -> String {
    let body = resp.expect(status);
    assert_eq!(body["success"], false, "{}", resp.text);
    assert_eq!(body.as_object().unwrap().len(), 2, "{}", resp.text);
    let message = body["message"].as_str().unwrap().to_owned();
    assert!(!message.is_empty());
    message
}

#[tokio::test]
async fn the_pages_request_schedules_a_preview_callback_for_the_agent() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let phone = unique_phone();
    let body = request(&agent, &phone);
    for path in [PATH, "/v1/dialer/schedule_call"] {
        let resp = send(&app, path, Some(&app.api_key), &body).await;
        let answer = resp.expect(200);
        assert_eq!(
            answer,
            &json!({"success": true, "message": "Callback scheduled successfully."})
        );
        let location = resp.headers.get("location").unwrap().to_str().unwrap();
        let cb = app.get(location).await.expect(200).clone();
        assert_eq!(cb["origin"], "acefone");
        assert_eq!(cb["phone"], phone.as_str());
        assert_eq!(cb["contact_name"], "Ravi Kumar");
        // The callee's zone is the number's; the time was read in UTC (no dialect zone set).
        assert_eq!(cb["timezone"], "America/Los_Angeles");
        let local = body["schedule_date_time"]
            .as_str()
            .unwrap()
            .replace(' ', "T");
        assert_eq!(cb["scheduled_at"], format!("{local}Z"));
        assert_eq!(cb["assignment"], json!({"type": "agent", "ids": [agent]}));
        assert_eq!(cb["dialing_mode"], "preview");
        assert_eq!(cb["reminder_minutes_before"], 10);
        // call_end_min: rings at most 30 minutes, capped at the longest ring (five minutes);
        // not a deadline for dialling, which keeps the native default.
        assert_eq!(cb["ring_timeout_seconds"], 300);
        assert_eq!(cb["expire_after_minutes"], 60);
    }
    let listed = app.get("/v1/callbacks?origin=acefone").await;
    assert_eq!(listed.expect(200)["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn agents_are_found_by_external_id_and_queues_by_name() {
    let app = spawn_app().await;
    let agent = app
        .post_json(
            "/v1/agents",
            &json!({"name": "Priya", "external_id": "1001"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let queue = app.queue_id("7").await;
    let mut body = request("1001", &unique_phone());
    body["assigned_to"] = json!(1001);
    body["inbound_queue"] = json!(7);
    body["reminder_time"] = Value::Null;
    body["call_end_min"] = Value::Null;
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    resp.expect(200);
    let cb = app
        .get(resp.headers.get("location").unwrap().to_str().unwrap())
        .await
        .expect(200)
        .clone();
    // Assigned to the agent, routed through the queue too.
    assert_eq!(cb["assignment"]["ids"], json!([agent, queue]));
    assert_eq!(cb["metadata"]["inbound_queue"], queue.as_str());
    // A reminder without a time: five minutes before; no call_end_min: the server's ring.
    assert_eq!(cb["reminder_minutes_before"], 5);
    assert!(cb["ring_timeout_seconds"].is_null());
    assert_eq!(cb["expire_after_minutes"], 60);
}

#[tokio::test]
async fn each_bad_input_gets_success_false_with_a_clear_message() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let good = request(&agent, &unique_phone());
    let with = |field: &str, value: Value| {
        let mut b = good.clone();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("customer_name"), "customer_name is required"),
        (
            without("schedule_date_time"),
            "schedule_date_time is required",
        ),
        (without("assigned_to"), "assigned_to is required"),
        (without("customer_number"), "customer_number is required"),
        (with("customer_name", json!("  ")), "customer_name"),
        (
            with("schedule_date_time", json!("2027-01-05T10:00:00Z")),
            "YYYY-MM-DD HH:MM:SS",
        ),
        (
            with("schedule_date_time", json!("05/01/2027 10:00")),
            "YYYY-MM-DD HH:MM:SS",
        ),
        (
            with("schedule_date_time", json!("2027-02-30 10:00:00")),
            "YYYY-MM-DD HH:MM:SS",
        ),
        (
            with("schedule_date_time", json!("2020-01-05 10:00:00")),
            "must be in the future",
        ),
        (
            with("schedule_date_time", json!(date_time_in(0))),
            "schedule_date_time",
        ),
        (
            with("schedule_date_time", json!(20270105)),
            "schedule_date_time",
        ),
        (
            with("assigned_to", json!("agt_01JD0000000000000000000000")),
            "assigned_to",
        ),
        (with("assigned_to", json!("nobody")), "assigned_to"),
        (with("inbound_queue", json!(99)), "inbound_queue"),
        (
            with("customer_number", json!("9876543210")),
            "customer_number",
        ),
        (with("customer_number", json!("+1 555")), "customer_number"),
        (
            with("reminder_schedule_callbacks", json!("yes")),
            "reminder_schedule_callbacks",
        ),
        (with("reminder_time", json!(-5)), "reminder_time"),
        (with("reminder_time", json!("ten")), "reminder_time"),
        (with("call_end_min", json!(0)), "call_end_min"),
        (with("call_end_min", json!(1.5)), "call_end_min"),
        (with("call_end_min", json!(-1)), "call_end_min"),
    ];
    for (body, expected) in cases {
        let resp = send(&app, PATH, Some(&app.api_key), &body).await;
        let message = failure(&resp, 400);
        assert!(
            message.contains(expected),
            "{body}: expected {expected:?} in {message:?}"
        );
    }
    let resp = app
        .post_raw(PATH, "application/json", "{\"customer_name\": ")
        .await;
    failure(&resp, 400);
    let resp = app.post_raw(PATH, "application/json", "[]").await;
    failure(&resp, 400);
    app.assert_no_callbacks("after refused requests").await;
}

#[tokio::test]
async fn credentials_are_checked_and_answered_in_the_shape() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let body = request(&agent, &unique_phone());
    let resp = send(&app, PATH, None, &body).await;
    assert!(failure(&resp, 401).starts_with("Unauthorized"));
    let resp = send(&app, PATH, Some("not-a-key"), &body).await;
    failure(&resp, 401);
    // Acefone clients send the token without a scheme.
    let resp = app
        .client
        .post(app.url(PATH))
        .header("content-type", "application/json")
        .header("Authorization", &app.api_key)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    Resp::read(resp).await.expect(200);
    let reader = app
        .post_json(
            "/v1/api-keys",
            &json!({"name": "r", "scopes": ["callbacks:read"]}),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = send(&app, PATH, Some(&reader), &request(&agent, &unique_phone())).await;
    assert!(failure(&resp, 403).contains("callbacks:write"));
}

#[tokio::test]
async fn another_accounts_agents_and_queues_are_unknown() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let queue = app.queue_id("Sales").await;
    let other = app.second_account().await;
    let resp = send(
        &app,
        PATH,
        Some(&other.api_key),
        &request(&agent, &unique_phone()),
    )
    .await;
    assert!(failure(&resp, 400).contains("assigned_to"));
    let other_agent = {
        let resp = app
            .request_as(
                Some(&other.api_key),
                Method::POST,
                "/v1/agents",
                Some(&json!({"name": "Omar"})),
            )
            .await;
        resp.expect(201)["id"].as_str().unwrap().to_owned()
    };
    let mut body = request(&other_agent, &unique_phone());
    body["inbound_queue"] = json!(queue);
    let resp = send(&app, PATH, Some(&other.api_key), &body).await;
    assert!(failure(&resp, 400).contains("inbound_queue"));
}

#[tokio::test]
async fn oversized_bodies_and_wrong_methods_keep_the_shape() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4 * 1024).await;
    let agent = app.agent_id("Priya").await;
    let mut body = request(&agent, &unique_phone());
    body["customer_name"] = json!("x".repeat(8 * 1024));
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    failure(&resp, 413);
    let resp = app.get(PATH).await;
    failure(&resp, 405);
    let resp = app.post_raw(PATH, "text/plain", "hello").await;
    failure(&resp, 415);
}

#[tokio::test]
async fn fields_the_page_does_not_list_are_ignored() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let mut body = request(&agent, &unique_phone());
    body["campaign"] = json!("x");
    body["lead_id"] = json!(77);
    body["custom"] = json!({"a": [1, 2]});
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    assert_eq!(
        resp.expect(200),
        &json!({"success": true, "message": "Callback scheduled successfully."})
    );
    let cb = app
        .get(resp.headers.get("location").unwrap().to_str().unwrap())
        .await
        .expect(200)
        .clone();
    assert_eq!(cb["contact_name"], "Ravi Kumar");
    // Nothing of the unknown fields is kept.
    assert!(cb["metadata"].is_null(), "{}", cb["metadata"]);
}

#[tokio::test]
async fn call_end_min_is_how_long_the_call_rings_unanswered() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    for (minutes, seconds) in [(1, 60), (2, 120), (5, 300), (90, 300)] {
        let mut body = request(&agent, &unique_phone());
        body["call_end_min"] = json!(minutes);
        let resp = send(&app, PATH, Some(&app.api_key), &body).await;
        resp.expect(200);
        let cb = app
            .get(resp.headers.get("location").unwrap().to_str().unwrap())
            .await
            .expect(200)
            .clone();
        assert_eq!(
            cb["ring_timeout_seconds"], seconds,
            "call_end_min {minutes}"
        );
        // The callback may still be dialled until its usual deadline.
        assert_eq!(cb["expire_after_minutes"], 60, "call_end_min {minutes}");
    }
}

#[tokio::test]
async fn schedule_date_time_is_read_in_the_accounts_dialect_zone() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    let settings = |zone: Value| {
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": null,
                "attempt_window_days": 7, "dialect_timezone": zone })
    };
    // Unset: UTC.
    let shown = app.get("/v1/settings").await;
    assert!(shown.expect(200)["dialect_timezone"].is_null());
    let resp = app
        .request(
            Method::PUT,
            "/v1/settings",
            Some(&settings(json!("Asia/Kolkata"))),
        )
        .await;
    assert_eq!(resp.expect(200)["dialect_timezone"], "Asia/Kolkata");

    // An Indian customer, called back tomorrow at 11:30 Kolkata time, as the client writes it.
    let at = at_ms(24 * 3600 * 1000);
    let at = jiff::Timestamp::from_second(at.as_second()).unwrap();
    let mut body = request(&agent, "+919876543210");
    body["schedule_date_time"] = json!(local_in(at, "Asia/Kolkata"));
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    resp.expect(200);
    let cb = app
        .get(resp.headers.get("location").unwrap().to_str().unwrap())
        .await
        .expect(200)
        .clone();
    assert_eq!(cb["scheduled_at"], at.to_string());
    assert_eq!(cb["timezone"], "Asia/Kolkata");

    // Left out of a PUT, it keeps its value; null is UTC again.
    let mut without = settings(Value::Null);
    without.as_object_mut().unwrap().remove("dialect_timezone");
    let resp = app
        .request(Method::PUT, "/v1/settings", Some(&without))
        .await;
    assert_eq!(resp.expect(200)["dialect_timezone"], "Asia/Kolkata");
    let resp = app
        .request(Method::PUT, "/v1/settings", Some(&settings(Value::Null)))
        .await;
    assert!(resp.expect(200)["dialect_timezone"].is_null());
    let mut body = request(&agent, "+919876543210");
    body["schedule_date_time"] = json!(local_in(at, "UTC"));
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    let cb = app
        .get(resp.headers.get("location").unwrap().to_str().unwrap())
        .await
        .expect(200)
        .clone();
    assert_eq!(cb["scheduled_at"], at.to_string());

    // An unknown zone is refused naming the setting.
    let resp = app
        .request(
            Method::PUT,
            "/v1/settings",
            Some(&settings(json!("Asia/Nowhere"))),
        )
        .await;
    resp.expect_field_error(400, "invalid_timezone", "dialect_timezone");
}

#[tokio::test]
async fn the_reminder_goes_to_the_assigned_agent() {
    let app = spawn_app().await;
    let agent = app.agent_id("Priya").await;
    // A queue member who is not the assignee.
    let other = app.agent_id("Omar").await;
    let queue = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "12", "member_ids": [other] }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The agent's desktop listens to its event stream.
    let mut stream = app
        .client
        .get(app.url(&format!("/v1/agents/{agent}/events")))
        .bearer_auth(&app.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // Due in just over a minute (whole seconds): the reminder, a minute before, is due in
    // about a second.
    let mut body = request(&agent, &unique_phone());
    body["schedule_date_time"] = json!(local_in(at_ms(62_000), "UTC"));
    body["reminder_time"] = json!(1);
    body["inbound_queue"] = json!(12);
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    resp.expect(200);
    let location = resp
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let cb = app.get(&location).await.expect(200).clone();
    assert_eq!(cb["assignment"]["ids"], json!([agent, queue]));
    let reminder = eventually(WAIT, "the reminder", || async {
        let cb = app.get(&location).await.expect(200).clone();
        events_of(&cb, "callback.reminder")
            .first()
            .map(|e| (*e).clone())
    })
    .await;
    assert_eq!(reminder["data"]["minutes_before"], 1);
    // The assigned agent, not the queue's other members.
    assert_eq!(reminder["data"]["agent_ids"], json!([agent]));
    // And the agent's desktop is told, about this callback.
    let id = cb["id"].as_str().unwrap();
    let mut seen = String::new();
    let told = tokio::time::timeout(WAIT, async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen
                .split("\n\n")
                .any(|block| block.contains("event: callback.reminder") && block.contains(id))
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(told, Ok(true), "the agent's stream: {seen}");
}

#[tokio::test]
async fn inbound_queue_routes_the_callback_beside_the_agent() {
    let app = spawn_app().await;
    // The assigned agent is away; a member of the inbound queue is available.
    let agent = app.agent_id("Priya").await;
    let member = app.available_agent(json!({ "name": "Omar" })).await;
    let queue = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "12", "member_ids": [member] }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = request(&agent, &unique_phone());
    body["schedule_date_time"] = json!(local_in(at_ms(3_000), "UTC"));
    body["inbound_queue"] = json!(12);
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    resp.expect(200);
    let location = resp
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let cb = app.get(&location).await.expect(200).clone();
    assert_eq!(cb["metadata"]["inbound_queue"], queue.as_str());
    assert_eq!(cb["assignment"]["ids"], json!([agent, queue]));
    let id = cb["id"].as_str().unwrap();
    let offered = app.wait_for_status(id, "offered", WAIT).await;
    assert_eq!(offered["agent_id"], member.as_str(), "{offered}");

    // Without inbound_queue, the queue's member is not offered it.
    let mut body = request(&agent, &unique_phone());
    body["schedule_date_time"] = json!(local_in(at_ms(3_000), "UTC"));
    let resp = send(&app, PATH, Some(&app.api_key), &body).await;
    resp.expect(200);
    let location = resp
        .headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let id = app.get(&location).await.expect(200)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = app.wait_for_status(&id, "waiting", WAIT).await;
    assert!(waiting["agent_id"].is_null(), "{waiting}");
}

/// The page's curl sample, run by curl with only the host changed and a credential added:
/// it sends no body, and is told what is missing in the page's shape.
#[tokio::test]
async fn the_pages_curl_sample_is_answered_in_the_shape() {
    let app = spawn_app().await;
    let url = app.url(PATH);
    let auth = format!("Authorization: Bearer {}", app.api_key);
    let out = tokio::process::Command::new("curl")
        .args(["-s", "--request", "POST", "--url", &url])
        .args(["--header", "accept: application/json"])
        .args(["--header", "content-type: application/json"])
        .args(["--header", &auth])
        .args(["-w", "\\n%{http_code}"])
        .output()
        .await;
    let Ok(out) = out else {
        eprintln!("curl is not installed; skipping");
        return;
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap();
    assert_eq!(status, "400", "{text}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        body,
        json!({"success": false, "message": "customer_name is required."})
    );
    app.assert_no_callbacks("after the sample").await;
}
