//! Lifecycle webhooks: endpoints, signed deliveries, retries, order, catch-up and SSRF refusals.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::*;

/// One webhook request as received.
#[derive(Debug, Clone)]
struct Hook {
    path: String,
    id: String,
    timestamp: String,
    signature: Option<String>,
    raw: Bytes,
    body: Value,
    received_at: Timestamp,
}

#[derive(Default)]
struct ReceiverState {
    hooks: Mutex<Vec<Hook>>,
    /// Statuses to answer, in order, before answering 200.
    script: Mutex<VecDeque<u16>>,
}

/// A local webhook receiver that records everything and answers from a script.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/{*path}", post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }

    fn answer_next(&self, statuses: &[u16]) {
        self.state
            .script
            .lock()
            .unwrap()
            .extend(statuses.iter().copied());
    }

    fn hooks(&self) -> Vec<Hook> {
        self.state.hooks.lock().unwrap().clone()
    }

    async fn wait_for(&self, what: &str, pred: impl Fn(&[Hook]) -> bool) -> Vec<Hook> {
        eventually(WAIT, what, || async {
            let hooks = self.hooks();
            pred(&hooks).then_some(hooks)
        })
        .await
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    raw: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    state.hooks.lock().unwrap().push(Hook {
        path: uri.path().to_owned(),
        id: header("webhook-id").unwrap_or_default(),
        timestamp: header("webhook-timestamp").unwrap_or_default(),
        signature: header("webhook-signature"),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
        received_at: Timestamp::now(),
    });
    let next = state.script.lock().unwrap().pop_front();
    StatusCode::from_u16(next.unwrap_or(200)).unwrap()
}

/// An independent implementation of the Standard Webhooks check (HMAC-SHA256 over
/// `id.timestamp.body` with the base64 key after `whsec_`).
fn signature_is_valid(secret: &str, hook: &Hook) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", hook.id, hook.timestamp).as_bytes());
    mac.update(&hook.raw);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    hook.signature
        .as_deref()
        .is_some_and(|s| s.split(' ').any(|part| part == expected))
}

async fn webhook_app() -> TestApp {
    spawn_app_with(|c| {
        c.allow_private_webhooks = true;
        c.webhook_retry_delays_ms = vec![200, 300, 400];
    })
    .await
}

async fn create_endpoint(app: &TestApp, url: &str, types: Option<Vec<&str>>) -> Value {
    let mut body = json!({ "url": url });
    if let Some(types) = types {
        body["event_types"] = json!(types);
    }
    app.post_json("/v1/webhook-endpoints", &body)
        .await
        .expect(201)
        .clone()
}

#[tokio::test]
async fn every_state_change_reaches_the_endpoint_signed_with_its_secret() {
    let app = webhook_app().await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &receiver.url("hooks"), None).await;
    let secret = endpoint["secret"]
        .as_str()
        .expect("the secret is shown once");
    assert!(secret.starts_with("whsec_"));

    let id = app.dispatched_callback(1200).await;
    app.report_outcome(
        &id,
        &json!({ "outcome": "answered", "duration_seconds": 10 }),
    )
    .await
    .expect(200);

    let hooks = receiver
        .wait_for("created, due, started and completed", |h| h.len() >= 4)
        .await;
    let types: Vec<&str> = hooks
        .iter()
        .map(|h| h.body["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "callback.created",
            "callback.due",
            "callback.started",
            "callback.completed"
        ]
    );
    for hook in &hooks {
        assert!(
            signature_is_valid(secret, hook),
            "bad signature on {hook:?}"
        );
        assert_eq!(hook.body["id"], hook.id, "webhook-id is the event id");
        assert_eq!(hook.body["account_id"], app.account_id);
        assert_eq!(hook.body["data"]["object"]["id"], id);
        let sent: i64 = hook.timestamp.parse().expect("a unix timestamp");
        assert!((Timestamp::now().as_second() - sent).abs() < 60);
    }
    // The resource as it stood at each event.
    let statuses: Vec<&str> = hooks
        .iter()
        .map(|h| h.body["data"]["object"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["scheduled", "dispatching", "in_progress", "completed"]
    );

    // A wrong secret does not verify: the check above can fail.
    assert!(!signature_is_valid(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &hooks[0]
    ));
    // The secret is never shown again.
    let listed = app.get("/v1/webhook-endpoints").await;
    assert!(!listed.text.contains(secret));
    let one = app
        .get(&format!(
            "/v1/webhook-endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await;
    assert!(one.expect(200).get("secret").is_none());
}

#[tokio::test]
async fn a_receiver_that_fails_twice_gets_the_event_on_the_third_try_with_the_same_id() {
    let app = webhook_app().await;
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500, 503]);
    let endpoint =
        create_endpoint(&app, &receiver.url("hooks"), Some(vec!["callback.created"])).await;
    app.create(&new_callback(&unique_phone(), &tomorrow()))
        .await;

    let hooks = receiver.wait_for("three tries", |h| h.len() >= 3).await;
    assert_eq!(hooks.len(), 3);
    assert!(
        hooks.iter().all(|h| h.id == hooks[0].id),
        "same event id on every try"
    );
    assert!(hooks[1].received_at > hooks[0].received_at);

    let deliveries = eventually(WAIT, "the delivery to be marked delivered", || async {
        let body = app
            .get(&format!(
                "/v1/webhook-endpoints/{}/deliveries",
                endpoint["id"].as_str().unwrap()
            ))
            .await
            .expect(200)
            .clone();
        (body["data"][0]["status"] == "delivered").then_some(body)
    })
    .await;
    let delivery = &deliveries["data"][0];
    assert_eq!(delivery["attempts"], 3);
    assert_eq!(delivery["last_status_code"], 200);
    assert_eq!(delivery["event_type"], "callback.created");
    // One id for the event everywhere: every try's webhook-id, the delivery log, the events API.
    assert_eq!(delivery["event_id"], hooks[0].id);
    let events = app.get("/v1/events").await.expect(200).clone();
    assert_eq!(events["data"][0]["id"], hooks[0].id);
}

#[tokio::test]
async fn an_endpoint_answering_410_is_disabled_and_an_event_says_so() {
    let app = webhook_app().await;
    let gone = Receiver::start().await;
    gone.answer_next(&[410]);
    let watcher = Receiver::start().await;
    let endpoint = create_endpoint(&app, &gone.url("gone"), Some(vec!["callback.created"])).await;
    create_endpoint(
        &app,
        &watcher.url("watch"),
        Some(vec!["webhook_endpoint.disabled"]),
    )
    .await;
    app.create(&new_callback(&unique_phone(), &tomorrow()))
        .await;

    let hooks = watcher
        .wait_for("the disabled event", |h| !h.is_empty())
        .await;
    assert_eq!(hooks[0].body["type"], "webhook_endpoint.disabled");
    assert_eq!(hooks[0].body["data"]["object"]["id"], endpoint["id"]);
    let ep = app
        .get(&format!(
            "/v1/webhook-endpoints/{}",
            endpoint["id"].as_str().unwrap()
        ))
        .await
        .expect(200)
        .clone();
    assert_eq!(ep["enabled"], false);
    assert!(ep["disabled_reason"].as_str().unwrap().contains("410"));

    // Disabled endpoints receive nothing more.
    app.create(&new_callback(&unique_phone(), &tomorrow()))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gone.hooks().len(), 1);
}

#[tokio::test]
async fn deliveries_keep_their_order_per_callback_even_when_one_is_retried() {
    let app = webhook_app().await;
    let receiver = Receiver::start().await;
    // The first event (callback.created) fails once; what follows must wait for it.
    receiver.answer_next(&[503]);
    create_endpoint(&app, &receiver.url("hooks"), None).await;
    let id = app.create_at(&tomorrow()).await;
    app.patch(&format!("/v1/callbacks/{id}"), &json!({ "notes": "first" }))
        .await
        .expect(200);
    app.patch(
        &format!("/v1/callbacks/{id}"),
        &json!({ "notes": "second" }),
    )
    .await
    .expect(200);
    app.cancel(&id).await.expect(200);

    let hooks = receiver
        .wait_for("all four events delivered", |h| {
            h.iter()
                .filter(|x| x.body["type"] == "callback.canceled")
                .count()
                == 1
        })
        .await;
    let delivered: Vec<(&str, &str)> = hooks
        .iter()
        .skip(1) // the refused first try
        .map(|h| {
            (
                h.body["type"].as_str().unwrap(),
                h.body["data"]["object"]["notes"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        delivered,
        [
            ("callback.created", ""),
            ("callback.updated", "first"),
            ("callback.updated", "second"),
            ("callback.canceled", "second"),
        ]
    );
}

#[tokio::test]
async fn a_callbacks_own_webhook_url_gets_its_events_signed_with_the_account_secret() {
    let app = webhook_app().await;
    let receiver = Receiver::start().await;
    let secret = app
        .post_json("/v1/signing-secret/rotate", &json!({}))
        .await
        .expect(200)["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut body = new_callback(&unique_phone(), &tomorrow());
    body["webhook_url"] = json!(receiver.url("cb"));
    let created = app.create(&body).await;
    let hooks = receiver
        .wait_for("callback.created", |h| !h.is_empty())
        .await;
    assert_eq!(hooks[0].path, "/cb");
    assert_eq!(hooks[0].body["data"]["object"]["id"], created["id"]);
    assert!(signature_is_valid(&secret, &hooks[0]));
}

#[tokio::test]
async fn a_receiver_that_was_down_catches_up_with_the_events_api_and_redelivery() {
    let app = webhook_app().await;
    for _ in 0..3 {
        app.create(&new_callback(&unique_phone(), &tomorrow()))
            .await;
    }
    let all = app.get("/v1/events?limit=2").await.expect(200).clone();
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    let next = all["next_since"].as_str().expect("a second page");
    let rest = app
        .get(&format!("/v1/events?since={next}"))
        .await
        .expect(200)
        .clone();
    assert_eq!(rest["data"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_since"], Value::Null);
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["data"].as_array().unwrap())
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] != w[1]));

    app.get("/v1/events?since=yesterday")
        .await
        .expect_field_error(400, "invalid_query", "since");

    // Redelivery sends the same event id again to a new endpoint.
    let receiver = Receiver::start().await;
    create_endpoint(&app, &receiver.url("late"), None).await;
    let answer = app
        .post_json(&format!("/v1/events/{}/redeliver", ids[0]), &json!({}))
        .await;
    assert_eq!(answer.expect(202)["deliveries"], 1);
    let hooks = receiver
        .wait_for("the redelivered event", |h| !h.is_empty())
        .await;
    assert_eq!(hooks[0].id, ids[0]);
    app.post_json("/v1/events/evt_999999/redeliver", &json!({}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn webhook_urls_inside_the_network_are_refused_without_the_operator_flag() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/hook",
        "http://localhost:8080/hook",
        // Loopback written as IPv4-compatible, SIIT and 6to4 IPv6 addresses.
        "http://[::127.0.0.1]/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[2002:7f00:1::1]/hook",
    ] {
        app.post_json("/v1/webhook-endpoints", &json!({ "url": url }))
            .await
            .expect_field_error(400, "webhook_url_not_allowed", "url");
        let mut body = new_callback(&unique_phone(), &tomorrow());
        body["webhook_url"] = json!(url);
        app.post_callback(&body).await.expect_field_error(
            400,
            "webhook_url_not_allowed",
            "webhook_url",
        );
    }
    app.assert_no_callbacks("after refused webhook URLs").await;
    let listed = app.get("/v1/webhook-endpoints").await.expect(200).clone();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
    app.post_json(
        "/v1/webhook-endpoints",
        &json!({ "url": "ftp://example.com/x" }),
    )
    .await
    .expect_field_error(400, "invalid_url", "url");
    app.post_json(
        "/v1/webhook-endpoints",
        &json!({ "url": "https://93.184.216.34/x", "event_types": ["callback.nope"] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "event_types[0]");
}

#[tokio::test]
async fn endpoints_are_managed_per_account() {
    let app = webhook_app().await;
    let receiver = Receiver::start().await;
    let endpoint = create_endpoint(&app, &receiver.url("a"), None).await;
    let id = endpoint["id"].as_str().unwrap();
    let other = app.second_account().await;
    for (method, path) in [
        (reqwest::Method::GET, format!("/v1/webhook-endpoints/{id}")),
        (
            reqwest::Method::PATCH,
            format!("/v1/webhook-endpoints/{id}"),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/webhook-endpoints/{id}"),
        ),
        (
            reqwest::Method::GET,
            format!("/v1/webhook-endpoints/{id}/deliveries"),
        ),
        (
            reqwest::Method::POST,
            format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        ),
    ] {
        let body = json!({ "enabled": false });
        app.request_as(Some(&other.api_key), method.clone(), &path, Some(&body))
            .await
            .expect_error(404, "not_found");
    }
    let listed = app
        .request_as(
            Some(&other.api_key),
            reqwest::Method::GET,
            "/v1/webhook-endpoints",
            None,
        )
        .await;
    assert_eq!(listed.expect(200)["data"].as_array().unwrap().len(), 0);

    let patched = app
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            &json!({ "enabled": false, "event_types": ["callback.due"] }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["event_types"], json!(["callback.due"]));
    let rotated = app
        .post_json(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &json!({}),
        )
        .await
        .expect(200)
        .clone();
    assert_ne!(rotated["secret"], endpoint["secret"]);
    let deleted = app
        .request(
            reqwest::Method::DELETE,
            &format!("/v1/webhook-endpoints/{id}"),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    app.get(&format!("/v1/webhook-endpoints/{id}"))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn dialer_bridge_requests_are_signed_with_the_account_secret() {
    let bridge = Receiver::start().await;
    let bridge_url = bridge.url("dial");
    let app = spawn_app_with(|c| c.dialer_url = Some(bridge_url.parse().unwrap())).await;
    let secret = app
        .post_json("/v1/signing-secret/rotate", &json!({}))
        .await
        .expect(200)["signing_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    // The scheduler re-reads secrets at most every 30 s; this account's was never read yet.
    let id = app.create_at(&in_ms(1200)).await;
    let hooks = bridge.wait_for("the dispatch", |h| !h.is_empty()).await;
    assert_eq!(hooks[0].body["callback_id"], id);
    assert_eq!(
        hooks[0].id,
        format!("{id}:1"),
        "webhook-id is the idempotency key"
    );
    assert!(signature_is_valid(&secret, &hooks[0]));
}

/// The callback as GET shows it, without what only GET carries.
fn as_object(callback: &Value) -> Value {
    let mut object = callback.clone();
    let map = object.as_object_mut().unwrap();
    map.remove("attempts");
    map.remove("history");
    // API answers only: event snapshots carry no customer link.
    map.remove("customer_link");
    object
}

/// The events of one callback through the events API, oldest first.
async fn events_of_callback(app: &TestApp, id: &str) -> Vec<Value> {
    let events = app.get("/v1/events?limit=200").await.expect(200)["data"].clone();
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["object"]["id"] == id)
        .cloned()
        .collect()
}

/// Events on the dispatch path store only the fields they change; each one still shows the
/// whole callback as it stood after it, in the events API and the webhook.
#[tokio::test]
async fn each_event_shows_the_callback_as_it_stood_after_it() {
    let app = spawn_app_with(|c| {
        c.allow_private_webhooks = true;
        c.min_lead_seconds = 0;
    })
    .await;
    let receiver = Receiver::start().await;
    create_endpoint(&app, &receiver.url("hooks"), None).await;
    // Refused once (a retry), then taken; no answer, with a recall.
    app.bridge.fail_next(1);
    let id = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(200),
                         "metadata": { "order": "A-17" }, "recall": [1] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // After each step, the newest event shows the callback as GET shows it now.
    let check = async |step: &str, kind: &str| {
        // The callback read between two equal reads of its events: nothing moved between.
        let (cb, events) = eventually(WAIT, &format!("{kind} after {step}"), || async {
            let events = events_of_callback(&app, &id).await;
            let cb = app.get_callback(&id).await;
            let still = events_of_callback(&app, &id).await;
            (events == still && events.last().is_some_and(|e| e["type"] == kind))
                .then_some((cb, events))
        })
        .await;
        let last = events.last().unwrap();
        assert_eq!(last["data"]["object"], as_object(&cb), "{step}: {kind}");
        last.clone()
    };
    let mut seen = vec![check("a refused dispatch", "callback.dispatch_failed").await];
    seen.push(check("the retry", "callback.started").await);
    app.report_outcome(&id, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200);
    seen.push(check("no answer", "callback.recall_scheduled").await);

    // Each event read later shows what it showed then; the webhooks carry the same, in order.
    let events = events_of_callback(&app, &id).await;
    for entry in &seen {
        assert!(events.contains(entry), "{entry} reads differently now");
    }
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "callback.created",
            "callback.due",
            "callback.dispatch_failed",
            "callback.due",
            "callback.started",
            "callback.recall_scheduled"
        ]
    );
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["object"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "scheduled",
            "dispatching",
            "scheduled",
            "dispatching",
            "in_progress",
            "scheduled"
        ]
    );
    let hooks = receiver
        .wait_for("every event of the callback", |h| {
            h.iter()
                .filter(|h| h.body["data"]["object"]["id"] == id.as_str())
                .count()
                == events.len()
        })
        .await;
    for (hook, event) in hooks
        .iter()
        .filter(|h| h.body["data"]["object"]["id"] == id.as_str())
        .zip(&events)
    {
        assert_eq!(hook.body["data"], event["data"], "{}", event["type"]);
    }
    let last = &events.last().unwrap()["data"]["object"];
    assert_eq!(last["attempt_count"], 1);
    assert!(last["next_attempt_at"].is_string());
    assert_eq!(last["metadata"]["order"], "A-17");
}
