//! An existing database moved to the current schema without loss: a database written by the
//! previous schema's server (callbacks in every state, with attempts, history, a campaign and
//! webhook deliveries) is migrated by starting the server on it, and every callback, attempt
//! and event reads back as it did before.
//!
//! The fixture (`tests/fixtures/previous_schema.sql`, the rows; `previous_schema.json`, what
//! the API answered for them) was written by
//! `write_the_previous_schema_fixture` (ignored; run it only on the schema it captures, with
//! `RINGBACK_WRITE_FIXTURE=1`), on the schema up to `PREVIOUS_SCHEMA`.

use std::{path::PathBuf, time::Duration};

use jiff::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// The last migration of the schema the fixture was written on.
const PREVIOUS_SCHEMA: i64 = 20261213000014;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `ms` from now on the server's clock.
fn server_in(clock: &ShiftedClock, ms: i64) -> String {
    use ringback::clock::Clock;
    (clock.now() + jiff::SignedDuration::from_millis(ms)).to_string()
}

/// Everything the API shows of the account's callbacks and events.
async fn everything(app: &TestApp, ids: &[String]) -> Value {
    let mut callbacks = serde_json::Map::new();
    for id in ids {
        callbacks.insert(id.clone(), app.get_callback(id).await);
    }
    let mut events = Vec::new();
    let mut path = "/v1/events?limit=100".to_owned();
    loop {
        let page = app.get(&path).await.expect(200).clone();
        let data = page["data"].as_array().expect("a data array").clone();
        let done = data.is_empty();
        events.extend(data);
        match page["next_since"].as_str() {
            Some(next) if !done => path = format!("/v1/events?limit=100&since={next}"),
            _ => break,
        }
    }
    let list = app.get("/v1/callbacks?limit=200").await.expect(200).clone();
    json!({ "callbacks": callbacks, "events": events, "list": list["data"] })
}

/// Writes the fixture from a server running the current schema. Run on the schema named by
/// `PREVIOUS_SCHEMA` only: `RINGBACK_WRITE_FIXTURE=1 cargo test --test api -- --ignored
/// write_the_previous_schema_fixture`.
#[tokio::test]
#[ignore = "writes the migration fixture; run only on the schema it captures"]
async fn write_the_previous_schema_fixture() {
    if std::env::var("RINGBACK_WRITE_FIXTURE").as_deref() != Ok("1") {
        panic!("set RINGBACK_WRITE_FIXTURE=1 to write tests/fixtures/previous_schema.*");
    }
    let (app, clock) = spawn_quick_app_on_moved_clock().await;
    let far = "2027-03-10T15:30:00Z";
    let mut ids = Vec::new();

    // Scheduled, with every option a request can set.
    let full = app
        .create(&json!({
            "phone": "+1-415-555-0101", "contact_name": "Ann Lee", "scheduled_at": far,
            "timezone": "America/New_York", "notes": "Asked about her invoice",
            "metadata": { "crm_id": "42", "tier": 2 }, "caller_id": "+1-415-555-0199",
            "recall": { "no_answer": [30, 60], "busy": [10] }, "expire_after_minutes": 240,
            "max_duration_seconds": 900, "recording_enabled": true,
            "initial_message": "Hello Ann", "reminder_minutes_before": 15,
            "webhook_url": "https://hooks.example.com/ringback"
        }))
        .await;
    ids.push(full["id"].as_str().unwrap().to_owned());
    // Canceled.
    let canceled = app.create_at(far).await;
    app.cancel(&canceled).await.expect(200);
    ids.push(canceled);
    // Dispatched and in progress; then completed; failed; and a recall scheduled.
    let in_progress = app.dispatched_callback(100).await;
    ids.push(in_progress);
    let completed = app.dispatched_callback(100).await;
    app.report_outcome(
        &completed,
        &json!({ "outcome": "answered", "duration_seconds": 312, "notes": "Paid" }),
    )
    .await
    .expect(200);
    ids.push(completed);
    let failed = app.dispatched_callback(100).await;
    app.report_outcome(&failed, &json!({ "outcome": "failed" }))
        .await
        .expect(200);
    ids.push(failed);
    let recall = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": in_ms(100),
                         "recall": [120] }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_for_status(&recall, "in_progress", WAIT).await;
    app.report_outcome(&recall, &json!({ "outcome": "no_answer" }))
        .await
        .expect(200);
    ids.push(recall);
    // Refused once by the bridge, then accepted on the retry.
    app.bridge.fail_next(1);
    let retried = app.create_at(&in_ms(100)).await;
    app.bridge.wait_for_callback(&retried, 1, WAIT).await;
    app.move_time(&clock, Duration::from_secs(120));
    app.wait_for_status(&retried, "in_progress", WAIT).await;
    ids.push(retried);
    // Expired: its deadline passed before the scheduler reached it.
    let expired = app
        .create(
            &json!({ "phone": unique_phone(), "scheduled_at": server_in(&clock, 60_000),
                         "expire_after_minutes": 1 }),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The server's clock is ahead of the test's by now: move past the deadline.
    app.move_time(&clock, Duration::from_secs(600));
    app.wait_for_status(&expired, "expired", WAIT).await;
    ids.push(expired);
    // Preview: one offered to the only agent, one waiting behind it.
    let queue = app.queue_id("Billing").await;
    let agent = app
        .post_json(
            "/v1/agents",
            &json!({ "name": "Ann", "queue_ids": [queue], "concurrency": 1 }),
        )
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
    let soon = server_in(&clock, 100);
    for _ in 0..2 {
        let cb = app
            .create(&json!({ "phone": unique_phone(), "scheduled_at": soon,
                             "dialing_mode": "preview",
                             "assignment": { "type": "queue", "ids": [queue] } }))
            .await;
        ids.push(cb["id"].as_str().unwrap().to_owned());
    }
    let n = ids.len();
    app.wait_for_status(&ids[n - 2], "offered", WAIT).await;
    app.wait_for_status(&ids[n - 1], "waiting", WAIT).await;
    // A campaign of two contacts, launching later.
    let playbook = app.playbook("Hi {{ first_name }}").await;
    let campaign = app
        .post_json(
            "/v1/campaigns",
            &json!({ "playbook_id": playbook, "launch_at": far, "timezone": "America/Denver",
                     "name": "Renewals", "recall": [30],
                     "contacts": [ { "phone": "+1-303-555-0110", "first_name": "Bo" },
                                   { "phone": "+1-303-555-0111", "first_name": "Cy" } ] }),
        )
        .await
        .expect(202)
        .clone();
    let campaign_id = campaign["campaign_id"].as_str().unwrap().to_owned();
    for c in app
        .get(&format!("/v1/campaigns/{campaign_id}/contacts"))
        .await
        .expect(200)["data"]
        .as_array()
        .unwrap()
    {
        if let Some(id) = c["callback_id"].as_str() {
            ids.push(id.to_owned());
        }
    }
    // Dispatching: the bridge has the request and has not answered.
    app.bridge.delay(Duration::from_secs(600));
    let dispatching = app.create_at(&server_in(&clock, 100)).await;
    app.bridge.wait_for_callback(&dispatching, 1, WAIT).await;
    app.wait_for_status(&dispatching, "dispatching", WAIT).await;
    ids.push(dispatching);

    let captured_at = ringback::clock::Clock::now(clock.as_ref());
    let seen = everything(&app, &ids).await;
    let dump = dump_sqlite(&app._db.url).await;
    std::fs::write(fixture("previous_schema.sql"), dump).unwrap();
    let doc = json!({
        "captured_at": captured_at.to_string(),
        "account_id": app.account_id,
        "ids": ids,
        "seen": seen,
    });
    std::fs::write(
        fixture("previous_schema.json"),
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap();
}

/// Every row of the SQLite database at `url` as `INSERT` statements with column names, which
/// both backends read (the schema stores only integers and text). Rows the schema makes itself
/// (triggers, seeds) are replaced, not added to.
async fn dump_sqlite(url: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         AND name NOT IN ('_sqlx_migrations', 'callback_assignees') ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    // Parents before the rows that refer to them.
    let mut ordered: Vec<String> = Vec::new();
    while ordered.len() < tables.len() {
        let before = ordered.len();
        for table in &tables {
            if ordered.contains(table) {
                continue;
            }
            let parents: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT \"table\" FROM pragma_foreign_key_list('{table}')"
            ))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            if parents.iter().all(|p| p == table || ordered.contains(p)) {
                ordered.push(table.clone());
            }
        }
        assert!(ordered.len() > before, "foreign keys in a circle");
    }
    let mut out = String::new();
    for table in ordered.iter().rev() {
        out.push_str(&format!("DELETE FROM {table};\n"));
    }
    for table in &ordered {
        let columns: Vec<String> =
            sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let values = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ', ' || ");
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {values} FROM \"{table}\""))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        for row in rows {
            out.push_str(&format!(
                "INSERT INTO {table} ({}) VALUES ({row});\n",
                columns.join(", ")
            ));
        }
    }
    out
}

#[tokio::test]
async fn a_database_of_the_previous_schema_reads_back_the_same_after_the_migration() {
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("previous_schema.json")).unwrap())
            .unwrap();
    let dump = std::fs::read_to_string(fixture("previous_schema.sql")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = crate::database::TestDatabase::create_empty(dir.path()).await;
    crate::database::schema_before(&db.url, PREVIOUS_SCHEMA + 1, &dump).await;
    // The server reads time from where the fixture was written, so offers, leases and due
    // times stand as they stood.
    let captured_at: Timestamp = doc["captured_at"].as_str().unwrap().parse().unwrap();
    let clock = std::sync::Arc::new(ShiftedClock::at(captured_at));
    let account =
        ringback::domain::AccountId::from_trusted(doc["account_id"].as_str().unwrap().to_owned());
    let app = start_on(db, dir, &account, clock).await;

    let ids: Vec<String> = doc["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let mut before = doc["seen"].clone();
    // The intended changes: what `progressive` meant before migration 24 (dial at the time,
    // no agent) is called `unattended` now; fields added since read as what a callback stored
    // before them is: priority 50 and no required skills (migration 34), no `disposition`
    // (35) and no fallback to the team (37).
    let renamed = |cb: &mut Value| {
        if cb["dialing_mode"] == "progressive" {
            cb["dialing_mode"] = "unattended".into();
        }
        if let Some(fields) = cb.as_object_mut() {
            fields.insert("disposition".to_owned(), Value::Null);
            fields.insert("fallback_after_minutes".to_owned(), Value::Null);
            fields.insert("fallback_queue_id".to_owned(), Value::Null);
        }
        cb["priority"] = 50.into();
        cb["skills"] = json!({});
    };
    if let Some(callbacks) = before["callbacks"].as_object_mut() {
        callbacks.values_mut().for_each(renamed);
    }
    if let Some(list) = before["list"].as_array_mut() {
        list.iter_mut().for_each(renamed);
    }
    let mut now = everything(&app, &ids).await;
    // Added since (migration 42): every callback answers with its customer's link, which the
    // fixture's answers did not have.
    let Value::Object(now_map) = &mut now else {
        panic!("an object")
    };
    for (key, part) in now_map.iter_mut() {
        let callbacks: Vec<&mut Value> = match (key.as_str(), part) {
            ("callbacks", Value::Object(by_id)) => by_id.values_mut().collect(),
            ("list", Value::Array(list)) => list.iter_mut().collect(),
            _ => continue,
        };
        for cb in callbacks {
            let link = cb.as_object_mut().unwrap().remove("customer_link");
            assert!(link.is_some_and(|l| l.as_str().is_some_and(|l| l.starts_with("/c/"))));
        }
    }
    for id in &ids {
        assert_eq!(
            now["callbacks"][id], before["callbacks"][id],
            "callback {id} reads differently after the migration"
        );
    }
    let (now_events, old_events) = (
        now["events"].as_array().unwrap(),
        before["events"].as_array().unwrap(),
    );
    for (i, old) in old_events.iter().enumerate() {
        assert_eq!(
            now_events.get(i),
            Some(old),
            "event {i} reads differently after the migration"
        );
    }
    assert_eq!(now_events.len(), old_events.len(), "events");
    assert_eq!(now["list"], before["list"], "the callback list");

    // The migrated database goes on: a call in progress ends, a scheduled one is canceled.
    let statuses: Vec<(&str, &str)> = ids
        .iter()
        .map(|id| {
            (
                id.as_str(),
                before["callbacks"][id]["status"].as_str().unwrap(),
            )
        })
        .collect();
    for status in [
        "scheduled",
        "canceled",
        "dispatching",
        "in_progress",
        "completed",
        "failed",
        "expired",
        "waiting",
        "offered",
    ] {
        assert!(
            statuses.iter().any(|(_, s)| *s == status),
            "the fixture holds no {status} callback"
        );
    }
    let (running, _) = statuses.iter().find(|(_, s)| *s == "in_progress").unwrap();
    let done = app
        .report_outcome(
            running,
            &json!({ "outcome": "answered", "duration_seconds": 5 }),
        )
        .await;
    assert_eq!(done.expect(200)["status"], "completed");
    let (scheduled, _) = statuses.iter().find(|(_, s)| *s == "scheduled").unwrap();
    app.cancel(scheduled).await.expect(200);
    let history = app.get_callback(scheduled).await["history"].clone();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"callback.canceled"), "{history}");
}
