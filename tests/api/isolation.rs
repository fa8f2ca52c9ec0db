//! Authentication and tenant isolation.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn requests_without_a_valid_api_key_are_unauthorized() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    let body = new_callback(&unique_phone(), &tomorrow());
    let routes = [
        (Method::GET, "/v1/callbacks".to_owned(), None),
        (Method::POST, "/v1/callbacks".to_owned(), Some(&body)),
        (
            Method::POST,
            "/v1/callbacks/batch".to_owned(),
            Some(&json!({ "callbacks": [body] })),
        ),
        (Method::GET, format!("/v1/callbacks/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/callbacks/{id}"),
            Some(&json!({ "notes": "x" })),
        ),
        (
            Method::POST,
            format!("/v1/callbacks/{id}/cancel"),
            Some(&json!({})),
        ),
        (
            Method::POST,
            format!("/v1/callbacks/{id}/outcome"),
            Some(&json!({ "outcome": "answered" })),
        ),
    ];
    let bad_headers: [Option<String>; 6] = [
        None,
        Some("Basic dXNlcjpwYXNz".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer    ".to_owned()),
        Some(format!("Token {}", app.api_key)),
        Some("Bearer rbk_0000000000000000000000000000000000000000".to_owned()),
    ];
    for (method, path, body) in &routes {
        for header in &bad_headers {
            let mut req = app.client.request(method.clone(), app.url(path));
            if let Some(h) = header {
                req = req.header(reqwest::header::AUTHORIZATION, h);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = Resp::read(req.send().await.unwrap()).await;
            assert_eq!(
                resp.status, 401,
                "{method} {path} with {header:?}: {}",
                resp.text
            );
            resp.expect_error(401, "unauthorized");
        }
    }
    // Nothing changed: one callback, still scheduled, untouched.
    let all = app.list_all().await;
    assert_eq!(all.len(), 1);
    let cb = app.get_callback(&id).await;
    assert_eq!(cb["status"], "scheduled");
    assert!(cb["notes"].is_null());
    // The real key, in either spelling of the scheme, works.
    for scheme in ["Bearer", "bearer"] {
        let resp = app
            .client
            .get(app.url("/v1/callbacks"))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{scheme} {}", app.api_key),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "scheme {scheme}");
    }
}

#[tokio::test]
async fn another_account_cannot_see_or_change_a_callback() {
    let app = spawn_app().await;
    let b = app.second_account().await;
    let cb = app
        .create(&json!({
            "phone": unique_phone(),
            "scheduled_at": tomorrow(),
            "notes": "A's notes",
        }))
        .await;
    let id = cb["id"].as_str().unwrap();
    let key = Some(b.api_key.as_str());
    let path = format!("/v1/callbacks/{id}");
    app.request_as(key, Method::GET, &path, None)
        .await
        .expect_error(404, "not_found");
    app.request_as(
        key,
        Method::PATCH,
        &path,
        Some(&json!({ "notes": "B was here", "scheduled_at": tomorrow() })),
    )
    .await
    .expect_error(404, "not_found");
    app.request_as(
        key,
        Method::POST,
        &format!("{path}/cancel"),
        Some(&json!({})),
    )
    .await
    .expect_error(404, "not_found");
    app.request_as(
        key,
        Method::POST,
        &format!("{path}/outcome"),
        Some(&json!({ "outcome": "answered" })),
    )
    .await
    .expect_error(404, "not_found");

    // B's list never shows A's callbacks, whatever the filter.
    for query in [
        "/v1/callbacks".to_owned(),
        format!(
            "/v1/callbacks?phone={}",
            cb["phone"].as_str().unwrap().replace('+', "%2B")
        ),
        "/v1/callbacks?status=scheduled".to_owned(),
        "/v1/callbacks?cursor=cb_7ZZZZZZZZZZZZZZZZZZZZZZZZZ&limit=200".to_owned(),
    ] {
        let page = app
            .request_as(key, Method::GET, &query, None)
            .await
            .expect(200)
            .clone();
        assert_eq!(page["data"], json!([]), "{query}: {page}");
    }

    // A's callback is exactly as it was.
    let read = app.get_callback(id).await;
    assert_eq!(read["status"], "scheduled");
    assert_eq!(read["notes"], "A's notes");
    assert_eq!(read["updated_at"], cb["updated_at"]);
    assert_eq!(read["scheduled_at"], cb["scheduled_at"]);
    assert_eq!(read["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_account_cannot_report_an_outcome_for_a_dispatched_callback() {
    let app = spawn_quick_app().await;
    let b = app.second_account().await;
    let id = app.dispatched_callback(300).await;
    app.request_as(
        Some(&b.api_key),
        Method::POST,
        &format!("/v1/callbacks/{id}/outcome"),
        Some(&json!({ "outcome": "answered", "duration_seconds": 10 })),
    )
    .await
    .expect_error(404, "not_found");
    app.request_as(
        Some(&b.api_key),
        Method::POST,
        &format!("/v1/callbacks/{id}/cancel"),
        Some(&json!({})),
    )
    .await
    .expect_error(404, "not_found");
    let read = app.get_callback(&id).await;
    assert_eq!(read["status"], "in_progress");
    assert!(read["outcome"].is_null());
    assert!(read["attempts"][0]["outcome"].is_null());
}

#[tokio::test]
async fn each_account_sees_only_its_own_callbacks() {
    let app = spawn_app().await;
    let b = app.second_account().await;
    let mut a_ids = Vec::new();
    for _ in 0..3 {
        a_ids.push(app.create_at(&tomorrow()).await);
    }
    let b_created = app
        .request_as(
            Some(&b.api_key),
            Method::POST,
            "/v1/callbacks",
            Some(&new_callback(&unique_phone(), &tomorrow())),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(b_created["account_id"], b.account_id.as_str());
    let b_list = app
        .request_as(Some(&b.api_key), Method::GET, "/v1/callbacks", None)
        .await
        .expect(200)
        .clone();
    let b_ids: Vec<&str> = b_list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(b_ids, vec![b_created["id"].as_str().unwrap()]);
    let a_list: Vec<String> = app
        .list_all()
        .await
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(a_list.len(), 3);
    assert!(!a_list.contains(&b_created["id"].as_str().unwrap().to_owned()));
}

#[tokio::test]
async fn a_phone_held_by_one_account_does_not_block_another() {
    let app = spawn_app().await;
    let b = app.second_account().await;
    let phone = unique_phone();
    app.create(&new_callback(&phone, &tomorrow())).await;
    let resp = app
        .request_as(
            Some(&b.api_key),
            Method::POST,
            "/v1/callbacks",
            Some(&new_callback(&phone, &tomorrow())),
        )
        .await;
    assert_eq!(resp.expect(201)["account_id"], b.account_id.as_str());
    // Batches too.
    let resp = app
        .request_as(
            Some(&b.api_key),
            Method::POST,
            "/v1/callbacks/batch",
            Some(&json!({ "callbacks": [new_callback(&phone, &tomorrow())] })),
        )
        .await;
    let body = resp.expect(200);
    assert_eq!(
        body["results"][0]["status"], "failed",
        "B's own first one holds it"
    );
    assert_eq!(
        body["results"][0]["error"]["code"],
        "duplicate_active_callback"
    );
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_account() {
    let app = spawn_app().await;
    let b = app.second_account().await;
    let body = new_callback(&unique_phone(), &tomorrow());
    let a_cb = app
        .post_callback_with_key(&body, "shared-key")
        .await
        .expect(201)
        .clone();
    let resp = app
        .client
        .post(app.url("/v1/callbacks"))
        .bearer_auth(&b.api_key)
        .header("Idempotency-Key", "shared-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    let b_cb = Resp::read(resp).await.expect(201).clone();
    assert_ne!(b_cb["id"], a_cb["id"], "B was answered with A's callback");
    assert_eq!(b_cb["account_id"], b.account_id.as_str());
    assert_eq!(app.list_all().await.len(), 1);
}
