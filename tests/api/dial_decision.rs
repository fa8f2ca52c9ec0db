//! The dial decision through the API: where a number is (its zones, `timezone_source`), one
//! decision for create, eligibility, the dispatch guard and preview offers, holidays and
//! blackout dates, regional windows, recalls by outcome, and the bad input of each.

use std::time::Duration;

use jiff::{Timestamp, ToSpan, civil::Date, tz::TimeZone};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// The default 08:00-21:00 window, and times outside it refused.
async fn strict(app: &TestApp) {
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                "allow_customer_requested_times": false, "max_attempts": null,
                "attempt_window_days": 7 }),
    )
    .await;
}

/// A window (read in UTC) that is shut now and for the next hour: it opens two to three hours
/// from now.
fn shut_window() -> Value {
    let hour = Timestamp::now().to_zoned(TimeZone::UTC).hour() as i64;
    let start = (hour + 2) % 24;
    let end = (start + 1).min(24);
    json!({ "start": format!("{start:02}:00"), "end": format!("{end:02}:00") })
}

/// A date two days from now (UTC), far enough that any time on it is in the future.
fn day_after_tomorrow() -> Date {
    Timestamp::now()
        .checked_add(48.hours())
        .unwrap()
        .to_zoned(TimeZone::UTC)
        .date()
}

/// `date` at `hh:mm` in `zone`.
fn at(zone: &str, date: Date, hour: i8, minute: i8) -> Timestamp {
    date.at(hour, minute, 0, 0)
        .to_zoned(TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
}

/// Local wall-clock minutes of `t` in `zone`.
fn local_minutes(t: Timestamp, zone: &str) -> i32 {
    let z = t.to_zoned(TimeZone::get(zone).unwrap());
    i32::from(z.hour()) * 60 + i32::from(z.minute())
}

async fn eligibility(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/v1/callbacks/{id}/eligibility"))
        .await
        .expect(200)
        .clone()
}

/// The block of `rule` that eligibility lists, if any.
fn block<'a>(why: &'a Value, rule: &str) -> Option<&'a Value> {
    why["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["rule"] == rule)
}

/// The first `callback.deferred` event of a callback, once the guard has written it.
async fn deferral(app: &TestApp, id: &str) -> Value {
    eventually(WAIT, "the call to be deferred", || async {
        let cb = app.get_callback(id).await;
        events_of(&cb, "callback.deferred")
            .first()
            .map(|e| e["data"].clone())
    })
    .await
}

/// A callback to `phone` dialled at once, that ended with `outcome`: an attempt on the books.
async fn called(app: &TestApp, phone: &str, outcome: &str) -> String {
    let id = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(200) }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&id, "in_progress", WAIT).await;
    app.report_outcome(&id, &json!({ "outcome": outcome }))
        .await
        .expect(200);
    id
}

/// The callback of a campaign's only contact.
async fn only_call(app: &TestApp, campaign: &Value) -> String {
    let id = campaign["campaign_id"].as_str().unwrap();
    app.get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"][0]["callback_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

// -------------------------------------------------------------------------------------------
// Where the number is
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_san_francisco_number_without_a_zone_is_judged_in_pacific_time() {
    let app = spawn_app().await;
    strict(&app).await;
    let day = day_after_tomorrow();
    // 10:00 UTC is 02:00 (03:00 in summer) in San Francisco: refused, with the opening at
    // 08:00 Pacific that morning.
    let night = at("UTC", day, 10, 0);
    let refused = app
        .post_callback(&json!({ "phone": "+14155550100", "scheduled_at": night.to_string() }))
        .await;
    let error = refused
        .expect_field_error(400, "outside_calling_window", "scheduled_at")
        .clone();
    assert_eq!(
        ts(&error["next_opening"]),
        at("America/Los_Angeles", day, 8, 0),
        "{error}"
    );
    assert_eq!(error["timezone_source"], "number");
    assert_eq!(error["timezones"], json!(["America/Los_Angeles"]));
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("America/Los_Angeles"), "{message}");
    app.assert_no_callbacks("a call at 2 a.m. local time").await;

    // 21:26 UTC is 13:26 (14:26) there: accepted, and the answer says how it was judged.
    let afternoon = at("UTC", day, 21, 26);
    let cb = app
        .create(&json!({ "phone": "+14155550100", "scheduled_at": afternoon.to_string() }))
        .await;
    assert_eq!(cb["timezone_source"], "number");
    assert_eq!(cb["timezone"], "America/Los_Angeles");
    assert_eq!(ts(&cb["effective_dial_at"]), afternoon);
    let why = cb["explanation"][0].as_str().unwrap();
    assert!(
        why.contains("America/Los_Angeles") && why.contains("area code"),
        "{why}"
    );
    // A zone of the request's is used instead, and said so.
    let london = app
        .create(
            &json!({ "phone": "+14155550101", "scheduled_at": night.to_string(),
                         "timezone": "Europe/London" }),
        )
        .await;
    assert_eq!(london["timezone_source"], "request");
    assert_eq!(london["timezones"], json!(["Europe/London"]));
}

#[tokio::test]
async fn a_contact_s_zone_and_state_are_used_when_the_request_names_none() {
    let app = spawn_app().await;
    strict(&app).await;
    // A 415 number whose owner lives in New York, by the contact record.
    app.post_json(
        "/v1/contacts",
        &json!({ "phone": "+14155550102", "timezone": "America/New_York", "state": "NY" }),
    )
    .await
    .expect(201);
    let day = day_after_tomorrow();
    // 12:30 UTC: 07:30 in New York, before the window; 04:30 in San Francisco.
    let early = at("UTC", day, 12, 30);
    let refused = app
        .post_callback(&json!({ "phone": "+14155550102", "scheduled_at": early.to_string() }))
        .await;
    let error = refused.expect_field_error(400, "outside_calling_window", "scheduled_at");
    assert_eq!(error["timezone_source"], "contact");
    assert_eq!(
        ts(&error["next_opening"]),
        at("America/New_York", day, 8, 0)
    );
    let ok = app
        .create(&json!({ "phone": "+14155550102",
                         "scheduled_at": at("America/New_York", day, 9, 0).to_string() }))
        .await;
    assert_eq!(ok["timezone_source"], "contact");
    assert_eq!(ok["timezone"], "America/New_York");
}

#[tokio::test]
async fn a_toll_free_number_is_judged_in_the_safe_window_of_every_us_zone() {
    let app = spawn_app().await;
    strict(&app).await;
    let day = day_after_tomorrow();
    // 13:00 UTC: 08:00 in New York in winter, 03:00 in Honolulu.
    let refused = app
        .post_callback(&json!({ "phone": "+18005550100",
                                "scheduled_at": at("UTC", day, 13, 0).to_string() }))
        .await;
    let error = refused
        .expect_field_error(400, "outside_calling_window", "scheduled_at")
        .clone();
    assert_eq!(error["timezone_source"], "number_ambiguous");
    let zones: Vec<&str> = error["timezones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z.as_str().unwrap())
        .collect();
    let us = [
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Phoenix",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    ];
    for zone in us {
        assert!(zones.contains(&zone), "{zone} is among {zones:?}");
    }
    let opening = ts(&error["next_opening"]);
    for zone in &zones {
        let m = local_minutes(opening, zone);
        assert!(
            (8 * 60..21 * 60).contains(&m),
            "{opening} is {m} min in {zone}"
        );
    }
    // At the opening it is accepted, and the explanation names the zones assumed.
    let cb = app
        .create(&json!({ "phone": "+18005550100", "scheduled_at": opening.to_string() }))
        .await;
    assert_eq!(cb["timezone_source"], "number_ambiguous");
    let why = cb["explanation"][0].as_str().unwrap();
    assert!(
        why.contains("may be in any of") && why.contains("Pacific/Honolulu"),
        "{why}"
    );
}

// -------------------------------------------------------------------------------------------
// Eligibility and the dispatch guard agree, rule by rule
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_the_calling_window() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let id = app
        .create(&json!({ "phone": unique_phone(), "timezone": "UTC",
                         "scheduled_at": in_ms(1_500) }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The window shuts, and times customers ask for are no longer kept.
    app.settings(
        json!({ "calling_window": shut_window(), "allow_customer_requested_times": false,
                "max_attempts": null, "attempt_window_days": 7 }),
    )
    .await;
    let why = eligibility(&app, &id).await;
    let said = block(&why, "calling_window")
        .expect("blocked by the window")
        .clone();
    let done = deferral(&app, &id).await;
    assert_eq!(done["rule"], "calling_window", "{done}");
    assert_eq!(ts(&done["until"]), ts(&said["until"]), "{done} / {said}");
    assert!(app.bridge.requests_for(&id).is_empty());
    let after = eligibility(&app, &id).await;
    assert_eq!(
        ts(&after["effective_dial_at"]),
        ts(&said["until"]),
        "{after}"
    );
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_the_attempt_cap() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = unique_phone();
    called(&app, &phone, "no_answer").await;
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": 1,
                "attempt_window_days": 7 }),
    )
    .await;
    let second = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(1_500),
                         "allow_duplicate": true }))
        .await;
    let explained = second["explanation"].to_string();
    assert!(explained.contains("cap 1"), "{explained}");
    let second = second["id"].as_str().unwrap().to_owned();
    let why = eligibility(&app, &second).await;
    let said = block(&why, "attempt_cap").expect("capped").clone();
    let done = deferral(&app, &second).await;
    assert_eq!(done["rule"], "attempt_cap", "{done}");
    assert_eq!(ts(&done["until"]), ts(&said["until"]));
    assert!(app.bridge.requests_for(&second).is_empty());
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_the_quiet_period() {
    let app = spawn_quick_app().await;
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": null,
                "attempt_window_days": 7, "quiet_after_answer_hours": 24 }),
    )
    .await;
    let phone = unique_phone();
    called(&app, &phone, "answered").await;
    // A campaign call is automated: it waits out the quiet period.
    let pb = app.playbook("Hi").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "launch_at": in_ms(1_500),
                     "contacts": [ { "phone": phone } ] }),
        )
        .await
        .expect(202)
        .clone();
    let call = only_call(&app, &campaign).await;
    let why = eligibility(&app, &call).await;
    let said = block(&why, "quiet_period").expect("quiet").clone();
    let done = deferral(&app, &call).await;
    assert_eq!(done["rule"], "quiet_period", "{done}");
    assert_eq!(ts(&done["until"]), ts(&said["until"]));
    assert!(app.bridge.requests_for(&call).is_empty());
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_the_do_not_call_list() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = unique_phone();
    app.post_json("/v1/dnc", &json!({ "phone": phone }))
        .await
        .expect(201);
    let cb = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(1_500) }))
        .await;
    assert!(cb["effective_dial_at"].is_null(), "{cb}");
    assert!(
        cb["explanation"].to_string().contains("do-not-call"),
        "{cb}"
    );
    let id = cb["id"].as_str().unwrap().to_owned();
    let why = eligibility(&app, &id).await;
    assert!(block(&why, "dnc").expect("listed")["until"].is_null());
    assert_eq!(why["eligible"], false);
    let skipped = app.wait_for_status(&id, "canceled", WAIT).await;
    assert_eq!(skipped["outcome"], "skipped_dnc");
    assert!(app.bridge.requests_for(&id).is_empty());
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_a_paused_campaign() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.any_hour().await;
    let pb = app.playbook("Hi").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb, "launch_at": in_ms(1_000),
                     "contacts": [ { "phone": unique_phone() } ] }),
        )
        .await
        .expect(202)
        .clone();
    let campaign_id = campaign["campaign_id"].as_str().unwrap().to_owned();
    app.post_json(&format!("/v1/campaigns/{campaign_id}/pause"), &json!({}))
        .await
        .expect(200);
    let call = only_call(&app, &campaign).await;
    let why = eligibility(&app, &call).await;
    assert!(block(&why, "campaign_paused").is_some(), "{why}");
    app.move_time(&clock, Duration::from_secs(60));
    app.scheduler_passed(&clock).await;
    assert!(app.bridge.requests_for(&call).is_empty());
    assert_eq!(app.get_callback(&call).await["status"], "scheduled");
    // Resumed, the same call goes out: the pause was what held it.
    app.post_json(&format!("/v1/campaigns/{campaign_id}/resume"), &json!({}))
        .await
        .expect(200);
    app.wait_for_status(&call, "in_progress", WAIT).await;
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_pacing() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    app.any_hour().await;
    let pb = app.playbook("Hi").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": pb,
                     "pacing": { "max_concurrent_calls": 1, "calls_per_second": 100 },
                     "contacts": [ { "phone": unique_phone() }, { "phone": unique_phone() } ] }),
        )
        .await
        .expect(202)
        .clone();
    let id = campaign["campaign_id"].as_str().unwrap();
    let calls: Vec<String> = app
        .get(&format!("/v1/campaigns/{id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["callback_id"].as_str().unwrap().to_owned())
        .collect();
    let first = app.bridge.wait_for(1, WAIT).await[0]
        .callback_id()
        .to_owned();
    let second = calls.iter().find(|c| **c != first).unwrap().clone();
    app.wait_for_status(&first, "in_progress", WAIT).await;
    let why = eligibility(&app, &second).await;
    assert!(block(&why, "pacing").is_some(), "{why}");
    // The scheduler passes it by while the first call holds the campaign's one line.
    app.scheduler_passed(&clock).await;
    assert!(app.bridge.requests_for(&second).is_empty());
    assert_eq!(app.get_callback(&second).await["status"], "scheduled");
    // The first call ends: the second may start.
    app.report_outcome(&first, &json!({ "outcome": "answered" }))
        .await
        .expect(200);
    app.wait_for_status(&second, "in_progress", WAIT).await;
}

#[tokio::test]
async fn eligibility_and_the_router_agree_on_no_free_agent() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(300),
                         "dialing_mode": "preview" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let waiting = app.wait_for_status(&id, "waiting", WAIT).await;
    assert!(waiting["agent_id"].is_null());
    let why = eligibility(&app, &id).await;
    assert!(block(&why, "no_agent").is_some(), "{why}");
    // An agent becomes available: the block lifts, and the router offers it.
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Ann" }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        Method::PUT,
        &format!("/v1/agents/{agent}/presence"),
        Some(&json!({ "presence": "available" })),
    )
    .await
    .expect(200);
    let offered = app.wait_for_status(&id, "offered", WAIT).await;
    assert_eq!(offered["agent_id"], agent.as_str());
}

#[tokio::test]
async fn eligibility_and_the_guard_agree_on_not_due_and_final_state() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let later = tomorrow();
    let id = app.create_at(&later).await;
    let why = eligibility(&app, &id).await;
    let not_due = block(&why, "not_due").expect("not due");
    assert_eq!(ts(&not_due["until"]), ts(&json!(later)));
    assert_eq!(why["eligible"], true, "only its time stands in the way");
    assert_eq!(ts(&why["effective_dial_at"]), ts(&json!(later)));
    app.cancel(&id).await.expect(200);
    let why = eligibility(&app, &id).await;
    assert_eq!(why["blocked_by"].as_array().unwrap().len(), 1, "{why}");
    assert!(block(&why, "final_state").is_some(), "{why}");
    assert!(why["effective_dial_at"].is_null());
    assert!(app.bridge.requests_for(&id).is_empty());
}

// -------------------------------------------------------------------------------------------
// Preview offers obey the same rules
// -------------------------------------------------------------------------------------------

async fn available_agent(app: &TestApp) -> String {
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Ann" }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.request(
        Method::PUT,
        &format!("/v1/agents/{agent}/presence"),
        Some(&json!({ "presence": "available" })),
    )
    .await
    .expect(200);
    agent
}

#[tokio::test]
async fn a_preview_callback_outside_the_window_is_not_offered() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let agent = available_agent(&app).await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "timezone": "UTC", "scheduled_at": in_ms(1_500),
                         "dialing_mode": "preview" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.settings(
        json!({ "calling_window": shut_window(), "allow_customer_requested_times": false,
                "max_attempts": null, "attempt_window_days": 7 }),
    )
    .await;
    let done = deferral(&app, &id).await;
    assert_eq!(done["rule"], "calling_window", "{done}");
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["status"], "scheduled");
    assert!(events_of(&cb, "callback.offered").is_empty(), "{cb}");
    let work = app
        .get(&format!("/v1/agents/{agent}/callbacks"))
        .await
        .expect(200)
        .clone();
    assert!(!work.to_string().contains(&id), "{work}");
}

#[tokio::test]
async fn a_preview_callback_to_a_capped_number_is_not_offered() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = unique_phone();
    called(&app, &phone, "busy").await;
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": 1,
                "attempt_window_days": 7 }),
    )
    .await;
    available_agent(&app).await;
    let id = app
        .create(
            &json!({ "phone": phone, "scheduled_at": in_ms(300), "dialing_mode": "preview",
                         "allow_duplicate": true }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = deferral(&app, &id).await;
    assert_eq!(done["rule"], "attempt_cap", "{done}");
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["status"], "scheduled");
    assert!(events_of(&cb, "callback.offered").is_empty(), "{cb}");
}

// -------------------------------------------------------------------------------------------
// Holidays, blackout dates, regional windows
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_blackout_date_and_a_holiday_move_the_call_to_the_next_opening() {
    let app = spawn_app().await;
    let day = day_after_tomorrow();
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00",
                                    "blackout_dates": [day.to_string()] },
                "allow_customer_requested_times": false, "max_attempts": null,
                "attempt_window_days": 7 }),
    )
    .await;
    let shown = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(
        shown["calling_window"]["blackout_dates"],
        json!([day.to_string()])
    );
    let noon = at("Europe/London", day, 12, 0);
    let refused = app
        .post_callback(&json!({ "phone": "+442079460958", "scheduled_at": noon.to_string() }))
        .await;
    let error = refused.expect_field_error(400, "outside_calling_window", "scheduled_at");
    assert!(
        error["message"].as_str().unwrap().contains("blackout"),
        "{error}"
    );
    let next_day = day.tomorrow().unwrap();
    assert_eq!(
        ts(&error["next_opening"]),
        at("Europe/London", next_day, 8, 0)
    );

    // A holiday of Great Britain's: the same for a London number, nothing for a Paris one.
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                "allow_customer_requested_times": false, "max_attempts": null,
                "attempt_window_days": 7,
                "holidays": [{ "date": day.to_string(), "regions": ["GB"],
                               "name": "Bank holiday" }] }),
    )
    .await;
    let refused = app
        .post_callback(&json!({ "phone": "+442079460958", "scheduled_at": noon.to_string() }))
        .await;
    let error = refused.expect_field_error(400, "outside_calling_window", "scheduled_at");
    assert!(
        error["message"].as_str().unwrap().contains("Bank holiday"),
        "{error}"
    );
    assert_eq!(
        ts(&error["next_opening"]),
        at("Europe/London", next_day, 8, 0)
    );
    app.create(&json!({ "phone": "+33142685300", "scheduled_at": noon.to_string() }))
        .await;

    // A recall falling on the holiday moves past it too: a campaign launched that day.
    any_hour_with_holiday(&app, day).await;
    let pb = app.playbook("Hi").await;
    let planned = app
        .request(
            Method::POST,
            "/v1/campaigns?dry_run=true",
            Some(&json!({ "playbook_id": pb, "launch_at": noon.to_string(),
                          "contacts": [ { "phone": "+442079460958" } ] })),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        ts(&planned["first_dial_at"]),
        at("Europe/London", next_day, 0, 0),
        "{planned}"
    );
    assert!(
        planned["moved"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("holiday"),
        "{planned}"
    );
}

async fn any_hour_with_holiday(app: &TestApp, day: Date) {
    app.settings(
        json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                "allow_customer_requested_times": true, "max_attempts": null,
                "attempt_window_days": 7,
                "holidays": [{ "date": day.to_string(), "regions": ["GB"] }] }),
    )
    .await;
}

#[tokio::test]
async fn a_florida_number_is_held_to_the_us_fl_window() {
    let app = spawn_app().await;
    app.settings(
        json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                "allow_customer_requested_times": false, "max_attempts": null,
                "attempt_window_days": 7,
                "regional_windows": [{ "region": "US-FL",
                                       "calling_window": { "start": "08:00", "end": "20:00" } }] }),
    )
    .await;
    let shown = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(shown["regional_windows"][0]["region"], "US-FL");
    let day = day_after_tomorrow();
    let evening = at("America/New_York", day, 20, 30);
    // Miami (305) at 20:30: after Florida's 20:00.
    let refused = app
        .post_callback(&json!({ "phone": "+13055550100", "scheduled_at": evening.to_string() }))
        .await;
    let error = refused.expect_field_error(400, "outside_calling_window", "scheduled_at");
    assert!(
        error["message"].as_str().unwrap().contains("US-FL"),
        "{error}"
    );
    assert_eq!(
        ts(&error["next_opening"]),
        at("America/New_York", day.tomorrow().unwrap(), 8, 0)
    );
    // New York (212) at the same time is inside the account's window.
    let ok = app
        .create(&json!({ "phone": "+12125550100", "scheduled_at": evening.to_string() }))
        .await;
    assert_eq!(ok["timezone"], "America/New_York");
    // A contact in Florida with a 212 number is held to it as well.
    app.post_json(
        "/v1/contacts",
        &json!({ "phone": "+12125550101", "state": "Florida" }),
    )
    .await
    .expect(201);
    app.post_callback(&json!({ "phone": "+12125550101", "scheduled_at": evening.to_string() }))
        .await
        .expect_field_error(400, "outside_calling_window", "scheduled_at");
}

// -------------------------------------------------------------------------------------------
// Recalls by outcome
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn recalls_follow_the_ladder_of_each_outcome() {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let recall = json!({ "busy": [5, 15], "no_answer": [30], "voicemail": [] });
    let busy = app
        .create(&json!({ "phone": unique_phone(), "timezone": "UTC",
                         "scheduled_at": in_ms(200), "recall": recall }))
        .await;
    assert_eq!(busy["recall"], recall);
    let busy = busy["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&busy, "in_progress", WAIT).await;
    let reported_at = Timestamp::now();
    let after = app
        .report_outcome(&busy, &json!({ "outcome": "busy" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(after["status"], "scheduled", "{after}");
    let next = ts(&after["next_attempt_at"]);
    let five = reported_at.checked_add(5.minutes()).unwrap();
    assert!(
        next >= five.checked_sub(2.seconds()).unwrap()
            && next <= five.checked_add(5.seconds()).unwrap(),
        "recalled at {next}, not 5 minutes after {reported_at}"
    );

    // A voicemail is not recalled: the callback ends.
    let voicemail = app
        .create(&json!({ "phone": unique_phone(), "timezone": "UTC",
                         "scheduled_at": in_ms(200), "recall": recall }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&voicemail, "in_progress", WAIT).await;
    let ended = app
        .report_outcome(&voicemail, &json!({ "outcome": "voicemail" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["outcome"], "voicemail");
    let cb = app.get_callback(&voicemail).await;
    assert!(
        events_of(&cb, "callback.recall_scheduled").is_empty(),
        "{cb}"
    );
}

// -------------------------------------------------------------------------------------------
// Bad input
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_holidays_regions_blackouts_and_recalls_are_refused_naming_the_field() {
    let app = spawn_app().await;
    strict(&app).await;
    let before = app.get("/v1/settings").await.expect(200).clone();
    let base = json!({ "calling_window": { "start": "08:00", "end": "21:00" },
                       "allow_customer_requested_times": false, "max_attempts": null,
                       "attempt_window_days": 7 });
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    for (body, code, field) in [
        (
            with(
                "regional_windows",
                json!([{ "region": "US-ZZ",
                                               "calling_window": { "end": "20:00" } }]),
            ),
            "invalid_field",
            "regional_windows[0].region",
        ),
        (
            with(
                "regional_windows",
                json!([{ "region": "Florida",
                                               "calling_window": { "end": "20:00" } }]),
            ),
            "invalid_field",
            "regional_windows[0].region",
        ),
        (
            with(
                "holidays",
                json!([{ "date": "2026-12-25", "regions": ["XX"] }]),
            ),
            "invalid_field",
            "holidays[0].regions[0]",
        ),
        (
            with("holidays", json!([{ "date": "Christmas" }])),
            "invalid_field",
            "holidays[0].date",
        ),
        (
            with(
                "calling_window",
                json!({ "blackout_dates": ["2026-12-25", "tomorrow"] }),
            ),
            "invalid_field",
            "calling_window.blackout_dates[1]",
        ),
    ] {
        app.request(Method::PUT, "/v1/settings", Some(&body))
            .await
            .expect_field_error(400, code, field);
    }
    assert_eq!(
        app.get("/v1/settings").await.expect(200),
        &before,
        "nothing was written"
    );
    for (recall, code, field) in [
        (json!({ "ringing": [5] }), "unknown_field", "recall.ringing"),
        (json!({ "busy": [-5] }), "invalid_field", "recall.busy[0]"),
        (json!({ "busy": [5, 0] }), "invalid_field", "recall.busy[1]"),
        (json!({ "busy": "5" }), "invalid_field", "recall.busy"),
    ] {
        app.post_callback(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                                   "timezone": "UTC", "recall": recall }),
        )
        .await
        .expect_field_error(400, code, field);
    }
    app.assert_no_callbacks("refused recalls").await;
}
