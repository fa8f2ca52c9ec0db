//! Playbooks and their `initial_message` templates.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_playbook_is_created_read_changed_and_deleted() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "Renewals",
                     "initial_message": "Hi {{first_name}}, this is Acme about your {{ custom_fields.plan }} plan." }),
        )
        .await
        .expect(201)
        .clone();
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(id.matches('-').count(), 4, "a UUID: {id}");
    assert_eq!(
        app.get(&format!("/v1/playbooks/{id}")).await.expect(200),
        &created
    );
    assert_eq!(
        app.get(&format!("/v1/playbooks/{}", id.to_uppercase()))
            .await
            .expect(200)["id"],
        id,
        "UUIDs are read in either case"
    );
    let list = app.get("/v1/playbooks").await.expect(200).clone();
    assert_eq!(list["data"], json!([created]));

    let changed = app
        .patch(
            &format!("/v1/playbooks/{id}"),
            &json!({ "initial_message": "Hello {{ first_name | title }} from {{ company | default('us') }}" }),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(changed["name"], "Renewals");
    assert_eq!(
        changed["initial_message"],
        "Hello {{ first_name | title }} from {{ company | default('us') }}"
    );
    assert_eq!(
        app.request(Method::DELETE, &format!("/v1/playbooks/{id}"), None)
            .await
            .status,
        204
    );
    app.get(&format!("/v1/playbooks/{id}"))
        .await
        .expect_error(404, "not_found");
    assert_eq!(
        app.get("/v1/playbooks").await.expect(200)["data"],
        json!([])
    );
}

#[tokio::test]
async fn a_template_with_an_unknown_variable_or_bad_syntax_is_refused_with_the_reason() {
    let app = spawn_app().await;
    for (message, reason) in [
        ("Hi {{ firstname }}", "unknown variable \"firstname\""),
        (
            "Hi {{ contact.first_name }}",
            "unknown variable \"contact.first_name\"",
        ),
        ("Hi {{ first_name ", "template syntax error"),
        ("{% if first_name %}Hi", "template syntax error"),
        ("{{ first_name | shout }}", "shout"),
    ] {
        let resp = app
            .post_json(
                "/v1/playbooks",
                &json!({ "name": "P", "initial_message": message }),
            )
            .await;
        let error = resp.expect_field_error(400, "invalid_field", "initial_message");
        assert!(
            error["message"].as_str().unwrap().contains(reason),
            "{message}: {error}"
        );
    }
    app.post_json(
        "/v1/playbooks",
        &json!({ "name": "P", "initial_message": "x".repeat(2_001) }),
    )
    .await
    .expect_field_error(400, "invalid_field", "initial_message");
    app.post_json("/v1/playbooks", &json!({ "name": "P" }))
        .await
        .expect_field_error(400, "missing_field", "initial_message");
    app.post_json(
        "/v1/playbooks",
        &json!({ "name": " ", "initial_message": "Hi" }),
    )
    .await
    .expect_field_error(400, "invalid_field", "name");
    app.post_json(
        "/v1/playbooks",
        &json!({ "name": "P", "initial_message": ["Hi"] }),
    )
    .await
    .expect_field_error(400, "invalid_field", "initial_message");
    assert_eq!(
        app.get("/v1/playbooks").await.expect(200)["data"],
        json!([])
    );

    // A change is checked the same way and leaves the playbook as it was.
    let ok = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "P", "initial_message": "Hi" }),
        )
        .await
        .expect(201)
        .clone();
    let path = format!("/v1/playbooks/{}", ok["id"].as_str().unwrap());
    app.patch(&path, &json!({ "initial_message": "{{ nope }}" }))
        .await
        .expect_field_error(400, "invalid_field", "initial_message");
    assert_eq!(app.get(&path).await.expect(200), &ok);
}

#[tokio::test]
async fn another_accounts_playbook_is_not_found() {
    let app = spawn_app().await;
    let playbook = app
        .post_json(
            "/v1/playbooks",
            &json!({ "name": "P", "initial_message": "Hi" }),
        )
        .await
        .expect(201)
        .clone();
    let path = format!("/v1/playbooks/{}", playbook["id"].as_str().unwrap());
    let other = app.second_account().await;
    for method in [Method::GET, Method::PATCH, Method::DELETE] {
        app.request_as(
            Some(&other.api_key),
            method,
            &path,
            Some(&json!({ "name": "B" })),
        )
        .await
        .expect_error(404, "not_found");
    }
    app.get("/v1/playbooks/pb_123")
        .await
        .expect_error(404, "not_found");
    assert_eq!(app.get(&path).await.expect(200), &playbook);
    // Playbooks belong to campaigns: a contacts-only key may not write them.
    let key = app
        .post_json(
            "/v1/api-keys",
            &json!({ "name": "k", "scopes": ["contacts:write"] }),
        )
        .await
        .expect(201)["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = app
        .request_as(
            Some(&key),
            Method::POST,
            "/v1/playbooks",
            Some(&json!({ "name": "P", "initial_message": "Hi" })),
        )
        .await;
    assert_eq!(
        resp.expect_error(403, "forbidden")["required_scope"],
        "campaigns:write"
    );
}
