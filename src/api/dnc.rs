//! `/v1/dnc`: the account's do-not-call list. Adding a number cancels, in the same
//! transaction, every scheduled callback to it.

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    csv::{CsvBody, RowErrors},
    error::{ApiError, deleted_or_not_found},
    extract::{ApiJson, ApiQuery, IMPORT_BATCH, next_import_row, page_cursor, page_limit},
};
use crate::{
    app::AppState,
    domain::{ErrorCode, FieldError, PhoneNumber},
    store::dnc::{DncAdded, DncEntry},
};

/// A number on the list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DncView {
    /// E.164.
    pub phone: String,
    pub source: Option<String>,
    pub reason: Option<String>,
    /// When it was first added.
    pub created_at: String,
}

impl From<&DncEntry> for DncView {
    fn from(e: &DncEntry) -> Self {
        Self {
            phone: e.phone.to_string(),
            source: e.source.clone(),
            reason: e.reason.clone(),
            created_at: e.created_at.to_string(),
        }
    }
}

/// The answer to adding a number.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DncAddView {
    #[serde(flatten)]
    pub entry: DncView,
    /// The scheduled callbacks to this number that were canceled.
    pub canceled_callback_ids: Vec<String>,
}

impl From<&DncAdded> for DncAddView {
    fn from(a: &DncAdded) -> Self {
        Self {
            entry: DncView::from(&a.entry),
            canceled_callback_ids: a.canceled.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDnc {
    /// E.164 with a country code.
    pub phone: String,
    /// Where the opt-out came from (`ivr`, `agent`, `crm` ...), up to 200 characters.
    pub source: Option<String>,
    /// Up to 1,000 characters.
    pub reason: Option<String>,
}

fn text(value: Option<&str>, field: &str, max: usize) -> Result<Option<String>, FieldError> {
    let value = value.map(str::trim).filter(|v| !v.is_empty());
    match value {
        Some(v) if v.chars().count() > max => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be at most {max} characters"),
        )),
        Some(v) if v.chars().any(char::is_control) => Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must not contain control characters",
        )),
        v => Ok(v.map(str::to_owned)),
    }
}

fn entry(
    caller: &Caller,
    phone: &str,
    source: Option<&str>,
    reason: Option<&str>,
    now: Timestamp,
    fields: [&str; 3],
) -> Result<DncEntry, FieldError> {
    Ok(DncEntry {
        account_id: caller.account_id.clone(),
        phone: PhoneNumber::parse(phone, fields[0])?,
        source: text(source, fields[1], 200)?,
        reason: text(reason, fields[2], 1_000)?,
        created_at: now,
    })
}

#[utoipa::path(
    post, path = "/v1/dnc", operation_id = "add_dnc", tag = "dnc",
    summary = "Put a number on the do-not-call list",
    description = "Records the opt-out and, in the same transaction, cancels every `scheduled` \
        callback of the account to that number (each gets a `callback.canceled` event with \
        `\"reason\": \"dnc\"`); the answer lists them. Adding a number already on the list keeps \
        its first entry (200) and still cancels anything scheduled to it since.",
    request_body = AddDnc,
    responses(
        (status = 201, description = "Added.", body = DncAddView),
        (status = 200, description = "Already on the list.", body = DncAddView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn add_dnc(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    ApiJson(req): ApiJson<AddDnc>,
) -> Result<(StatusCode, Json<DncAddView>), ApiError> {
    let e = entry(
        &caller,
        &req.phone,
        req.source.as_deref(),
        req.reason.as_deref(),
        state.clock.now(),
        ["phone", "source", "reason"],
    )?;
    let added = state
        .store
        .add_to_dnc(std::slice::from_ref(&e), &caller.actor)
        .await?;
    let Some(added) = added.first() else {
        return Err(ApiError::internal(&std::io::Error::other(
            "the store answered no result for one number",
        )));
    };
    let status = if added.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(DncAddView::from(added))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DncQuery {
    /// Only this number (any format with a country code).
    pub phone: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DncList {
    pub data: Vec<DncView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/dnc", operation_id = "list_dnc", tag = "dnc",
    summary = "List the do-not-call list, in number order",
    params(DncQuery),
    responses(
        (status = 200, description = "A page of numbers; follow `next_cursor` for the next.", body = DncList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn list_dnc(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
    ApiQuery(q): ApiQuery<DncQuery>,
) -> Result<Json<DncList>, ApiError> {
    let limit = page_limit(q.limit, 50, 200)?;
    let after = page_cursor(
        q.cursor.as_deref(),
        |c| PhoneNumber::parse(c, "cursor").ok(),
        "not a cursor from a previous page",
    )?;
    let phone = q
        .phone
        .as_deref()
        .map(|p| PhoneNumber::parse(p, "phone"))
        .transpose()?;
    let mut rows = state
        .store
        .list_dnc(
            &caller.account_id,
            phone.as_ref(),
            after.as_ref(),
            limit + 1,
        )
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|e| e.phone.to_string())
    } else {
        None
    };
    Ok(Json(DncList {
        data: rows.iter().map(DncView::from).collect(),
        next_cursor,
    }))
}

/// A number from the path; one that does not parse is not on the list.
fn path_phone(raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, "phone")
        .map_err(|_| ApiError::not_found("number on the do-not-call list"))
}

#[utoipa::path(
    get, path = "/v1/dnc/{phone}", operation_id = "get_dnc", tag = "dnc",
    summary = "Is a number on the do-not-call list?",
    params(("phone" = String, Path, description = "E.164, e.g. `+14155550199` (URL-encode `+` as `%2B` if your client does not keep it).")),
    responses(
        (status = 200, description = "On the list.", body = DncView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn get_dnc(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
    Path(phone): Path<String>,
) -> Result<Json<DncView>, ApiError> {
    let phone = path_phone(&phone)?;
    let entry = state
        .store
        .get_dnc(&caller.account_id, &phone)
        .await?
        .ok_or_else(|| ApiError::not_found("number on the do-not-call list"))?;
    Ok(Json(DncView::from(&entry)))
}

#[utoipa::path(
    delete, path = "/v1/dnc/{phone}", operation_id = "remove_dnc", tag = "dnc",
    summary = "Take a number off the do-not-call list",
    description = "Callbacks canceled when it was added stay canceled.",
    params(("phone" = String, Path, description = "E.164, e.g. `+14155550199`.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn remove_dnc(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    Path(phone): Path<String>,
) -> Result<StatusCode, ApiError> {
    let phone = path_phone(&phone)?;
    let removed = state
        .store
        .remove_from_dnc(&caller.account_id, &phone, state.clock.now(), &caller.actor)
        .await?;
    deleted_or_not_found(removed, "number on the do-not-call list")
}

/// What a do-not-call import did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DncImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    /// Numbers newly on the list.
    pub added: u64,
    /// Numbers that were on the list already.
    pub already_listed: u64,
    /// Scheduled callbacks canceled because their number was added.
    pub canceled_callbacks: u64,
    #[serde(flatten)]
    pub errors: RowErrors,
}

#[utoipa::path(
    post, path = "/v1/dnc/import", operation_id = "import_dnc", tag = "dnc",
    summary = "Import numbers onto the do-not-call list from CSV",
    description = "`Content-Type: text/csv`, read as it arrives; columns `phone` (required), \
        `source` and `reason`, others ignored. Each number is added like `POST /v1/dnc`, \
        canceling its scheduled callbacks. Rows that fail are reported and skipped.",
    request_body(content = String, content_type = "text/csv",
        description = "phone,source\n+14155550199,ivr"),
    responses(
        (status = 200, description = "Counts and the rows that failed.", body = DncImportReport),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, description = "The body is not declared as `text/csv`.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn import_dnc(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<DncImportReport>, ApiError> {
    let mut csv = CsvBody::open(&headers, body, "phone").await?;
    let column = |name: &str| csv.header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (phone_at, source_at, reason_at) = (column("phone"), column("source"), column("reason"));
    let names = |at: Option<usize>, default: &str| {
        at.map_or_else(|| default.to_owned(), |i| csv.header[i].clone())
    };
    let fields = [
        names(phone_at, "phone"),
        names(source_at, "source"),
        names(reason_at, "reason"),
    ];
    let mut report = DncImportReport {
        rows: 0,
        added: 0,
        already_listed: 0,
        canceled_callbacks: 0,
        errors: RowErrors::default(),
    };
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    while let Some(row) = next_import_row(&mut csv, &mut report.rows, &mut report.errors).await? {
        let cell = |at: Option<usize>| at.map(|i| row.cells[i].as_str());
        match entry(
            &caller,
            cell(phone_at).unwrap_or(""),
            cell(source_at),
            cell(reason_at),
            state.clock.now(),
            [&fields[0], &fields[1], &fields[2]],
        ) {
            Ok(e) => batch.push(e),
            Err(e) => report.errors.push(&row, e),
        }
        if batch.len() >= IMPORT_BATCH {
            flush(&state, &caller, &mut batch, &mut report).await?;
        }
    }
    flush(&state, &caller, &mut batch, &mut report).await?;
    Ok(Json(report))
}

async fn flush(
    state: &AppState,
    caller: &Caller,
    batch: &mut Vec<DncEntry>,
    report: &mut DncImportReport,
) -> Result<(), ApiError> {
    if batch.is_empty() {
        return Ok(());
    }
    for added in state.store.add_to_dnc(batch, &caller.actor).await? {
        if added.created {
            report.added += 1;
        } else {
            report.already_listed += 1;
        }
        report.canceled_callbacks += added.canceled.len() as u64;
    }
    batch.clear();
    Ok(())
}
