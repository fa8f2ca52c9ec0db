//! Preview callbacks offered to agents: order, fairness, offers and their timeouts,
//! concurrency, expiry, reminders, agent actions and the agent's event stream.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::helpers::*;

/// One Server-Sent Event as a client reads it.
#[derive(Debug, Clone)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<String>,
    pub(crate) event: String,
    pub(crate) data: Value,
    pub(crate) received: Timestamp,
}

impl SseEvent {
    /// When the server recorded it (`data.at`): durations between events are measured with
    /// it, since a busy test machine may deliver one event late and the next one on time.
    pub(crate) fn at(&self) -> Timestamp {
        self.data["at"]
            .as_str()
            .and_then(|at| at.parse().ok())
            .unwrap_or_else(|| panic!("an event without `at`: {self:?}"))
    }
}

/// An agent's open event stream, read by a background task.
pub(crate) struct AgentStream {
    events: mpsc::UnboundedReceiver<SseEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AgentStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AgentStream {
    pub(crate) async fn open(app: &TestApp, agent: &str, last_event_id: Option<&str>) -> Self {
        let mut req = app
            .client
            .get(app.url(&format!("/v1/agents/{agent}/events")))
            .bearer_auth(&app.api_key);
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let mut resp = req.send().await.expect("the server answers");
        assert_eq!(resp.status(), 200, "the stream opens");
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
                    if let Some(event) = parse_block(&block) {
                        let _ = tx.send(event);
                    }
                }
            }
        });
        Self { events, task }
    }

    /// The next event, whatever its kind.
    pub(crate) async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event within the wait")
            .expect("the stream is open")
    }

    /// The next event of `kind`, skipping others.
    pub(crate) async fn next_of(&mut self, kind: &str) -> SseEvent {
        loop {
            let e = self.next().await;
            if e.event == kind {
                return e;
            }
        }
    }

    /// Asserts nothing of `kind` arrives within `within`.
    pub(crate) async fn assert_no(&mut self, kind: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert_ne!(e.event, kind, "unexpected {kind}: {:?}", e.data);
        }
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    Some(SseEvent {
        id,
        event: event?,
        data: serde_json::from_str(&data).expect("event data is JSON"),
        received: Timestamp::now(),
    })
}

/// A preview callback due in `lead_ms`, with extra fields.
pub(crate) async fn preview(app: &TestApp, lead_ms: i64, extra: Value) -> String {
    let mut body = json!({ "phone": unique_phone(), "scheduled_at": in_ms(lead_ms),
                           "dialing_mode": "preview" });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    app.create(&body).await["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn act(
    app: &TestApp,
    agent: &str,
    callback: &str,
    action: &str,
    body: Value,
) -> Resp {
    app.post_json(
        &format!("/v1/agents/{agent}/callbacks/{callback}/{action}"),
        &body,
    )
    .await
}

/// The ids of the callbacks `agent` holds (offers and calls), from the agent's work list.
async fn held(app: &TestApp, agent: &str) -> Vec<String> {
    let work = app
        .get(&format!("/v1/agents/{agent}/callbacks"))
        .await
        .expect(200)
        .clone();
    work.as_array()
        .unwrap()
        .iter()
        .filter(|cb| cb["agent_id"] == agent)
        .map(|cb| cb["id"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn offered_id(e: &SseEvent) -> String {
    e.data["callback"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn offers_go_longest_idle_first_in_due_order_and_fairly() {
    let app = spawn_quick_app().await;
    // Ann has been available longest.
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bob = app.available_agent(json!({ "name": "Bob" })).await;
    let mut ann_feed = AgentStream::open(&app, &ann, None).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(preview(&app, 400 + i * 20, json!({})).await);
    }

    // The earliest goes to the longest idle agent, the next to the other.
    let first = ann_feed.next_of("offer").await;
    assert_eq!(offered_id(&first), ids[0]);
    assert_eq!(first.data["agent_id"], ann);
    assert!(first.data["offer_expires_at"].is_string());
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), ids[1]);
    for id in &ids[2..] {
        app.wait_for_status(id, "waiting", WAIT).await;
    }
    let cb = app.get_callback(&ids[0]).await;
    assert_eq!(cb["status"], "offered");
    assert_eq!(cb["agent_id"], ann);

    // Ann makes the call: in progress, and she is busy.
    let accepted = act(&app, &ann, &ids[0], "accept", json!({})).await;
    assert_eq!(accepted.expect(200)["status"], "in_progress");
    let presence = ann_feed.next_of("presence").await;
    assert_eq!(presence.data["presence"], "busy");
    let agent = app.get(&format!("/v1/agents/{ann}")).await;
    assert_eq!(agent.expect(200)["presence"], "busy");
    // Busy, she is offered nothing more.
    ann_feed
        .assert_no("offer", Duration::from_millis(300))
        .await;

    // Finishing frees her, and she is offered the next callback in line.
    let done = act(
        &app,
        &ann,
        &ids[0],
        "complete",
        json!({ "outcome": "answered", "notes": "booked a visit", "duration_seconds": 95 }),
    )
    .await;
    let done = done.expect(200).clone();
    assert_eq!(done["status"], "completed");
    assert_eq!(
        ann_feed.next_of("presence").await.data["presence"],
        "available"
    );
    assert_eq!(offered_id(&ann_feed.next_of("offer").await), ids[2]);

    // Bob takes his, then gets the fourth; Ann the fifth after hers.
    act(&app, &bob, &ids[1], "accept", json!({}))
        .await
        .expect(200);
    act(
        &app,
        &bob,
        &ids[1],
        "complete",
        json!({ "outcome": "no_answer" }),
    )
    .await
    .expect(200);
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), ids[3]);
    act(&app, &ann, &ids[2], "accept", json!({}))
        .await
        .expect(200);
    act(
        &app,
        &ann,
        &ids[2],
        "complete",
        json!({ "outcome": "answered" }),
    )
    .await
    .expect(200);
    assert_eq!(offered_id(&ann_feed.next_of("offer").await), ids[4]);

    // The history and the attempt tell who did what.
    let cb = app.get_callback(&ids[0]).await;
    assert_eq!(cb["attempts"][0]["agent_id"], ann);
    assert_eq!(cb["attempts"][0]["outcome"], "answered");
    assert_eq!(cb["attempts"][0]["notes"], "booked a visit");
    for kind in [
        "callback.waiting",
        "callback.offered",
        "callback.accepted",
        "callback.completed",
    ] {
        assert_eq!(events_of(&cb, kind).len(), 1, "{kind} in {cb}");
    }
}

#[tokio::test]
async fn a_waiting_callback_is_offered_within_a_second_of_an_agent_becoming_available() {
    let app = spawn_quick_app().await;
    let agent = app
        .post_json("/v1/agents", &json!({ "name": "Cy" }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = preview(&app, 200, json!({})).await;
    app.wait_for_status(&id, "waiting", WAIT).await;
    // Nobody available: it waits.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.get_callback(&id).await["status"], "waiting");

    let mut feed = AgentStream::open(&app, &agent, None).await;
    let asked = Timestamp::now();
    app.set_presence(&agent, "available").await;
    let offer = feed.next_of("offer").await;
    assert_eq!(offered_id(&offer), id);
    let took = offer.received.duration_since(asked);
    assert!(
        took < jiff::SignedDuration::from_secs(1),
        "offered {took:?} after the agent became available"
    );
}

#[tokio::test]
async fn an_unanswered_offer_times_out_and_goes_to_the_next_agent() {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.offer_timeout_seconds = 1;
        c.reoffer_after_seconds = 2;
    })
    .await;
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let bob = app.available_agent(json!({ "name": "Bob" })).await;
    let mut ann_feed = AgentStream::open(&app, &ann, None).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    let id = preview(&app, 200, json!({})).await;

    let offer = ann_feed.next_of("offer").await;
    assert_eq!(offered_id(&offer), id);
    // Ann does not answer: the offer is withdrawn after the timeout and Bob gets it.
    let withdrawn = ann_feed.next_of("offer_withdrawn").await;
    assert_eq!(withdrawn.data["reason"], "timeout");
    let waited = withdrawn.at().duration_since(offer.at());
    assert!(
        waited >= jiff::SignedDuration::from_millis(900),
        "withdrawn after {waited:?}"
    );
    assert_eq!(offered_id(&bob_feed.next_of("offer").await), id);
    // Not answering marks Ann away, so she is not offered more until she says so.
    assert_eq!(ann_feed.next_of("presence").await.data["presence"], "away");
    // Her late answer is refused.
    act(&app, &ann, &id, "accept", json!({}))
        .await
        .expect_error(409, "offer_not_held");
    let cb = app.get_callback(&id).await;
    assert_eq!(events_of(&cb, "callback.offer_timeout").len(), 1);
    assert_eq!(cb["agent_id"], bob);

    // A rejection also moves it on. Both have now turned it down, so it goes to whoever's
    // pass-over (2 s here) ends first: Ann's, who let it run out before Bob rejected it.
    app.set_presence(&ann, "available").await;
    act(&app, &bob, &id, "reject", json!({})).await.expect(200);
    let again = ann_feed.next_of("offer").await;
    assert_eq!(offered_id(&again), id);
    let passed_over = again.at().duration_since(withdrawn.at());
    assert!(
        passed_over >= jiff::SignedDuration::from_millis(1900),
        "offered again to Ann {passed_over:?} after she let it run out"
    );
    bob_feed
        .assert_no("offer", Duration::from_millis(200))
        .await;
    let cb = app.get_callback(&id).await;
    assert_eq!(events_of(&cb, "callback.offer_rejected").len(), 1);
}

#[tokio::test]
async fn an_agent_never_holds_more_offers_and_calls_than_their_concurrency() {
    let app = spawn_quick_app().await;
    let agent = app
        .available_agent(json!({ "name": "Di", "concurrency": 2 }))
        .await;
    let mut feed = AgentStream::open(&app, &agent, None).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(preview(&app, 300 + i * 10, json!({})).await);
    }
    let first = offered_id(&feed.next_of("offer").await);
    let second = offered_id(&feed.next_of("offer").await);
    assert_eq!(
        [first.clone(), second.clone()],
        [ids[0].clone(), ids[1].clone()]
    );
    feed.assert_no("offer", Duration::from_millis(400)).await;
    assert_eq!(held(&app, &agent).await.len(), 2);

    // One call and one offer: still full.
    act(&app, &agent, &first, "accept", json!({}))
        .await
        .expect(200);
    feed.assert_no("offer", Duration::from_millis(300)).await;
    assert_eq!(held(&app, &agent).await.len(), 2);
    // Two calls: full, and busy.
    act(&app, &agent, &second, "accept", json!({}))
        .await
        .expect(200);
    assert_eq!(feed.next_of("presence").await.data["presence"], "busy");
    // One call ends: one slot frees, one offer comes.
    act(
        &app,
        &agent,
        &first,
        "complete",
        json!({ "outcome": "busy" }),
    )
    .await
    .expect(200);
    assert_eq!(offered_id(&feed.next_of("offer").await), ids[2]);
    feed.assert_no("offer", Duration::from_millis(300)).await;
    assert_eq!(held(&app, &agent).await.len(), 2);
}

#[tokio::test]
async fn a_waiting_callback_expires_after_expire_after_minutes_with_an_event() {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    let id = preview(&app, 200, json!({ "expire_after_minutes": 1 })).await;
    app.wait_for_status(&id, "waiting", WAIT).await;
    clock.advance(Duration::from_secs(61));
    let cb = app.wait_for_status(&id, "expired", WAIT).await;
    let expired = events_of(&cb, "callback.expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["reason"], "no_agent_before_deadline");
    // An agent who comes later is offered nothing.
    let agent = app.available_agent(json!({ "name": "Ed" })).await;
    let mut feed = AgentStream::open(&app, &agent, None).await;
    feed.assert_no("offer", Duration::from_millis(500)).await;
}

#[tokio::test]
async fn reminders_reach_the_assigned_agents_at_the_right_minute() {
    let app = spawn_app().await;
    let ann = app.agent_id("Ann").await;
    let bob = app.agent_id("Bob").await;
    let queue = app
        .post_json(
            "/v1/queues",
            &json!({ "name": "Sales", "member_ids": [bob] }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut ann_feed = AgentStream::open(&app, &ann, None).await;
    let mut bob_feed = AgentStream::open(&app, &bob, None).await;
    // Due in a minute and a bit: the reminder, a minute before, is due in about 1.5 s.
    let scheduled = at_ms(61_500);
    let to_ann = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": scheduled.to_string(),
                         "reminder_minutes_before": 1,
                         "assignment": { "type": "agent", "ids": [ann] } }),
        )
        .await;
    let to_queue = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": scheduled.to_string(),
                         "reminder_minutes_before": 1,
                         "assignment": { "type": "queue", "ids": [queue] } }),
        )
        .await;
    let remind_at = scheduled - jiff::SignedDuration::from_mins(1);

    let reminder = ann_feed.next_of("callback.reminder").await;
    assert_eq!(reminder.data["callback"]["id"], to_ann["id"]);
    assert_eq!(reminder.data["minutes_before"], 1);
    let early = remind_at.duration_since(reminder.received);
    let late = reminder.received.duration_since(remind_at);
    assert!(
        early < jiff::SignedDuration::from_millis(50),
        "reminded {early:?} early"
    );
    assert!(
        late < jiff::SignedDuration::from_secs(1),
        "reminded {late:?} late"
    );
    let reminder = bob_feed.next_of("callback.reminder").await;
    assert_eq!(reminder.data["callback"]["id"], to_queue["id"]);
    // Each agent hears only of their own.
    ann_feed
        .assert_no("callback.reminder", Duration::from_millis(300))
        .await;
    // The reminder is in the callback's history (and so goes to webhooks).
    let cb = app.get_callback(to_ann["id"].as_str().unwrap()).await;
    let sent = events_of(&cb, "callback.reminder");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["data"]["agent_ids"], json!([ann]));
}

#[tokio::test]
async fn agents_reschedule_and_cancel_their_callbacks_and_are_told_of_changes() {
    let app = spawn_quick_app().await;
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    let stranger = app.agent_id("Stranger").await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    let mine = json!({ "assignment": { "type": "agent", "ids": [ann] } });
    let later = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "assignment": { "type": "agent", "ids": [ann] } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // An offered callback rescheduled by the agent: the offer ends, the history continues.
    let soon = preview(&app, 200, mine.clone()).await;
    assert_eq!(offered_id(&feed.next_of("offer").await), soon);
    let new_time = in_ms(3_600_000);
    let moved = act(
        &app,
        &ann,
        &soon,
        "reschedule",
        json!({ "scheduled_at": new_time }),
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(moved["status"], "scheduled");
    assert_eq!(ts(&moved["scheduled_at"]), ts(&json!(new_time)));
    assert!(moved["agent_id"].is_null());
    let cb = app.get_callback(&soon).await;
    assert_eq!(events_of(&cb, "callback.offered").len(), 1);
    assert_eq!(events_of(&cb, "callback.updated").len(), 1);

    // A supervisor reschedules one of hers: she is told.
    app.patch(
        &format!("/v1/callbacks/{later}"),
        &json!({ "scheduled_at": in_ms(7_200_000) }),
    )
    .await
    .expect(200);
    let told = feed.next_of("callback.rescheduled").await;
    assert_eq!(told.data["callback"]["id"], later.as_str());
    assert!(told.data["previous_scheduled_at"].is_string());

    // She cancels it herself: told too, and it is canceled.
    let canceled = act(&app, &ann, &later, "cancel", json!({})).await;
    assert_eq!(canceled.expect(200)["status"], "canceled");
    let told = feed.next_of("callback.canceled").await;
    assert_eq!(told.data["callback"]["id"], later.as_str());

    // Someone else's callback is not hers to touch.
    act(&app, &stranger, &soon, "cancel", json!({}))
        .await
        .expect_error(403, "forbidden");
    act(
        &app,
        &stranger,
        &soon,
        "reschedule",
        json!({ "scheduled_at": tomorrow() }),
    )
    .await
    .expect_error(403, "forbidden");
    assert_eq!(app.get_callback(&soon).await["status"], "scheduled");
}

#[tokio::test]
async fn the_event_stream_resumes_after_a_disconnect_without_missing_anything() {
    let app = spawn_app().await;
    let ann = app.agent_id("Ann").await;
    let assigned = |_: ()| {
        json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                                   "assignment": { "type": "agent", "ids": [ann] } })
    };
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..4 {
            ids.push(
                app.create(&assigned(())).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        ids
    };
    let mut feed = AgentStream::open(&app, &ann, None).await;
    app.cancel(&ids[0]).await.expect(200);
    let first = feed.next_of("callback.canceled").await;
    let resume_from = first.id.clone().expect("events carry ids");
    drop(feed);

    // While disconnected, three more things happen.
    for id in &ids[1..] {
        app.cancel(id).await.expect(200);
    }
    let mut feed = AgentStream::open(&app, &ann, Some(&resume_from)).await;
    let mut seen = Vec::new();
    for _ in 1..4 {
        let e = feed.next_of("callback.canceled").await;
        seen.push(e.data["callback"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, ids[1..].to_vec(), "missed or reordered on resume");
    feed.assert_no("callback.canceled", Duration::from_millis(200))
        .await;

    // The query parameter works the same for clients that cannot set headers.
    let resp = app
        .get(&format!("/v1/agents/{ann}/events?last_event_id=abc"))
        .await;
    resp.expect_field_error(400, "invalid_query", "last_event_id");
}

#[tokio::test]
async fn unattended_and_ai_callbacks_go_straight_to_the_bridge() {
    let app = spawn_quick_app().await;
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    for mode in ["unattended", "ai"] {
        let id = app
            .create(
                &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                             "dialing_mode": mode,
                             "assignment": { "type": "agent", "ids": [ann] } }),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let sent = app.bridge.wait_for_callback(&id, 1, WAIT).await;
        assert!(sent[0].body.get("agent_id").is_none(), "{}", sent[0].body);
        app.wait_for_status(&id, "in_progress", WAIT).await;
    }
    feed.assert_no("offer", Duration::from_millis(300)).await;
    feed.assert_no("reserved", Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_progressive_callback_waits_for_a_free_agent_who_is_reserved_and_named_to_the_bridge() {
    let app = spawn_quick_app().await;
    let ann = app
        .post_json("/v1/agents", &json!({ "name": "Ann" }))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut feed = AgentStream::open(&app, &ann, None).await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "dialing_mode": "progressive" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Nobody is available: the call waits in line and nothing is dialled.
    app.wait_for_status(&id, "waiting", WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        app.bridge.requests_for(&id).is_empty(),
        "dialled with no agent free"
    );
    app.set_presence(&ann, "available").await;
    let reserved = feed.next_of("reserved").await;
    assert_eq!(offered_id(&reserved), id);
    let sent = app.bridge.wait_for_callback(&id, 1, WAIT).await;
    assert_eq!(sent[0].body["agent_id"], ann.as_str(), "{}", sent[0].body);
    assert_eq!(sent[0].body["dialing_mode"], "progressive");
    app.wait_for_status(&id, "in_progress", WAIT).await;
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["attempts"][0]["agent_id"], ann.as_str(), "{cb}");
    // A reserved agent takes nothing else until the call ends.
    let other = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "dialing_mode": "progressive" }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&other, "waiting", WAIT).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.bridge.requests_for(&other).is_empty());
    // The call ends (not answered): the agent is free at once and the next call is dialled.
    app.post_json(
        &format!("/v1/callbacks/{id}/outcome"),
        &json!({ "outcome": "no_answer" }),
    )
    .await
    .expect(200);
    let sent = app.bridge.wait_for_callback(&other, 1, WAIT).await;
    assert_eq!(sent[0].body["agent_id"], ann.as_str());
}

#[tokio::test]
async fn deleting_an_agent_or_queue_leaves_its_callbacks_visible_and_unassigned() {
    let app = spawn_app().await;
    let ann = app.agent_id("Ann").await;
    let q1 = app.queue_id("Sales").await;
    let q2 = app.queue_id("Support").await;
    let to_ann = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "assignment": { "type": "agent", "ids": [ann] } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let to_queues = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "assignment": { "type": "queue", "ids": [q1, q2] } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [format!("/v1/agents/{ann}"), format!("/v1/queues/{q1}")] {
        let resp = app.request(Method::DELETE, &path, None).await;
        assert_eq!(resp.status, 204, "DELETE {path}: {}", resp.text);
    }

    let cb = app.get_callback(&to_ann).await;
    assert_eq!(cb["status"], "scheduled");
    assert!(cb["assignment"].is_null(), "{cb}");
    let unassigned = events_of(&cb, "callback.unassigned");
    assert_eq!(unassigned.len(), 1);
    assert_eq!(unassigned[0]["data"]["removed"], ann.as_str());
    let cb = app.get_callback(&to_queues).await;
    assert_eq!(cb["assignment"]["ids"], json!([q2]));
    // Supervisors find what nobody is assigned to.
    let unassigned = app
        .get("/v1/callbacks?assignee=unassigned")
        .await
        .expect(200)
        .clone();
    let ids: Vec<&str> = unassigned["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [to_ann.as_str()]);
}

#[tokio::test]
async fn bad_agent_actions_are_refused_with_clear_errors() {
    let app = spawn_app().await;
    let ann = app.agent_id("Ann").await;
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": tomorrow(),
                         "assignment": { "type": "agent", "ids": [ann] } }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // No offer to answer.
    for action in ["accept", "reject"] {
        let e = act(&app, &ann, &id, action, json!({})).await;
        e.expect_error(409, "offer_not_held");
        assert_eq!(e.body["error"]["status"], "scheduled");
    }
    // No call to complete.
    act(
        &app,
        &ann,
        &id,
        "complete",
        json!({ "outcome": "answered" }),
    )
    .await
    .expect_error(409, "invalid_state");
    act(&app, &ann, &id, "complete", json!({ "outcome": "maybe" }))
        .await
        .expect_field_error(400, "invalid_field", "outcome");
    // Rescheduling needs a time, in the future.
    act(&app, &ann, &id, "reschedule", json!({}))
        .await
        .expect_field_error(400, "missing_field", "scheduled_at");
    act(
        &app,
        &ann,
        &id,
        "reschedule",
        json!({ "scheduled_at": in_ms(-60_000) }),
    )
    .await
    .expect_field_error(400, "time_in_past", "scheduled_at");
    act(
        &app,
        &ann,
        &id,
        "reschedule",
        json!({ "scheduled_at": tomorrow(), "timezone": "Mars/Olympus" }),
    )
    .await
    .expect_field_error(400, "invalid_timezone", "timezone");
    // Unknown agents and callbacks.
    act(&app, "agt_nope", &id, "accept", json!({}))
        .await
        .expect_error(404, "not_found");
    act(&app, &ann, "cb_nope", "cancel", json!({}))
        .await
        .expect_error(404, "not_found");
    // A malformed Last-Event-ID.
    let resp = app
        .client
        .get(app.url(&format!("/v1/agents/{ann}/events")))
        .bearer_auth(&app.api_key)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    Resp::read(resp)
        .await
        .expect_field_error(400, "invalid_field", "Last-Event-ID");
    // Nothing changed.
    assert_eq!(app.get_callback(&id).await["status"], "scheduled");
}

#[tokio::test]
async fn a_preview_callback_to_a_do_not_call_number_is_never_offered() {
    let app = spawn_quick_app().await;
    let ann = app.available_agent(json!({ "name": "Ann" })).await;
    let mut feed = AgentStream::open(&app, &ann, None).await;
    let phone = unique_phone();
    let id = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(400), "dialing_mode": "preview" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Put on the list after the callback was made: adding a number cancels it at once.
    app.post_json("/v1/dnc", &json!({ "phone": phone }))
        .await
        .expect(201);
    assert_eq!(app.get_callback(&id).await["status"], "canceled");
    // Made after the number was listed: skipped when due, never offered.
    let later = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(300), "dialing_mode": "preview" }))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cb = app.wait_for_status(&later, "canceled", WAIT).await;
    assert_eq!(cb["outcome"], "skipped_dnc");
    feed.assert_no("offer", Duration::from_millis(300)).await;
}
