//! The dial decision applied to callbacks about to be stored: checks of the agents and queues
//! they name, where the callee is, and whether the time asked for may be dialled.

use axum::http::StatusCode;
use jiff::Timestamp;

use super::super::{auth::Caller, error::ApiError};
use crate::{
    app::AppState,
    domain::{
        AssigneeKind, Assignment, Callback, ErrorCode,
        campaign::AccountSettings,
        contact::Contact,
        dialing::{BlockCode, Facts, ZoneSource, decide, earliest_dial},
        geo::{self, Region},
        ids::{AgentId, QueueId},
    },
    store::{CallFacts, DialFacts},
};

/// Refuses an assignment naming an agent or queue the account does not have (or deleted).
pub(crate) async fn check_assignees(
    state: &AppState,
    caller: &Caller,
    assignment: Option<&Assignment>,
    prefix: &str,
) -> Result<(), ApiError> {
    let Some(a) = assignment else { return Ok(()) };
    for (i, raw) in a.ids.iter().enumerate() {
        let exists = match a.kind {
            AssigneeKind::Agent => match AgentId::parse(raw) {
                Some(id) => state
                    .store
                    .get_agent(&caller.account_id, &id)
                    .await?
                    .is_some(),
                None => false,
            },
            AssigneeKind::Queue => match QueueId::parse(raw) {
                Some(id) => state
                    .store
                    .get_queue(&caller.account_id, &id)
                    .await?
                    .is_some(),
                None => false,
            },
        };
        if !exists {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidAssignee,
                format!("no {} {raw:?} in this account", a.kind.as_str()),
            )
            .field(format!("{prefix}assignment.ids[{i}]")));
        }
    }
    Ok(())
}

/// The queue a personal callback falls back to exists in the account.
pub(crate) async fn check_fallback_queue(
    state: &AppState,
    caller: &Caller,
    queue: &QueueId,
    field: &str,
) -> Result<(), ApiError> {
    match state.store.get_queue(&caller.account_id, queue).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidAssignee,
            format!("no queue {:?} in this account", queue.as_str()),
        )
        .field(field)),
    }
}

/// What the dial decision says of a callback about to be stored (created or rescheduled).
pub(crate) struct Judged {
    /// When it will be dialled (or offered), every rule applied; `None` when no time will do
    /// (do-not-call).
    pub effective_dial_at: Option<Timestamp>,
    /// One sentence per rule that applied: the zones assumed, a window lifted for a time the
    /// customer asked for, a cap or quiet period that moves it.
    pub explanation: Vec<String>,
}

/// Applies the dial decision to new callbacks before they are stored, each judged at the
/// time it asks for. First, where the callee is: a callback without a `timezone` of the
/// request's takes the stored contact's zone for its number, else the number's zones; the
/// contact's `state` names its subdivision. Then [`decide`]: a time outside the calling window
/// (in any zone the callee may be in) is refused with `outside_calling_window` and the next
/// opening, unless the account allows times customers ask for; what else would move the call
/// is explained. `prefixes` name each callback's fields in errors (`callbacks[3].`).
pub(crate) async fn judge_new(
    state: &AppState,
    caller: &Caller,
    callbacks: &mut [Callback],
    prefixes: &[String],
) -> Result<Vec<Result<Judged, ApiError>>, ApiError> {
    let known = facts_of(state, caller, callbacks).await?;
    locate_by_contacts(callbacks, &known.contacts);
    Ok(decide_each(callbacks, known, prefixes))
}

/// What the dial decision knows of one new callback, gathered as [`judge_new`] does: the
/// callee located by the stored contact for the number (its zone, when the request gave
/// none, and its state), the store's facts about the number, and the account's policy. For
/// questions about many instants at once (`/v1/availability`).
pub(crate) async fn new_call_facts(
    state: &AppState,
    caller: &Caller,
    callback: &mut Callback,
) -> Result<(CallFacts, AccountSettings), ApiError> {
    let known = facts_of(state, caller, std::slice::from_ref(callback)).await?;
    locate_by_contacts(std::slice::from_mut(callback), &known.contacts);
    let call = known.calls.into_iter().next().unwrap_or_default();
    Ok((call, known.settings))
}

/// The one answer of a judgement of one callback.
pub(super) fn only(mut judged: Vec<Result<Judged, ApiError>>) -> Result<Judged, ApiError> {
    judged.pop().expect("one callback judged")
}

/// Where the stored contacts put new callbacks' callees: a zone for those the request gave
/// none, and the subdivision their `state` names.
fn locate_by_contacts(callbacks: &mut [Callback], contacts: &[Contact]) {
    for cb in callbacks.iter_mut() {
        let Some(contact) = contacts.iter().find(|c| c.phone == cb.phone) else {
            continue;
        };
        if !cb.timezone_source.is_stated()
            && let Some(zone) = &contact.timezone
        {
            cb.timezone = zone.clone();
            cb.timezone_source = ZoneSource::Contact;
        }
        cb.region = contact.details.state.as_deref().and_then(|state| {
            let country = geo::place_of(&cb.phone).country?;
            Region::from_state(country, state)
        });
    }
}

/// What the store knows that the dial decision needs about `callbacks`, now.
pub(super) async fn facts_of(
    state: &AppState,
    caller: &Caller,
    callbacks: &[Callback],
) -> Result<DialFacts, ApiError> {
    let refs: Vec<&Callback> = callbacks.iter().collect();
    Ok(state
        .store
        .dial_facts(&caller.account_id, &refs, state.clock.now())
        .await?)
}

/// The dial decision on each callback at its requested time.
pub(super) fn decide_each(
    callbacks: &[Callback],
    known: DialFacts,
    prefixes: &[String],
) -> Vec<Result<Judged, ApiError>> {
    callbacks
        .iter()
        .zip(known.calls)
        .zip(prefixes)
        .map(|((cb, call), prefix)| judge_one(cb, &call, &known.settings, prefix))
        .collect()
}

/// The dial decision on one callback at its requested time.
fn judge_one(
    cb: &Callback,
    call: &CallFacts,
    settings: &AccountSettings,
    prefix: &str,
) -> Result<Judged, ApiError> {
    let location = cb.location();
    let facts = Facts {
        on_dnc: call.on_dnc,
        consent: call.consent,
        campaign: call.campaign,
        ..Facts::of(cb, &location, &call.history)
    };
    let decision = decide(&facts, settings, cb.due_at);
    let mut explanation = Vec::new();
    if !location.source().is_stated() || location.zones().len() > 1 {
        explanation.push(location.describe(&cb.phone));
    }
    for block in &decision.blocks {
        match (block.code, block.until) {
            (BlockCode::CallingWindow, until) => {
                let mut e = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::OutsideCallingWindow,
                    format!(
                        "outside the calling window ({}): {}",
                        facts.window.unwrap_or(&settings.calling_window),
                        block.reason
                    ),
                )
                .field(format!("{prefix}scheduled_at"))
                .with("timezone_source", location.source().as_str())
                .with("timezones", location.zone_names());
                if let Some(at) = until {
                    e = e.with("next_opening", at.to_string());
                }
                return Err(e);
            }
            (BlockCode::Dnc, _) => explanation.push(format!(
                "{} is on the do-not-call list: it will not be dialled",
                cb.phone
            )),
            (BlockCode::NoConsent, _) => explanation.push(format!(
                "{}: it will not be dialled unless consent is recorded before its time",
                block.reason
            )),
            (_, Some(until)) => explanation.push(format!(
                "{}: dialled at {until} at the earliest",
                block.reason
            )),
            (_, None) => explanation.push(block.reason.clone()),
        }
    }
    explanation.extend(decision.notes);
    Ok(Judged {
        effective_dial_at: earliest_dial(&facts, settings, cb.due_at).ok(),
        explanation,
    })
}
