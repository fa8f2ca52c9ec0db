//! The OpenAPI document (`/openapi.json`) and the offline API docs page (`/docs`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// The routes the router serves today; the document must keep listing them.
const KNOWN_ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/callbacks"),
    ("get", "/v1/callbacks"),
    ("post", "/v1/callbacks/batch"),
    ("get", "/v1/callbacks/{id}"),
    ("patch", "/v1/callbacks/{id}"),
    ("post", "/v1/callbacks/{id}/cancel"),
    ("post", "/v1/callbacks/{id}/outcome"),
    ("post", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints"),
    ("get", "/v1/webhook-endpoints/{id}"),
    ("patch", "/v1/webhook-endpoints/{id}"),
    ("delete", "/v1/webhook-endpoints/{id}"),
    ("post", "/v1/webhook-endpoints/{id}/rotate-secret"),
    ("get", "/v1/webhook-endpoints/{id}/deliveries"),
    ("get", "/v1/events"),
    ("post", "/v1/events/{id}/redeliver"),
    ("post", "/v1/signing-secret/rotate"),
    ("post", "/v1/api-keys"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys/{id}/revoke"),
    ("post", "/v1/api-keys/{id}/rotate"),
    ("put", "/v1/jwt-key"),
    ("get", "/v1/jwt-key"),
    ("delete", "/v1/jwt-key"),
    ("get", "/v1/audit"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(app: &TestApp) -> Value {
    let resp = app
        .request_as(None, Method::GET, "/openapi.json", None)
        .await;
    resp.expect(200).clone()
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut ops = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// Whether the operation is a vendor dialect's (tagged `dialect: <name>`).
fn is_dialect(op: &Value) -> bool {
    op["tags"].as_array().is_some_and(|tags| {
        tags.iter()
            .any(|t| t.as_str().is_some_and(|t| t.starts_with("dialect: ")))
    })
}

/// The path with every `{param}` replaced by a dummy id.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed path parameter") + start;
        out.push_str("dummy_01");
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).expect("an HTTP method")
}

#[tokio::test]
async fn the_document_is_openapi_3_and_lists_every_route() {
    let app = spawn_app().await;
    let resp = app
        .request_as(None, Method::GET, "/openapi.json", None)
        .await;
    assert!(resp.content_type().starts_with("application/json"));
    let doc = resp.expect(200);
    let version = doc["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3."), "openapi {version}");
    assert_eq!(doc["info"]["title"], "Ringback");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        doc["info"]["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    let documented: Vec<(String, String)> = operations(doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    for (m, p) in KNOWN_ROUTES {
        assert!(
            documented.contains(&(m.to_string(), p.to_string())),
            "{} {p} is not in the document",
            m.to_uppercase()
        );
    }
    let mut ids: Vec<String> = operations(doc)
        .iter()
        .map(|(_, _, op)| op["operationId"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(
        ids.iter().all(|id| !id.is_empty()),
        "an operation has no operationId"
    );
    ids.sort_unstable();
    let count = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids are not unique: {ids:?}");
}

/// Every path the document names is served: called with dummy ids, it answers anything but the
/// router's "no such route" 404 or a 405.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let unrouted = app.get("/v1/no-such-route/dummy_01").await;
    assert_eq!(unrouted.status, 404);
    for (m, path, _) in operations(&doc) {
        let url = concrete(&path);
        let body = matches!(m.as_str(), "post" | "put" | "patch").then(|| json!({}));
        let resp = app.request(method(&m), &url, body.as_ref()).await;
        assert_ne!(
            resp.status,
            405,
            "{} {url} is documented but its method is not allowed: {}",
            m.to_uppercase(),
            resp.text
        );
        assert!(
            !(resp.status == 404 && resp.body == unrouted.body),
            "{} {url} is documented but not routed: {}",
            m.to_uppercase(),
            resp.text
        );
    }
}

/// Each dialect's routes are documented under its own tag, with a request body where the route
/// takes one and a schema for every answer.
#[tokio::test]
async fn every_dialect_route_is_documented_under_its_own_tag() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let dialects: &[(&str, &[(&str, &str)])] = &[
        ("dialect: acefone", &[("post", "/v1/dialer/schedule_call/")]),
        (
            "dialect: ai_calls",
            &[
                ("post", "/v1/calls/scheduled"),
                ("get", "/v1/calls/scheduled"),
                ("get", "/v1/calls/scheduled/{call_id}"),
                ("delete", "/v1/calls/scheduled/{call_id}"),
                ("post", "/v1/calls/scheduled/{call_id}/cancel"),
            ],
        ),
        (
            "dialect: talkdesk",
            &[
                ("post", "/schedule-callbacks"),
                ("get", "/schedule-callbacks"),
                ("get", "/schedule-callbacks/{id}"),
                ("patch", "/schedule-callbacks/{id}"),
                ("delete", "/schedule-callbacks/{id}"),
            ],
        ),
        (
            "dialect: kore",
            &[(
                "post",
                "/campaign/api/v2/public/{bot_id}/campaign/{campaign_instance_id}/callContactAt",
            )],
        ),
        ("dialect: campaign_list", &[("post", "/campaign")]),
    ];
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .expect("the document lists its tags")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for (tag, routes) in dialects {
        assert!(tags.contains(tag), "{tag} is not among the tags {tags:?}");
        for (m, path) in *routes {
            let op = &doc["paths"][path][m];
            assert!(
                op.is_object(),
                "{} {path} is not documented",
                m.to_uppercase()
            );
            assert_eq!(op["tags"], json!([tag]), "{} {path}", m.to_uppercase());
            if (*m == "post" && !path.ends_with("/cancel")) || *m == "patch" {
                assert!(
                    op["requestBody"]["content"]["application/json"]["schema"].is_object(),
                    "{} {path} has no request body schema",
                    m.to_uppercase()
                );
            }
            for (status, answer) in op["responses"].as_object().unwrap() {
                if status == "204" {
                    continue;
                }
                assert!(
                    answer["content"]["application/json"]["schema"].is_object(),
                    "{} {path}: the {status} answer has no schema",
                    m.to_uppercase()
                );
            }
            for status in ["400", "401", "403", "429", "500"] {
                let takes_input = (*m == "post" && !path.ends_with("/cancel")) || *m == "patch";
                if status == "400" && !takes_input {
                    continue;
                }
                assert!(
                    op["responses"].get(status).is_some(),
                    "{} {path} declares no {status} answer",
                    m.to_uppercase()
                );
            }
        }
    }
    // The vendor's error shape, not the native one.
    let acefone = &doc["paths"]["/v1/dialer/schedule_call/"]["post"]["responses"]["400"];
    assert_eq!(
        acefone["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/AcefoneAnswer"
    );
}

#[tokio::test]
async fn every_v1_operation_declares_bearer_auth_with_its_scope_and_auth_errors() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    let mut v1 = 0;
    for (m, path, op) in operations(&doc) {
        let name = format!("{} {path}", m.to_uppercase());
        if !path.starts_with("/v1/") && !is_dialect(&op) {
            // The probes need no credential.
            let security = op.get("security").and_then(Value::as_array);
            assert!(
                security.is_none_or(|s| s
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))),
                "{name} should not require a credential: {op}"
            );
            continue;
        }
        v1 += 1;
        let security = op["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} declares no security"));
        let scopes = security
            .iter()
            .find_map(|r| r.get("bearer"))
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("{name} does not declare the bearer scheme: {security:?}"));
        assert!(
            !scopes.is_empty(),
            "{name} does not name the scope it needs"
        );
        for status in ["401", "403", "429"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{name} declares no {status} response"
            );
        }
        assert!(
            op["responses"]
                .as_object()
                .is_some_and(|r| r.keys().any(|s| s.starts_with('2'))),
            "{name} declares no success response"
        );
        // And the server does refuse it without a key (a dialect in its vendor's shape).
        let body = matches!(m.as_str(), "post" | "put" | "patch").then(|| json!({}));
        let resp = app
            .request_as(None, method(&m), &concrete(&path), body.as_ref())
            .await;
        if is_dialect(&op) {
            assert_eq!(resp.status, 401, "{name}: {}", resp.text);
        } else {
            resp.expect_error(401, "unauthorized");
        }
    }
    assert!(v1 >= 25, "only {v1} /v1 operations documented");
}

/// A key without the scope an operation needs is refused with 403 before its body or query is
/// read: a garbage body, or a bad query, still answers 403, never 400.
#[tokio::test]
async fn the_scope_is_checked_before_the_body_and_the_query() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let key = |scopes: Value| {
        let app = &app;
        async move {
            app.post_json(
                "/v1/api-keys",
                &json!({ "name": "narrow", "scopes": scopes }),
            )
            .await
            .expect(201)["key"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let agents_only = key(json!(["agents:read"])).await;
    let contacts_only = key(json!(["contacts:read"])).await;
    let mut checked = 0;
    for (m, path, op) in operations(&doc) {
        let Some(scopes) = op["security"]
            .as_array()
            .and_then(|s| s.iter().find_map(|r| r.get("bearer")))
            .and_then(Value::as_array)
        else {
            continue;
        };
        let needs: Vec<&str> = scopes.iter().filter_map(Value::as_str).collect();
        // A key holding neither what the operation needs nor what grants it.
        let key = if needs.iter().any(|s| s.starts_with("agents")) {
            &contacts_only
        } else {
            &agents_only
        };
        let url = format!("{}?limit=garbage&dry_run=maybe", concrete(&path));
        let resp = app
            .client
            .request(method(&m), app.url(&url))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap();
        let resp = Resp::read(resp).await;
        assert_eq!(
            resp.status,
            403,
            "{} {path} (needs {needs:?}) answered {} before checking the scope: {}",
            m.to_uppercase(),
            resp.status,
            resp.text
        );
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} operations checked");
    // The settings, which the issue found answering 400 to a read-only key.
    let read_only = key(json!(["callbacks:read"])).await;
    for body in [
        json!({ "calling_window": "garbage" }),
        json!({
        "calling_window": { "start": "08:00", "end": "21:00" },
        "allow_customer_requested_times": false, "max_attempts": null, "attempt_window_days": 7 }),
    ] {
        app.request_as(Some(&read_only), Method::PUT, "/v1/settings", Some(&body))
            .await
            .expect_error(403, "forbidden");
    }
}

#[tokio::test]
async fn error_codes_are_documented_and_every_reference_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let codes: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum schema")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for code in [
        "time_in_past",
        "duplicate_active_callback",
        "invalid_json",
        "unauthorized",
        "not_found",
        "idempotency_key_reused",
        "forbidden",
        "rate_limited",
    ] {
        assert!(codes.contains(&code), "{code} missing from {codes:?}");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{r} is not a local reference"));
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

/// `src="..."` and `href="..."` values of the page.
fn asset_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find('"').expect("a closed attribute");
            urls.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    urls
}

#[tokio::test]
async fn docs_page_works_offline() {
    let app = spawn_app().await;
    let page = app.request_as(None, Method::GET, "/docs", None).await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert!(page.text.contains("/openapi.json"), "{}", page.text);
    assert!(page.text.contains("SwaggerUIBundle"), "{}", page.text);
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "the page must not load anything from the network: {}",
        page.text
    );

    let urls = asset_urls(&page.text);
    let js: Vec<&String> = urls
        .iter()
        .filter(|u| u.starts_with("/docs/swagger-ui-bundle.js"))
        .collect();
    let css: Vec<&String> = urls
        .iter()
        .filter(|u| u.starts_with("/docs/swagger-ui.css"))
        .collect();
    assert_eq!(js.len(), 1, "{urls:?}");
    assert_eq!(css.len(), 1, "{urls:?}");
    for url in &urls {
        assert!(
            url.starts_with('/') && !url.starts_with("//"),
            "{url} is not served by Ringback itself"
        );
    }

    for (url, content_type, marker) in [
        (js[0].as_str(), "text/javascript", "SwaggerUIBundle"),
        (css[0].as_str(), "text/css", ".swagger-ui"),
        // The unversioned URLs answer too.
        (
            "/docs/swagger-ui-bundle.js",
            "text/javascript",
            "SwaggerUIBundle",
        ),
        ("/docs/swagger-ui.css", "text/css", ".swagger-ui"),
    ] {
        let resp = app.request_as(None, Method::GET, url, None).await;
        assert_eq!(resp.status, 200, "{url}");
        assert!(
            resp.content_type().starts_with(content_type),
            "{url}: {}",
            resp.content_type()
        );
        let cache = resp
            .headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(cache.contains("max-age="), "{url}: cache-control {cache:?}");
        assert!(resp.text.contains(marker), "{url} does not look right");
    }
}

/// The document validates with `openapi-spec-validator` (PyPI), which `.ci/run` installs into
/// `tests/openapi/.venv`.
#[tokio::test]
async fn the_document_validates_with_openapi_spec_validator() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openapi");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `python3 -m venv tests/openapi/.venv && \
         tests/openapi/.venv/bin/pip install -r tests/openapi/requirements.txt` (.ci/run does)",
        python.display()
    );
    let mut child = std::process::Command::new(&python)
        .arg(root.join("validate.py"))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(doc.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(report.contains(": 0 errors"), "{report}");
}
