//! Caller IDs the account owns: the registry, `caller_id_not_owned`, pools and which number a
//! call shows (the callee's area code, else their state or country, else the least used,
//! under each number's daily cap), kept on the attempt.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use reqwest::Method;
use ringback::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::*;

async fn register(app: &TestApp, body: Value) -> Value {
    app.post_json("/v1/caller-ids", &body)
        .await
        .expect(201)
        .clone()
}

#[tokio::test]
async fn numbers_are_registered_listed_changed_and_forgotten() {
    let app = spawn_app().await;
    let sf = register(
        &app,
        json!({ "number": "+1 415-555-0111", "pool": "sales", "max_calls_per_day": 50 }),
    )
    .await;
    assert_eq!(sf["number"], "+14155550111");
    assert_eq!(sf["pool"], "sales");
    assert_eq!(sf["region"], "US-CA", "read from the number");
    assert_eq!(sf["area_code"], "415", "read from the number");
    assert_eq!(sf["max_calls_per_day"], 50);
    assert_eq!(sf["calls_today"], 0);
    let london = register(
        &app,
        json!({ "number": "+442079460000", "area_code": "20", "region": "GB" }),
    )
    .await;
    assert_eq!(london["area_code"], "20");
    assert_eq!(london["pool"], Value::Null);
    assert_eq!(
        app.get("/v1/caller-ids").await.expect(200)["data"],
        json!([sf, london])
    );
    assert_eq!(
        app.get("/v1/caller-ids?pool=sales").await.expect(200)["data"],
        json!([sf])
    );
    assert_eq!(
        app.get("/v1/caller-ids/%2B14155550111").await.expect(200),
        &sf
    );
    let moved = app
        .patch(
            "/v1/caller-ids/%2B442079460000",
            &json!({ "pool": "uk", "max_calls_per_day": null, "area_code": null }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(moved["pool"], "uk");
    assert_eq!(moved["area_code"], Value::Null);
    assert_eq!(moved["region"], "GB");
    assert_eq!(
        app.request(Method::DELETE, "/v1/caller-ids/%2B442079460000", None)
            .await
            .status,
        204
    );
    app.get("/v1/caller-ids/%2B442079460000")
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        app.get("/v1/caller-ids").await.expect(200)["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Another account sees none of them.
    let other = app.second_account().await;
    let theirs = app
        .request_as(Some(&other.api_key), Method::GET, "/v1/caller-ids", None)
        .await;
    assert_eq!(theirs.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn bad_numbers_pools_regions_and_caps_are_refused_naming_the_field() {
    let app = spawn_app().await;
    register(&app, json!({ "number": "+14155550111", "pool": "sales" })).await;
    for (body, code, field) in [
        (json!({ "number": "4155550111" }), "invalid_phone", "number"),
        (json!({ "number": "+1415" }), "invalid_phone", "number"),
        (
            json!({ "number": "+14155550111", "pool": "support" }),
            "invalid_field",
            "number",
        ),
        (
            json!({ "number": "+14155550112", "pool": "two words" }),
            "invalid_field",
            "pool",
        ),
        (
            json!({ "number": "+14155550112", "region": "XX-YY" }),
            "invalid_field",
            "region",
        ),
        (
            json!({ "number": "+14155550112", "area_code": "4a" }),
            "invalid_field",
            "area_code",
        ),
        (
            json!({ "number": "+14155550112", "max_calls_per_day": 0 }),
            "invalid_field",
            "max_calls_per_day",
        ),
        (json!({ "pool": "sales" }), "missing_field", "number"),
    ] {
        app.post_json("/v1/caller-ids", &body)
            .await
            .expect_field_error(400, code, field);
    }
    app.patch(
        "/v1/caller-ids/%2B14155550111",
        &json!({ "max_calls_per_day": -1 }),
    )
    .await
    .expect_error(400, "invalid_field");
    let all = app.get("/v1/caller-ids").await.expect(200).clone();
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["data"][0]["pool"], "sales", "unchanged");
}

#[tokio::test]
async fn a_caller_id_the_account_did_not_register_is_refused_once_it_registered_any() {
    let app = spawn_app().await;
    // Nothing registered: any number may be shown.
    app.create(
        &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                        "caller_id": "+14155550199" }),
    )
    .await;
    register(&app, json!({ "number": "+14155550111", "pool": "sales" })).await;
    app.post_callback(
        &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                               "caller_id": "+14155550199" }),
    )
    .await
    .expect_field_error(400, "caller_id_not_owned", "caller_id");
    let owned = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "caller_id": "+14155550111" }),
        )
        .await;
    assert_eq!(owned["caller_id"], "+14155550111");
    // In a batch the item is named.
    let batch = app
        .post_json(
            "/v1/callbacks/batch",
            &json!({ "callbacks": [
                { "phone": unique_phone(), "scheduled_at": tomorrow() },
                { "phone": unique_phone(), "scheduled_at": tomorrow(), "caller_id": "+14155550199" },
            ] }),
        )
        .await;
    assert!(
        batch.text.contains("callbacks[1].caller_id") && batch.text.contains("caller_id_not_owned"),
        "{}",
        batch.text
    );
    // Pools: unknown ones, bad names and a pool beside a caller_id are refused.
    for (body, code, field) in [
        (
            json!({ "caller_id_pool": "support" }),
            "invalid_field",
            "caller_id_pool",
        ),
        (
            json!({ "caller_id_pool": "no spaces" }),
            "invalid_field",
            "caller_id_pool",
        ),
        (
            json!({ "caller_id_pool": "sales", "caller_id": "+14155550111" }),
            "invalid_field",
            "caller_id_pool",
        ),
    ] {
        let mut body = body;
        body["phone"] = unique_phone().into();
        body["scheduled_at"] = tomorrow().into();
        app.post_callback(&body)
            .await
            .expect_field_error(400, code, field);
    }
    let pooled = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "caller_id_pool": "sales" }),
        )
        .await;
    assert_eq!(pooled["caller_id_pool"], "sales");
    assert_eq!(pooled["caller_id"], Value::Null);

    // Campaigns too.
    let pb = app.playbook("Hi {{ first_name }}").await;
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": pb, "contacts": [{ "phone": unique_phone() }],
                 "caller_id": "+14155550199" }),
    )
    .await
    .expect_field_error(400, "caller_id_not_owned", "caller_id");
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": pb, "contacts": [{ "phone": unique_phone() }],
                 "caller_id_pool": "nobody" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "caller_id_pool");
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "contacts": [{ "phone": unique_phone() }],
                     "caller_id_pool": "sales", "launch_at": tomorrow() }),
        )
        .await
        .expect(202)
        .clone();
    let id = campaign["campaign_id"].as_str().unwrap();
    let stored = app
        .get(&format!("/v1/campaigns/{id}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(stored["caller_id_pool"], "sales", "{stored}");
}

/// A callback to `phone` showing a number of `pool`, due `ms` after the server's clock.
async fn pooled_call(app: &TestApp, clock: &ShiftedClock, phone: &str, pool: &str) -> String {
    let at = clock.now() + jiff::SignedDuration::from_millis(300);
    app.create(&json!({ "phone": phone, "scheduled_at": at.to_string(), "caller_id_pool": pool }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The number the bridge was asked to show on `id`'s first call, and the attempt's record
/// of it.
async fn shown(app: &TestApp, id: &str) -> String {
    let sent = app.bridge.wait_for_callback(id, 1, WAIT).await;
    let cb = app.wait_for_status(id, "in_progress", WAIT).await;
    let number = sent[0].body["caller_id"].as_str().unwrap_or("").to_owned();
    assert_eq!(cb["attempts"][0]["caller_id"], number.as_str(), "{cb}");
    number
}

#[tokio::test]
async fn the_pool_shows_the_callees_area_code_then_falls_back_under_each_daily_cap() {
    // Midday UTC, so the day does not turn while the test runs.
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let noon = today
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap();
    let clock = Arc::new(ShiftedClock::at(noon.timestamp()));
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    app.any_hour().await;
    // New York, San Francisco (one call a day), Los Angeles (California, like San Francisco).
    register(&app, json!({ "number": "+12125550100", "pool": "sales" })).await;
    register(
        &app,
        json!({ "number": "+14155550111", "pool": "sales", "max_calls_per_day": 1 }),
    )
    .await;
    register(&app, json!({ "number": "+13105550100", "pool": "sales" })).await;

    // A San Francisco callee sees the San Francisco number.
    let first = pooled_call(&app, &clock, &unique_phone(), "sales").await;
    assert_eq!(shown(&app, &first).await, "+14155550111");
    // Its cap is used: the next one sees the other California number.
    let second = pooled_call(&app, &clock, &unique_phone(), "sales").await;
    assert_eq!(shown(&app, &second).await, "+13105550100");
    // A Texas callee: no number of its area or state, all in its country; the least used.
    let third = pooled_call(&app, &clock, "+15125550177", "sales").await;
    assert_eq!(shown(&app, &third).await, "+12125550100");
    let usage = app
        .get("/v1/caller-ids?pool=sales")
        .await
        .expect(200)
        .clone();
    let today: Vec<u64> = usage["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["calls_today"].as_u64().unwrap())
        .collect();
    assert_eq!(today, vec![1, 1, 1], "{usage}");

    // A retry of the attempt (the bridge refused it) shows the same number.
    app.report_outcome(&first, &json!({ "outcome": "answered" }))
        .await
        .expect(200);
    app.bridge.fail_next(1);
    let retried = pooled_call(&app, &clock, "+15125550178", "sales").await;
    let sent = app.bridge.wait_for_callback(&retried, 2, WAIT).await;
    assert_eq!(sent[0].body["caller_id"], sent[1].body["caller_id"]);
    assert_eq!(sent[0].body["attempt"], sent[1].body["attempt"]);
}

#[tokio::test]
async fn a_pool_with_every_number_at_its_cap_waits_for_the_next_day() {
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let noon = today
        .at(12, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap();
    let clock = Arc::new(ShiftedClock::at(noon.timestamp()));
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    app.any_hour().await;
    register(
        &app,
        json!({ "number": "+14155550111", "pool": "tiny", "max_calls_per_day": 1 }),
    )
    .await;
    let first = pooled_call(&app, &clock, &unique_phone(), "tiny").await;
    assert_eq!(shown(&app, &first).await, "+14155550111");
    let second = pooled_call(&app, &clock, &unique_phone(), "tiny").await;
    let midnight = today
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp();
    let cb = eventually(WAIT, "the call to wait for the next day", || async {
        let cb = app.get_callback(&second).await;
        (!events_of(&cb, "callback.deferred").is_empty()).then_some(cb)
    })
    .await;
    assert_eq!(cb["status"], "scheduled");
    assert_eq!(ts(&cb["next_attempt_at"]), midnight, "{cb}");
    let deferred = events_of(&cb, "callback.deferred")[0];
    assert_eq!(deferred["data"]["rule"], "caller_id_cap");
    assert!(app.bridge.requests_for(&second).is_empty());

    // The next day the cap starts again.
    let left = midnight.duration_since(clock.now());
    app.move_time(&clock, left.unsigned_abs() + Duration::from_secs(1));
    assert_eq!(shown(&app, &second).await, "+14155550111");
}
