//! What voice-AI vendors tell Ringback about the calls they place, read without I/O: whether a
//! webhook's signature holds (time is an argument), and what an end-of-call report says (the
//! outcome, and the transcript, summary and recording the attempt keeps).
//!
//! - Retell signs with the account's API key: `x-retell-signature: v=<ms>,d=<hex>`, the hex
//!   HMAC-SHA256 of the raw body followed by the timestamp, within five minutes (as its SDK's
//!   `verify`).
//! - Vapi signs with an HMAC credential (SHA-256, its default headers and format):
//!   `x-signature` is the hex HMAC-SHA256 of `<x-timestamp>.<raw body>`, within five minutes.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::Outcome;

/// How far a signed timestamp may be from now.
const TOLERANCE_MS: i64 = 5 * 60 * 1000;

/// What an end-of-call report says.
#[derive(Debug, Clone, PartialEq)]
pub struct CallReport {
    /// The vendor's id of the call (the one its create request answered).
    pub provider_call_id: String,
    pub outcome: Outcome,
    pub duration_seconds: Option<u32>,
    /// Kept on the attempt (`provider`): `vendor`, `ended_reason`, `transcript`, `summary`,
    /// `recording_url`; absent values are left out.
    pub details: Value,
}

fn hmac_hex_matches(key: &[u8], parts: &[&[u8]], hex_digest: &str) -> bool {
    let Ok(expected) = hex::decode(hex_digest.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(&expected).is_ok()
}

fn fresh(signed_ms: i64, now_ms: i64) -> bool {
    (now_ms - signed_ms).abs() <= TOLERANCE_MS
}

/// Whether `signature` (`x-retell-signature`) signs `body` with `api_key` at `now_ms`.
pub fn retell_signature_holds(body: &[u8], api_key: &str, signature: &str, now_ms: i64) -> bool {
    let Some((v, d)) = signature.trim().split_once(',') else {
        return false;
    };
    let (Some(stamp), Some(digest)) = (v.strip_prefix("v="), d.strip_prefix("d=")) else {
        return false;
    };
    let Ok(signed_ms) = stamp.parse::<i64>() else {
        return false;
    };
    digest.len() == 64
        && fresh(signed_ms, now_ms)
        && hmac_hex_matches(api_key.as_bytes(), &[body, stamp.as_bytes()], digest)
}

/// Whether `signature` (`x-signature`) and `timestamp` (`x-timestamp`, seconds or
/// milliseconds) sign `body` with the Vapi credential's `secret` at `now_ms`.
pub fn vapi_signature_holds(
    body: &[u8],
    secret: &str,
    signature: &str,
    timestamp: &str,
    now_ms: i64,
) -> bool {
    let Ok(stamp) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    // Seconds or milliseconds: anything below 10^11 is seconds (before the year 5138).
    let signed_ms = if stamp < 100_000_000_000 {
        stamp.saturating_mul(1000)
    } else {
        stamp
    };
    let signature = signature.trim();
    let digest = signature.strip_prefix("sha256=").unwrap_or(signature);
    fresh(signed_ms, now_ms)
        && hmac_hex_matches(
            secret.as_bytes(),
            &[timestamp.trim().as_bytes(), b".", body],
            digest,
        )
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn details(vendor: &str, fields: [(&str, Option<Value>); 5]) -> Value {
    let mut out = json!({ "vendor": vendor });
    for (k, v) in fields {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            out[k] = v;
        }
    }
    out
}

/// Vapi's `endedReason` as an outcome.
pub fn vapi_outcome(reason: &str) -> Outcome {
    match reason {
        "voicemail" => Outcome::Voicemail,
        "customer-busy" => Outcome::Busy,
        "customer-did-not-answer" => Outcome::NoAnswer,
        "exceeded-max-duration" | "silence-timed-out" => Outcome::Answered,
        r if r.starts_with("customer-ended-call") => Outcome::Answered,
        r if r.starts_with("assistant-ended-call")
            || r == "assistant-said-end-call-phrase"
            || r == "assistant-forwarded-call" =>
        {
            Outcome::Answered
        }
        _ => Outcome::Failed,
    }
}

/// A Vapi server message: `Some` for an `end-of-call-report`, `None` for any other message
/// (status updates, transcripts), which ends nothing.
pub fn vapi_report(body: &Value) -> Option<CallReport> {
    let message = body.get("message")?;
    if message.get("type").and_then(Value::as_str) != Some("end-of-call-report") {
        return None;
    }
    let provider_call_id = text(message.pointer("/call/id"))?;
    let reason = text(message.get("endedReason")).unwrap_or_default();
    let duration = message
        .get("durationSeconds")
        .and_then(Value::as_f64)
        .or_else(|| {
            let at = |k: &str| {
                message
                    .get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            };
            let (start, end) = (at("startedAt")?, at("endedAt")?);
            Some(end.duration_since(start).as_secs_f64())
        })
        .map(|s| s.max(0.0).round() as u32);
    let recording = text(message.pointer("/artifact/recordingUrl"))
        .or_else(|| text(message.get("recordingUrl")));
    let transcript =
        text(message.pointer("/artifact/transcript")).or_else(|| text(message.get("transcript")));
    let summary =
        text(message.pointer("/analysis/summary")).or_else(|| text(message.get("summary")));
    Some(CallReport {
        provider_call_id,
        outcome: vapi_outcome(&reason),
        duration_seconds: duration,
        details: details(
            "vapi",
            [
                ("ended_reason", Some(json!(reason))),
                ("transcript", transcript.map(Value::from)),
                ("summary", summary.map(Value::from)),
                ("recording_url", recording.map(Value::from)),
                ("cost", message.get("cost").cloned()),
            ],
        ),
    })
}

/// Retell's `disconnection_reason` as an outcome; `in_voicemail` (its analysis) turns an
/// answered call into `voicemail`.
pub fn retell_outcome(reason: &str, in_voicemail: bool) -> Outcome {
    match reason {
        "voicemail_reached" => Outcome::Voicemail,
        "dial_busy" => Outcome::Busy,
        "dial_no_answer" | "user_declined" => Outcome::NoAnswer,
        "invalid_destination" => Outcome::InvalidNumber,
        "user_hangup"
        | "agent_hangup"
        | "call_transfer"
        | "inactivity"
        | "max_duration_reached"
        | "transfer_bridged"
        | "transfer_cancelled" => {
            if in_voicemail {
                Outcome::Voicemail
            } else {
                Outcome::Answered
            }
        }
        _ => Outcome::Failed,
    }
}

/// A Retell webhook: `Some` for `call_ended` and `call_analyzed` (which repeats the call with
/// its analysis), `None` for any other event.
pub fn retell_report(body: &Value) -> Option<CallReport> {
    let event = body.get("event").and_then(Value::as_str)?;
    if event != "call_ended" && event != "call_analyzed" {
        return None;
    }
    let call = body.get("call")?;
    let provider_call_id = text(call.get("call_id"))?;
    let reason = text(call.get("disconnection_reason")).unwrap_or_default();
    let in_voicemail = call
        .pointer("/call_analysis/in_voicemail")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let duration = call
        .get("duration_ms")
        .and_then(Value::as_f64)
        .map(|ms| (ms / 1000.0).max(0.0).round() as u32);
    Some(CallReport {
        provider_call_id,
        outcome: retell_outcome(&reason, in_voicemail),
        duration_seconds: duration,
        details: details(
            "retell",
            [
                ("ended_reason", Some(json!(reason))),
                ("transcript", text(call.get("transcript")).map(Value::from)),
                (
                    "summary",
                    text(call.pointer("/call_analysis/call_summary")).map(Value::from),
                ),
                (
                    "recording_url",
                    text(call.get("recording_url")).map(Value::from),
                ),
                ("call_status", call.get("call_status").cloned()),
            ],
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ended_reasons_map_to_outcomes() {
        assert_eq!(vapi_outcome("customer-ended-call"), Outcome::Answered);
        assert_eq!(vapi_outcome("assistant-ended-call"), Outcome::Answered);
        assert_eq!(vapi_outcome("voicemail"), Outcome::Voicemail);
        assert_eq!(vapi_outcome("customer-busy"), Outcome::Busy);
        assert_eq!(vapi_outcome("customer-did-not-answer"), Outcome::NoAnswer);
        assert_eq!(vapi_outcome("assistant-not-found"), Outcome::Failed);
        assert_eq!(retell_outcome("user_hangup", false), Outcome::Answered);
        assert_eq!(retell_outcome("user_hangup", true), Outcome::Voicemail);
        assert_eq!(
            retell_outcome("voicemail_reached", false),
            Outcome::Voicemail
        );
        assert_eq!(retell_outcome("dial_busy", false), Outcome::Busy);
        assert_eq!(retell_outcome("dial_no_answer", false), Outcome::NoAnswer);
        assert_eq!(retell_outcome("error_retell", false), Outcome::Failed);
    }

    #[test]
    fn signatures_hold_only_for_their_body_key_and_time() {
        let body = br#"{"event":"call_ended"}"#;
        let now = 1_800_000_000_000_i64;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"key_1").unwrap();
        mac.update(body);
        mac.update(now.to_string().as_bytes());
        let sig = format!("v={now},d={}", hex::encode(mac.finalize().into_bytes()));
        assert!(retell_signature_holds(body, "key_1", &sig, now + 1000));
        assert!(!retell_signature_holds(body, "key_2", &sig, now));
        assert!(!retell_signature_holds(b"{}", "key_1", &sig, now));
        assert!(!retell_signature_holds(
            body,
            "key_1",
            &sig,
            now + TOLERANCE_MS + 1
        ));
        assert!(!retell_signature_holds(body, "key_1", "garbage", now));
    }
}
