//! Live updates for the Callbacks page (`GET /ui/api/events`): the account's event log as
//! Server-Sent Events.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    http::HeaderMap,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;

use super::{AppState, Viewer};
use crate::api::error::ApiError;

/// How often the live view looks for new events.
const LIVE_POLL: Duration = Duration::from_millis(700);

/// Server-Sent Events of the account's event log (supervisors): one `change` event per
/// callback event, with `type`, `callback_id` and the callback's `status`, so the list can
/// refresh. Each carries the event's id; resumes after `Last-Event-ID` (an id of the account's
/// events, or a bare number as this stream sent before events were numbered per account),
/// starting with what happens next when there is none or it is not the account's.
pub async fn live(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    viewer.require_supervisor()?;
    let account = viewer.principal.account_id.clone();
    let after = match headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .and_then(|s| {
            crate::domain::StoredEvent::parse_id(&account, s)
                .or_else(|| s.parse::<i64>().ok().filter(|n| *n > 0))
        }) {
        Some(number) => number,
        None => state.store.last_event_seq(&account).await?,
    };
    let store = state.store.clone();
    let stream = futures::stream::unfold(
        (store, account, after, std::collections::VecDeque::new()),
        |(store, account, mut after, mut buffer)| async move {
            loop {
                if let Some((number, event)) = buffer.pop_front() {
                    let event: crate::domain::StoredEvent = event;
                    after = number;
                    let data = serde_json::json!({
                        "type": event.kind,
                        "callback_id": event.data.pointer("/object/id"),
                        "status": event.data.pointer("/object/status"),
                        "at": event.timestamp.to_string(),
                    });
                    let sse = Event::default()
                        .id(event.id.clone())
                        .event("change")
                        .data(data.to_string());
                    return Some((Ok(sse), (store, account, after, buffer)));
                }
                match store.list_events(&account, after, None, None, 200).await {
                    Ok(page) if !page.is_empty() => buffer.extend(page),
                    Ok(_) => tokio::time::sleep(LIVE_POLL).await,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the event log for a live view failed");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
