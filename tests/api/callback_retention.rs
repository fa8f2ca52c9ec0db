//! Retention of ended callbacks: with `retention_days`, a callback that ended more than that
//! many days ago is deleted by the retention sweep with everything kept about it (its events
//! among them); active callbacks, recent ones and another account's are kept.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// The account's event types and callback ids in its event log.
async fn logged_callbacks(app: &TestApp, key: &str) -> Vec<String> {
    let events = app
        .request_as(Some(key), Method::GET, "/v1/events?limit=500", None)
        .await
        .expect(200)
        .clone();
    events["data"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["data"]["object"]["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn ended_callbacks_past_the_accounts_retention_are_deleted_with_their_events() {
    let clock = std::sync::Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| {
        c.min_lead_seconds = 0;
        c.recording_sweep_seconds = 1;
    })
    .await;
    app.any_hour().await;
    let other = app.second_account().await;
    let far = in_ms(10 * 24 * 3600 * 1000);
    let create = |key: String| {
        let app = &app;
        let far = far.clone();
        async move {
            app.request_as(
                Some(&key),
                Method::POST,
                "/v1/callbacks",
                Some(&json!({ "phone": unique_phone(), "scheduled_at": far })),
            )
            .await
            .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let ended = create(app.api_key.clone()).await;
    let active = create(app.api_key.clone()).await;
    let theirs = create(other.api_key.clone()).await;
    for (key, id) in [(&app.api_key, &ended), (&other.api_key, &theirs)] {
        app.request_as(
            Some(key),
            Method::POST,
            &format!("/v1/callbacks/{id}/cancel"),
            None,
        )
        .await
        .expect(200);
    }
    assert!(logged_callbacks(&app, &app.api_key).await.contains(&ended));

    // The setting: 1 to 3650 days or null, kept when a PUT leaves it out.
    let settings = app.get("/v1/settings").await.expect(200).clone();
    for bad in [json!(0), json!(5000), json!("x"), json!(-1)] {
        let mut body = settings.clone();
        body["retention_days"] = bad;
        app.request(Method::PUT, "/v1/settings", Some(&body))
            .await
            .expect_field_error(400, "invalid_field", "retention_days");
    }
    let mut body = settings.clone();
    body["retention_days"] = json!(1);
    app.request(Method::PUT, "/v1/settings", Some(&body))
        .await
        .expect(200);
    let mut without = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(without["retention_days"], 1);
    without.as_object_mut().unwrap().remove("retention_days");
    let kept = app
        .request(Method::PUT, "/v1/settings", Some(&without))
        .await;
    assert_eq!(kept.expect(200)["retention_days"], 1);

    // Within the day, nothing goes.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.get(&format!("/v1/callbacks/{ended}")).await.expect(200);

    // Two days on: the ended callback and its events are gone; the active one and the other
    // account's ended one (no retention) are kept.
    app.move_time(&clock, 2 * DAY);
    eventually(WAIT, "the ended callback's deletion", || async {
        (app.get(&format!("/v1/callbacks/{ended}")).await.status == 404).then_some(())
    })
    .await;
    let logged = logged_callbacks(&app, &app.api_key).await;
    assert!(!logged.contains(&ended), "its events are deleted too");
    assert!(logged.contains(&active), "an active callback's events stay");
    assert_eq!(
        app.get(&format!("/v1/callbacks/{active}"))
            .await
            .expect(200)["status"],
        "scheduled"
    );
    let theirs_now = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            &format!("/v1/callbacks/{theirs}"),
            None,
        )
        .await;
    assert_eq!(theirs_now.expect(200)["status"], "canceled");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("ringback_callbacks_purged_total"))
        .unwrap_or_else(|| panic!("the purge is counted: {text}"));
    let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 1.0, "{line}");
}
