//! The customer's own page for one callback, `/c/{token}`: the link every callback carries
//! (`customer_link`) and every confirmation and reminder sends.
//!
//! The page is rendered on the server as plain HTML forms, so it works on any phone without
//! script, with a keyboard and a screen reader (labels, one heading, large targets, contrast
//! above 4.5:1). The token is the only credential: [`customer_link::verify`] says which
//! callback of which account it names, [`customer_link::usable`] whether it still opens (not
//! after the callback ended). A bad token shows a plain page saying the link is not valid
//! (404), one whose callback ended says so (410); neither changes anything.
//!
//! The customer may confirm the time (a line in the callback's notes, audited as the
//! customer), move it to a free slot of its queue (the slots of `GET /v1/availability`, booked
//! as a `slot_id` create books them), cancel it, or stop all calls to the number (the number
//! goes on the account's do-not-call list and every consent is revoked, which cancels what is
//! pending). Each action goes through the same handlers and `Store` verbs as the API, with
//! [`Actor::Customer`] as the actor.
//!
//! Architecture invariant: like the rest of `ui`, no SQL and no callback rules here.

use axum::{
    Form,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use jiff::Timestamp;
use serde::Deserialize;

use crate::api::error::ApiError;
use crate::app::AppState;
use crate::domain::{
    Actor, AssigneeKind, Callback, Principal, Scope,
    consent::{Consent, ConsentScope},
    customer_link::{self, LinkError},
};
use crate::store::{CallbackChanges, dnc::DncEntry};

const PAGE: &str = include_str!("../../assets/customer/page.html");

/// How many free slots the page offers to move the call to.
const SLOTS_SHOWN: usize = 12;

/// What the page shows after an action, or why it shows nothing.
enum Shown {
    Open { notice: Option<&'static str> },
    Canceled,
    Stopped,
}

/// `GET /c/{token}`.
pub async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match open(&state, &token).await {
        Ok(cb) => render(&state, &token, &cb, Shown::Open { notice: None }).await,
        Err(refusal) => refusal,
    }
}

/// `POST /c/{token}/confirm`.
pub async fn confirm(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let cb = match open(&state, &token).await {
        Ok(cb) => cb,
        Err(refusal) => return refusal,
    };
    let caller = customer(&cb);
    match confirmed(&state, &caller, &cb).await {
        Ok(cb) => {
            let notice = Some("Thank you: your call is confirmed.");
            render(&state, &token, &cb, Shown::Open { notice }).await
        }
        Err(e) => refused(&state, &token, &cb, e).await,
    }
}

#[derive(Deserialize)]
pub struct MoveForm {
    slot_id: Option<String>,
}

/// `POST /c/{token}/reschedule` with the chosen `slot_id`.
pub async fn reschedule(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Form(form): Form<MoveForm>,
) -> Response {
    let cb = match open(&state, &token).await {
        Ok(cb) => cb,
        Err(refusal) => return refusal,
    };
    let Some(slot) = form.slot_id.filter(|s| !s.trim().is_empty()) else {
        let notice = Some("Choose one of the free times first.");
        return render(&state, &token, &cb, Shown::Open { notice }).await;
    };
    let caller = customer(&cb);
    match crate::api::availability::move_to_slot(&state, &caller, &cb, slot.trim()).await {
        Ok(cb) => {
            let notice = Some("Your call is moved to the new time.");
            render(&state, &token, &cb, Shown::Open { notice }).await
        }
        Err(e) => refused(&state, &token, &cb, e).await,
    }
}

/// `POST /c/{token}/cancel`.
pub async fn cancel(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let cb = match open(&state, &token).await {
        Ok(cb) => cb,
        Err(refusal) => return refusal,
    };
    let caller = customer(&cb);
    match state
        .store
        .cancel_callback(&cb.account_id, &cb.id, state.clock.now(), &caller.actor)
        .await
    {
        Ok(cb) => render(&state, &token, &cb, Shown::Canceled).await,
        Err(e) => refused(&state, &token, &cb, ApiError::from_change(e, "cancel")).await,
    }
}

/// `POST /c/{token}/stop`: the number goes on the do-not-call list and every consent it gave
/// is revoked; both cancel what is pending to it, this callback included.
pub async fn stop(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let cb = match open(&state, &token).await {
        Ok(cb) => cb,
        Err(refusal) => return refusal,
    };
    let now = state.clock.now();
    let actor = Actor::Customer;
    let entry = DncEntry {
        account_id: cb.account_id.clone(),
        phone: cb.phone.clone(),
        source: Some("customer_link".to_owned()),
        reason: Some("the customer asked through their callback link".to_owned()),
        created_at: now,
    };
    let revoked: Vec<Consent> = ConsentScope::ALL
        .into_iter()
        .map(|scope| Consent {
            account_id: cb.account_id.clone(),
            phone: cb.phone.clone(),
            scope,
            granted: false,
            source: "customer_link".to_owned(),
            captured_at: now,
            evidence: Some("\"Stop calling me\" on the customer's callback page".to_owned()),
            updated_at: now,
        })
        .collect();
    let result = async {
        state.store.add_to_dnc(&[entry], &actor).await?;
        state.store.record_consents(&revoked, &actor).await
    }
    .await;
    match result {
        Ok(_) => render(&state, &token, &cb, Shown::Stopped).await,
        Err(e) => refused(&state, &token, &cb, ApiError::from(e)).await,
    }
}

/// Records the customer's confirmation of the time: a line in the callback's notes, written
/// as the customer (its `callback.updated` event and audit entry say who).
async fn confirmed(
    state: &AppState,
    caller: &Principal,
    cb: &Callback,
) -> Result<Callback, ApiError> {
    crate::api::callbacks::check_editable(cb, "confirm")?;
    let line = format!(
        "[{} customer] confirmed the time ({}) through their link",
        state.clock.now().strftime("%Y-%m-%d %H:%MZ"),
        cb.scheduled_at
    );
    let notes = match &cb.notes {
        Some(old) if !old.is_empty() => format!("{old}\n{line}"),
        _ => line,
    };
    let changes = CallbackChanges {
        notes: Some(Some(notes)),
        ..CallbackChanges::default()
    };
    let (cb, _) =
        crate::api::callbacks::apply_changes(state, caller, cb, &changes, "confirm").await?;
    Ok(cb)
}

/// The callback `token` names, while its link still opens; else the page that says why.
async fn open(state: &AppState, token: &str) -> Result<Callback, Response> {
    let linked = customer_link::verify(state.links.key(), token).map_err(invalid)?;
    let cb = match state
        .store
        .get_callback(&linked.account_id, &linked.callback_id)
        .await
    {
        Ok(Some(cb)) => cb,
        Ok(None) => return Err(invalid(LinkError::Invalid)),
        Err(e) => return Err(ApiError::from(e).into_response()),
    };
    customer_link::usable(cb.status).map_err(invalid)?;
    Ok(cb)
}

/// The principal of the customer acting through their link: the callback's account, writing
/// callbacks, recorded as the customer.
fn customer(cb: &Callback) -> Principal {
    Principal {
        account_id: cb.account_id.clone(),
        actor: Actor::Customer,
        scopes: vec![Scope::CallbacksWrite, Scope::CallbacksRead],
    }
}

/// The page again with the refusal said plainly (a slot taken meanwhile, a time no longer
/// allowed, a call already under way).
async fn refused(state: &AppState, token: &str, cb: &Callback, e: ApiError) -> Response {
    tracing::info!(callback_id = %cb.id, error = ?e, "a customer's action was refused");
    let notice = Some("That could not be done now. The page shows where your call stands.");
    let cb = match state.store.get_callback(&cb.account_id, &cb.id).await {
        Ok(Some(fresh)) => fresh,
        _ => cb.clone(),
    };
    if customer_link::usable(cb.status).is_err() {
        return invalid(LinkError::Gone);
    }
    render(state, token, &cb, Shown::Open { notice }).await
}

/// The plain page of a link that opens nothing.
fn invalid(why: LinkError) -> Response {
    let (status, heading, message) = match why {
        LinkError::Invalid => (
            StatusCode::NOT_FOUND,
            "This link is not valid",
            "Check that the whole link was copied from your message.",
        ),
        LinkError::Gone => (
            StatusCode::GONE,
            "This link is no longer valid",
            "The call it was for has ended. If you still need us, contact us again.",
        ),
    };
    let html = fill(minijinja::context! {
        title => heading,
        heading => heading,
        message => message,
        open => false,
    });
    (status, html_headers(), html).into_response()
}

async fn render(state: &AppState, token: &str, cb: &Callback, shown: Shown) -> Response {
    let zone = cb.timezone.clone();
    let local = |at: Timestamp| {
        at.to_zoned(zone.tz().clone())
            .strftime("%A %-d %B %Y, %H:%M")
            .to_string()
    };
    let base = format!("/c/{token}");
    let html = match shown {
        Shown::Canceled => fill(minijinja::context! {
            title => "Your call is canceled",
            heading => "Your call is canceled",
            message => "We will not call you for this request.",
            open => false,
        }),
        Shown::Stopped => fill(minijinja::context! {
            title => "We will not call you again",
            heading => "We will not call you again",
            message => "This number is on our do-not-call list and every call planned to it is canceled.",
            open => false,
        }),
        Shown::Open { notice } => {
            let slots =
                crate::api::availability::free_slots_for(state, &customer(cb), cb, SLOTS_SHOWN)
                    .await
                    .unwrap_or_default();
            let slots: Vec<minijinja::Value> = slots
                .iter()
                .map(|s| minijinja::context! { id => s.id.clone(), label => local(s.start) })
                .collect();
            fill(minijinja::context! {
                title => "Your callback",
                heading => "We will call you",
                notice => notice,
                notice_bad => notice.is_some_and(|n| n.starts_with("That could not")),
                when_label => "Planned for",
                when => local(cb.due_at),
                when_utc => cb.due_at.to_string(),
                zone => zone_label(zone.name()),
                open => true,
                confirmable => true,
                reschedulable => cb.assignment.as_ref().is_some_and(|a| a.kind == AssigneeKind::Queue),
                slots => slots,
                base => base,
            })
        }
    };
    (StatusCode::OK, html_headers(), html).into_response()
}

/// A zone as a customer reads it: `America/Los_Angeles` is "Los Angeles time".
fn zone_label(name: &str) -> String {
    match name.rsplit_once('/') {
        Some((_, city)) => format!("{} time", city.replace('_', " ")),
        None => name.to_owned(),
    }
}

fn fill(context: minijinja::Value) -> String {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("page", PAGE)
        .and_then(|_| env.get_template("page")?.render(context))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the customer page did not render");
            "<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_owned()
        })
}

/// Headers of every customer page: HTML, never cached, never framed, no referrer (the token
/// is in the URL).
fn html_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}
