//! Contacts: upsert by phone, paging, changes, CSV import with a per-row report, export.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

async fn key_with(app: &TestApp, scopes: &[&str]) -> String {
    app.post_json("/v1/api-keys", &json!({ "name": "k", "scopes": scopes }))
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_contact_is_upserted_by_its_normalised_phone() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/contacts",
            &json!({ "phone": "+1 (415) 555-0101", "first_name": "Ann", "last_name": "Lee",
                     "email": "ann@example.com", "timezone": "America/Los_Angeles",
                     "utm_source": "newsletter",
                     "custom_fields": { "plan": "gold", "seats": 3, "vip": true } }),
        )
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("ctc_"), "{id}");
    assert_eq!(created["phone"], "+14155550101");
    assert_eq!(created["first_name"], "Ann");
    assert_eq!(created["company"], Value::Null);
    assert_eq!(created["custom_fields"]["seats"], 3);

    // The same number in another format updates that contact; fields not given are kept.
    let updated = app
        .post_json(
            "/v1/contacts",
            &json!({ "phone": "+14155550101", "company": "Acme", "last_name": null,
                     "custom_fields": { "vip": null } }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(updated["id"], id);
    assert_eq!(updated["first_name"], "Ann");
    assert_eq!(updated["company"], "Acme");
    assert_eq!(updated["last_name"], Value::Null);
    assert_eq!(
        updated["custom_fields"],
        json!({ "plan": "gold", "seats": 3 })
    );
    assert_eq!(
        app.get(&format!("/v1/contacts/{id}")).await.expect(200),
        &updated
    );

    // PATCH changes fields but not the key.
    let patched = app
        .patch(
            &format!("/v1/contacts/{id}"),
            &json!({ "job_title": "CTO", "timezone": "Europe/Madrid" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(patched["job_title"], "CTO");
    assert_eq!(patched["timezone"], "Europe/Madrid");
    app.patch(
        &format!("/v1/contacts/{id}"),
        &json!({ "phone": "+14155550102" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "phone");

    // Found by phone in any format.
    let found = app
        .get("/v1/contacts?phone=%2B1-415-555-0101")
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&found), vec![id.to_owned()]);

    // The audit trail names the fields, never their values.
    let audit = app
        .get(&format!("/v1/audit?resource_id={id}"))
        .await
        .expect(200)
        .clone();
    let text = audit.to_string();
    assert!(text.contains("contact.create") && text.contains("contact.update"));
    assert!(!text.contains("ann@example.com"), "{text}");

    assert_eq!(
        app.request(Method::DELETE, &format!("/v1/contacts/{id}"), None)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/contacts/{id}"))
        .await
        .expect_error(404, "not_found");
    app.request(Method::DELETE, &format!("/v1/contacts/{id}"), None)
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn bad_contacts_are_refused_naming_the_field_and_nothing_is_written() {
    let app = spawn_app().await;
    for (body, status, code, field) in [
        (
            json!({ "first_name": "Ann" }),
            400,
            "missing_field",
            "phone",
        ),
        (
            json!({ "phone": "4155550101" }),
            400,
            "invalid_phone",
            "phone",
        ),
        (json!({ "phone": "+1 415" }), 400, "invalid_phone", "phone"),
        (
            json!({ "phone": 14155550101u64 }),
            400,
            "invalid_field",
            "phone",
        ),
        (
            json!({ "phone": unique_phone(), "timezone": "Mars/Olympus" }),
            400,
            "invalid_timezone",
            "timezone",
        ),
        (
            json!({ "phone": unique_phone(), "first_name": 7 }),
            400,
            "invalid_field",
            "first_name",
        ),
        (
            json!({ "phone": unique_phone(), "email": "not-an-email" }),
            400,
            "invalid_field",
            "email",
        ),
        (
            json!({ "phone": unique_phone(), "nickname": "A" }),
            400,
            "unknown_field",
            "nickname",
        ),
        (
            json!({ "phone": unique_phone(), "custom_fields": { "tags": ["a"] } }),
            400,
            "invalid_field",
            "custom_fields.tags",
        ),
        (
            json!({ "phone": unique_phone(), "custom_fields": [1] }),
            400,
            "invalid_field",
            "custom_fields",
        ),
        (
            json!({ "phone": unique_phone(), "city": "x".repeat(501) }),
            400,
            "invalid_field",
            "city",
        ),
    ] {
        let resp = app.post_json("/v1/contacts", &body).await;
        resp.expect_field_error(status, code, field);
    }
    let too_many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("f{i}"), json!(i))).collect();
    app.post_json(
        "/v1/contacts",
        &json!({ "phone": unique_phone(), "custom_fields": too_many }),
    )
    .await
    .expect_field_error(400, "invalid_field", "custom_fields");
    let resp = app
        .post_raw("/v1/contacts", "application/json", "[1, 2]")
        .await;
    // A body that is not an object is refused like malformed JSON, on every JSON route.
    resp.expect_error(400, "invalid_json");
    let list = app.get("/v1/contacts").await.expect(200).clone();
    assert_eq!(list["data"], json!([]), "a refused contact was stored");
    app.get("/v1/contacts?limit=0")
        .await
        .expect_field_error(400, "invalid_query", "limit");
    app.get("/v1/contacts?cursor=cb_nope")
        .await
        .expect_field_error(400, "invalid_query", "cursor");
}

#[tokio::test]
async fn contacts_are_listed_newest_first_page_by_page() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let c = app
            .post_json("/v1/contacts", &json!({ "phone": unique_phone() }))
            .await
            .expect(201)
            .clone();
        created.push(c["id"].as_str().unwrap().to_owned());
    }
    // Newest first by id (ULIDs made in the same millisecond order by their random part).
    created.sort();
    created.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/contacts?limit=2".to_owned();
    loop {
        let page = app.get(&path).await.expect(200).clone();
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/contacts?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, created);
}

#[tokio::test]
async fn a_csv_import_keeps_good_rows_and_reports_bad_ones() {
    let app = spawn_app().await;
    let long = "x".repeat(9_000);
    let csv = format!(
        "phone,First_Name,timezone,plan,custom.region\n\
         +1-415-555-0201,Ann,America/Los_Angeles,gold,west\n\
         4155550202,Bo,,silver,\n\
         +14155550203,Cy,Mars/Base,,\n\
         +14155550204,{long},,,\n\
         +14155550205,Di,,,,extra\n\
         \"+1 415 555 0206\",\"Lee, Eve\",,bronze,\n\
         +14155550201,,,platinum,\n"
    );
    let report = app
        .post_raw("/v1/contacts/import", "text/csv; charset=utf-8", csv)
        .await
        .expect(200)
        .clone();
    assert_eq!(report["rows"], 7, "{report}");
    assert_eq!(report["created"], 2, "{report}");
    assert_eq!(report["updated"], 1, "{report}");
    assert_eq!(report["failed"], 4, "{report}");
    let errors = report["errors"].as_array().unwrap();
    let summary: Vec<(u64, u64, Value, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["line"].as_u64().unwrap(),
                e["field"].clone(),
                e["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (2, 3, json!("phone"), "invalid_phone"),
            (3, 4, json!("timezone"), "invalid_timezone"),
            (4, 5, Value::Null, "invalid_field"),
            (5, 6, Value::Null, "invalid_field"),
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| !e["reason"].as_str().unwrap().is_empty())
    );

    let ann = app
        .get("/v1/contacts?phone=%2B14155550201")
        .await
        .expect(200)["data"][0]
        .clone();
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["timezone"], "America/Los_Angeles");
    // The later row updated the plan; its empty cells left the rest alone.
    assert_eq!(
        ann["custom_fields"],
        json!({ "plan": "platinum", "region": "west" })
    );
    let eve = app
        .get("/v1/contacts?phone=%2B14155550206")
        .await
        .expect(200)["data"][0]
        .clone();
    assert_eq!(eve["first_name"], "Lee, Eve");

    // One audit entry for the import, naming what it created and updated.
    let audit = app
        .get("/v1/audit?action=contacts.upsert")
        .await
        .expect(200)
        .clone();
    let entries = audit["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert_eq!(
        entries[0]["changes"],
        json!({ "created": [ann["id"], eve["id"]], "updated": [ann["id"]] })
    );
    let per_contact = app
        .get("/v1/audit?action=contact.create")
        .await
        .expect(200)
        .clone();
    assert_eq!(per_contact["data"], json!([]), "{per_contact}");
}

#[tokio::test]
async fn an_import_without_csv_or_a_phone_column_is_refused_whole() {
    let app = spawn_app().await;
    app.post_raw(
        "/v1/contacts/import",
        "application/json",
        "phone\n+14155550301\n",
    )
    .await
    .expect_field_error(415, "unsupported_media_type", "Content-Type");
    app.post_raw("/v1/contacts/import", "text/csv", "first_name\nAnn\n")
        .await
        .expect_field_error(400, "missing_field", "phone");
    app.post_raw("/v1/contacts/import", "text/csv", "")
        .await
        .expect_field_error(400, "missing_field", "header");
    app.post_raw("/v1/contacts/import", "text/csv", "phone,city,City\n")
        .await
        .expect_field_error(400, "invalid_field", "header");
    let list = app.get("/v1/contacts").await.expect(200).clone();
    assert_eq!(list["data"], json!([]));
    // Larger than the body limit: 413, in the API's error shape.
    let huge = format!("phone\n{}", "+14155550301\n".repeat(100_000));
    app.post_raw("/v1/contacts/import", "text/csv", huge)
        .await
        .expect_error(413, "payload_too_large");
}

#[tokio::test]
async fn an_export_is_csv_that_imports_again() {
    let app = spawn_app().await;
    app.post_json(
        "/v1/contacts",
        &json!({ "phone": "+442079460958", "first_name": "Ann", "company": "Acme, Ltd",
                 "custom_fields": { "plan": "gold", "seats": 3 } }),
    )
    .await
    .expect(201);
    for _ in 0..3 {
        app.post_json("/v1/contacts", &json!({ "phone": unique_phone() }))
            .await
            .expect(201);
    }
    let resp = app.get("/v1/contacts/export").await;
    assert_eq!(resp.status, 200);
    assert!(
        resp.content_type().starts_with("text/csv"),
        "{:?}",
        resp.content_type()
    );
    let mut lines = resp.text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,phone,external_id,first_name,last_name,email")
    );
    assert_eq!(lines.count(), 4);

    // Into another account: the same four contacts, with their custom fields.
    let other = app.second_account().await;
    let reimport = app
        .client
        .post(app.url("/v1/contacts/import"))
        .bearer_auth(&other.api_key)
        .header("Content-Type", "text/csv")
        .body(resp.text.clone())
        .send()
        .await
        .unwrap();
    let report = Resp::read(reimport).await;
    let report = report.expect(200);
    assert_eq!(
        (report["created"].as_u64(), report["failed"].as_u64()),
        (Some(4), Some(0)),
        "{report}"
    );
    let ann = app
        .request_as(
            Some(&other.api_key),
            Method::GET,
            "/v1/contacts?phone=%2B442079460958",
            None,
        )
        .await
        .expect(200)["data"][0]
        .clone();
    assert_eq!(ann["company"], "Acme, Ltd");
    assert_eq!(ann["custom_fields"], json!({ "plan": "gold", "seats": 3 }));
}

#[tokio::test]
async fn contacts_need_their_scope_and_stay_in_their_account() {
    let app = spawn_app().await;
    let contact = app
        .post_json("/v1/contacts", &json!({ "phone": unique_phone() }))
        .await
        .expect(201)
        .clone();
    let id = contact["id"].as_str().unwrap();
    let reader = key_with(&app, &["contacts:read"]).await;
    app.request_as(Some(&reader), Method::GET, "/v1/contacts", None)
        .await
        .expect(200);
    let resp = app
        .request_as(
            Some(&reader),
            Method::POST,
            "/v1/contacts",
            Some(&json!({ "phone": unique_phone() })),
        )
        .await;
    assert_eq!(
        resp.expect_error(403, "forbidden")["required_scope"],
        "contacts:write"
    );
    let callbacks_only = key_with(&app, &["callbacks:write"]).await;
    app.request_as(Some(&callbacks_only), Method::GET, "/v1/contacts", None)
        .await
        .expect_error(403, "forbidden");

    let other = app.second_account().await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        app.request_as(
            Some(&other.api_key),
            method,
            &format!("/v1/contacts/{id}"),
            Some(&json!({ "first_name": "B" })),
        )
        .await
        .expect_error(404, "not_found");
    }
    // B upserting the same number makes B's own contact.
    let mine = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/contacts",
            Some(&json!({ "phone": contact["phone"] })),
        )
        .await
        .expect(201)
        .clone();
    assert_ne!(mine["id"], contact["id"]);
    assert_eq!(
        app.get(&format!("/v1/contacts/{id}")).await.expect(200),
        &contact
    );
}

/// Sends `body` as a chunked request (no `Content-Length`, so the size is only known as it
/// arrives) and returns the status line of the answer.
async fn post_chunked(app: &TestApp, path: &str, body: &[u8]) -> String {
    let stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.addr, app.api_key
    );
    let body = body.to_vec();
    // The write half stays open until the answer is read: closing it early looks to the server
    // like a client that went away.
    let (done, read_all) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        let sent: std::io::Result<()> = async {
            write.write_all(head.as_bytes()).await?;
            for chunk in body.chunks(64 * 1024) {
                write
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                write.write_all(chunk).await?;
                write.write_all(b"\r\n").await?;
            }
            write.write_all(b"0\r\n\r\n").await
        }
        .await;
        let _ = read_all.await;
        drop(write);
        sent
    });
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, read.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .ok();
    let _ = done.send(());
    // The server may stop reading once it has answered; the writer's error is expected then.
    let _ = writer.await;
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_chunked_import_past_the_body_limit_is_413_and_keeps_the_batches_before_it() {
    let app = spawn_app_with(|c| c.max_body_bytes = 64 * 1024).await;
    let small = format!("phone,first_name\n{},Ann\n", unique_phone());
    let status = post_chunked(&app, "/v1/contacts/import", small.as_bytes()).await;
    assert!(
        status.contains(" 200 "),
        "a small chunked import works: {status:?}"
    );
    let phone = unique_phone();
    let mut big = b"phone,first_name\n".to_vec();
    for _ in 0..10_000 {
        big.extend_from_slice(format!("{phone},Bo\n").as_bytes());
    }
    let status = post_chunked(&app, "/v1/contacts/import", &big).await;
    assert!(status.contains(" 413 "), "{status}");
    let found = app
        .get(&format!("/v1/contacts?phone={}", phone.replace('+', "%2B")))
        .await
        .expect(200)
        .clone();
    assert_eq!(
        found["data"][0]["first_name"], "Bo",
        "batches before the limit are kept"
    );
}
