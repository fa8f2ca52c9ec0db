//! Data subjects: `GET /v1/data-subjects?phone=` (everything held about a number) and
//! `POST /v1/data-subjects/erase`. After an erasure no response, no row of any table and (on
//! SQLite) no byte of the database, its WAL or any file under the data directory holds the
//! number or the person's name; callbacks keep their attempts, the do-not-call list keeps the
//! number blocked, and another account's data is untouched.

use std::path::Path;

use reqwest::Method;
use ringback::{
    domain::{AccountId, Actor, CallbackId, Outcome},
    store::OutcomeReport,
};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::helpers::*;

const FIRST: &str = "Zebulon";
const LAST: &str = "Quarrington";

fn encoded(phone: &str) -> String {
    phone.replace('+', "%2B")
}

/// The national digits of a test number (`+1` and ten digits).
fn national(phone: &str) -> String {
    phone.trim_start_matches("+1").to_owned()
}

/// Every row of every table of the test's database, as text, table by table.
pub async fn tables_as_text(url: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let tables: Vec<String> =
            sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for table in tables {
            let columns: Vec<String> =
                sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let row = columns
                .iter()
                .map(|c| format!("COALESCE(CAST(\"{c}\" AS TEXT), '')"))
                .collect::<Vec<_>>()
                .join(" || '|' || ");
            // As bytes: some columns hold binary data (audio).
            let rows: Vec<Vec<u8>> =
                sqlx::query_scalar(&format!("SELECT CAST({row} AS BLOB) FROM \"{table}\""))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            let rows: Vec<String> = rows
                .iter()
                .map(|r| String::from_utf8_lossy(r).into_owned())
                .collect();
            out.push((table, rows.join("\n")));
        }
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            out.push((table, rows.join("\n")));
        }
    }
    out
}

/// The tables whose rows hold any of `needles`.
async fn tables_holding(url: &str, needles: &[&str]) -> Vec<String> {
    tables_as_text(url)
        .await
        .into_iter()
        .filter(|(_, text)| needles.iter().any(|n| text.contains(n)))
        .map(|(table, text)| format!("{table}: {text}"))
        .collect()
}

/// Every file under `dir` (the database, its WAL, the recordings ...) holding any of
/// `needles` as bytes.
fn files_holding(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            for needle in needles {
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    found.push(format!("{} holds {needle:?}", path.display()));
                }
            }
        }
    }
    found
}

/// A callback to `phone` for the person, due in a moment, dispatched to the bridge; its id.
async fn dispatched_to(app: &TestApp, phone: &str) -> String {
    let cb = app
        .create(&json!({
            "phone": phone, "scheduled_at": in_ms(200), "allow_duplicate": true,
            "contact_name": format!("{FIRST} {LAST}"),
            "notes": format!("{FIRST} prefers mornings"),
            "metadata": { "crm_ref": format!("{LAST}-77") },
        }))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    app.wait_for_status(&id, "in_progress", WAIT).await;
    id
}

#[tokio::test]
async fn an_erased_number_is_in_no_answer_no_row_and_no_file_and_its_attempts_stay() {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.allow_private_webhooks = true;
        c.webhook_retry_delays_ms = vec![60_000];
    })
    .await;
    app.any_hour().await;
    let phone = unique_phone();
    let digits = national(&phone);
    let needles = [digits.as_str(), FIRST, LAST];

    // A receiver that is not up yet: deliveries stay queued.
    app.post_json(
        "/v1/webhook-endpoints",
        &json!({ "url": unreachable_url() }),
    )
    .await
    .expect(201);
    let contact = app
        .post_json(
            "/v1/contacts",
            &json!({ "phone": phone, "first_name": FIRST, "last_name": LAST,
                     "email": "zq@example.org", "custom_fields": { "note": format!("{LAST} Ltd") } }),
        )
        .await;
    assert!(
        contact.status == 200 || contact.status == 201,
        "{}",
        contact.text
    );
    let contact_id = contact.body["id"].as_str().unwrap().to_owned();

    // Three callbacks with an attempt each: two reported over the API, the third ended by the
    // driver with a recording on disk.
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(dispatched_to(&app, &phone).await);
    }
    for id in &ids[..2] {
        app.report_outcome(
            id,
            &json!({ "outcome": "answered", "duration_seconds": 30,
                     "notes": format!("spoke with {FIRST} on {phone}") }),
        )
        .await
        .expect(200);
    }
    let account = AccountId::from_trusted(app.account_id.clone());
    let file = format!("{}/erasure-test.wav", app.account_id);
    let recordings = app._dir.path().join("recordings");
    std::fs::create_dir_all(recordings.join(&app.account_id)).unwrap();
    std::fs::write(recordings.join(&file), b"RIFF....WAVE audio of the call").unwrap();
    app.store
        .record_outcome(
            &account,
            &CallbackId::from_trusted(ids[2].clone()),
            &OutcomeReport {
                outcome: Outcome::Answered,
                duration_seconds: Some(12),
                notes: Some(format!("{FIRST} {LAST} asked to be forgotten")),
                sip_code: Some(200),
                sip_reason: None,
                recording: Some(file.clone()),
                answered_by: None,
                disposition: None,
            },
            jiff::Timestamp::now(),
            &Actor::System,
        )
        .await
        .unwrap();
    // A fourth, still to be called: the erasure cancels it.
    let later = app
        .create(
            &json!({ "phone": phone, "scheduled_at": tomorrow(), "allow_duplicate": true,
                          "contact_name": format!("{FIRST} {LAST}") }),
        )
        .await;
    let later = later["id"].as_str().unwrap().to_owned();
    eventually(WAIT, "a webhook delivery queued", || async {
        let deliveries = tables_as_text(&app._db.url).await;
        deliveries
            .iter()
            .any(|(t, rows)| t == "webhook_deliveries" && rows.contains("pending"))
            .then_some(())
    })
    .await;

    // Before: the document holds it all, and so do the rows.
    let before = app
        .get(&format!("/v1/data-subjects?phone={}", encoded(&phone)))
        .await
        .expect(200)
        .clone();
    assert_eq!(before["contacts"].as_array().unwrap().len(), 1, "{before}");
    assert_eq!(before["callbacks"].as_array().unwrap().len(), 4, "{before}");
    assert_eq!(before["recordings"][0]["file"], file.as_str(), "{before}");
    assert!(before.to_string().contains(FIRST));
    assert!(
        before["callbacks"][0]["attempts"].as_array().unwrap().len() == 1,
        "{before}"
    );
    assert!(!tables_holding(&app._db.url, &needles).await.is_empty());
    let audit_before = tables_as_text(&app._db.url)
        .await
        .into_iter()
        .find(|(t, _)| t == "audit_log")
        .unwrap()
        .1
        .lines()
        .count();

    let erased = app
        .post_json("/v1/data-subjects/erase", &json!({ "phone": phone }))
        .await
        .expect(200)
        .clone();
    let counts = &erased["erased"];
    assert_eq!(counts["contacts"], 1, "{erased}");
    assert_eq!(counts["callbacks"], 4, "{erased}");
    assert_eq!(counts["callbacks_canceled"], 1, "{erased}");
    assert_eq!(counts["attempts"], 3, "{erased}");
    assert_eq!(counts["recordings"], 1, "{erased}");
    assert!(
        counts["webhook_deliveries"].as_u64().unwrap() >= 1,
        "{erased}"
    );
    assert!(counts["events"].as_u64().unwrap() >= 4, "{erased}");
    assert!(counts["audit_entries"].as_u64().unwrap() >= 1, "{erased}");
    assert_eq!(erased["recordings_not_deleted"], 0);
    assert!(!erased.to_string().contains(&digits));
    assert!(!recordings.join(&file).exists(), "the recording is deleted");

    // No row of any table.
    let left = tables_holding(&app._db.url, &needles).await;
    assert!(left.is_empty(), "rows still hold the person: {left:#?}");
    // No byte of the database file, its WAL or any other file of the server's directory.
    if app._db.url.starts_with("sqlite") {
        let left = files_holding(app._dir.path(), &needles);
        assert!(left.is_empty(), "files still hold the person: {left:#?}");
    }

    // No answer of the read endpoints.
    let mut reads = vec![
        "/v1/callbacks?limit=200".to_owned(),
        "/v1/events?limit=500".to_owned(),
        "/v1/contacts".to_owned(),
        format!("/v1/contacts/{contact_id}"),
        "/v1/audit?limit=200".to_owned(),
        format!("/v1/data-subjects?phone={}", encoded(&phone)),
        format!("/v1/callbacks?phone={}", encoded(&phone)),
    ];
    reads.extend(
        ids.iter()
            .chain([&later])
            .map(|id| format!("/v1/callbacks/{id}")),
    );
    for path in &reads {
        let answer = app.get(path).await;
        assert!(answer.status < 500, "{path}: {}", answer.text);
        for needle in needles {
            assert!(
                !answer.text.contains(needle),
                "{path} still shows {needle:?}: {}",
                answer.text
            );
        }
    }

    // The callbacks keep their statuses and attempts; the one still to be called is canceled.
    for id in &ids {
        let cb = app.get_callback(id).await;
        assert_eq!(cb["status"], "completed", "{cb}");
        assert_eq!(cb["attempts"].as_array().unwrap().len(), 1, "{cb}");
        assert!(cb["phone"].as_str().unwrap().starts_with("erased:"), "{cb}");
        assert!(
            cb["contact_name"].is_null() && cb["notes"].is_null(),
            "{cb}"
        );
    }
    assert_eq!(app.get_callback(&later).await["status"], "canceled");
    app.get(&format!("/v1/contacts/{contact_id}"))
        .await
        .expect(404);
    let after = app
        .get(&format!("/v1/data-subjects?phone={}", encoded(&phone)))
        .await
        .expect(200)
        .clone();
    assert_eq!(after["contacts"], json!([]));
    assert_eq!(after["callbacks"].as_array().unwrap().len(), 4, "{after}");
    assert_eq!(after["recordings"], json!([]));

    // The audit trail lost no entry, and the erasure's own is keyed by the subject hash with
    // counts only.
    let rows = tables_as_text(&app._db.url).await;
    let audit = &rows.iter().find(|(t, _)| t == "audit_log").unwrap().1;
    assert!(audit.lines().count() > audit_before, "{audit}");
    let entries = after["audit_entries"].as_array().unwrap();
    let erasure = entries
        .iter()
        .find(|e| e["action"] == "data_subject.erased")
        .unwrap_or_else(|| panic!("the erasure is audited: {after}"));
    assert_eq!(erasure["changes"]["callbacks"], 4, "{erasure}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "data_subject.exported"),
        "{after}"
    );
    assert!(
        entries
            .iter()
            .filter(|e| e["resource_type"] == "callback")
            .count()
            >= 4,
        "the callbacks' entries remain: {after}"
    );

    // The evidence still proves the three attempts: each with the decision that allowed it,
    // unredacted, in a chain that verifies; and it names neither the number nor the person.
    let evidence = crate::audit_chain::sealed_evidence(&app, &phone, 3).await;
    for attempt in evidence["attempts"].as_array().unwrap() {
        assert_eq!(attempt["action"], "dial.allowed", "{attempt}");
        assert_eq!(attempt["redacted"], false, "{attempt}");
        assert_eq!(
            attempt["content"]["decision"]["decision"], "dial",
            "{attempt}"
        );
        assert!(!attempt["link"].is_null(), "{attempt}");
    }
    assert_eq!(evidence["chain"]["status"], "ok", "{evidence}");
    let text = evidence.to_string();
    for needle in needles {
        assert!(!text.contains(needle), "{needle} in the evidence: {text}");
    }
}

#[tokio::test]
async fn an_erased_number_on_the_do_not_call_list_stays_blocked_and_a_revoked_consent_stays_revoked()
 {
    let app = spawn_quick_app().await;
    app.any_hour().await;
    let phone = unique_phone();
    app.post_json(
        "/v1/dnc",
        &json!({ "phone": phone, "source": "ivr", "reason": "asked on the call" }),
    )
    .await
    .expect(201);
    let revoked = unique_phone();
    app.post_json(
        "/v1/consents/revoke",
        &json!({ "phone": revoked, "scopes": ["calls"], "source": "ivr" }),
    )
    .await
    .expect(200);
    for number in [&phone, &revoked] {
        let erased = app
            .post_json("/v1/data-subjects/erase", &json!({ "phone": number }))
            .await
            .expect(200)
            .clone();
        assert!(!erased.to_string().contains(&national(number)), "{erased}");
    }
    let left = tables_holding(&app._db.url, &[&national(&phone), &national(&revoked)]).await;
    assert!(left.is_empty(), "{left:#?}");

    // Still listed: the entry is found by the number, shown under its erased key.
    let entry = app
        .get(&format!("/v1/dnc/{}", encoded(&phone)))
        .await
        .expect(200)
        .clone();
    assert!(
        entry["phone"].as_str().unwrap().starts_with("erased:"),
        "{entry}"
    );
    assert_eq!(entry["source"], "ivr");
    // A new callback to it is told so at create, and never dialled.
    let cb = app
        .create(&json!({ "phone": phone, "scheduled_at": in_ms(1_500) }))
        .await;
    assert!(cb["effective_dial_at"].is_null(), "{cb}");
    assert!(
        cb["explanation"].to_string().contains("do-not-call"),
        "{cb}"
    );
    let id = cb["id"].as_str().unwrap().to_owned();
    let skipped = app.wait_for_status(&id, "canceled", WAIT).await;
    assert_eq!(skipped["outcome"], "skipped_dnc");
    assert!(app.bridge.requests_for(&id).is_empty());

    // The revoked consent holds too: a call is not placed.
    let consents = app
        .get(&format!("/v1/consents?phone={}", encoded(&revoked)))
        .await
        .expect(200)
        .clone();
    assert_eq!(consents["data"][0]["status"], "revoked", "{consents}");
    let cb = app
        .create(&json!({ "phone": revoked, "scheduled_at": in_ms(300) }))
        .await;
    let id = cb["id"].as_str().unwrap().to_owned();
    let skipped = app.wait_for_status(&id, "canceled", WAIT).await;
    assert_eq!(skipped["outcome"], "skipped_no_consent");
    assert!(app.bridge.requests_for(&id).is_empty());

    // Taking the number off the list takes its erased entry off.
    let removed = app
        .request(
            Method::DELETE,
            &format!("/v1/dnc/{}", encoded(&phone)),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{}", removed.text);
    app.get(&format!("/v1/dnc/{}", encoded(&phone)))
        .await
        .expect(404);
}

#[tokio::test]
async fn erasing_in_one_account_leaves_the_same_number_in_another_untouched() {
    let app = spawn_app().await;
    let other = app.second_account().await;
    let phone = unique_phone();
    let as_other = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let key = other.api_key.clone();
        async move {
            app.request_as(Some(&key), method, &path, body.as_ref())
                .await
        }
    };
    for key in [&app.api_key, &other.api_key] {
        app.request_as(
            Some(key),
            Method::POST,
            "/v1/contacts",
            Some(&json!({ "phone": phone, "first_name": FIRST, "last_name": LAST })),
        )
        .await;
        app.request_as(
            Some(key),
            Method::POST,
            "/v1/callbacks",
            Some(&json!({ "phone": phone, "scheduled_at": tomorrow(),
                          "contact_name": format!("{FIRST} {LAST}") })),
        )
        .await
        .expect(201);
        app.request_as(
            Some(key),
            Method::POST,
            "/v1/dnc",
            Some(&json!({ "phone": phone, "reason": "no calls" })),
        )
        .await
        .expect(201);
    }
    let erased = app
        .post_json("/v1/data-subjects/erase", &json!({ "phone": phone }))
        .await
        .expect(200)
        .clone();
    assert_eq!(erased["erased"]["contacts"], 1, "{erased}");
    assert_eq!(erased["erased"]["callbacks"], 1, "{erased}");

    let theirs = as_other(
        Method::GET,
        format!("/v1/data-subjects?phone={}", encoded(&phone)),
        None,
    )
    .await
    .expect(200)
    .clone();
    assert_eq!(theirs["contacts"][0]["phone"], phone.as_str(), "{theirs}");
    assert_eq!(theirs["contacts"][0]["first_name"], FIRST, "{theirs}");
    assert_eq!(theirs["callbacks"][0]["phone"], phone.as_str(), "{theirs}");
    assert_eq!(
        theirs["callbacks"][0]["contact_name"],
        format!("{FIRST} {LAST}")
    );
    assert_eq!(theirs["do_not_call"]["phone"], phone.as_str(), "{theirs}");
    let list = as_other(Method::GET, "/v1/callbacks".to_owned(), None)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        list["data"][0]["status"], "canceled",
        "canceled by their own list"
    );
    let mine = app
        .get(&format!("/v1/data-subjects?phone={}", encoded(&phone)))
        .await
        .expect(200)
        .clone();
    assert!(!mine.to_string().contains(&national(&phone)), "{mine}");
    assert!(!mine.to_string().contains(FIRST), "{mine}");
}

#[tokio::test]
async fn bad_data_subject_requests_name_the_field_and_erase_nothing() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let cb = app.create(&new_callback(&phone, &tomorrow())).await;
    let id = cb["id"].as_str().unwrap().to_owned();
    for (body, code, field) in [
        (json!({}), "missing_field", "phone"),
        (json!({ "phone": "4155550100" }), "invalid_phone", "phone"),
        (json!({ "phone": "+1 nope" }), "invalid_phone", "phone"),
        (
            json!({ "phone": 14155550100_i64 }),
            "invalid_field",
            "phone",
        ),
        (
            json!({ "phone": phone, "name": "x" }),
            "unknown_field",
            "name",
        ),
    ] {
        app.post_json("/v1/data-subjects/erase", &body)
            .await
            .expect_field_error(400, code, field);
    }
    for query in ["", "?phone=12", "?phone=%2B1&x=1"] {
        let answer = app.get(&format!("/v1/data-subjects{query}")).await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text);
    }
    app.get("/v1/data-subjects?phone=12")
        .await
        .expect_field_error(400, "invalid_phone", "phone");
    // Not an admin key: refused before anything is read.
    let key = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "reader", "scopes": ["callbacks:read"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let refused = app
        .request_as(
            Some(&key),
            Method::POST,
            "/v1/data-subjects/erase",
            Some(&json!({ "phone": phone })),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    // Nothing was erased.
    assert_eq!(app.get_callback(&id).await["phone"], phone.as_str());
    // A number nothing is held about: zero counts.
    let nothing = app
        .post_json(
            "/v1/data-subjects/erase",
            &json!({ "phone": unique_phone() }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(nothing["erased"]["callbacks"], 0, "{nothing}");
    assert_eq!(nothing["erased"]["contacts"], 0, "{nothing}");
}

/// A contact export under way when a number is erased stops: no page read after the erasure
/// committed is sent. The client reads slowly (a 4 KiB receive buffer, then nothing), so the
/// server is still pages away from the erased contact when the erasure commits.
#[tokio::test]
async fn a_contact_export_under_way_stops_when_a_number_is_erased() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = spawn_app().await;
    // The erased contact first: the export goes newest first, so it is on the last page.
    let target = "+14155559876";
    let mut csv = format!("phone,first_name\n{target},Zebulon\n");
    for i in 0..30_000u32 {
        csv.push_str(&format!("+1415{:07},Filler\n", 2_000_000 + i));
    }
    let report = app
        .post_raw("/v1/contacts/import", "text/csv", csv)
        .await
        .expect(200)
        .clone();
    assert_eq!(report["created"], 30_001, "{report}");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(app.addr).await.unwrap();
    stream
        .write_all(
            format!(
                "GET /v1/contacts/export HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 Connection: close\r\n\r\n",
                app.addr, app.api_key
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut first = vec![0u8; 4096];
    let n = stream.read(&mut first).await.unwrap();
    let head = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    app.post_json("/v1/data-subjects/erase", &json!({ "phone": target }))
        .await
        .expect(200);

    // The rest: the stream ends early (an error, or a cut body), without the erased contact.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    let body = format!("{head}{}", String::from_utf8_lossy(&rest));
    assert!(!body.contains("4155559876"), "the erased number was sent");
    assert!(!body.contains("Zebulon"), "the erased name was sent");
    assert!(
        !body.ends_with("0\r\n\r\n"),
        "the export ran to its end as if nothing happened ({} bytes)",
        body.len()
    );

    // A new export after the erasure runs whole.
    let after = app.get("/v1/contacts/export").await;
    assert_eq!(after.status, 200);
}
