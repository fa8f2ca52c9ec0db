//! The public representation of resources: what API answers, event snapshots and webhooks
//! show. One shape everywhere, so a webhook receiver and an API client read the same fields.

use serde::Serialize;

use super::{
    Amd, Assignment, Attempt, Callback, CallbackEvent, DialingMode, Origin, Outcome, Status,
    dialing::ZoneSource,
};

/// A callback as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallbackView {
    pub id: String,
    pub account_id: String,
    #[schema(value_type = Status)]
    pub status: &'static str,
    pub origin: Origin,
    pub phone: String,
    pub contact_name: Option<String>,
    /// The instant of the call, UTC.
    pub scheduled_at: String,
    /// The same instant in the customer's zone, with its offset.
    pub scheduled_at_local: String,
    /// The zone local times are shown in: the one calls are judged in, or (`number_ambiguous`)
    /// the first of `timezones`.
    pub timezone: String,
    /// Where the zone came from: `request`, `contact`, `number` (the number's prefix places
    /// it in one zone) or `number_ambiguous` (it may be in any of `timezones`, and is called
    /// only when the calling window holds in all of them).
    pub timezone_source: ZoneSource,
    /// Every zone calls to it are judged in.
    pub timezones: Vec<String>,
    pub assignment: Option<Assignment>,
    /// For a callback assigned to an agent: minutes after it fell due before, not taken, it
    /// moves to `fallback_queue_id` (else the agent's first queue); `null`: it stays.
    pub fallback_after_minutes: Option<u32>,
    pub fallback_queue_id: Option<String>,
    pub caller_id: Option<String>,
    /// The caller ID pool its calls show a number of (each attempt's `caller_id` says which).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_id_pool: Option<String>,
    pub dialing_mode: DialingMode,
    pub notes: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    pub interaction_id: Option<String>,
    pub reminder_minutes_before: Option<u32>,
    pub expire_after_minutes: u32,
    /// After this instant an undialled callback expires.
    pub expires_at: String,
    pub max_duration_seconds: u32,
    pub recording_enabled: bool,
    pub initial_message: Option<String>,
    pub webhook_url: Option<String>,
    /// Number of call attempts made so far.
    pub attempt_count: u32,
    /// When the scheduler will next act on it (only while `scheduled`).
    pub next_attempt_at: Option<String>,
    pub outcome: Option<Outcome>,
    /// The disposition (wrap-up code) its latest call was completed with. Always shown (null
    /// when none), so that an event's change from one to none is recorded.
    pub disposition: Option<String>,
    /// The agent holding the offer or the call (preview mode).
    pub agent_id: Option<String>,
    /// When the current offer runs out (only while `offered`).
    pub offer_expires_at: Option<String>,
    pub campaign_id: Option<String>,
    pub contact_id: Option<String>,
    /// Minutes after an unanswered call before each further attempt: one list, or a list per
    /// outcome.
    #[schema(value_type = Object)]
    pub recall: serde_json::Value,
    /// The window automated attempts (recalls, campaign calls) are placed in, in `timezone`.
    #[schema(value_type = Option<Object>)]
    pub calling_window: Option<serde_json::Value>,
    /// The trunk its calls go out on, when the request or its campaign named one (otherwise
    /// the account's default trunk; the field is then left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_id: Option<String>,
    /// How long its calls on a `sip` trunk ring, when the request set it (otherwise the
    /// server's default; the field is then left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_timeout_seconds: Option<u32>,
    /// Answering-machine detection, when on (`detect`, `drop`); left out when `off`.
    #[serde(skip_serializing_if = "Amd::is_off")]
    pub amd: Amd,
    /// 0 to 100: offered before lower ones (a queue may age it while it waits).
    pub priority: u8,
    /// Skills the agent who takes it must hold, at least at these levels.
    #[schema(value_type = Object)]
    pub skills: crate::domain::routing::Skills,
    /// For a callback made for a caller waiting in an inbound queue
    /// (`POST /v1/queues/{id}/callbacks`): when they joined that queue, which its place in the
    /// queue's line is counted from. Left out for every other callback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_since: Option<String>,
    /// When it will be dialled (or offered), all rules applied; only while `scheduled`.
    pub effective_dial_at: Option<String>,
    /// Why `effective_dial_at` is not the time asked for, or what allowed it: one sentence per
    /// rule that applied. Shown on the answer to a create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
    /// The customer's own page of this callback, `{public_url}/c/{token}` (`/c/{token}` when
    /// the server has no `--public-url`): a signed token naming this callback alone, valid
    /// until the callback ends. Confirmations and reminders carry it. Shown in API answers, not
    /// in event snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<Attempt>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<CallbackEvent>>,
}

impl From<&Callback> for CallbackView {
    fn from(cb: &Callback) -> Self {
        let location = cb.location();
        Self {
            id: cb.id.to_string(),
            account_id: cb.account_id.to_string(),
            status: cb.status.as_str(),
            origin: cb.origin,
            phone: cb.phone.to_string(),
            contact_name: cb.contact_name.clone(),
            scheduled_at: cb.scheduled_at.to_string(),
            scheduled_at_local: cb.timezone.format_local(cb.scheduled_at),
            timezone: cb.timezone.name().to_owned(),
            timezone_source: location.source(),
            timezones: location.zone_names(),
            assignment: cb.assignment.clone(),
            fallback_after_minutes: cb.fallback.as_ref().map(|f| f.after_minutes),
            fallback_queue_id: cb
                .fallback
                .as_ref()
                .and_then(|f| f.queue_id.as_ref())
                .map(|q| q.as_str().to_owned()),
            caller_id: cb.caller_id.as_ref().map(ToString::to_string),
            caller_id_pool: cb.caller_id_pool.clone(),
            dialing_mode: cb.dialing_mode,
            notes: cb.notes.clone(),
            metadata: cb.metadata.clone(),
            interaction_id: cb.interaction_id.clone(),
            reminder_minutes_before: cb.reminder_minutes_before,
            expire_after_minutes: cb.expire_after_minutes,
            expires_at: cb.expires_at.to_string(),
            max_duration_seconds: cb.max_duration_seconds,
            recording_enabled: cb.recording_enabled,
            initial_message: cb.initial_message.clone(),
            webhook_url: cb.webhook_url.as_ref().map(|u| u.as_str().to_owned()),
            attempt_count: cb.attempt,
            next_attempt_at: next_attempt_at(cb),
            outcome: cb.outcome,
            disposition: cb.disposition.clone(),
            agent_id: cb.agent_id.as_ref().map(ToString::to_string),
            offer_expires_at: cb.offer_expires_at.map(|t| t.to_string()),
            campaign_id: cb.campaign_id.as_ref().map(ToString::to_string),
            contact_id: cb.contact_id.as_ref().map(ToString::to_string),
            recall: cb.recall.to_json(),
            calling_window: cb.calling_window.as_ref().map(|w| w.to_json()),
            trunk_id: cb.trunk_id.as_ref().map(ToString::to_string),
            ring_timeout_seconds: cb.ring_timeout_seconds,
            amd: cb.amd,
            priority: cb.priority,
            skills: cb.skills.clone(),
            queued_since: cb.queued_since.map(|t| t.to_string()),
            effective_dial_at: next_attempt_at(cb),
            explanation: None,
            created_at: cb.created_at.to_string(),
            updated_at: cb.updated_at.to_string(),
            customer_link: None,
            attempts: None,
            history: None,
        }
    }
}

impl CallbackView {
    /// The view of `cb` as an API answer shows it: with its `customer_link`.
    pub fn with_link(cb: &Callback, links: &super::customer_link::CustomerLinks) -> Self {
        Self {
            customer_link: Some(links.link(&cb.account_id, &cb.id)),
            ..Self::from(cb)
        }
    }
}

/// When the scheduler will next act on a callback, while it is `scheduled`.
fn next_attempt_at(cb: &Callback) -> Option<String> {
    (cb.status == Status::Scheduled).then(|| cb.due_at.to_string())
}

/// The fields of a [`CallbackView`] that placing a call can change: claiming it, starting it,
/// handing it back for a retry and expiring it set only the status, the attempt count, the due
/// time and the time of the change. The events of those moves store these fields, not the
/// whole view (which is rendered from them when the event is read).
#[derive(Debug, Serialize)]
pub struct DispatchChange {
    pub status: &'static str,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    pub effective_dial_at: Option<String>,
    pub updated_at: String,
}

impl From<&Callback> for DispatchChange {
    fn from(cb: &Callback) -> Self {
        Self {
            status: cb.status.as_str(),
            attempt_count: cb.attempt,
            next_attempt_at: next_attempt_at(cb),
            effective_dial_at: next_attempt_at(cb),
            updated_at: cb.updated_at.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::{SignedDuration, Timestamp};

    use super::*;
    use crate::domain::{
        AccountId,
        callback::{CreatePolicy, NewCallback},
    };

    /// Every field of a [`DispatchChange`] reads as the view's field of the same name, in each
    /// status the dispatch path leaves a callback in.
    #[test]
    fn a_dispatch_change_holds_the_views_own_fields() {
        let now = Timestamp::now();
        let (mut cb, _) = NewCallback {
            phone: "+1-415-555-0199".to_owned(),
            scheduled_at: (now + SignedDuration::from_hours(1)).to_string(),
            ..Default::default()
        }
        .validate(
            &AccountId::generate(),
            Origin::Api,
            now,
            CreatePolicy {
                min_lead: SignedDuration::ZERO,
            },
            "",
        )
        .unwrap();
        for (status, attempt) in [
            (Status::Scheduled, 0),
            (Status::Dispatching, 1),
            (Status::InProgress, 1),
            (Status::Scheduled, 1),
            (Status::Expired, 2),
        ] {
            cb.status = status;
            cb.attempt = attempt;
            let view = serde_json::to_value(CallbackView::from(&cb)).unwrap();
            let change = serde_json::to_value(DispatchChange::from(&cb)).unwrap();
            let change = change.as_object().unwrap();
            assert_eq!(change.len(), 5);
            for (field, value) in change {
                assert_eq!(&view[field], value, "{field} while {status:?}");
            }
        }
    }
}
