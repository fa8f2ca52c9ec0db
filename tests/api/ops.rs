//! Liveness, readiness, metrics, and the JSON bodies of 404 and 405.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness_answer_ok_without_a_key() {
    let app = spawn_app().await;
    let health = app.request_as(None, Method::GET, "/healthz", None).await;
    assert_eq!(health.expect(200)["status"], "ok");
    let ready = app.request_as(None, Method::GET, "/readyz", None).await;
    assert_eq!(ready.expect(200)["status"], "ready");
}

/// The only in-process test that reads /metrics: the recorder is shared by every server in
/// this test binary, and the callback gauges are set when /metrics is read.
#[tokio::test]
async fn metrics_count_callbacks_by_state_and_http_requests() {
    let app = spawn_app().await;
    app.create_at(&tomorrow()).await;
    let id = app.create_at(&tomorrow()).await;
    app.cancel(&id).await.expect(200);
    app.get("/healthz").await.expect(200);
    let resp = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = resp.text().await.unwrap();
    let value = |series: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value(r#"ringback_callbacks{state="scheduled"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(r#"ringback_callbacks{state="canceled"}"#),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(r#"ringback_callbacks{state="completed"}"#),
        Some(0.0),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ringback_http_requests_total{")
                && l.contains(r#"route="/healthz""#)
                && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ringback_http_requests_total{")
                && l.contains(r#"route="/v1/callbacks""#)),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_route_answers_a_json_404() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/v1",
        "/v1/nothing",
        "/v2/callbacks",
        "/v1/callbacks/cb_x/extra",
    ] {
        app.get(path).await.expect_error(404, "not_found");
        app.request_as(None, Method::GET, path, None)
            .await
            .expect_error(404, "not_found");
    }
    app.post_json("/v1/calls", &json!({}))
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_wrong_method_answers_a_json_405() {
    let app = spawn_app().await;
    let id = app.create_at(&tomorrow()).await;
    for (method, path) in [
        (Method::DELETE, "/v1/callbacks".to_owned()),
        (Method::PUT, "/v1/callbacks".to_owned()),
        (Method::DELETE, format!("/v1/callbacks/{id}")),
        (Method::PUT, format!("/v1/callbacks/{id}")),
        (Method::GET, format!("/v1/callbacks/{id}/cancel")),
        (Method::GET, format!("/v1/callbacks/{id}/outcome")),
        (Method::POST, "/healthz".to_owned()),
        (Method::POST, "/metrics".to_owned()),
    ] {
        let resp = app.request(method.clone(), &path, None).await;
        assert_eq!(resp.status, 405, "{method} {path}: {}", resp.text);
        resp.expect_error(405, "method_not_allowed");
    }
    // Nothing was deleted.
    assert_eq!(app.get_callback(&id).await["status"], "scheduled");
}

#[tokio::test]
async fn a_path_that_is_not_utf8_answers_a_json_error() {
    let app = spawn_app().await;
    let resp = app.get("/v1/callbacks/%ff%fe").await;
    assert!(
        resp.status == 400 || resp.status == 404,
        "{} {}",
        resp.status,
        resp.text
    );
    assert!(resp.is_json(), "not a JSON error body: {:?}", resp.text);
    let code = resp.body["error"]["code"].as_str().unwrap_or_default();
    resp.expect_error(resp.status, code);
}

/// Reads one HTTP/1.1 answer (status line, headers, Content-Length body) from a raw socket.
async fn read_answer(stream: &mut tokio::net::TcpStream) -> (String, String) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                return (head, body);
            }
        }
        let n = tokio::time::timeout(WAIT, stream.read(&mut chunk))
            .await
            .expect("the server answers in time")
            .unwrap();
        assert!(
            n > 0,
            "connection closed after {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_request_that_takes_too_long_answers_a_json_408() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| c.request_timeout_seconds = 1).await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // Promise 100 bytes of body and send 10: the server waits, then gives up.
    let head = format!(
        "POST /v1/callbacks HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"phone\":",
        app.addr, app.api_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let started = std::time::Instant::now();
    let (head, body) = read_answer(&mut stream).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "not JSON:\n{head}\n\n{body}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(json["error"]["code"], "request_timeout", "{body}");
    app.assert_no_callbacks("after a timed-out request").await;
}
