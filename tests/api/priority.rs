//! Routing like a contact centre: callbacks offered by priority (aged by their queue while they
//! wait), only to agents holding the skills they require (until their queue relaxes them), and
//! due calls claimed by priority.

use std::time::Duration;

use jiff::SignedDuration;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::routing::{AgentStream, act, offered_id, preview};

/// An agent created `offline` (so nothing is offered before the test says), with `body`.
async fn agent(app: &TestApp, body: Value) -> String {
    app.post_json("/v1/agents", &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn queue(app: &TestApp, body: Value) -> String {
    app.post_json("/v1/queues", &body).await.expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Takes the offer of `id` and ends the call, so the agent is free for the next offer.
async fn take(app: &TestApp, agent: &str, id: &str) {
    act(app, agent, id, "accept", json!({})).await.expect(200);
    act(app, agent, id, "complete", json!({ "outcome": "answered" }))
        .await
        .expect(200);
}

#[tokio::test]
async fn the_highest_priority_is_offered_first_then_the_next_to_the_next_agent() {
    let app = spawn_quick_app().await;
    let ann = agent(&app, json!({ "name": "Ann" })).await;
    let bob = agent(&app, json!({ "name": "Bob" })).await;
    let mut ann_feed = AgentStream::open(&app, &ann, None).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    // The lowest is due first: due order alone would offer it first.
    let low = preview(&app, 100, json!({ "priority": 10 })).await;
    let mid = preview(&app, 150, json!({})).await;
    let high = preview(&app, 200, json!({ "priority": 90 })).await;
    for id in [&low, &mid, &high] {
        app.wait_for_status(id, "waiting", WAIT).await;
    }
    assert_eq!(app.get_callback(&mid).await["priority"], 50, "the default");
    assert_eq!(app.get_callback(&high).await["priority"], 90);

    app.set_presence(&ann, "available").await;
    assert_eq!(offered_id(&ann_feed.next_of("offer").await), high);
    app.set_presence(&bob, "available").await;
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), mid);
    assert_eq!(app.get_callback(&low).await["status"], "waiting");
    take(&app, &ann, &high).await;
    assert_eq!(offered_id(&ann_feed.next_of("offer").await), low);
}

#[tokio::test]
async fn a_supervisor_raising_a_waiting_callbacks_priority_moves_it_up_the_line() {
    let app = spawn_quick_app().await;
    let ann = agent(&app, json!({ "name": "Ann" })).await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    let first = preview(&app, 100, json!({})).await;
    let second = preview(&app, 150, json!({})).await;
    app.wait_for_status(&second, "waiting", WAIT).await;
    let changed = app
        .patch(
            &format!("/v1/callbacks/{second}"),
            &json!({ "priority": 80, "skills": { "Billing": 2 } }),
        )
        .await;
    let changed = changed.expect(200);
    assert_eq!(changed["priority"], 80);
    assert_eq!(changed["skills"], json!({ "billing": 2 }));
    assert_eq!(changed["status"], "waiting", "still in line");
    // Nobody holds billing: said, and the agent is given it.
    assert!(
        changed["explanation"][0]
            .as_str()
            .is_some_and(|e| e.contains("billing")),
        "{changed}"
    );
    app.patch(
        &format!("/v1/agents/{ann}"),
        &json!({ "skills": { "billing": 2 } }),
    )
    .await
    .expect(200);
    app.set_presence(&ann, "available").await;
    assert_eq!(offered_id(&feed.next_of("offer").await), second);
    take(&app, &ann, &second).await;
    assert_eq!(offered_id(&feed.next_of("offer").await), first);
    let history = app.get_callback(&second).await;
    let updated = events_of(&history, "callback.updated");
    assert_eq!(
        updated[0]["data"]["changed"],
        json!(["priority", "skills"]),
        "{history}"
    );
}

#[tokio::test]
async fn aging_lifts_a_starved_callback_over_fresher_higher_priorities() {
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    let aging = queue(
        &app,
        json!({ "name": "Ageing", "priority_aging_per_minute": 10 }),
    )
    .await;
    let still = queue(&app, json!({ "name": "Still" })).await;
    let ann = agent(&app, json!({ "name": "Ann", "queue_ids": [aging, still] })).await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    let to = |q: &str| json!({ "priority": 10, "assignment": { "type": "queue", "ids": [q] } });
    let at = |ms: i64| {
        use ringback::clock::Clock;
        (clock.now() + SignedDuration::from_millis(ms)).to_string()
    };
    let create = |body: Value, when: String| {
        let mut body = body;
        body["phone"] = unique_phone().into();
        body["scheduled_at"] = when.into();
        body["dialing_mode"] = "preview".into();
        body
    };
    let old_aging = app.create(&create(to(&aging), at(100))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_still = app.create(&create(to(&still), at(100))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&old_aging, "waiting", WAIT).await;
    app.wait_for_status(&old_still, "waiting", WAIT).await;

    // Ten minutes on, a priority-90 callback arrives in the queue that does not age.
    app.move_time(&clock, Duration::from_secs(600));
    let mut fresh = to(&still);
    fresh["priority"] = 90.into();
    let fresh = app.create(&create(fresh, at(100))).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&fresh, "waiting", WAIT).await;

    // 10 + 10 a minute for ten minutes is 110: above 90. The one that did not age stays at 10.
    app.set_presence(&ann, "available").await;
    assert_eq!(offered_id(&feed.next_of("offer").await), old_aging);
    take(&app, &ann, &old_aging).await;
    assert_eq!(offered_id(&feed.next_of("offer").await), fresh);
    take(&app, &ann, &fresh).await;
    assert_eq!(offered_id(&feed.next_of("offer").await), old_still);
}

#[tokio::test]
async fn a_callback_requiring_a_skill_goes_only_to_an_agent_who_holds_it() {
    let app = spawn_quick_app().await;
    // Bob has been free longest, but speaks Spanish only at level 1.
    let bob = app
        .available_agent(json!({ "name": "Bob", "skills": { "spanish": 1 } }))
        .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let ana = agent(
        &app,
        json!({ "name": "Ana", "skills": { "spanish": 4, "billing": 5 } }),
    )
    .await;
    let shown = app.get(&format!("/v1/agents/{ana}")).await;
    assert_eq!(
        shown.expect(200)["skills"],
        json!({ "billing": 5, "spanish": 4 })
    );
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    let mut ana_feed = AgentStream::open(&app, &ana, None).await;

    let spanish = preview(&app, 100, json!({ "skills": { "spanish": 3 } })).await;
    app.wait_for_status(&spanish, "waiting", WAIT).await;
    bob_feed
        .assert_no("offer", Duration::from_millis(400))
        .await;
    assert_eq!(app.get_callback(&spanish).await["status"], "waiting");

    app.set_presence(&ana, "available").await;
    let offer = ana_feed.next_of("offer").await;
    assert_eq!(offered_id(&offer), spanish);
    assert_eq!(offer.data["callback"]["skills"], json!({ "spanish": 3 }));
    // What needs no skill still goes to Bob.
    let plain = preview(&app, 50, json!({})).await;
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), plain);
}

#[tokio::test]
async fn a_queue_relaxes_skills_after_its_wait_and_offers_the_callback_to_others() {
    let app = spawn_quick_app().await;
    let q = queue(
        &app,
        json!({ "name": "Support", "skill_relax_after_seconds": 1 }),
    )
    .await;
    let shown = app.get(&format!("/v1/queues/{q}")).await;
    assert_eq!(shown.expect(200)["skill_relax_after_seconds"], 1);
    let bob = app
        .available_agent(json!({ "name": "Bob", "queue_ids": [q] }))
        .await;
    let mut feed = AgentStream::open(&app, &bob, None).await;
    let id = preview(
        &app,
        100,
        json!({ "skills": { "french": 2 }, "assignment": { "type": "queue", "ids": [q] } }),
    )
    .await;
    let cb = app.wait_for_status(&id, "waiting", WAIT).await;
    let due = ts(&cb["scheduled_at"]);
    // Nobody holds French: nothing for Bob until the queue's second has passed, then it is
    // his (the router wakes for it by itself).
    let offer = feed.next_of("offer").await;
    assert_eq!(offered_id(&offer), id);
    let waited = offer.at().duration_since(due);
    assert!(
        waited >= SignedDuration::from_secs(1),
        "offered {waited:?} after its time"
    );
}

#[tokio::test]
async fn due_campaign_calls_are_claimed_highest_priority_first() {
    let (app, clock) = {
        let clock = std::sync::Arc::new(ShiftedClock::default());
        let app = spawn_app_with_clock(clock.clone(), |c| {
            c.min_lead_seconds = 0;
            c.claim_batch = 1;
            c.claimers = Some(1);
            c.dispatch_concurrency = 1;
        })
        .await;
        (app, clock)
    };
    app.any_hour().await;
    let pb = app.playbook("Hello").await;
    let launch_at = {
        use ringback::clock::Clock;
        (clock.now() + SignedDuration::from_secs(60)).to_string()
    };
    let mut campaigns = Vec::new();
    for priority in [10, 50, 90] {
        let created = app
            .post_json(
                "/v1/campaigns",
                &json!({ "playbook_id": pb, "launch_at": launch_at, "priority": priority,
                         "skills": { "billing": 1 }, "dialing_mode": "unattended",
                         "contacts": [ { "phone": unique_phone() } ] }),
            )
            .await;
        campaigns.push(
            created.expect(202)["campaign_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let shown = app.get(&format!("/v1/campaigns/{}", campaigns[2])).await;
    let shown = shown.expect(200);
    assert_eq!(shown["priority"], 90);
    assert_eq!(shown["skills"], json!({ "billing": 1 }));
    // All three fall due at once: one claim each, highest first.
    app.move_time(&clock, Duration::from_secs(61));
    let sent = app.bridge.wait_for(3, WAIT).await;
    let mut order = Vec::new();
    for request in &sent {
        order.push(app.get_callback(request.callback_id()).await["priority"].clone());
    }
    assert_eq!(order, [json!(90), json!(50), json!(10)]);
}

#[tokio::test]
async fn bad_priorities_skills_and_queue_rules_are_refused_naming_the_field() {
    let app = spawn_quick_app().await;
    let base = |extra: Value| {
        let mut body = new_callback(&unique_phone(), &tomorrow());
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (extra, field) in [
        (json!({ "skills": { "spanish": 6 } }), "skills.spanish"),
        (json!({ "skills": { "spanish": 0 } }), "skills.spanish"),
        (json!({ "skills": { "spanish": "high" } }), "skills.spanish"),
        (json!({ "skills": ["spanish"] }), "skills"),
        (json!({ "priority": 101 }), "priority"),
        (json!({ "priority": -1 }), "priority"),
    ] {
        app.post_callback(&base(extra.clone()))
            .await
            .expect_field_error(400, "invalid_field", field);
    }
    app.assert_no_callbacks("after refusals").await;

    // An unknown skill is allowed, with a warning.
    let made = app
        .create(&base(json!({ "skills": { "klingon": 2 } })))
        .await;
    assert_eq!(made["skills"], json!({ "klingon": 2 }));
    let warning = made["explanation"].as_array().unwrap().iter().any(|e| {
        e.as_str()
            .is_some_and(|e| e.contains("klingon") && e.contains("No agent holds"))
    });
    assert!(warning, "{made}");
    let id = made["id"].as_str().unwrap();
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "skills": { "klingon": 9 } }),
    )
    .await
    .expect_field_error(400, "invalid_field", "skills.klingon");
    app.patch(&format!("/v1/callbacks/{id}"), &json!({ "priority": 500 }))
        .await
        .expect_field_error(400, "invalid_field", "priority");
    assert_eq!(
        app.get_callback(id).await["priority"],
        50,
        "nothing written"
    );

    app.post_json(
        "/v1/agents",
        &json!({ "name": "X", "skills": { "spanish": 7 } }),
    )
    .await
    .expect_field_error(400, "invalid_field", "skills.spanish");
    for (body, field) in [
        (
            json!({ "name": "Q", "priority_aging_per_minute": -1 }),
            "priority_aging_per_minute",
        ),
        (
            json!({ "name": "Q", "priority_aging_per_minute": 101 }),
            "priority_aging_per_minute",
        ),
        (
            json!({ "name": "Q", "skill_relax_after_seconds": 0 }),
            "skill_relax_after_seconds",
        ),
    ] {
        app.post_json("/v1/queues", &body)
            .await
            .expect_field_error(400, "invalid_field", field);
    }
    let q = queue(
        &app,
        json!({ "name": "Q", "priority_aging_per_minute": 0.5 }),
    )
    .await;
    let changed = app
        .request(
            Method::PATCH,
            &format!("/v1/queues/{q}"),
            Some(&json!({ "skill_relax_after_seconds": 30, "priority_aging_per_minute": 2 })),
        )
        .await;
    let changed = changed.expect(200);
    assert_eq!(changed["priority_aging_per_minute"], 2.0);
    assert_eq!(changed["skill_relax_after_seconds"], 30);
    let pb = app.playbook("Hi").await;
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": pb, "priority": 200, "contacts": [ { "phone": unique_phone() } ] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "priority");
    app.post_json(
        "/v1/campaigns",
        &json!({ "playbook_id": pb, "skills": { "x": 8 }, "contacts": [ { "phone": unique_phone() } ] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "skills.x");
}
