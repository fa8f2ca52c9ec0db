//! Campaign from a contact list: `POST /campaign`, its `202` with `campaign_id`, the page's
//! 400, 401 and 403 answers, and the campaign as the native API shows it.

use reqwest::Method;
use serde_json::{Value, json};

use std::time::Duration;

use crate::helpers::{
    Resp, TestApp, WAIT, at_ms, spawn_app, spawn_app_with, spawn_quick_app_on_moved_clock, ts,
    unique_phone,
};

/// Sends the page's request: `Authorization: Bearer YOUR_TOKEN` and a JSON body.
async fn send(app: &TestApp, token: Option<&str>, body: &str) -> Resp {
    let mut req = app
        .client
        .post(app.url("/campaign"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        req = req.header("Authorization", format!("Bearer {token}"));
    }
    Resp::read(req.send().await.unwrap()).await
}

/// Asserts the dialect's error body with this status; returns it.
#[track_caller]
fn failure(resp: &Resp, status: u16) -> &Value {
    let body = resp.expect(status);
    assert!(body["error"].is_string(), "{}", resp.text);
    assert!(
        !body["message"].as_str().unwrap().is_empty(),
        "{}",
        resp.text
    );
    body
}

#[tokio::test]
async fn the_pages_request_launches_a_campaign_the_native_api_shows() {
    let app = spawn_app().await;
    let pb = app.playbook("Hi {{ first_name }}").await;
    // "2025-03-01T10:00:00": ISO without an offset, here tomorrow.
    let launch_at = at_ms(24 * 3600 * 1000)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let (ana, ben) = (unique_phone(), unique_phone());
    for recall in [json!("[30,120]"), json!([30, 120])] {
        let body = json!({
            "playbook_id": pb,
            "contacts": [
                { "phone": ana, "first_name": "Ana", "last_name": "García", "email": "ana@example.com",
                  "company": "Acme", "timezone": "Europe/Madrid", "utm_source": "crm",
                  "custom_fields": { "plan": "gold" } },
                { "phone": ben },
            ],
            "launch_at": launch_at,
            "recall": recall,
        });
        let resp = send(&app, Some(&app.api_key), &body.to_string()).await;
        let created = resp.expect(202).clone();
        let id = created["campaign_id"].as_str().unwrap();
        assert!(id.starts_with("cmp_"), "{}", resp.text);

        let campaign = app
            .get(&format!("/v1/campaigns/{id}"))
            .await
            .expect(200)
            .clone();
        assert_eq!(campaign["recall"], json!([30, 120]));
        assert_eq!(campaign["playbook_id"], pb.as_str());
        assert_eq!(campaign["totals"]["contacts"], 2);
        let calls = app
            .get(&format!("/v1/campaigns/{id}/contacts"))
            .await
            .expect(200)["data"]
            .clone();
        for call in calls.as_array().unwrap() {
            let cb = app
                .get_callback(call["callback_id"].as_str().unwrap())
                .await;
            assert_eq!(cb["origin"], "campaigns");
            assert_eq!(cb["campaign_id"], id);
        }
        let listed = app.get("/v1/callbacks?origin=campaigns").await.expect(200)["data"].clone();
        assert!(listed.as_array().unwrap().len() >= 2);
    }
}

#[tokio::test]
async fn the_pages_errors_answer_400_401_and_403_never_500() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4 * 1024).await;
    let pb = app.playbook("Hi {{ first_name }}").await;
    let key = app.api_key.clone();
    let phone = unique_phone();
    let send_json = |body: Value| {
        let app = &app;
        let key = key.clone();
        async move { send(app, Some(&key), &body.to_string()).await }
    };

    // 400: missing playbook_id, empty contacts, a contact without a (valid) phone.
    let r = send_json(json!({ "contacts": [{ "phone": phone }] })).await;
    assert_eq!(failure(&r, 400)["field"], "playbook_id");
    let r = send_json(json!({ "playbook_id": pb, "contacts": [] })).await;
    assert_eq!(failure(&r, 400)["field"], "contacts");
    let r = send_json(json!({ "playbook_id": pb, "contacts": [{ "first_name": "Ann" }] })).await;
    assert_eq!(failure(&r, 400)["field"], "contacts[0].phone");
    let r = send_json(json!({ "playbook_id": pb, "contacts": [{ "phone": "12" }] })).await;
    assert_eq!(failure(&r, 400)["field"], "contacts[0].phone");
    // Wrong types and malformed JSON.
    let r = send_json(json!({ "playbook_id": 7, "contacts": [{ "phone": phone }] })).await;
    failure(&r, 400);
    let r = send_json(json!({ "playbook_id": pb, "contacts": "all" })).await;
    failure(&r, 400);
    let r =
        send_json(json!({ "playbook_id": pb, "contacts": [{ "phone": phone }], "recall": "soon" }))
            .await;
    assert_eq!(failure(&r, 400)["field"], "recall");
    let r = send_json(json!([1, 2])).await;
    failure(&r, 400);
    let r = send(&app, Some(&key), "{\"playbook_id\": ").await;
    failure(&r, 400);

    // 401: no token, an unknown token.
    let body = json!({ "playbook_id": pb, "contacts": [{ "phone": phone }] }).to_string();
    failure(&send(&app, None, &body).await, 401);
    failure(&send(&app, Some("rb_live_nonsense"), &body).await, 401);

    // 403: a playbook that does not exist, or is another account's.
    let unknown = json!({ "playbook_id": "6f1c1c9e-8d5b-4c1e-9a2b-3d4e5f607182", "contacts": [{ "phone": phone }] });
    let r = send_json(unknown).await;
    assert_eq!(failure(&r, 403)["field"], "playbook_id");
    let other = app.second_account().await;
    let r = send(&app, Some(&other.api_key), &body).await;
    assert_eq!(failure(&r, 403)["field"], "playbook_id");

    // Oversized bodies and wrong methods keep the shape.
    let big = json!({ "playbook_id": pb, "contacts": [{ "phone": phone, "address": "x".repeat(8 * 1024) }] });
    failure(&send_json(big).await, 413);
    let r = app.request(Method::GET, "/campaign", None).await;
    failure(&r, 405);
    app.assert_no_callbacks("after refused campaigns").await;
}

/// `launch_at` without an offset (the page's own `2025-03-01T10:00:00`) is read in the
/// campaign's `timezone` if given, else in the account's zone (`dialect_timezone`), else in
/// UTC, and the answer says which; with an offset, it is that instant.
#[tokio::test]
async fn launch_at_without_an_offset_is_read_in_the_campaigns_or_the_accounts_zone() {
    let app = spawn_app().await;
    app.any_hour().await;
    let pb = app.playbook("Hi {{ first_name }}").await;
    // Tomorrow at 10:00, as civil time.
    let day = at_ms(24 * 3600 * 1000)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let civil = format!("{day}T10:00:00");
    let instant = |zone: &str| day.at(10, 0, 0, 0).in_tz(zone).unwrap().timestamp();
    let launch = |extra: Value| {
        let app = &app;
        let mut body = json!({ "playbook_id": pb, "contacts": [ { "phone": unique_phone() } ],
                               "launch_at": civil });
        if let (Value::Object(b), Value::Object(extra)) = (&mut body, extra) {
            b.extend(extra);
        }
        async move {
            let resp = send(app, Some(&app.api_key), &body.to_string()).await;
            let created = resp.expect(202).clone();
            let id = created["campaign_id"].as_str().unwrap().to_owned();
            let campaign = app
                .get(&format!("/v1/campaigns/{id}"))
                .await
                .expect(200)
                .clone();
            (created, campaign)
        }
    };

    // No zone anywhere: UTC, and the answer says so.
    let (created, campaign) = launch(json!({})).await;
    assert_eq!(created["launch_at_timezone"], "UTC", "{created}");
    assert_eq!(
        campaign["launch_at"],
        instant("UTC").to_string(),
        "{campaign}"
    );

    // The account's zone.
    let mut settings = app.get("/v1/settings").await.expect(200).clone();
    settings["dialect_timezone"] = json!("Asia/Kolkata");
    app.request(Method::PUT, "/v1/settings", Some(&settings))
        .await
        .expect(200);
    let (created, campaign) = launch(json!({})).await;
    assert_eq!(created["launch_at_timezone"], "Asia/Kolkata", "{created}");
    assert_eq!(
        campaign["launch_at"],
        instant("Asia/Kolkata").to_string(),
        "{campaign}"
    );

    // The campaign's own zone comes first.
    let (created, campaign) = launch(json!({ "timezone": "America/Chicago" })).await;
    assert_eq!(
        created["launch_at_timezone"], "America/Chicago",
        "{created}"
    );
    assert_eq!(
        campaign["launch_at"],
        instant("America/Chicago").to_string(),
        "{campaign}"
    );

    // With an offset, the instant as written, and no zone to report.
    let (created, campaign) = launch(json!({ "launch_at": format!("{civil}+02:00") })).await;
    assert!(created.get("launch_at_timezone").is_none(), "{created}");
    assert_eq!(
        campaign["launch_at"],
        day.at(8, 0, 0, 0)
            .in_tz("UTC")
            .unwrap()
            .timestamp()
            .to_string(),
        "{campaign}"
    );
}

/// `recall` delays count "from the time of the call": an outcome reported late (here 20 and
/// 100 minutes after the call) still recalls at the call's time plus the delay, and one
/// reported after that time recalls at once.
#[tokio::test]
async fn recalls_count_from_the_time_of_the_call_not_of_its_report() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.any_hour().await;
    let pb = app.playbook("Hi").await;
    let body = json!({ "playbook_id": pb, "recall": "[30,120,5]",
                       "contacts": [{ "phone": unique_phone() }] });
    let created = send(&app, Some(&app.api_key), &body.to_string())
        .await
        .expect(202)
        .clone();
    let campaign = created["campaign_id"].as_str().unwrap();
    let id = app
        .get(&format!("/v1/campaigns/{campaign}/contacts"))
        .await
        .expect(200)["data"][0]["callback_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (attempt, delay, late) in [(1_usize, 30_i64, 20_i64), (2, 120, 100)] {
        app.wait_for_status(&id, "in_progress", WAIT).await;
        let called = ts(&app.get_callback(&id).await["attempts"][attempt - 1]["started_at"]);
        app.move_time(&clock, Duration::from_secs(late as u64 * 60));
        let after = app
            .report_outcome(&id, &json!({ "outcome": "no_answer" }))
            .await
            .expect(200)
            .clone();
        assert_eq!(after["status"], "scheduled", "attempt {attempt}: {after}");
        assert_eq!(
            ts(&after["next_attempt_at"]),
            called + jiff::SignedDuration::from_mins(delay),
            "attempt {attempt}: the recall counts from the call at {called}"
        );
        app.move_time(&clock, Duration::from_secs((delay - late) as u64 * 60));
        app.bridge.wait_for_callback(&id, attempt + 1, WAIT).await;
    }
    // Reported 10 minutes after the call, past its 5-minute recall: called again now.
    app.wait_for_status(&id, "in_progress", WAIT).await;
    app.move_time(&clock, Duration::from_secs(600));
    let before = {
        use ringback::clock::Clock;
        clock.now()
    };
    let after = app
        .report_outcome(&id, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200)
        .clone();
    let next = ts(&after["next_attempt_at"]);
    assert!(
        next >= before,
        "recalled at {next}, before the report at {before}"
    );
    app.bridge.wait_for_callback(&id, 4, WAIT).await;
}
