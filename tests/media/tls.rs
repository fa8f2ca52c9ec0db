//! `tls` trunks: the customer's phone (baresip) takes calls only over TLS, with a certificate
//! of a test CA made here with openssl. Trusted through `--sip-tls-ca-file`, Ringback's call
//! reaches it; with only the system's CAs, the call fails, saying why, and the phone never
//! rings.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::json;

use crate::{audio::tone_wav, baresip::Baresip, helpers::*, netns, server::ended};

const CUSTOMER: &str = "+14155550123";

/// A test CA, and certificates it signed for `localhost` (and 127.0.0.1).
struct Pki {
    /// The CA's certificate (PEM).
    ca: PathBuf,
    /// The phone's certificate and private key, in one PEM file (baresip's `sip_certificate`).
    phone: PathBuf,
    /// Ringback's certificate and key, for the TLS it takes the phone's BYE on.
    ringback: (PathBuf, PathBuf),
}

fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl could not be run ({e}): install openssl"));
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn pki(dir: &Path) -> Pki {
    openssl(
        dir,
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=TestCA",
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    for name in ["phone", "ringback"] {
        openssl(
            dir,
            &format!(
                "req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr \
                 -subj /CN=localhost"
            ),
        );
        openssl(
            dir,
            &format!(
                "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                 -out {name}.crt -days 2 -extfile san.ext"
            ),
        );
    }
    let mut both = std::fs::read(dir.join("phone.crt")).unwrap();
    both.extend(std::fs::read(dir.join("phone.key")).unwrap());
    std::fs::write(dir.join("phone.pem"), both).unwrap();
    Pki {
        ca: dir.join("ca.pem"),
        phone: dir.join("phone.pem"),
        ringback: (dir.join("ringback.crt"), dir.join("ringback.key")),
    }
}

/// A Ringback dialling at once that, given the test PKI, trusts its CA (besides the system's
/// CAs) for `tls` trunks and takes TLS with its certificate.
async fn app(pki: Option<&Pki>) -> TestApp {
    let app = spawn_app_with(|c| {
        c.min_lead_seconds = 0;
        c.sip_listen = Some("127.0.0.1:0".parse().unwrap());
        c.ring_timeout_seconds = 5;
        if let Some(pki) = pki {
            c.sip_tls_ca_file = Some(pki.ca.clone());
            c.sip_tls_certificate = Some(pki.ringback.0.clone());
            c.sip_tls_key = Some(pki.ringback.1.clone());
        }
    })
    .await;
    app.any_hour().await;
    app
}

/// A call to `customer` on a `tls` trunk to its TLS port, by the name its certificate
/// carries; its id.
async fn call(app: &TestApp, customer: &Baresip) -> String {
    let trunk = app
        .post_json(
            "/v1/trunks",
            &json!({ "name": "Secure carrier", "kind": "sip",
                     "settings": { "proxy": format!("localhost:{}", customer.tls_port()),
                                   "transport": "tls" } }),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create(
        &json!({ "phone": CUSTOMER, "scheduled_at": in_ms(200), "trunk_id": trunk,
                        "max_duration_seconds": 10 }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_call_on_a_tls_trunk_reaches_a_phone_whose_certificate_is_trusted() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki(dir.path());
        let tone = dir.path().join("customer.wav");
        tone_wav(&tone, 1000.0, 30.0);
        let customer = Baresip::start_tls("customer", CUSTOMER, &tone, &pki.phone).await;
        let app = app(Some(&pki)).await;
        let id = call(&app, &customer).await;
        customer.established().await;
        // The customer hangs up; the BYE comes to Ringback over the same TLS connection.
        customer.hangup();
        customer.ended().await;
        let cb = ended(&app, &id).await;
        assert_eq!(cb["outcome"], "answered", "{cb}");
        assert_eq!(cb["attempts"][0]["sip_code"], 200, "{cb}");
        let duration = cb["attempts"][0]["duration_seconds"].as_u64().unwrap_or(99);
        assert!(
            duration < 10,
            "ended by the customer's BYE, not the cap: {cb}"
        );
    });
}

#[test]
fn a_call_on_a_tls_trunk_fails_when_the_proxys_certificate_is_not_trusted() {
    netns::run(|| async {
        let dir = tempfile::tempdir().unwrap();
        let pki = pki(dir.path());
        let tone = dir.path().join("customer.wav");
        tone_wav(&tone, 1000.0, 30.0);
        let customer = Baresip::start_tls("customer", CUSTOMER, &tone, &pki.phone).await;
        // Only the system's CAs: the test CA is not among them.
        let app = app(None).await;
        let id = call(&app, &customer).await;
        let cb = ended(&app, &id).await;
        let attempt = &cb["attempts"][0];
        assert_eq!(attempt["outcome"], "failed", "{cb}");
        let reason = attempt["sip_reason"].as_str().unwrap_or_default();
        assert!(
            reason.to_lowercase().contains("certificate"),
            "the reason names the certificate: {cb}"
        );
        assert!(
            customer.events().is_empty(),
            "the phone never rang: {:?}",
            customer.events()
        );
    });
}
