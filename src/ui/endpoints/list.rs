//! The Callbacks page's list (`GET /ui/api/callbacks`): the account's callbacks filtered,
//! sorted and paged by cursor (supervisors), and the same search as a CSV export
//! (`GET /ui/api/callbacks/export`).

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};

use super::{AppState, Viewer};
use crate::{
    api::{error::ApiError, extract::ApiQuery},
    domain::{AccountId, Callback, CallbackView, ErrorCode, Origin, PhoneNumber, Status},
    store::{CallbackSearch, SearchCursor, SearchOrder},
};

fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).field(field)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    pub status: Option<Status>,
    pub origin: Option<Origin>,
    /// An agent id: callbacks they hold or that are assigned to them.
    pub agent: Option<String>,
    /// A queue id: callbacks assigned to it.
    pub queue: Option<String>,
    /// A whole number, or its start (`+1415`, `1415`).
    pub phone: Option<String>,
    /// RFC 3339: scheduled at or after.
    pub from: Option<String>,
    /// RFC 3339: scheduled before.
    pub to: Option<String>,
    /// `created_desc` (default), `created_asc`, `scheduled_asc`, `scheduled_desc`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200, default 50.
    pub limit: Option<u32>,
}

#[derive(Serialize)]
pub struct Page {
    pub data: Vec<CallbackView>,
    pub next_cursor: Option<String>,
}

fn instant(raw: &Option<String>, field: &str) -> Result<Option<jiff::Timestamp>, ApiError> {
    raw.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| bad_query(field, "must be an RFC 3339 date-time with an offset"))
        })
        .transpose()
}

/// Turns the query into a store search (without the page's cursor and limit).
fn search_of(q: &SearchQuery) -> Result<CallbackSearch, ApiError> {
    let order = match q.sort.as_deref().unwrap_or("created_desc") {
        "created_desc" => SearchOrder::NewestFirst,
        "created_asc" => SearchOrder::OldestFirst,
        "scheduled_asc" => SearchOrder::ScheduledAsc,
        "scheduled_desc" => SearchOrder::ScheduledDesc,
        _ => {
            return Err(bad_query(
                "sort",
                "must be created_desc, created_asc, scheduled_asc or scheduled_desc",
            ));
        }
    };
    let mut search = CallbackSearch {
        status: q.status,
        origin: q.origin,
        scheduled_from: instant(&q.from, "from")?,
        scheduled_to: instant(&q.to, "to")?,
        order,
        ..CallbackSearch::default()
    };
    if let Some(agent) = q.agent.as_deref().filter(|s| !s.is_empty()) {
        if !agent.starts_with("agt_") || agent.len() > 64 {
            return Err(bad_query("agent", "must be an agent id (agt_...)"));
        }
        search.agent = Some(agent.to_owned());
    }
    if let Some(queue) = q.queue.as_deref().filter(|s| !s.is_empty()) {
        if !queue.starts_with("que_") || queue.len() > 64 {
            return Err(bad_query("queue", "must be a queue id (que_...)"));
        }
        search.queue = Some(queue.to_owned());
    }
    if let Some(raw) = q.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        match PhoneNumber::parse(raw, "phone") {
            Ok(phone) => search.phone = Some(phone),
            Err(_) => {
                let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
                let only_number_chars = raw
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c));
                if digits.is_empty() || digits.len() > 15 || !only_number_chars {
                    return Err(bad_query(
                        "phone",
                        "must be a phone number or its first digits, country code first",
                    ));
                }
                search.phone_prefix = Some(format!("+{digits}"));
            }
        }
    }
    Ok(search)
}

fn parse_cursor(raw: &str, order: SearchOrder) -> Result<SearchCursor, ApiError> {
    let bad = || bad_query("cursor", "not a cursor from a previous page");
    match order {
        SearchOrder::NewestFirst | SearchOrder::OldestFirst => Ok(SearchCursor {
            scheduled_ms: None,
            id: callbacks_id(raw).ok_or_else(bad)?,
        }),
        SearchOrder::ScheduledAsc | SearchOrder::ScheduledDesc => {
            let (ms, id) = raw.split_once('.').ok_or_else(bad)?;
            Ok(SearchCursor {
                scheduled_ms: Some(ms.parse().map_err(|_| bad())?),
                id: callbacks_id(id).ok_or_else(bad)?,
            })
        }
    }
}

fn callbacks_id(raw: &str) -> Option<crate::domain::CallbackId> {
    crate::domain::CallbackId::parse(raw)
}

fn cursor_of(cb: &Callback, order: SearchOrder) -> String {
    match order {
        SearchOrder::NewestFirst | SearchOrder::OldestFirst => cb.id.to_string(),
        _ => format!("{}.{}", cb.scheduled_at.as_millisecond(), cb.id),
    }
}

/// One page of a search: the rows and the cursor of the next page.
async fn page(
    state: &AppState,
    account: &AccountId,
    mut search: CallbackSearch,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<Callback>, Option<String>), ApiError> {
    if let Some(c) = cursor.filter(|c| !c.is_empty()) {
        search.after = Some(parse_cursor(c, search.order)?);
    }
    search.limit = limit + 1;
    let mut rows = state.store.search_callbacks(account, &search).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|cb| cursor_of(cb, search.order))
    } else {
        None
    };
    Ok((rows, next))
}

/// The account's callbacks, filtered, sorted and paged (supervisors).
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Json<Page>, ApiError> {
    viewer.require_supervisor()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(bad_query("limit", "must be between 1 and 200"));
    }
    let search = search_of(&q)?;
    let (rows, next_cursor) = page(
        &state,
        &viewer.principal.account_id,
        search,
        q.cursor.as_deref(),
        limit,
    )
    .await?;
    Ok(Json(Page {
        data: rows
            .iter()
            .map(|cb| CallbackView::with_link(cb, &state.links))
            .collect(),
        next_cursor,
    }))
}

/// Free text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@` first) gets a
/// leading apostrophe, so opening an export never runs what a caller typed.
fn spreadsheet_safe(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The rows of an export, as CSV with `header`.
async fn export_rows(
    state: &AppState,
    viewer: &Viewer,
    search: &CallbackSearch,
    header: &[&str],
) -> Result<Vec<u8>, ApiError> {
    let csv_err = |e: csv::Error| ApiError::internal(&e);
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header).map_err(csv_err)?;
    let mut cursor: Option<String> = None;
    let mut written = 0;
    loop {
        let (rows, next) = page(
            state,
            &viewer.principal.account_id,
            search.clone(),
            cursor.as_deref(),
            1000,
        )
        .await?;
        for cb in &rows {
            let v = CallbackView::from(cb);
            let (kind, ids) = match &v.assignment {
                Some(a) => (a.kind.as_str().to_owned(), a.ids.join(" ")),
                None => (String::new(), String::new()),
            };
            out.write_record([
                v.id.as_str(),
                v.origin.as_str(),
                v.status,
                v.phone.as_str(),
                &spreadsheet_safe(v.contact_name.as_deref().unwrap_or("")),
                v.scheduled_at.as_str(),
                v.scheduled_at_local.as_str(),
                v.timezone.as_str(),
                kind.as_str(),
                ids.as_str(),
                v.agent_id.as_deref().unwrap_or(""),
                v.dialing_mode.as_str(),
                v.outcome.map_or("", |o| o.as_str()),
                &v.attempt_count.to_string(),
                &spreadsheet_safe(v.notes.as_deref().unwrap_or("")),
                v.created_at.as_str(),
            ])
            .map_err(csv_err)?;
        }
        written += rows.len();
        match next {
            Some(n) if written < EXPORT_MAX => cursor = Some(n),
            _ => break,
        }
    }
    out.into_inner().map_err(|e| ApiError::internal(e.error()))
}

/// The most rows one export writes.
const EXPORT_MAX: usize = 100_000;

/// The filtered list as CSV (supervisors), at most 100,000 rows.
pub async fn export(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    viewer.require_supervisor()?;
    let search = search_of(&q)?;
    let header = [
        "id",
        "origin",
        "status",
        "phone",
        "contact_name",
        "scheduled_at",
        "scheduled_at_local",
        "timezone",
        "assignment_type",
        "assignees",
        "agent_id",
        "dialing_mode",
        "outcome",
        "attempt_count",
        "notes",
        "created_at",
    ];
    let account = &viewer.principal.account_id;
    // The file is built before it is sent: when an erasure commits while it is read, it is read
    // again, so no row read before an erasure is sent after it.
    let mut tries = 0;
    let body = loop {
        let erasures = state.store.erasures(account).await?;
        let body = export_rows(&state, &viewer, &search, &header).await?;
        if state.store.erasures(account).await? == erasures {
            break body;
        }
        tries += 1;
        if tries == 3 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidState,
                "numbers were being erased while the export was read; run it again",
            ));
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"callbacks.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
