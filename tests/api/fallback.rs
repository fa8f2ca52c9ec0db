//! Personal callbacks falling back to the team: after `fallback_after_minutes` not taken, or
//! at once when the agent is offline for the rest of the day; the account's default, the
//! callback's opt-out, and bad settings.

use std::{sync::Arc, time::Duration};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::routing::{AgentStream, offered_id, preview};

/// A queue with `members`; its id.
async fn queue(app: &TestApp, name: &str, members: &[&str]) -> String {
    app.post_json(
        "/v1/queues",
        &json!({ "name": name, "member_ids": members }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The account's settings with `changes` applied, as a `PUT` body.
async fn settings_with(app: &TestApp, changes: Value) -> Value {
    let mut body = app.get("/v1/settings").await.expect(200).clone();
    for (k, v) in changes.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

#[tokio::test]
async fn a_personal_callback_not_taken_in_time_moves_to_the_fallback_queue_and_is_offered_there() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    // Ann is on a break: she does not take her callback. Bob is free, in Sales.
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    app.set_presence(&ann, "away").await;
    let bob = app.available_agent(json!({ "name": "Bob" })).await;
    let sales = queue(&app, "Sales", &[&bob]).await;
    let mut ann_feed = AgentStream::open(&app, &ann, None).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;

    let id = preview(
        &app,
        200,
        json!({ "assignment": { "type": "agent", "ids": [ann] },
                "fallback_after_minutes": 10, "fallback_queue_id": sales }),
    )
    .await;
    let cb = app.wait_for_status(&id, "waiting", WAIT).await;
    assert_eq!(cb["fallback_after_minutes"], 10);
    assert_eq!(cb["fallback_queue_id"], sales);
    // Before the ten minutes, it waits for Ann alone.
    app.move_time(&clock, Duration::from_secs(9 * 60));
    bob_feed
        .assert_no("offer", Duration::from_millis(500))
        .await;
    assert_eq!(app.get_callback(&id).await["assignment"]["type"], "agent");

    app.move_time(&clock, Duration::from_secs(61));
    let offer = bob_feed.next_of("offer").await;
    assert_eq!(offered_id(&offer), id);
    let told = ann_feed.next_of("callback.reassigned").await;
    assert_eq!(told.data["reason"], "not_taken");
    assert_eq!(told.data["to"]["ids"], json!([sales]));

    let cb = app.get_callback(&id).await;
    assert_eq!(cb["assignment"], json!({ "type": "queue", "ids": [sales] }));
    assert_eq!(
        cb["fallback_after_minutes"],
        Value::Null,
        "it falls back once"
    );
    let moved = events_of(&cb, "callback.reassigned");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["data"]["reason"], "not_taken");
    assert_eq!(
        moved[0]["data"]["from"],
        json!({ "type": "agent", "ids": [ann] })
    );
    // Bob takes it from the queue.
    app.post_json(
        &format!("/v1/agents/{bob}/callbacks/{id}/accept"),
        &json!({}),
    )
    .await
    .expect(200);
}

#[tokio::test]
async fn an_agent_offline_for_the_day_hands_the_callback_over_at_once_under_the_account_default() {
    let app = spawn_quick_app().await;
    // Ann works no day at all and is offline; Bob is free. Both are in Support, Ann's first
    // queue.
    let ann = app
        .post_json(
            "/v1/agents",
            &json!({ "name": "Ann", "working_hours": { "mon": [] } }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_presence(&ann, "offline").await;
    let bob = app.available_agent(json!({ "name": "Bob" })).await;
    let support = queue(&app, "Support", &[&ann, &bob]).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    let body = settings_with(&app, json!({ "fallback_after_minutes": 30 })).await;
    let set = app
        .request(Method::PUT, "/v1/settings", Some(&body))
        .await
        .expect(200)
        .clone();
    assert_eq!(set["fallback_after_minutes"], 30);
    assert_eq!(set["fallback_queue_id"], Value::Null);

    // Saying nothing, the callback takes the account's 30 minutes; it does not wait them.
    let id = preview(
        &app,
        200,
        json!({ "assignment": { "type": "agent", "ids": [ann] } }),
    )
    .await;
    assert_eq!(app.get_callback(&id).await["fallback_after_minutes"], 30);
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), id);
    let cb = app.get_callback(&id).await;
    assert_eq!(
        cb["assignment"],
        json!({ "type": "queue", "ids": [support] })
    );
    let moved = events_of(&cb, "callback.reassigned");
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["data"]["reason"], "agent_offline");

    // One that opts out stays with Ann, offline or not.
    let stays = preview(
        &app,
        200,
        json!({ "assignment": { "type": "agent", "ids": [ann] },
                "fallback_after_minutes": null }),
    )
    .await;
    let cb = app.wait_for_status(&stays, "waiting", WAIT).await;
    assert_eq!(cb["fallback_after_minutes"], Value::Null);
    bob_feed
        .assert_no("offer", Duration::from_millis(700))
        .await;
    let cb = app.get_callback(&stays).await;
    assert_eq!(cb["assignment"]["ids"], json!([ann]));
    assert!(events_of(&cb, "callback.reassigned").is_empty());
    // And the default applies only to callbacks assigned to an agent.
    let to_queue = preview(
        &app,
        60_000,
        json!({ "assignment": { "type": "queue", "ids": [support] } }),
    )
    .await;
    assert_eq!(
        app.get_callback(&to_queue).await["fallback_after_minutes"],
        Value::Null
    );
}

#[tokio::test]
async fn bad_fallback_settings_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let ann = app.agent_id("Ann").await;
    let sales = app.queue_id("Sales").await;
    let base = |extra: Value| {
        let mut body = json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                               "dialing_mode": "preview",
                               "assignment": { "type": "agent", "ids": [ann] } });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (
            json!({ "fallback_after_minutes": 10081 }),
            "fallback_after_minutes",
        ),
        (
            json!({ "fallback_after_minutes": -1 }),
            "fallback_after_minutes",
        ),
        (
            json!({ "fallback_after_minutes": 5, "fallback_queue_id": "que_nope" }),
            "fallback_queue_id",
        ),
        (
            json!({ "fallback_after_minutes": 5, "fallback_queue_id": "not-a-queue" }),
            "fallback_queue_id",
        ),
        (json!({ "fallback_queue_id": sales }), "fallback_queue_id"),
        (
            json!({ "fallback_after_minutes": 5,
                    "assignment": { "type": "queue", "ids": [sales] } }),
            "fallback_after_minutes",
        ),
    ];
    for (extra, field) in cases {
        let resp = app.post_callback(&base(extra.clone())).await;
        assert_eq!(resp.status, 400, "{extra}: {:?}", resp.body);
        assert_eq!(
            resp.body["error"]["field"], field,
            "{extra}: {:?}",
            resp.body
        );
    }
    app.assert_no_callbacks("after refused fallbacks").await;

    for (changes, field) in [
        (
            json!({ "fallback_after_minutes": 20000 }),
            "fallback_after_minutes",
        ),
        (
            json!({ "fallback_after_minutes": 5, "fallback_queue_id": "que_gone" }),
            "fallback_queue_id",
        ),
    ] {
        let body = settings_with(&app, changes.clone()).await;
        let resp = app.request(Method::PUT, "/v1/settings", Some(&body)).await;
        assert_eq!(resp.status, 400, "{changes}: {:?}", resp.body);
        assert_eq!(
            resp.body["error"]["field"], field,
            "{changes}: {:?}",
            resp.body
        );
    }
    let settings = app.get("/v1/settings").await.expect(200).clone();
    assert_eq!(
        settings["fallback_after_minutes"],
        Value::Null,
        "nothing was stored"
    );
}
