//! The do-not-call list: one opt-out call cancels what is scheduled to the number.

use reqwest::Method;
use ringback::domain::{AccountId, PhoneNumber};
use serde_json::{Value, json};

use crate::helpers::*;

fn encoded(phone: &str) -> String {
    phone.replace('+', "%2B")
}

#[tokio::test]
async fn adding_a_number_cancels_its_scheduled_callbacks_in_the_same_call() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let other_phone = unique_phone();
    let first = app.create(&new_callback(&phone, &tomorrow())).await;
    let mut second_body = new_callback(&phone, &in_ms(48 * 3600 * 1000));
    second_body["allow_duplicate"] = json!(true);
    let second = app.create(&second_body).await;
    let untouched = app.create(&new_callback(&other_phone, &tomorrow())).await;

    // The number in a human format, with where the opt-out came from.
    let human = format!("+1 ({}) {}-{}", &phone[2..5], &phone[5..8], &phone[8..]);
    let added = app
        .post_json(
            "/v1/dnc",
            &json!({ "phone": human, "source": "ivr", "reason": "asked on the call" }),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(added["phone"], phone.as_str());
    assert_eq!(added["source"], "ivr");
    let mut canceled: Vec<&str> = added["canceled_callback_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    canceled.sort();
    let mut expected = vec![
        first["id"].as_str().unwrap(),
        second["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(canceled, expected);

    for id in &expected {
        let cb = app.get_callback(id).await;
        assert_eq!(cb["status"], "canceled");
        let events = events_of(&cb, "callback.canceled");
        assert_eq!(events.len(), 1, "{cb}");
        assert_eq!(events[0]["data"]["reason"], "dnc", "{cb}");
    }
    assert_eq!(
        app.get_callback(untouched["id"].as_str().unwrap()).await["status"],
        "scheduled"
    );
    // The cancellations are events for webhooks too.
    let log = app
        .get("/v1/events?type=callback.canceled")
        .await
        .expect(200)
        .clone();
    assert_eq!(log["data"].as_array().unwrap().len(), 2, "{log}");

    // Again: the first entry stays, nothing more to cancel.
    let again = app
        .post_json("/v1/dnc", &json!({ "phone": phone, "source": "crm" }))
        .await
        .expect(200)
        .clone();
    assert_eq!(again["source"], "ivr");
    assert_eq!(again["canceled_callback_ids"], json!([]));

    let entry = app
        .get(&format!("/v1/dnc/{}", encoded(&phone)))
        .await
        .expect(200)
        .clone();
    assert_eq!(entry["reason"], "asked on the call");
    let account = AccountId::from_trusted(app.account_id.clone());
    let number = PhoneNumber::parse(&phone, "phone").unwrap();
    assert!(app.store.is_on_dnc(&account, &number).await.unwrap());

    assert_eq!(
        app.request(
            Method::DELETE,
            &format!("/v1/dnc/{}", encoded(&phone)),
            None
        )
        .await
        .status,
        204
    );
    app.get(&format!("/v1/dnc/{}", encoded(&phone)))
        .await
        .expect_error(404, "not_found");
    assert!(!app.store.is_on_dnc(&account, &number).await.unwrap());
    // Taking it off does not bring canceled callbacks back.
    assert_eq!(app.get_callback(expected[0]).await["status"], "canceled");
}

#[tokio::test]
async fn another_accounts_opt_out_leaves_this_accounts_callbacks_alone() {
    let app = spawn_app().await;
    let phone = unique_phone();
    let cb = app.create(&new_callback(&phone, &tomorrow())).await;
    let other = app.second_account().await;
    let added = app
        .request_as(
            Some(&other.api_key),
            Method::POST,
            "/v1/dnc",
            Some(&json!({ "phone": phone })),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(added["canceled_callback_ids"], json!([]));
    assert_eq!(
        app.get_callback(cb["id"].as_str().unwrap()).await["status"],
        "scheduled"
    );
    app.get(&format!("/v1/dnc/{}", encoded(&phone)))
        .await
        .expect_error(404, "not_found");
    let mine = app.get("/v1/dnc").await.expect(200).clone();
    assert_eq!(mine["data"], json!([]));
}

#[tokio::test]
async fn bad_opt_outs_are_refused_naming_the_field() {
    let app = spawn_app().await;
    app.post_json("/v1/dnc", &json!({ "phone": "555-0101" }))
        .await
        .expect_field_error(400, "invalid_phone", "phone");
    app.post_json("/v1/dnc", &json!({}))
        .await
        .expect_field_error(400, "missing_field", "phone");
    app.post_json("/v1/dnc", &json!({ "phone": unique_phone(), "source": 5 }))
        .await
        .expect_field_error(400, "invalid_field", "source");
    app.post_json(
        "/v1/dnc",
        &json!({ "phone": unique_phone(), "reason": "x".repeat(1_001) }),
    )
    .await
    .expect_field_error(400, "invalid_field", "reason");
    app.post_json("/v1/dnc", &json!({ "phone": unique_phone(), "why": "x" }))
        .await
        .expect_field_error(400, "unknown_field", "why");
    app.get("/v1/dnc/not-a-number")
        .await
        .expect_error(404, "not_found");
    assert_eq!(app.get("/v1/dnc").await.expect(200)["data"], json!([]));
}

#[tokio::test]
async fn the_list_pages_in_number_order_and_filters_by_phone() {
    let app = spawn_app().await;
    let mut phones: Vec<String> = (0..5).map(|_| unique_phone()).collect();
    for p in &phones {
        app.post_json("/v1/dnc", &json!({ "phone": p }))
            .await
            .expect(201);
    }
    phones.sort();
    let mut seen = Vec::new();
    let mut path = "/v1/dnc?limit=2".to_owned();
    loop {
        let page = app.get(&path).await.expect(200).clone();
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["phone"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/v1/dnc?limit=2&cursor={}", encoded(c)),
            None => break,
        }
    }
    assert_eq!(seen, phones);
    let one = app
        .get(&format!("/v1/dnc?phone={}", encoded(&phones[3])))
        .await
        .expect(200)
        .clone();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    assert_eq!(one["data"][0]["phone"], phones[3].as_str());
}

#[tokio::test]
async fn a_csv_import_adds_numbers_cancels_their_callbacks_and_reports_bad_rows() {
    let app = spawn_app().await;
    let (a, b) = (unique_phone(), unique_phone());
    let cb = app.create(&new_callback(&b, &tomorrow())).await;
    app.post_json("/v1/dnc", &json!({ "phone": a }))
        .await
        .expect(201);
    let csv = format!("Phone,source,notes\n{a},crm,x\n{b},crm,\nnot-a-phone,crm,\n");
    let report = app
        .post_raw("/v1/dnc/import", "text/csv", csv)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (
            &report["rows"],
            &report["added"],
            &report["already_listed"],
            &report["canceled_callbacks"],
            &report["failed"],
        ),
        (&json!(3), &json!(1), &json!(1), &json!(1), &json!(1)),
        "{report}"
    );
    assert_eq!(report["errors"][0]["row"], 3);
    assert_eq!(report["errors"][0]["field"], "Phone");
    assert_eq!(report["errors"][0]["code"], "invalid_phone");
    assert_eq!(
        app.get_callback(cb["id"].as_str().unwrap()).await["status"],
        "canceled"
    );
    let entry = app
        .get(&format!("/v1/dnc/{}", encoded(&b)))
        .await
        .expect(200)
        .clone();
    assert_eq!(entry["source"], "crm");
    app.post_raw("/v1/dnc/import", "text/plain", "phone\n")
        .await
        .expect_error(415, "unsupported_media_type");
    let _: &Value = app
        .post_raw("/v1/dnc/import", "text/csv", "number\n+14155550000\n")
        .await
        .expect_field_error(400, "missing_field", "phone");
}
