//! What a dial decision rested on, as the evidence of a call attempt keeps it: the zones the
//! callee was judged in and where they came from, the local time in each, the windows that
//! applied, the caps and what had been counted against them, the do-not-call and consent state,
//! and the decision. It holds no personal data (no number, no name), so it outlives an erasure
//! of the number, which the audit entry names only by its salted hash.

use serde_json::{Value, json};

use super::{Decision, Facts};
use crate::domain::{campaign::AccountSettings, consent::ConsentScope};

/// The evidence of the decision `decision`, taken on `facts` under `policy`.
pub fn evidence(facts: &Facts<'_>, policy: &AccountSettings, decision: &Decision) -> Value {
    let location = facts.location;
    let local_times: serde_json::Map<String, Value> = location
        .zones()
        .iter()
        .map(|zone| {
            (
                zone.name().to_owned(),
                json!(zone.format_local(decision.at)),
            )
        })
        .collect();
    let (window, window_source) = match facts.window {
        Some(w) => (w, "callback"),
        None => (&policy.calling_window, "account"),
    };
    let regional: Vec<Value> = policy
        .regional_windows
        .iter()
        .filter(|r| location.is_in(&r.region))
        .map(|r| {
            json!({
                "region": r.region.as_str(),
                "calling_window": r.windows.iter().map(|w| w.to_json()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let scopes = |pick: fn(crate::domain::consent::ConsentState, ConsentScope) -> bool| {
        ConsentScope::ALL
            .into_iter()
            .filter(|s| pick(facts.consent, *s))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
    };
    json!({
        "judged_at": decision.at.to_string(),
        "due_at": facts.due_at.to_string(),
        "attempt": if facts.attempt_open { facts.attempt } else { facts.attempt + 1 },
        "dialing_mode": facts.dialing_mode.as_str(),
        "timezone_source": location.source().as_str(),
        "timezones": location.zone_names(),
        "local_times": local_times,
        "calling_window": window.to_json(),
        "calling_window_source": window_source,
        "regional_windows": regional,
        "holidays_applying": policy.holidays.iter().filter(|h| h.applies_to(location)).count(),
        "caps": {
            "max_attempts": policy.max_attempts,
            "attempt_window_days": policy.attempt_window_days,
            "attempts_counted": facts.history.started.len(),
            "quiet_after_answer_hours": policy.quiet_after_answer_hours,
            "last_answered_at": facts.history.last_answered.map(|t| t.to_string()),
        },
        "on_dnc": facts.on_dnc,
        "consent": {
            "granted": scopes(|c, s| c.is_granted(s)),
            "revoked": scopes(|c, s| c.is_revoked(s)),
            "required": policy.require_consent_for.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        },
        "decision": if decision.may_dial() { "dial" } else { "blocked" },
        "blocked_by": decision.blocks.iter().map(|b| json!({"rule": b.code, "reason": b.reason})).collect::<Vec<_>>(),
        "notes": decision.notes,
    })
}
