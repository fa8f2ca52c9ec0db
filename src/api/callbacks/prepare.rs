//! The one way a request for a new callback becomes a callback ready to store, whoever sent it
//! (`POST /v1/callbacks`, each item of a batch, every dialect, the Callback Manager's page).
//!
//! The steps, always in this order (the first refusal wins):
//! 1. every field of the [`NewCallback`] ([`NewCallback::validate`]), lead time included;
//! 2. the webhook URL may be delivered to ([`checked_url`]: no internal address);
//! 3. the agents or queues named exist in the account ([`check_assignees`]), the queue a
//!    personal callback falls back to too ([`check_fallback_queue`]), which is the account's
//!    when the request says nothing of it;
//! 4. the dial decision at the time asked for ([`judge_new`]);
//! 5. with a `slot_id`, that the slot is offered to the number with a place left
//!    ([`book`]; its time and queue were taken into the request before step 1, by
//!    [`take_slot`]).
//!
//! A batch runs steps 1 to 3 per item with [`prepare_unjudged`], then step 4 on all its valid
//! items in one call (one look at the store for the lot). A batch item cannot book a slot:
//! slots are booked one at a time, each counted in its own insert's transaction.

use jiff::Timestamp;

use super::judge::{Judged, check_assignees, check_fallback_queue, judge_new, only};
use crate::{
    api::{
        auth::Caller,
        availability::{BookedSlot, book, take_slot},
        error::ApiError,
        webhooks::checked_url,
    },
    app::AppState,
    domain::{
        Callback, ErrorCode, FieldError, Origin,
        callback::{CreatePolicy, NewCallback},
    },
};

/// A new callback whose fields, webhook URL and assignees passed; not judged yet.
pub(crate) struct Unjudged {
    pub callback: Callback,
    /// The request's `allow_duplicate` (default false).
    pub allow_duplicate: bool,
}

/// A new callback ready to store, with what the dial decision says of it.
pub(crate) struct Prepared {
    pub callback: Callback,
    /// The request's `allow_duplicate` (default false).
    pub allow_duplicate: bool,
    pub judged: Judged,
    /// The slot it books (`slot_id`), to be stored with `Store::book_slot`.
    pub slot: Option<BookedSlot>,
}

/// Prepares a new callback for `caller`'s account, marked with `origin`, under `policy`:
/// fields, webhook URL, assignees, then the dial decision. `prefix` names its fields in errors
/// (`callbacks[3].` in a batch, empty elsewhere).
pub(crate) async fn prepare(
    state: &AppState,
    caller: &Caller,
    new: NewCallback,
    origin: Origin,
    policy: CreatePolicy,
    prefix: &str,
) -> Result<Prepared, ApiError> {
    prepare_at(
        state,
        caller,
        new,
        origin,
        policy,
        state.clock.now(),
        prefix,
    )
    .await
}

/// [`prepare`] with the lead time counted from `now`, the instant the caller read (a queue
/// callback is due at once: a moment after the `now` it was made at).
pub(crate) async fn prepare_at(
    state: &AppState,
    caller: &Caller,
    mut new: NewCallback,
    origin: Origin,
    policy: CreatePolicy,
    now: Timestamp,
    prefix: &str,
) -> Result<Prepared, ApiError> {
    let slot = match new.slot_id.take() {
        Some(raw) => Some(take_slot(state, caller, &mut new, &raw, policy, prefix).await?),
        None => None,
    };
    let Unjudged {
        mut callback,
        allow_duplicate,
    } = prepare_unjudged(state, caller, new, origin, policy, now, prefix).await?;
    let mut judged = only(
        judge_new(
            state,
            caller,
            std::slice::from_mut(&mut callback),
            &[prefix.to_owned()],
        )
        .await?,
    )?;
    let warning = super::change::unheld_skills(state, caller, &callback.skills).await?;
    judged.explanation.extend(warning);
    let slot = match slot {
        Some(id) => Some(book(state, caller, &callback, id).await?),
        None => None,
    };
    Ok(Prepared {
        callback,
        allow_duplicate,
        judged,
        slot,
    })
}

/// [`prepare`] without the dial decision, for a batch that judges its items together with
/// [`judge_new`] afterwards; `now` is the batch's one instant, the lead time is counted from.
pub(crate) async fn prepare_unjudged(
    state: &AppState,
    caller: &Caller,
    new: NewCallback,
    origin: Origin,
    policy: CreatePolicy,
    now: Timestamp,
    prefix: &str,
) -> Result<Unjudged, ApiError> {
    if new.slot_id.is_some() {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            format!("{prefix}slot_id"),
            "slots are booked one callback at a time, with POST /v1/callbacks",
        )
        .into());
    }
    let account_fallback = new.takes_account_fallback();
    let (mut callback, allow_duplicate) =
        new.validate(&caller.account_id, origin, now, policy, prefix)?;
    if account_fallback {
        callback.fallback = state
            .store
            .account_settings(&caller.account_id)
            .await?
            .fallback;
    }
    callback.created_by = Some(caller.actor.id().to_owned());
    if let Some(url) = &callback.webhook_url {
        callback.webhook_url =
            Some(checked_url(url, &format!("{prefix}webhook_url"), state).await?);
    }
    check_assignees(state, caller, callback.assignment.as_ref(), prefix).await?;
    if let Some(queue) = callback.fallback.as_ref().and_then(|f| f.queue_id.as_ref()) {
        check_fallback_queue(state, caller, queue, &format!("{prefix}fallback_queue_id")).await?;
    }
    if let Some(trunk) = &callback.trunk_id {
        let field = format!("{prefix}trunk_id");
        crate::api::trunks::named_trunk(state, caller, trunk.as_str(), &field).await?;
    }
    let (caller_id, pool) = (
        callback.caller_id.as_ref(),
        callback.caller_id_pool.as_deref(),
    );
    crate::api::caller_ids::check_caller_id(state, caller, caller_id, pool, prefix).await?;
    Ok(Unjudged {
        callback,
        allow_duplicate,
    })
}
