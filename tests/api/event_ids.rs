//! Event ids say nothing about other accounts: each account numbers its own events (and its
//! agents' feed entries), the ids sort in the order the account's events happened, and
//! resuming after an id (`since`, `Last-Event-ID`) gives exactly what came after it. Ids given
//! out before the per-account numbering keep working.

use std::time::Duration;

use jiff::Timestamp;
use reqwest::Method;
use ringback::{admin, domain::AccountId};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::{
    database::{TestDatabase, schema_before},
    helpers::*,
};

/// The first migration with per-account event numbers: the upgrade test builds the schema
/// before it.
const PER_ACCOUNT_NUMBERS: i64 = 20261211000012;

const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Where an event stands in its account's own order, read from its id. Ids are opaque to
/// clients; this test knows their form: `evt_`, the account id's ULID, then the account's own
/// event number in 13 Crockford base32 digits. Ids of the old form (`evt_<sequence number>`,
/// one sequence for every account) are read as their number, so a failure shows the leak.
fn number(account: &str, id: &str) -> i64 {
    let rest = id
        .strip_prefix("evt_")
        .unwrap_or_else(|| panic!("{id} is not an event id"));
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        return rest.parse().unwrap();
    }
    assert_eq!(rest.len(), 39, "{id}: not of the documented form");
    let ulid = account.strip_prefix("acc_").unwrap();
    assert_eq!(&rest[..26], ulid, "{id} names another account");
    rest[26..].bytes().fold(0, |n, b| {
        let digit = CROCKFORD
            .iter()
            .position(|c| *c == b)
            .unwrap_or_else(|| panic!("{id}: not base32"));
        n * 32 + digit as i64
    })
}

/// Every event of the account with `key`, oldest first (as `/v1/events` pages them).
async fn all_events(app: &TestApp, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut since: Option<String> = None;
    loop {
        let path = match &since {
            Some(s) => format!("/v1/events?limit=500&since={s}"),
            None => "/v1/events?limit=500".to_owned(),
        };
        let page = app
            .request_as(Some(key), Method::GET, &path, None)
            .await
            .expect(200)
            .clone();
        out.extend(page["data"].as_array().unwrap().iter().cloned());
        match page["next_since"].as_str() {
            Some(next) => since = Some(next.to_owned()),
            None => return out,
        }
    }
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates a callback as the account with `key` (one `callback.created` event); its id.
async fn create_as(app: &TestApp, key: &str, extra: Value) -> String {
    let mut body = new_callback(&unique_phone(), &tomorrow());
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = app
        .request_as(Some(key), Method::POST, "/v1/callbacks", Some(&body))
        .await;
    created.expect(201)["id"].as_str().unwrap().to_owned()
}

/// Another account busy: `n` callbacks created and canceled (two events each).
async fn burst(app: &TestApp, other: &Tenant, n: usize, extra: Value) {
    for _ in 0..n {
        let id = create_as(app, &other.api_key, extra.clone()).await;
        app.request_as(
            Some(&other.api_key),
            Method::POST,
            &format!("/v1/callbacks/{id}/cancel"),
            Some(&json!({})),
        )
        .await
        .expect(200);
    }
}

/// Asserts the ids are the account's consecutive numbers, in string order.
fn assert_consecutive_and_sorted(account: &str, ids: &[String], what: &str) {
    let numbers: Vec<i64> = ids.iter().map(|id| number(account, id)).collect();
    let expected: Vec<i64> = (0..ids.len() as i64).map(|i| numbers[0] + i).collect();
    assert_eq!(
        numbers, expected,
        "{what}: the account's ids moved with another account's activity: {ids:?}"
    );
    let mut sorted = ids.to_vec();
    sorted.sort();
    assert_eq!(
        sorted, ids,
        "{what}: ids do not sort in the order of events"
    );
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------------------------

/// One Server-Sent Event as a client reads it.
#[derive(Debug, Clone)]
struct SseEvent {
    id: String,
    event: String,
    data: Value,
}

/// An open event stream, read by a background task.
struct Stream {
    events: mpsc::UnboundedReceiver<SseEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream {
    /// Opens `path` with the request's credentials, resuming after `last_event_id` if given.
    async fn open(req: reqwest::RequestBuilder, last_event_id: Option<&str>) -> Self {
        let req = match last_event_id {
            Some(id) => req.header("Last-Event-ID", id),
            None => req,
        };
        let mut resp = req.send().await.expect("the server answers");
        assert_eq!(resp.status(), 200, "the stream opens");
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut buffer = String::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                buffer.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buffer.find("\n\n") {
                    let block: String = buffer.drain(..end + 2).collect();
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
                    if let (Some(id), Some(event)) = (id, event) {
                        let data = serde_json::from_str(&data).expect("event data is JSON");
                        let _ = tx.send(SseEvent { id, event, data });
                    }
                }
            }
        });
        Self { events, task }
    }

    /// The next event of `kind`, skipping others.
    async fn next_of(&mut self, kind: &str) -> SseEvent {
        loop {
            let e = tokio::time::timeout(WAIT, self.events.recv())
                .await
                .expect("an event within the wait")
                .expect("the stream is open");
            if e.event == kind {
                return e;
            }
        }
    }

    /// Asserts nothing of `kind` arrives within `within`.
    async fn assert_no(&mut self, kind: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, self.events.recv()).await {
            assert_ne!(e.event, kind, "unexpected {kind}: {e:?}");
        }
    }
}

/// The Callback Manager's live changes, as a supervisor of the test account sees them.
async fn live_view(app: &TestApp, cookie: &str, last_event_id: Option<&str>) -> Stream {
    let req = app
        .client
        .get(app.url("/ui/api/events"))
        .header("cookie", cookie);
    Stream::open(req, last_event_id).await
}

/// Signs a new supervisor of the test account in; their session cookie.
async fn supervisor_cookie(app: &TestApp) -> String {
    let password = "correct horse battery";
    admin::create_user(
        app.store.as_ref(),
        &AccountId::parse(&app.account_id).unwrap(),
        "sup@example.com",
        "supervisor",
        None,
        &SecretString::from(password),
        &ringback::domain::Actor::Cli,
        Timestamp::now(),
    )
    .await
    .expect("the user can be created");
    let resp = app
        .client
        .post(app.url("/ui/api/session"))
        .json(&json!({ "email": "sup@example.com", "password": password }))
        .send()
        .await
        .unwrap();
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_accounts_activity_does_not_move_an_accounts_event_ids() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    let a = app.account_id.clone();

    // Twelve events (past a decimal digit boundary), the other account's burst, one more.
    let mut mine = Vec::new();
    for _ in 0..12 {
        mine.push(app.create_at(&tomorrow()).await);
    }
    burst(&app, &other, 20, json!({})).await;
    mine.push(app.create_at(&tomorrow()).await);

    let events = all_events(&app, &app.api_key).await;
    let ids = ids(&events);
    assert_eq!(ids.len(), 13);
    assert_consecutive_and_sorted(&a, &ids, "the events API");
    // The account's first event is its own first: nothing before it is counted.
    let theirs = ids_of_account(&app, &other).await;
    assert_eq!(theirs.len(), 40);
    assert_consecutive_and_sorted(&other.account_id, &theirs, "the other account's events");
    assert_eq!(
        number(&a, &ids[0]),
        number(&other.account_id, &theirs[0]),
        "both accounts number their events alike, from their first"
    );
    // Ids stay unique across accounts (receivers drop repeated webhook-ids).
    assert!(
        theirs.iter().all(|id| !ids.contains(id)),
        "{ids:?} {theirs:?}"
    );

    // The callback's history shows the same id as the events API.
    let last = app.get_callback(&mine[12]).await;
    assert_eq!(last["history"][0]["id"].as_str(), Some(ids[12].as_str()));

    // Resuming after an id gives exactly what came after it.
    let after = app
        .get(&format!("/v1/events?since={}", ids[9]))
        .await
        .expect(200)
        .clone();
    assert_eq!(super_ids(&after), ids[10..].to_vec());

    // Another account's ids mean nothing here.
    app.get(&format!("/v1/events?since={}", theirs[0]))
        .await
        .expect_field_error(400, "invalid_query", "since");
    app.post_json(&format!("/v1/events/{}/redeliver", theirs[0]), &json!({}))
        .await
        .expect_error(404, "not_found");
}

fn super_ids(page: &Value) -> Vec<String> {
    ids(page["data"].as_array().unwrap())
}

async fn ids_of_account(app: &TestApp, tenant: &Tenant) -> Vec<String> {
    ids(&all_events(app, &tenant.api_key).await)
}

#[tokio::test]
async fn the_live_view_resumes_after_last_event_id_with_exactly_the_missed_events() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    let cookie = supervisor_cookie(&app).await;

    let mut live = live_view(&app, &cookie, None).await;
    let first = app.create_at(&tomorrow()).await;
    let second = app.create_at(&tomorrow()).await;
    let seen = [live.next_of("change").await, live.next_of("change").await];
    assert_eq!(seen[0].data["callback_id"], first.as_str());
    assert_eq!(seen[1].data["callback_id"], second.as_str());
    drop(live);

    // While the page is away: three changes here, a burst in the other account.
    let mut missed = Vec::new();
    for _ in 0..3 {
        missed.push(app.create_at(&tomorrow()).await);
        burst(&app, &other, 4, json!({})).await;
    }

    let mut live = live_view(&app, &cookie, Some(&seen[1].id)).await;
    let mut resumed = Vec::new();
    for _ in 0..3 {
        resumed.push(live.next_of("change").await);
    }
    let callbacks: Vec<&str> = resumed
        .iter()
        .map(|e| e.data["callback_id"].as_str().unwrap())
        .collect();
    assert_eq!(callbacks, missed, "missed or reordered on resume");
    live.assert_no("change", Duration::from_millis(1500)).await;

    // The stream's ids are the events' ids, the account's own and in order.
    let stream_ids: Vec<String> = seen.iter().chain(&resumed).map(|e| e.id.clone()).collect();
    assert_eq!(stream_ids, ids(&all_events(&app, &app.api_key).await));
    assert_consecutive_and_sorted(&app.account_id, &stream_ids, "the live view");
}

#[tokio::test]
async fn an_agents_feed_is_numbered_per_account_and_resumes_exactly() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    let ann = app.agent_id("Ann").await;
    let bob = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/agents",
            Some(&json!({ "name": "Bob" })),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let for_ann = json!({ "assignment": { "type": "agent", "ids": [ann] } });
    let for_bob = json!({ "assignment": { "type": "agent", "ids": [bob] } });
    let mut callbacks = Vec::new();
    for _ in 0..5 {
        callbacks.push(create_as(&app, &app.api_key, for_ann.clone()).await);
    }
    let req = app
        .client
        .get(app.url(&format!("/v1/agents/{ann}/events")))
        .bearer_auth(&app.api_key);
    let mut stream = Stream::open(req, None).await;
    app.cancel(&callbacks[0]).await.expect(200);
    let first = stream.next_of("callback.canceled").await;
    assert_eq!(
        first.data["id"].to_string(),
        first.id,
        "data.id is the event id"
    );
    drop(stream);

    // While Ann's desktop is away: her callbacks canceled, Bob's account busy in between.
    for id in &callbacks[1..4] {
        app.cancel(id).await.expect(200);
        burst(&app, &other, 3, for_bob.clone()).await;
    }

    let req = app
        .client
        .get(app.url(&format!("/v1/agents/{ann}/events")))
        .bearer_auth(&app.api_key);
    let mut stream = Stream::open(req, Some(&first.id)).await;
    let mut resumed = Vec::new();
    for _ in 0..3 {
        resumed.push(stream.next_of("callback.canceled").await);
    }
    let seen: Vec<&str> = resumed
        .iter()
        .map(|e| e.data["callback"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        callbacks[1..4].to_vec(),
        "missed or reordered on resume"
    );
    stream
        .assert_no("callback.canceled", Duration::from_millis(300))
        .await;

    // Ann's feed ids count her account's feed only: Bob's burst left no gap.
    let numbers: Vec<i64> = std::iter::once(&first)
        .chain(&resumed)
        .map(|e| e.id.parse().expect("feed ids are numbers"))
        .collect();
    assert_eq!(
        numbers,
        (numbers[0]..numbers[0] + 4).collect::<Vec<_>>(),
        "the feed's ids moved with another account's activity"
    );

    // `?last_event_id=` resumes the same way.
    let req = app.client.get(app.url(&format!(
        "/v1/agents/{ann}/events?last_event_id={}",
        resumed[1].id
    )));
    let mut stream = Stream::open(req.bearer_auth(&app.api_key), None).await;
    let e = stream.next_of("callback.canceled").await;
    assert_eq!(e.id, resumed[2].id);
}

/// A server on a database that already holds events numbered the old way (one sequence for
/// every account), upgraded by starting it.
#[tokio::test]
async fn ids_given_out_before_the_upgrade_keep_working_and_numbering_continues_per_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create_empty(dir.path()).await;
    let (a, b) = (AccountId::generate(), AccountId::generate());
    let now = Timestamp::now().as_millisecond();
    // Events 1..6: A, B, A, B, B, B. Feed entries 1..3: A, B, B, the last one purged.
    let mut seed = format!(
        "INSERT INTO accounts (id, name, created_at) VALUES ('{a}', 'a', {now}), \
         ('{b}', 'b', {now});"
    );
    for (i, acc) in [&a, &b, &a, &b, &b, &b].iter().enumerate() {
        seed.push_str(&format!(
            "INSERT INTO events (account_id, resource_type, resource_id, type, occurred_at, data) \
             VALUES ('{acc}', 'callback', 'cb_{i}', 'callback.created', {now}, \
             '{{\"object\": {{\"id\": \"cb_{i}\"}}}}');"
        ));
    }
    for acc in [&a, &b, &b] {
        seed.push_str(&format!(
            "INSERT INTO agent_events (account_id, agent_id, type, occurred_at, data) \
             VALUES ('{acc}', 'agt_old', 'presence', {now}, '{{}}');"
        ));
    }
    seed.push_str("DELETE FROM agent_events WHERE seq = 3;");
    schema_before(&db.url, PER_ACCOUNT_NUMBERS, &seed).await;

    let app = start_on(db, dir, &a, ringback::clock::system()).await;

    // The old events keep their numbers, in the new form; old ids still resume exactly.
    let events = all_events(&app, &app.api_key).await;
    let old = ids(&events);
    assert_eq!(
        old.iter()
            .map(|id| number(app.account_id.as_str(), id))
            .collect::<Vec<_>>(),
        [1, 3]
    );
    let after = app.get("/v1/events?since=evt_1").await.expect(200).clone();
    assert_eq!(super_ids(&after), old[1..].to_vec());
    let after = app.get("/v1/events?since=evt_3").await.expect(200).clone();
    assert_eq!(super_ids(&after), Vec::<String>::new());
    app.post_json("/v1/events/evt_3/redeliver", &json!({}))
        .await
        .expect(202);
    app.post_json("/v1/events/evt_2/redeliver", &json!({}))
        .await
        .expect_error(404, "not_found");

    // New events continue after the account's own last, whatever the other did since.
    app.create_at(&tomorrow()).await;
    let now_ids = ids(&all_events(&app, &app.api_key).await);
    assert_eq!(now_ids.len(), 3);
    assert_eq!(number(&app.account_id, &now_ids[2]), 4);
    assert_consecutive_and_sorted(&app.account_id, &now_ids[1..], "after the upgrade");
    let mut sorted = now_ids.clone();
    sorted.sort();
    assert_eq!(sorted, now_ids);

    // The feed's old entries keep their numbers too; new ones start past every number given
    // out before (even a purged one), so an old Last-Event-ID misses nothing.
    let old_agent = ringback::domain::ids::AgentId::from_trusted("agt_old".to_owned());
    let feed = app.store.agent_events(&a, &old_agent, 0, 10).await.unwrap();
    assert_eq!(feed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
    let ann = app.agent_id("Ann").await;
    let cb = create_as(
        &app,
        &app.api_key,
        json!({ "assignment": { "type": "agent", "ids": [ann] } }),
    )
    .await;
    app.cancel(&cb).await.expect(200);
    let ann = ringback::domain::ids::AgentId::parse(&ann).unwrap();
    let feed = app.store.agent_events(&a, &ann, 3, 10).await.unwrap();
    assert_eq!(feed.iter().map(|e| e.seq).collect::<Vec<_>>(), [4]);
}
