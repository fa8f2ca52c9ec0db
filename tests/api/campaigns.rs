//! Campaigns, recall policies, calling windows, do-not-call skips, attempt caps and the
//! "explain, don't surprise" answers.

use std::{sync::Arc, time::Duration};

use jiff::{Timestamp, tz::TimeZone};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

async fn launch(app: &TestApp, body: Value) -> Value {
    app.post_json("/v1/campaigns", &body)
        .await
        .expect(202)
        .clone()
}

async fn campaign_contacts(app: &TestApp, id: &str) -> Vec<Value> {
    app.get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_campaign_starts_at_launch_at_and_says_each_contacts_message() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let pb = app
        .playbook("Hi {{ first_name }}, this is Acme about your renewal.")
        .await;
    let launch_at = at_ms(1_500);
    let (ann, anon) = (unique_phone(), unique_phone());
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "launch_at": launch_at.to_string(),
                "contacts": [ { "phone": ann, "first_name": "Ann", "timezone": "Europe/Madrid" },
                              { "phone": anon } ],
                "pacing": { "calls_per_second": 100 } }),
    )
    .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cmp_"));
    assert_eq!(created["contacts_total"], 2);

    let calls = campaign_contacts(&app, &id).await;
    assert_eq!(calls.len(), 2);
    let mut messages = Vec::new();
    for call in &calls {
        let cb_id = call["callback_id"].as_str().unwrap();
        let sent = app.bridge.wait_for_callback(cb_id, 1, WAIT).await;
        assert!(
            sent[0].received_at >= launch_at,
            "dialled at {} before the launch at {launch_at}",
            sent[0].received_at
        );
        assert_eq!(sent[0].body["dialing_mode"], "ai");
        messages.push(sent[0].body["initial_message"].as_str().unwrap().to_owned());
        let cb = app.get_callback(cb_id).await;
        assert_eq!(cb["origin"], "campaign");
        assert_eq!(cb["campaign_id"], id.as_str());
    }
    messages.sort();
    assert_eq!(
        messages,
        [
            "Hi Ann, this is Acme about your renewal.",
            "Hi there, this is Acme about your renewal."
        ]
    );
    // The contacts were created, and the campaign counts its calls.
    let c = app
        .get(&format!("/v1/contacts?phone=%2B{}", &ann[1..]))
        .await;
    assert_eq!(c.expect(200)["data"][0]["first_name"], "Ann");
    let campaign = app
        .get(&format!("/v1/campaigns/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(campaign["totals"]["contacts"], 2);
    assert_eq!(campaign["totals"]["in_progress"], 2);
}

#[tokio::test]
async fn a_no_answer_is_recalled_by_the_policy_and_an_answer_ends_it() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    app.any_hour().await;
    let pb = app.playbook("Hello {{ first_name }}").await;
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "recall": "[1,2]",
                "contacts": [ { "phone": unique_phone() }, { "phone": unique_phone() } ] }),
    )
    .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let calls = campaign_contacts(&app, &id).await;
    let (never, answers) = (
        calls[0]["callback_id"].as_str().unwrap().to_owned(),
        calls[1]["callback_id"].as_str().unwrap().to_owned(),
    );
    for cb in [&never, &answers] {
        app.wait_for_status(cb, "in_progress", WAIT).await;
    }

    // The second contact answers: no recall.
    app.report_outcome(&answers, &json!({ "outcome": "answered" }))
        .await
        .expect(200);
    assert_eq!(app.get_callback(&answers).await["status"], "completed");

    // The first never answers: recalled 1 minute, then 2 minutes after each call, then done.
    for (attempt, minutes) in [(1, 1), (2, 2)] {
        let after = app
            .report_outcome(&never, &json!({ "outcome": "no_answer" }))
            .await
            .expect(200)
            .clone();
        assert_eq!(
            after["status"], "scheduled",
            "recall after attempt {attempt}"
        );
        let next = ts(&after["next_attempt_at"]);
        let wait = next.duration_since(Timestamp::now());
        assert!(
            wait > jiff::SignedDuration::from_secs(minutes * 60 - 5),
            "recalled {wait:?} later, not {minutes} min"
        );
        clock.advance(Duration::from_secs(minutes as u64 * 60));
        app.bridge
            .wait_for_callback(&never, attempt + 1, WAIT)
            .await;
        app.wait_for_status(&never, "in_progress", WAIT).await;
    }
    let done = app
        .report_outcome(&never, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "failed", "the policy is used up");
    let cb = app.get_callback(&never).await;
    assert_eq!(cb["attempts"].as_array().unwrap().len(), 3);
    assert_eq!(events_of(&cb, "callback.recall_scheduled").len(), 2);
    let totals = app.get(&format!("/v1/campaigns/{id}")).await.expect(200)["totals"].clone();
    assert_eq!(totals["answered"], 1);
    assert_eq!(totals["not_answered"], 1);
    assert_eq!(totals["attempts"], 4);
}

#[tokio::test]
async fn a_paused_campaign_dials_nothing_until_it_is_resumed() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.any_hour().await;
    let pb = app.playbook("Hi").await;
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "launch_at": in_ms(1_000),
                "contacts": [ { "phone": unique_phone() } ] }),
    )
    .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let paused = app
        .post_json(&format!("/v1/campaigns/{id}/pause"), &json!({}))
        .await
        .expect(200)
        .clone();
    assert_eq!(paused["status"], "paused");
    let cb = campaign_contacts(&app, &id).await[0]["callback_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A minute past its time, the scheduler has passed it by.
    app.move_time(&clock, Duration::from_secs(60));
    app.scheduler_passed(&clock).await;
    assert_eq!(
        app.bridge.requests_for(&cb).len(),
        0,
        "dialled while paused"
    );
    assert_eq!(app.get_callback(&cb).await["status"], "scheduled");
    let why = app
        .get(&format!("/v1/callbacks/{cb}/eligibility"))
        .await
        .expect(200)
        .clone();
    assert_eq!(why["eligible"], false);
    assert!(
        why["blocked_by"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["rule"] == "campaign_paused"),
        "{why}"
    );
    app.post_json(&format!("/v1/campaigns/{id}/resume"), &json!({}))
        .await
        .expect(200);
    app.bridge.wait_for_callback(&cb, 1, WAIT).await;
    // A canceled campaign cannot be resumed.
    app.post_json(&format!("/v1/campaigns/{id}/cancel"), &json!({}))
        .await
        .expect(200);
    let e = app
        .post_json(&format!("/v1/campaigns/{id}/resume"), &json!({}))
        .await;
    e.expect_error(409, "invalid_state");
}

#[tokio::test]
async fn a_number_on_the_do_not_call_list_is_skipped_never_dialled() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let pb = app.playbook("Hi").await;
    let blocked = unique_phone();
    app.post_json("/v1/dnc", &json!({ "phone": blocked, "source": "ivr" }))
        .await
        .expect(201);
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "launch_at": in_ms(500),
                "contacts": [ { "phone": blocked }, { "phone": unique_phone() } ] }),
    )
    .await;
    let id = created["campaign_id"].as_str().unwrap().to_owned();
    let calls = campaign_contacts(&app, &id).await;
    let skipped = calls
        .iter()
        .find(|c| c["phone"] == blocked.as_str())
        .unwrap()["callback_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cb = app.wait_for_status(&skipped, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_dnc");
    assert_eq!(cb["attempts"][0]["outcome"], "skipped_dnc");
    assert_eq!(events_of(&cb, "callback.skipped").len(), 1);
    let other = calls
        .iter()
        .find(|c| c["phone"] != blocked.as_str())
        .unwrap();
    app.bridge
        .wait_for_callback(other["callback_id"].as_str().unwrap(), 1, WAIT)
        .await;
    assert!(app.bridge.requests_for(&skipped).is_empty());
    let totals = app.get(&format!("/v1/campaigns/{id}")).await.expect(200)["totals"].clone();
    assert_eq!(totals["skipped_dnc"], 1);
}

/// The instant of a local wall-clock time in a zone (the earlier one in an overlap).
fn local(zone: &str, civil: &str) -> Timestamp {
    civil
        .parse::<jiff::civil::DateTime>()
        .unwrap()
        .to_zoned(TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
}

#[tokio::test]
async fn first_calls_outside_the_window_move_to_the_next_opening_across_dst_changes() {
    let app = spawn_app().await;
    let pb = app.playbook("Hi").await;
    let la = "America/Los_Angeles";
    // 07:30 local, the morning after the clocks sprang forward (2027-03-14): 08:00 PDT.
    // 21:30 local on the evening the clocks fell back (2027-11-07): 08:00 PST next day.
    for (launch_at, expected) in [
        ("2027-03-14T07:30:00", local(la, "2027-03-14T08:00:00")),
        ("2027-11-07T21:30:00", local(la, "2027-11-08T08:00:00")),
    ] {
        let created = launch(
            &app,
            json!({ "playbook_id": pb, "launch_at": launch_at, "timezone": la,
                    "contacts": [ { "phone": unique_phone(), "timezone": la } ] }),
        )
        .await;
        assert_eq!(ts(&created["first_dial_at"]), expected, "{created}");
        let moved = &created["moved"][0];
        assert_eq!(ts(&moved["effective_dial_at"]), expected);
        let reason = moved["reason"].as_str().unwrap();
        assert!(reason.contains(la) && reason.contains("08:00"), "{reason}");
        let id = created["campaign_id"].as_str().unwrap();
        let call = &campaign_contacts(&app, id).await[0];
        assert_eq!(ts(&call["next_attempt_at"]), expected);
    }
}

#[tokio::test]
async fn a_one_off_callback_outside_the_window_is_refused_unless_the_account_allows_it() {
    let app = spawn_app().await;
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                "allow_customer_requested_times": false, "max_attempts": null,
                "attempt_window_days": 7 }),
    )
    .await;
    let late = json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T22:15:00",
                       "timezone": "America/Denver" });
    let e = app.post_callback(&late).await;
    let error = e
        .expect_field_error(400, "outside_calling_window", "scheduled_at")
        .clone();
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("21:00"), "{message}");
    assert_eq!(
        ts(&error["next_opening"]),
        local("America/Denver", "2027-01-06T08:00:00")
    );
    app.assert_no_callbacks("a refused callback").await;

    // Inside the window: a dry run answers what would be stored, and stores nothing.
    let fine = json!({ "phone": unique_phone(), "scheduled_at": "2027-01-05T10:00:00",
                       "timezone": "America/Denver", "recall": [30] });
    let dry = app
        .request(Method::POST, "/v1/callbacks?dry_run=true", Some(&fine))
        .await
        .expect(200)
        .clone();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        ts(&dry["effective_dial_at"]),
        local("America/Denver", "2027-01-05T10:00:00")
    );
    assert_eq!(dry["recall"], json!([30]));
    app.assert_no_callbacks("a dry run").await;

    // Allowed: stored, with a word on why.
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                "allow_customer_requested_times": true, "max_attempts": null,
                "attempt_window_days": 7 }),
    )
    .await;
    let stored = app.create(&late).await;
    let why = stored["explanation"][0].as_str().unwrap();
    assert!(why.contains("outside the calling window"), "{why}");
}

#[tokio::test]
async fn the_attempt_cap_counts_every_source_and_defers_the_next_call() {
    let app = spawn_quick_app().await;
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": 1,
                "attempt_window_days": 7 }),
    )
    .await;
    let phone = unique_phone();
    let first = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(200) }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&first, "in_progress", WAIT).await;
    app.report_outcome(&first, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200);
    // A campaign call to the same number is over the cap: deferred a week, not dialled.
    let pb = app.playbook("Hi").await;
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "contacts": [ { "phone": phone } ] }),
    )
    .await;
    let id = created["campaign_id"].as_str().unwrap();
    let second = campaign_contacts(&app, id).await[0]["callback_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cb = eventually(WAIT, "the call to be deferred", || async {
        let cb = app.get_callback(&second).await;
        (!events_of(&cb, "callback.deferred").is_empty()).then_some(cb)
    })
    .await;
    let deferred = events_of(&cb, "callback.deferred")[0].clone();
    assert_eq!(deferred["data"]["rule"], "attempt_cap");
    let until = ts(&deferred["data"]["until"]);
    assert!(
        until > at_ms(6 * 24 * 3600 * 1000),
        "deferred only to {until}"
    );
    assert_eq!(app.bridge.requests_for(&second).len(), 0);
    // Eligibility tells the same story: due when the cap lifts, and nothing else in the way.
    let why = app
        .get(&format!("/v1/callbacks/{second}/eligibility"))
        .await
        .expect(200)
        .clone();
    assert_eq!(why["blocked_by"].as_array().unwrap().len(), 1, "{why}");
    assert_eq!(why["blocked_by"][0]["rule"], "not_due", "{why}");
    assert_eq!(ts(&why["blocked_by"][0]["until"]), until, "{why}");
    assert_eq!(ts(&why["effective_dial_at"]), until, "{why}");
}

#[tokio::test]
async fn bad_campaigns_are_refused_with_the_field_and_the_reason() {
    let app = spawn_app().await;
    let pb = app.playbook("Hi").await;
    let ok_contact = json!({ "phone": unique_phone() });
    for (body, status, code, field) in [
        (
            json!({ "contacts": [ok_contact] }),
            400,
            "missing_field",
            "playbook_id",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [] }),
            400,
            "invalid_field",
            "contacts",
        ),
        (
            json!({ "playbook_id": pb }),
            400,
            "missing_field",
            "contacts",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact, { "phone": "12" }] }),
            400,
            "invalid_phone",
            "contacts[1].phone",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [{ "first_name": "No phone" }] }),
            400,
            "missing_field",
            "contacts[0].phone",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact], "recall": "30,120" }),
            400,
            "invalid_field",
            "recall",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact], "timezone": "Mars/Base" }),
            400,
            "invalid_timezone",
            "timezone",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact], "launch_at": "2020-01-01T00:00:00Z" }),
            400,
            "time_in_past",
            "launch_at",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact], "pacing": { "calls_per_second": 0 } }),
            400,
            "invalid_field",
            "pacing.calls_per_second",
        ),
        (
            json!({ "playbook_id": pb, "contacts": [ok_contact], "colour": "red" }),
            400,
            "unknown_field",
            "colour",
        ),
        (
            json!({ "playbook_id": "6f1c1f4e-3a57-4b8e-9a3e-1d2f3c4b5a69", "contacts": [ok_contact] }),
            403,
            "forbidden",
            "playbook_id",
        ),
    ] {
        app.post_json("/v1/campaigns", &body)
            .await
            .expect_field_error(status, code, field);
    }
    // Another account's playbook is not this account's.
    let other = app.second_account().await;
    app.request_as(
        Some(&other.api_key),
        Method::POST,
        "/v1/campaigns",
        Some(&json!({ "playbook_id": pb, "contacts": [ok_contact] })),
    )
    .await
    .expect_field_error(403, "forbidden", "playbook_id");
    // No credentials.
    app.request_as(None, Method::POST, "/v1/campaigns", Some(&json!({})))
        .await
        .expect_error(401, "unauthorized");
    // A key without campaigns:write.
    let reader = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "r", "scopes": ["campaigns:read"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request_as(
        Some(&reader),
        Method::POST,
        "/v1/campaigns",
        Some(&json!({ "playbook_id": pb, "contacts": [ok_contact] })),
    )
    .await
    .expect_error(403, "forbidden");
    let list = app.get("/v1/campaigns").await.expect(200).clone();
    assert!(list["data"].as_array().unwrap().is_empty(), "{list}");

    // A dry run plans without storing anything, contacts included.
    let planned = app
        .request(
            Method::POST,
            "/v1/campaigns?dry_run=true",
            Some(&json!({ "playbook_id": pb, "launch_at": "2027-01-05T22:00:00",
                          "timezone": "America/Denver",
                          "contacts": [{ "phone": unique_phone(), "timezone": "America/Denver" }] })),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(planned["dry_run"], true);
    assert!(
        planned["moved"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("21:00")
    );
    let list = app.get("/v1/campaigns").await.expect(200).clone();
    assert!(list["data"].as_array().unwrap().is_empty(), "{list}");
    let contacts = app.get("/v1/contacts").await.expect(200).clone();
    assert!(
        contacts["data"].as_array().unwrap().is_empty(),
        "{contacts}"
    );
}

#[tokio::test]
async fn the_ledger_counts_by_debt_and_keeps_quiet_after_an_answered_call() {
    let app = spawn_quick_app().await;
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": 1,
                "attempt_window_days": 7, "quiet_after_answer_hours": 24 }),
    )
    .await;
    // One call about debt D-17, to one number...
    let first = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "metadata": { "debt_ref": "D-17" } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&first, "in_progress", WAIT).await;
    app.report_outcome(&first, &json!({ "outcome": "answered" }))
        .await
        .expect(200);
    // ...caps calls about the same debt to another number.
    let second = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "metadata": { "debt_ref": "D-17" } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cb = eventually(WAIT, "the second call to be deferred", || async {
        let cb = app.get_callback(&second).await;
        (!events_of(&cb, "callback.deferred").is_empty()).then_some(cb)
    })
    .await;
    let deferred = &events_of(&cb, "callback.deferred")[0]["data"];
    assert_eq!(deferred["rule"], "attempt_cap");
    assert!(
        deferred["reason"].as_str().unwrap().contains("D-17"),
        "{deferred}"
    );

    // The number that answered is left alone for a day by automated calls.
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": null,
                "attempt_window_days": 7, "quiet_after_answer_hours": 24 }),
    )
    .await;
    let answered_phone = app.get_callback(&first).await["phone"]
        .as_str()
        .unwrap()
        .to_owned();
    let pb = app.playbook("Hi").await;
    let created = launch(
        &app,
        json!({ "playbook_id": pb, "contacts": [ { "phone": answered_phone } ] }),
    )
    .await;
    let call =
        campaign_contacts(&app, created["campaign_id"].as_str().unwrap()).await[0]["callback_id"]
            .as_str()
            .unwrap()
            .to_owned();
    let cb = eventually(WAIT, "the campaign call to be deferred", || async {
        let cb = app.get_callback(&call).await;
        (!events_of(&cb, "callback.deferred").is_empty()).then_some(cb)
    })
    .await;
    assert_eq!(
        events_of(&cb, "callback.deferred")[0]["data"]["rule"],
        "quiet_period"
    );
    assert!(app.bridge.requests_for(&call).is_empty());
}
