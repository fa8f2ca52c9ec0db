//! A Ringback for the media tests: an in-process server with its SIP user agent on 127.0.0.1,
//! a `sip` trunk to a baresip phone, and waiting for a call's end.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{baresip::Baresip, helpers::*};

/// A server that dials at once, with its SIP user agent on 127.0.0.1 and a 5 s ring timeout.
pub async fn sip_app() -> TestApp {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.sip_listen = Some("127.0.0.1:0".parse().unwrap());
        c.ring_timeout_seconds = 5;
    })
    .await;
    app.any_hour().await;
    app
}

/// A `sip` trunk whose proxy is the customer's phone; its id.
pub async fn trunk_to(app: &TestApp, customer: &Baresip) -> String {
    app.post_json(
        "/v1/trunks",
        &json!({ "name": "Carrier", "kind": "sip",
                 "settings": { "proxy": format!("127.0.0.1:{}", customer.port()) } }),
    )
    .await
    .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Waits (up to a minute) for the callback's first attempt to end; the callback.
pub async fn ended(app: &TestApp, id: &str) -> Value {
    eventually(Duration::from_secs(60), "the call's end", || async {
        let cb = app.get_callback(id).await;
        (!cb["attempts"][0]["outcome"].is_null()
            && !matches!(cb["status"].as_str(), Some("in_progress" | "dispatching")))
        .then_some(cb)
    })
    .await
}
