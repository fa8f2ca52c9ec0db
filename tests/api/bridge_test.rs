//! `ringback bridge-test URL` against bridges written here: one that keeps the contract, one
//! that places a call per request and checks no signature, and one that is broken. The command
//! runs as a user would run it; its exit status and the checks it prints are asserted.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use ringback::domain::SigningSecret;
use serde_json::{Value, json};

/// How a test bridge behaves.
#[derive(Clone, Copy)]
struct Behaviour {
    checks_signatures: bool,
    deduplicates: bool,
    /// What it answers every dispatch with.
    status: StatusCode,
}

#[derive(Clone)]
struct Bridge {
    behaviour: Behaviour,
    secret: SigningSecret,
    seen: Arc<Mutex<HashSet<String>>>,
    client: reqwest::Client,
}

async fn dispatch(State(bridge): State<Bridge>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if bridge.behaviour.status != StatusCode::ACCEPTED {
        return bridge.behaviour.status;
    }
    if bridge.behaviour.checks_signatures {
        let signed = match (
            header("webhook-id"),
            header("webhook-timestamp").and_then(|t| t.parse::<i64>().ok()),
            header("webhook-signature"),
        ) {
            (Some(id), Some(timestamp), Some(signature)) => {
                bridge.secret.sign(&id, timestamp, &body) == signature
            }
            _ => false,
        };
        if !signed {
            return StatusCode::UNAUTHORIZED;
        }
    }
    let key = header("idempotency-key").unwrap_or_default();
    let new = bridge.seen.lock().unwrap().insert(key);
    if new || !bridge.behaviour.deduplicates {
        let call: Value = serde_json::from_slice(&body).unwrap();
        let outcome_url = call["outcome_url"].as_str().unwrap().to_owned();
        let client = bridge.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            client
                .post(outcome_url)
                .bearer_auth("rbk_test")
                .json(&json!({ "outcome": "answered", "duration_seconds": 12 }))
                .send()
                .await
                .unwrap();
        });
    }
    StatusCode::ACCEPTED
}

/// A bridge on 127.0.0.1; its URL.
async fn bridge(behaviour: Behaviour, secret: &SigningSecret) -> String {
    let state = Bridge {
        behaviour,
        secret: secret.clone(),
        seen: Arc::default(),
        client: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/calls", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/calls", post(dispatch))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Runs `ringback bridge-test`; whether it succeeded, and what it printed.
async fn bridge_test(url: &str, secret: Option<&SigningSecret>) -> (bool, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringback"));
    command.args(["bridge-test", url, "--outcome-timeout-seconds", "5"]);
    if let Some(secret) = secret {
        command.env("RINGBACK_SIGNING_SECRET", secret.expose());
    }
    let out = command.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success(), stdout)
}

fn line<'a>(output: &'a str, check: &str) -> &'a str {
    output
        .lines()
        .find(|l| l.contains(check))
        .unwrap_or_else(|| panic!("no line for {check:?} in:\n{output}"))
}

#[tokio::test]
async fn a_bridge_that_keeps_the_contract_passes_every_check() {
    let secret = SigningSecret::generate();
    let url = bridge(
        Behaviour {
            checks_signatures: true,
            deduplicates: true,
            status: StatusCode::ACCEPTED,
        },
        &secret,
    )
    .await;
    let (passed, output) = bridge_test(&url, Some(&secret)).await;
    assert!(passed, "{output}");
    for check in [
        "answers a dispatch with 2xx",
        "answers the same Idempotency-Key again",
        "refuses an unsigned dispatch",
        "refuses a dispatch signed with another secret",
        "reports the outcome to outcome_url",
        "places no call for a refused dispatch",
    ] {
        assert!(line(&output, check).starts_with("ok"), "{check}: {output}");
    }
    assert!(line(&output, "reports the outcome").contains("answered"));
    assert!(
        output.contains("The bridge keeps the contract."),
        "{output}"
    );
}

#[tokio::test]
async fn a_bridge_that_dials_every_request_and_checks_no_signature_fails() {
    let secret = SigningSecret::generate();
    let url = bridge(
        Behaviour {
            checks_signatures: false,
            deduplicates: false,
            status: StatusCode::ACCEPTED,
        },
        &secret,
    )
    .await;
    let (passed, output) = bridge_test(&url, Some(&secret)).await;
    assert!(!passed, "{output}");
    assert!(line(&output, "answers a dispatch with 2xx").starts_with("ok"));
    for check in [
        "refuses an unsigned dispatch",
        "refuses a dispatch signed with another secret",
        "places no call for a refused dispatch",
    ] {
        assert!(
            line(&output, check).starts_with("FAIL"),
            "{check}: {output}"
        );
    }
    let outcome = line(&output, "reports the outcome");
    assert!(
        outcome.starts_with("FAIL") && outcome.contains("2 reports for one call"),
        "{output}"
    );
    assert!(output.contains("4 of 6 checks failed"), "{output}");
}

#[tokio::test]
async fn a_broken_bridge_fails_and_signatures_are_skipped_without_a_secret() {
    let secret = SigningSecret::generate();
    let url = bridge(
        Behaviour {
            checks_signatures: false,
            deduplicates: true,
            status: StatusCode::INTERNAL_SERVER_ERROR,
        },
        &secret,
    )
    .await;
    let (passed, output) = bridge_test(&url, None).await;
    assert!(!passed, "{output}");
    assert!(
        line(&output, "answers a dispatch with 2xx").starts_with("FAIL")
            && line(&output, "answers a dispatch with 2xx").contains("500"),
        "{output}"
    );
    assert!(line(&output, "verifies signatures").starts_with("skip"));
    assert!(
        line(&output, "reports the outcome").contains("no report within 5 s"),
        "{output}"
    );

    // Nobody listening at all.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/calls", listener.local_addr().unwrap())
    };
    let (passed, output) = bridge_test(&closed, None).await;
    assert!(!passed);
    assert!(
        line(&output, "answers a dispatch with 2xx").contains("no answer"),
        "{output}"
    );
}

#[tokio::test]
async fn a_malformed_secret_is_refused_before_anything_is_sent() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_ringback"))
        .args(["bridge-test", "http://127.0.0.1:9/calls"])
        .env("RINGBACK_SIGNING_SECRET", "not-a-secret")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--secret is not a signing secret"),
        "{stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Checking"));
}
