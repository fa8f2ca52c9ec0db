//! `ringback bridge-test URL`: checks an operator's HTTP bridge against the contract Ringback
//! dispatches with (README, "The dialer bridge contract"), the way Ringback would use it:
//!
//! 1. a dispatch is answered `2xx`;
//! 2. the same dispatch again, with its `Idempotency-Key` (a resend after a crash), is answered
//!    `2xx` too and places no second call;
//! 3. with the account's signing secret: an unsigned dispatch and one signed with another
//!    secret are refused (`4xx`) and place no call;
//! 4. the bridge reports the call's outcome to the dispatch's `outcome_url` (served here, on
//!    `--listen`), once, with an API key and an outcome Ringback knows.
//!
//! The calls dispatched are to `--phone` (default `+15005550006`, a number carriers keep for
//! tests); a bridge wired to a real carrier places them.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use jiff::Timestamp;
use serde_json::{Value, json};
use url::Url;

use crate::domain::SigningSecret;

/// What to check, and how.
pub struct BridgeTest {
    /// The bridge.
    pub url: Url,
    /// The account's signing secret, if the bridge verifies signatures.
    pub secret: Option<SigningSecret>,
    /// Where the outcome URL is served.
    pub listen: SocketAddr,
    /// The outcome URL's base as the bridge reaches it (default: `http://<listen>`).
    pub public_url: Option<Url>,
    /// The number the test calls go to.
    pub phone: String,
    /// How long the bridge has to report an outcome.
    pub outcome_timeout: Duration,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// Not checked (the reason is in the detail).
    Skipped,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, passed: bool, detail: impl Into<String>) -> Self {
        let verdict = if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        Self {
            name,
            verdict,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = match self.verdict {
            Verdict::Passed => "ok  ",
            Verdict::Failed => "FAIL",
            Verdict::Skipped => "skip",
        };
        write!(f, "{mark} {}: {}", self.name, self.detail)
    }
}

/// An outcome report the bridge sent.
#[derive(Debug, Clone)]
struct Report {
    callback_id: String,
    authorized: bool,
    body: Value,
}

type Reports = Arc<Mutex<Vec<Report>>>;

/// Outcomes a bridge may report.
const OUTCOMES: [&str; 6] = [
    "answered",
    "no_answer",
    "busy",
    "voicemail",
    "failed",
    "invalid_number",
];

/// Runs the checks, handing each to `report` as it is decided; all of them.
pub async fn run(
    test: &BridgeTest,
    mut report: impl FnMut(&Check),
) -> Result<Vec<Check>, std::io::Error> {
    let reports = Reports::default();
    let listener = tokio::net::TcpListener::bind(test.listen).await?;
    let base = match &test.public_url {
        Some(url) => url.clone(),
        None => Url::parse(&format!("http://{}", listener.local_addr()?))
            .map_err(std::io::Error::other)?,
    };
    let app = Router::new()
        .route("/v1/callbacks/{id}/outcome", post(receive))
        .with_state(reports.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ringback-bridge-test/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(std::io::Error::other)?;
    let mut checks = Vec::new();
    let mut decide = |check: Check| {
        report(&check);
        checks.push(check);
    };

    let call = format!("cb_{}", ulid::Ulid::new());
    let dispatch = Dispatch {
        client: &client,
        test,
        base: &base,
    };
    let first = dispatch.send(&call, false, Signing::Right).await;
    decide(Check::new(
        "answers a dispatch with 2xx",
        first.as_ref().is_ok_and(|s| s.is_success()),
        answered(&first),
    ));
    let again = dispatch.send(&call, true, Signing::Right).await;
    decide(Check::new(
        "answers the same Idempotency-Key again with 2xx (a resend after a crash)",
        again.as_ref().is_ok_and(|s| s.is_success()),
        answered(&again),
    ));

    let mut refused = Vec::new();
    if test.secret.is_some() {
        for (name, signing) in [
            ("refuses an unsigned dispatch", Signing::None),
            (
                "refuses a dispatch signed with another secret",
                Signing::Wrong,
            ),
        ] {
            let id = format!("cb_{}", ulid::Ulid::new());
            let status = dispatch.send(&id, false, signing).await;
            decide(Check::new(
                name,
                status.as_ref().is_ok_and(|s| s.is_client_error()),
                answered(&status),
            ));
            refused.push(id);
        }
    } else {
        decide(Check {
            name: "verifies signatures",
            verdict: Verdict::Skipped,
            detail: "give --secret (the account's signing secret) to check it".to_owned(),
        });
    }

    // The outcome, then a little longer for a second one (a call placed twice).
    let deadline = tokio::time::Instant::now() + test.outcome_timeout;
    while tokio::time::Instant::now() < deadline && reports_for(&reports, &call).is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !reports_for(&reports, &call).is_empty() {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mine = reports_for(&reports, &call);
    let outcome = match mine.as_slice() {
        [] => Check::new(
            "reports the outcome to outcome_url",
            false,
            format!(
                "no report within {} s at {}",
                test.outcome_timeout.as_secs(),
                outcome_url(&base, &call)
            ),
        ),
        [one] => {
            let value = one.body["outcome"].as_str().unwrap_or_default();
            if !one.authorized {
                Check::new(
                    "reports the outcome to outcome_url",
                    false,
                    "the report carries no API key (Authorization: Bearer ...)",
                )
            } else if !OUTCOMES.contains(&value) {
                Check::new(
                    "reports the outcome to outcome_url",
                    false,
                    format!(
                        "\"outcome\" is {}, not one of {}",
                        one.body["outcome"],
                        OUTCOMES.join(", ")
                    ),
                )
            } else {
                Check::new(
                    "reports the outcome to outcome_url",
                    true,
                    format!("{value} ({})", one.body),
                )
            }
        }
        several => Check::new(
            "reports the outcome to outcome_url",
            false,
            format!(
                "{} reports for one call: was it placed once per request?",
                several.len()
            ),
        ),
    };
    decide(outcome);
    if !refused.is_empty() {
        let placed: Vec<_> = refused
            .iter()
            .filter(|id| !reports_for(&reports, id).is_empty())
            .collect();
        decide(Check::new(
            "places no call for a refused dispatch",
            placed.is_empty(),
            if placed.is_empty() {
                "no outcome was reported for them".to_owned()
            } else {
                format!("outcomes were reported for {placed:?}")
            },
        ));
    }
    server.abort();
    Ok(checks)
}

/// How a test dispatch is signed.
#[derive(Clone, Copy)]
enum Signing {
    Right,
    None,
    Wrong,
}

struct Dispatch<'a> {
    client: &'a reqwest::Client,
    test: &'a BridgeTest,
    base: &'a Url,
}

impl Dispatch<'_> {
    /// Sends the dispatch of attempt 1 of `id`; the bridge's status, or why there is none.
    async fn send(
        &self,
        id: &str,
        resend: bool,
        signing: Signing,
    ) -> Result<reqwest::StatusCode, String> {
        let now = Timestamp::now();
        let key = format!("{id}:1");
        let body = json!({
            "callback_id": id,
            "account_id": "acc_bridgetest",
            "attempt": 1,
            "idempotency_key": key,
            "resend": resend,
            "phone": self.test.phone,
            "contact_name": "Bridge Test",
            "caller_id": null,
            "dialing_mode": "unattended",
            "scheduled_at": now.to_string(),
            "timezone": "UTC",
            "due_at": now.to_string(),
            "max_duration_seconds": 30,
            "recording_enabled": false,
            "initial_message": null,
            "notes": "ringback bridge-test",
            "interaction_id": null,
            "metadata": { "bridge_test": true },
            "assignment": null,
            "outcome_url": outcome_url(self.base, id),
        });
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(self.test.url.clone())
            .header("Idempotency-Key", &key)
            .header("content-type", "application/json");
        let secret = match signing {
            Signing::Right => self.test.secret.clone(),
            Signing::Wrong => Some(SigningSecret::generate()),
            Signing::None => None,
        };
        if let Some(secret) = secret {
            let timestamp = now.as_second();
            request = request
                .header("webhook-id", &key)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", secret.sign(&key, timestamp, &body));
        }
        match request.body(body).send().await {
            Ok(response) => Ok(response.status()),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn outcome_url(base: &Url, id: &str) -> String {
    let mut url = base.clone();
    url.set_path(&format!("/v1/callbacks/{id}/outcome"));
    url.to_string()
}

fn answered(status: &Result<reqwest::StatusCode, String>) -> String {
    match status {
        Ok(status) => format!("answered {status}"),
        Err(why) => format!("no answer: {why}"),
    }
}

fn reports_for(reports: &Reports, id: &str) -> Vec<Report> {
    reports
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .filter(|r| r.callback_id == id)
        .cloned()
        .collect()
}

async fn receive(
    State(reports): State<Reports>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Option<Json<Value>>,
) -> (StatusCode, Json<Value>) {
    let Some(Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": "invalid_json",
                                    "message": "the body must be a JSON object" } })),
        );
    };
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer ") && v.len() > "Bearer ".len());
    reports
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Report {
            callback_id: id.clone(),
            authorized,
            body: body.clone(),
        });
    (
        StatusCode::OK,
        Json(json!({ "id": id, "outcome": body["outcome"] })),
    )
}
