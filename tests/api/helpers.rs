//! Shared helpers: an in-process Ringback on a fresh database (see [`crate::database`]), a fake
//! dialer bridge that records every dispatch, request shortcuts and bounded polling.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use ringback::{admin, app::Application, config::ServeConfig, store::Store};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::database::TestDatabase;

/// The longest any single wait in the suite may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// One HTTP answer, its body parsed as JSON when it is JSON (`Value::Null` otherwise).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub async fn read(resp: reqwest::Response) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("the answer body can be read");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            body,
        }
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn is_json(&self) -> bool {
        self.content_type().starts_with("application/json") && !self.body.is_null()
    }

    /// Asserts the status (and a JSON body) and returns the body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(
            self.status, status,
            "expected HTTP {status}, got {} with body {}",
            self.status, self.text
        );
        assert!(
            self.is_json(),
            "expected a JSON body, got content type {:?} and body {:?}",
            self.content_type(),
            self.text
        );
        &self.body
    }

    /// Asserts an error answer in the API's shape `{"error": {"code", "message", "field"}}`
    /// with this status and code, and returns the error object.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Value {
        let body = self.expect(status);
        let error = &body["error"];
        assert!(
            error.is_object(),
            "expected an error object, got {}",
            self.text
        );
        assert_eq!(
            error["code"], code,
            "unexpected error code in {}",
            self.text
        );
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "the error has no message: {}",
            self.text
        );
        assert!(
            error.get("field").is_some(),
            "the error object has no `field` member: {}",
            self.text
        );
        error
    }

    /// Like [`expect_error`](Self::expect_error), also checking the field it names.
    #[track_caller]
    pub fn expect_field_error(&self, status: u16, code: &str, field: &str) -> &Value {
        let error = self.expect_error(status, code);
        assert_eq!(error["field"], field, "unexpected field in {}", self.text);
        error
    }
}

// ---------------------------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------------------------

/// An instant `ms` milliseconds from now, to the millisecond (the precision Ringback stores).
pub fn at_ms(ms: i64) -> Timestamp {
    let now = Timestamp::now().as_millisecond();
    Timestamp::from_millisecond(now + ms).expect("a near instant")
}

/// RFC 3339 (UTC) text of the instant `ms` milliseconds from now.
pub fn in_ms(ms: i64) -> String {
    at_ms(ms).to_string()
}

/// A time far enough ahead that nothing is dispatched while a test runs.
pub fn tomorrow() -> String {
    in_ms(24 * 3600 * 1000)
}

/// A date two days ahead at `hour`:00 in `zone`, as RFC 3339 in UTC.
pub fn two_days_ahead_at(zone: &str, hour: i8) -> String {
    let day = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(48))
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .date();
    day.at(hour, 0, 0, 0)
        .to_zoned(jiff::tz::TimeZone::get(zone).unwrap())
        .unwrap()
        .timestamp()
        .to_string()
}

/// A valid, distinct US number for every call in this test binary.
pub fn unique_phone() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    assert!(n < 10_000, "ran out of test phone numbers");
    format!("+1415555{n:04}")
}

/// The smallest valid create body.
pub fn new_callback(phone: &str, scheduled_at: &str) -> Value {
    json!({ "phone": phone, "scheduled_at": scheduled_at })
}

pub fn ts(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("expected an instant, got {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not an RFC 3339 instant: {e}"))
}

/// Polls `probe` every 25 ms until it gives a value; fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sleeps until `at` (no-op if it has passed).
pub async fn sleep_until(at: Timestamp) {
    let left = at.duration_since(Timestamp::now());
    if left > SignedDuration::ZERO {
        tokio::time::sleep(left.unsigned_abs()).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The fake dialer bridge
// ---------------------------------------------------------------------------------------------

/// One dispatch as the bridge received it.
#[derive(Debug, Clone)]
pub struct BridgeRequest {
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
    pub received_at: Timestamp,
    /// The status the bridge answered (or will answer, when delayed).
    pub answered: u16,
}

impl BridgeRequest {
    pub fn callback_id(&self) -> &str {
        self.body["callback_id"].as_str().unwrap_or("")
    }
}

#[derive(Default)]
struct BridgeState {
    requests: Mutex<Vec<BridgeRequest>>,
    /// Answer 503 to this many more requests.
    fail_next: AtomicUsize,
    always_fail: AtomicBool,
    delay_ms: AtomicU64,
}

/// A dialer bridge on 127.0.0.1:0 that records every request and answers 200 unless told
/// otherwise.
#[derive(Clone)]
pub struct FakeBridge {
    pub url: String,
    state: Arc<BridgeState>,
}

async fn bridge_dispatch(
    State(state): State<Arc<BridgeState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let received_at = Timestamp::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let fail = state.always_fail.load(Ordering::SeqCst)
        || state
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let answered = if fail {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    state.requests.lock().unwrap().push(BridgeRequest {
        idempotency_key: header("idempotency-key"),
        content_type: header("content-type"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        received_at,
        answered: answered.as_u16(),
    });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    answered
}

impl FakeBridge {
    pub async fn start() -> Self {
        let state = Arc::new(BridgeState::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the fake bridge can listen");
        let addr = listener.local_addr().unwrap();
        let router = Router::new()
            .route("/dispatch", post(bridge_dispatch))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{addr}/dispatch"),
            state,
        }
    }

    /// Answer 503 to the next `n` requests, then 200.
    pub fn fail_next(&self, n: usize) {
        self.state.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn always_fail(&self, on: bool) {
        self.state.always_fail.store(on, Ordering::SeqCst);
    }

    /// Hold every answer for `delay` (the request is recorded on receipt).
    pub fn delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<BridgeRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn requests_for(&self, callback_id: &str) -> Vec<BridgeRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.callback_id() == callback_id)
            .collect()
    }

    /// Requests received per `Idempotency-Key`.
    pub fn deliveries_by_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in self.requests() {
            *counts
                .entry(r.idempotency_key.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        counts
    }

    /// Waits until the bridge has received at least `count` requests in all.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<BridgeRequest> {
        eventually(
            timeout,
            &format!("{count} bridge requests (have {})", self.count()),
            || async {
                let requests = self.requests();
                (requests.len() >= count).then_some(requests)
            },
        )
        .await
    }

    /// Waits until the bridge has received at least `count` requests for one callback.
    pub async fn wait_for_callback(
        &self,
        callback_id: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<BridgeRequest> {
        eventually(
            timeout,
            &format!("{count} bridge requests for {callback_id}"),
            || async {
                let requests = self.requests_for(callback_id);
                (requests.len() >= count).then_some(requests)
            },
        )
        .await
    }
}

/// A URL on which nothing listens: connections to it are refused.
pub fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/dispatch")
}

// ---------------------------------------------------------------------------------------------
// The application under test
// ---------------------------------------------------------------------------------------------

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .no_proxy()
        .build()
        .unwrap()
}

/// An account and its API key.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub account_id: String,
    pub api_key: String,
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub api_key: String,
    pub account_id: String,
    pub bridge: FakeBridge,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub shutdown: CancellationToken,
    /// Becomes true when the server's `run` has returned (after a shutdown and its drain).
    pub stopped: tokio::sync::watch::Receiver<bool>,
    pub _db: TestDatabase,
    pub _dir: TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Test accounts take callbacks at any hour (tests run around the clock); the calling-window
/// tests set the policy they test.
pub async fn allow_any_time(store: &dyn Store, account: &ringback::domain::AccountId) {
    let settings = ringback::domain::campaign::AccountSettings {
        allow_customer_requested_times: true,
        ..Default::default()
    };
    store
        .put_account_settings(
            account,
            &settings,
            Timestamp::now(),
            &ringback::domain::Actor::System,
        )
        .await
        .expect("account settings can be saved");
}

/// Starts a server on an existing database, reading time from `clock`, acting as `account`
/// (given a new key).
pub async fn start_on(
    db: TestDatabase,
    dir: TempDir,
    account: &ringback::domain::AccountId,
    clock: ringback::clock::SharedClock,
) -> TestApp {
    let bridge = FakeBridge::start().await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), db.url.clone());
    config.database.secret_key_file = db.key_file.clone();
    config.min_lead_seconds = 1;
    config.rate_limit_per_second = 0;
    config.dialer_url = Some(bridge.url.parse().unwrap());
    config.recordings_dir = dir.path().join("recordings");
    let app = Application::build_with_clock(config, clock)
        .await
        .expect("the application builds");
    let addr = app.local_addr();
    let store = app.store();
    let scopes: Vec<String> = ringback::domain::auth::Scope::ALL
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    let (_, secret) = admin::create_key(store.as_ref(), account, "test", &scopes, Timestamp::now())
        .await
        .expect("a key can be made");
    allow_any_time(store.as_ref(), account).await;
    let shutdown = app.shutdown_token();
    let (ran, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = app.run().await;
        let _ = ran.send(true);
    });
    TestApp {
        addr,
        api_key: secret.expose().to_owned(),
        account_id: account.to_string(),
        bridge,
        client: http_client(),
        store,
        shutdown,
        stopped,
        _db: db,
        _dir: dir,
    }
}

/// A server with `min_lead_seconds = 1`, dispatching to its own fake bridge.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with the configuration adjusted by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeConfig)) -> TestApp {
    spawn_app_with_clock(ringback::clock::system(), configure).await
}

/// The system clock moved forward by however much a test says: lets a test see what happens
/// minutes from now without waiting for them.
#[derive(Default)]
pub struct ShiftedClock {
    shift_ms: std::sync::atomic::AtomicI64,
}

impl ShiftedClock {
    /// A clock that reads `at` now and runs on from there.
    pub fn at(at: Timestamp) -> Self {
        let clock = Self::default();
        clock.shift_ms.store(
            at.as_millisecond() - Timestamp::now().as_millisecond(),
            Ordering::SeqCst,
        );
        clock
    }

    pub fn advance(&self, by: Duration) {
        self.shift_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
}

impl ringback::clock::Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        let now = Timestamp::now().as_millisecond() + self.shift_ms.load(Ordering::SeqCst);
        Timestamp::from_millisecond(now).expect("a near instant")
    }
}

/// Like [`spawn_app_with`], reading time from `clock`.
pub async fn spawn_app_with_clock(
    clock: ringback::clock::SharedClock,
    configure: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    // The server's warnings and errors (or what RUST_LOG asks for) go to the test's output,
    // shown when it fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ringback=warn")),
        )
        .try_init();
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = TestDatabase::create(dir.path()).await;
    let bridge = FakeBridge::start().await;
    let mut config = ServeConfig::new("127.0.0.1:0".parse().unwrap(), db.url.clone());
    config.database.secret_key_file = db.key_file.clone();
    config.min_lead_seconds = 1;
    // Tests fire requests faster than a real client; the rate limit has its own test.
    config.rate_limit_per_second = 0;
    // Claim only shortly ahead, so tests may still change callbacks due soon; the margin's
    // own behaviour is tested with the default.
    config.claim_ahead_ms = 200;
    config.dialer_url = Some(bridge.url.parse().unwrap());
    config.recordings_dir = dir.path().join("recordings");
    configure(&mut config);
    let app = Application::build_with_clock(config, clock)
        .await
        .expect("the application builds");
    let addr = app.local_addr();
    let store = app.store();
    let (account, secret) = admin::create_account(store.as_ref(), "test", Timestamp::now())
        .await
        .expect("an account can be created");
    allow_any_time(store.as_ref(), &account.id).await;
    let shutdown = app.shutdown_token();
    let (ran, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _ = app.run().await;
        let _ = ran.send(true);
    });
    TestApp {
        addr,
        api_key: secret.expose().to_owned(),
        account_id: account.id.to_string(),
        bridge,
        client: http_client(),
        store,
        shutdown,
        stopped,
        _db: db,
        _dir: dir,
    }
}

/// A server with no minimum lead time, so a callback can fall due a few hundred ms after it
/// is created (for tests that need a dispatched callback quickly).
pub async fn spawn_quick_app() -> TestApp {
    spawn_app_with(|c| c.min_lead_seconds = 0).await
}

/// A quick server (no minimum lead time) on a clock the test moves: what would happen minutes
/// from now is seen without waiting for it (see [`TestApp::move_time`]).
pub async fn spawn_quick_app_on_moved_clock() -> (TestApp, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::default());
    let app = spawn_app_with_clock(clock.clone(), |c| c.min_lead_seconds = 0).await;
    (app, clock)
}

impl TestApp {
    /// Sets the account's dialling policy over the API.
    pub async fn settings(&self, body: Value) {
        self.request(Method::PUT, "/v1/settings", Some(&body))
            .await
            .expect(200);
    }

    /// Calls may be placed at any hour, and times customers ask for are kept (so tests do not
    /// depend on the time of day).
    pub async fn any_hour(&self) {
        self.settings(
            json!({ "calling_window": { "start": "00:00", "end": "24:00" },
                              "allow_customer_requested_times": true, "max_attempts": null,
                              "attempt_window_days": 7 }),
        )
        .await;
    }

    /// A playbook saying `template`; its id.
    pub async fn playbook(&self, template: &str) -> String {
        self.post_json(
            "/v1/playbooks",
            &json!({ "name": "Renewals", "initial_message": template }),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// An agent made with `body`'s fields and set `available`; its id.
    pub async fn available_agent(&self, body: Value) -> String {
        let agent = self.post_json("/v1/agents", &body).await.expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.set_presence(&agent, "available").await;
        agent
    }

    /// Sets `agent`'s presence; the agent as answered.
    pub async fn set_presence(&self, agent: &str, presence: &str) -> Value {
        self.request(
            Method::PUT,
            &format!("/v1/agents/{agent}/presence"),
            Some(&json!({ "presence": presence })),
        )
        .await
        .expect(200)
        .clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Another account with its own key, in the same server.
    pub async fn second_account(&self) -> Tenant {
        let (account, secret) =
            admin::create_account(self.store.as_ref(), "other", Timestamp::now())
                .await
                .expect("a second account can be created");
        allow_any_time(self.store.as_ref(), &account.id).await;
        Tenant {
            account_id: account.id.to_string(),
            api_key: secret.expose().to_owned(),
        }
    }

    /// A queue of a second account, made for the test: what this account's requests may not
    /// name.
    pub async fn another_accounts_queue(&self) -> String {
        let other = self.second_account().await;
        self.request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/queues",
            Some(&json!({ "name": "Theirs" })),
        )
        .await
        .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends a request with `key` as bearer token (none if `None`) and an optional JSON body.
    pub async fn request_as(
        &self,
        key: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        Resp::read(req.send().await.expect("the server answers")).await
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Resp {
        self.request_as(Some(&self.api_key), method, path, body)
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.request(Method::PATCH, path, Some(body)).await
    }

    /// POSTs raw bytes with the given content type (authenticated).
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let resp = self
            .client
            .post(self.url(path))
            .bearer_auth(&self.api_key)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("the server answers");
        Resp::read(resp).await
    }

    pub async fn post_callback(&self, body: &Value) -> Resp {
        self.post_json("/v1/callbacks", body).await
    }

    pub async fn post_callback_with_key(&self, body: &Value, idempotency_key: &str) -> Resp {
        let resp = self
            .client
            .post(self.url("/v1/callbacks"))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await
            .expect("the server answers");
        Resp::read(resp).await
    }

    /// Creates a callback, asserting 201, and returns it.
    pub async fn create(&self, body: &Value) -> Value {
        self.post_callback(body).await.expect(201).clone()
    }

    /// Creates a callback for a fresh phone at `scheduled_at` and returns its id.
    /// Moves the server's clock forward by `by` and wakes its background loops, which then see
    /// what is due by the new time at once.
    pub fn move_time(&self, clock: &ShiftedClock, by: Duration) {
        clock.advance(by);
        self.store.due_signal().notify();
        self.store.routing_signal().notify();
        self.store.event_signal().notify();
    }

    /// Returns once the scheduler has claimed and dispatched a callback due at the server's
    /// current time: every callback due before it has been considered by then (claims go in due
    /// order), so a test can assert that one was *not* dispatched without sleeping.
    pub async fn scheduler_passed(&self, clock: &ShiftedClock) {
        use ringback::clock::Clock;
        let at = clock.now() + SignedDuration::from_millis(50);
        let id = self.create_at(&at.to_string()).await;
        self.bridge.wait_for_callback(&id, 1, WAIT).await;
    }

    pub async fn create_at(&self, scheduled_at: &str) -> String {
        let cb = self
            .create(&new_callback(&unique_phone(), scheduled_at))
            .await;
        cb["id"].as_str().unwrap().to_owned()
    }

    pub async fn get_callback(&self, id: &str) -> Value {
        self.get(&format!("/v1/callbacks/{id}"))
            .await
            .expect(200)
            .clone()
    }

    pub async fn cancel(&self, id: &str) -> Resp {
        self.post_json(&format!("/v1/callbacks/{id}/cancel"), &json!({}))
            .await
    }

    pub async fn report_outcome(&self, id: &str, body: &Value) -> Resp {
        self.post_json(&format!("/v1/callbacks/{id}/outcome"), body)
            .await
    }

    /// Every callback of this account (one page of up to 200).
    pub async fn list_all(&self) -> Vec<Value> {
        let page = self
            .get("/v1/callbacks?limit=200")
            .await
            .expect(200)
            .clone();
        page["data"].as_array().expect("a data array").clone()
    }

    /// Asserts that this account has no callbacks at all (`context` names the check).
    pub async fn assert_no_callbacks(&self, context: &str) {
        let all = self.list_all().await;
        assert!(
            all.is_empty(),
            "{context}: expected no stored callbacks, found {all:?}"
        );
    }

    /// Polls the callback until its status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: &str, timeout: Duration) -> Value {
        eventually(timeout, &format!("{id} to become {status}"), || async {
            let cb = self.get_callback(id).await;
            (cb["status"] == status).then_some(cb)
        })
        .await
    }

    /// Creates an agent and returns its id (assignments must name real agents).
    pub async fn agent_id(&self, name: &str) -> String {
        let agent = self.post_json("/v1/agents", &json!({ "name": name })).await;
        agent.expect(201)["id"].as_str().unwrap().to_owned()
    }

    /// Creates a queue and returns its id.
    pub async fn queue_id(&self, name: &str) -> String {
        let queue = self.post_json("/v1/queues", &json!({ "name": name })).await;
        queue.expect(201)["id"].as_str().unwrap().to_owned()
    }

    /// Creates a callback due in `lead_ms` and waits until the bridge accepted it
    /// (`in_progress`). Returns its id.
    pub async fn dispatched_callback(&self, lead_ms: i64) -> String {
        let id = self.create_at(&in_ms(lead_ms)).await;
        self.wait_for_status(&id, "in_progress", WAIT).await;
        id
    }
}

/// The history entries of a callback (as returned by GET) of one type.
pub fn events_of<'a>(callback: &'a Value, kind: &str) -> Vec<&'a Value> {
    callback["history"]
        .as_array()
        .expect("GET returns a history array")
        .iter()
        .filter(|e| e["type"] == kind)
        .collect()
}
