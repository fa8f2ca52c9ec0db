//! `/v1/contacts`: the people campaigns call, upserted by phone, imported and exported as CSV.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    csv::{CsvBody, Row, RowErrors, csv_line},
    error::{ApiError, deleted_or_not_found},
    extract::{ApiJson, ApiQuery, IMPORT_BATCH, next_import_row, page_cursor, page_limit},
};
use crate::{
    app::AppState,
    domain::{
        ErrorCode, FieldError, PhoneNumber,
        contact::{Column, Contact, ContactDetails, ContactPatch, patch_from_row},
        ids::ContactId,
    },
    store::contacts::{ContactFilter, Upserted},
};

/// Contacts read per page while exporting.
const EXPORT_PAGE: u32 = 500;

/// A contact as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactView {
    /// `ctc_...`
    pub id: String,
    /// E.164.
    pub phone: String,
    /// The contact's id in your own system (a CRM's, a dialer's), unique within the account;
    /// null when not given.
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub details: ContactDetails,
    /// IANA zone, or null (derived from the phone number or the campaign).
    pub timezone: Option<String>,
    /// Your own fields: strings, numbers and booleans.
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    /// When a call to the number ended `invalid_number` (the network does not know it); left
    /// out while the number is not known to be invalid. An answered call clears it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_invalid_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Contact> for ContactView {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.to_string(),
            phone: c.phone.to_string(),
            external_id: c.external_id.clone(),
            details: c.details.clone(),
            timezone: c.timezone.as_ref().map(|z| z.name().to_owned()),
            custom_fields: c.custom_fields.clone(),
            phone_invalid_at: c.phone_invalid_at.map(|t| t.to_string()),
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

/// The fields of a contact to create or update. Fields not given keep their value; `null`
/// clears one. Any other member is `unknown_field`.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // Documentation only: bodies are read by `ContactPatch::from_json`.
pub struct ContactInput {
    /// E.164 with a country code; human formats (`+1-415-555-0199`) are normalised.
    pub phone: String,
    /// Your own id for the contact: 1 to 128 characters without spaces, not in the form of a
    /// Ringback id; unique within the account (`409 duplicate_external_id` when another contact
    /// has it). `null` clears it.
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub details: ContactDetails,
    /// IANA zone such as `Europe/Madrid`.
    pub timezone: Option<String>,
    /// Strings, numbers and booleans (at most 50), merged by key: `null` for a key removes it,
    /// `null` for the whole object removes them all.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactList {
    pub data: Vec<ContactView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/contacts", operation_id = "upsert_contact", tag = "contacts",
    summary = "Create or update a contact by phone",
    description = "One contact per normalised phone number in the account: a phone seen before \
        updates that contact (200, same id) with the fields given; a new one creates it (201).",
    request_body = ContactInput,
    responses(
        (status = 201, description = "Created.", body = ContactView),
        (status = 200, description = "Updated: a contact with this phone existed.", body = ContactView),
        (status = 400, response = super::error::BadRequest),
        (status = 409, description = "`duplicate_external_id`: another contact of the account has this `external_id`.", body = super::error::ErrorBody),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn upsert_contact(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let patch = ContactPatch::from_json(&body, "")?;
    if patch.phone.is_none() {
        return Err(
            FieldError::new(ErrorCode::MissingField, "phone", "\"phone\" is required").into(),
        );
    }
    let mut results = state
        .store
        .upsert_contacts(
            &caller.account_id,
            std::slice::from_ref(&patch),
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    match results.pop() {
        Some(Ok(Upserted::Created(c))) => Ok((StatusCode::CREATED, Json(ContactView::from(&c)))),
        Some(Ok(Upserted::Updated(c))) => Ok((StatusCode::OK, Json(ContactView::from(&c)))),
        Some(Err(e)) => Err(e.into()),
        None => Err(ApiError::internal(&std::io::Error::other(
            "the store answered no result for one contact",
        ))),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ContactQuery {
    /// Only the contact with this phone (any format with a country code).
    pub phone: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/contacts", operation_id = "list_contacts", tag = "contacts",
    summary = "List contacts, newest first",
    params(ContactQuery),
    responses(
        (status = 200, description = "A page of contacts; follow `next_cursor` for the next.", body = ContactList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn list_contacts(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
    ApiQuery(q): ApiQuery<ContactQuery>,
) -> Result<Json<ContactList>, ApiError> {
    let limit = page_limit(q.limit, 50, 200)?;
    let before = page_cursor(
        q.cursor.as_deref(),
        ContactId::parse,
        "not a cursor from a previous page",
    )?;
    let phone = q
        .phone
        .as_deref()
        .map(|p| PhoneNumber::parse(p, "phone"))
        .transpose()?;
    let filter = ContactFilter {
        phone,
        before,
        limit: limit + 1,
    };
    let mut rows = state
        .store
        .list_contacts(&caller.account_id, &filter)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|c| c.id.to_string())
    } else {
        None
    };
    Ok(Json(ContactList {
        data: rows.iter().map(ContactView::from).collect(),
        next_cursor,
    }))
}

async fn load_contact(state: &AppState, caller: &Caller, raw: &str) -> Result<Contact, ApiError> {
    let id = ContactId::parse(raw).ok_or_else(|| ApiError::not_found("contact"))?;
    state
        .store
        .get_contact(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("contact"))
}

#[utoipa::path(
    get, path = "/v1/contacts/{id}", operation_id = "get_contact", tag = "contacts",
    summary = "Get a contact",
    params(("id" = String, Path, description = "A contact id (`ctc_...`).")),
    responses(
        (status = 200, description = "The contact.", body = ContactView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn get_contact(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
    Path(id): Path<String>,
) -> Result<Json<ContactView>, ApiError> {
    Ok(Json(ContactView::from(
        &load_contact(&state, &caller, &id).await?,
    )))
}

#[utoipa::path(
    patch, path = "/v1/contacts/{id}", operation_id = "update_contact", tag = "contacts",
    summary = "Change a contact",
    description = "Fields given change, `null` clears one, the others keep their value. The \
        phone is the contact's key and cannot change: upsert the new number instead.",
    params(("id" = String, Path, description = "A contact id (`ctc_...`).")),
    request_body = ContactInput,
    responses(
        (status = 200, description = "The contact.", body = ContactView),
        (status = 400, response = super::error::BadRequest),
        (status = 409, description = "`duplicate_external_id`: another contact of the account has this `external_id`.", body = super::error::ErrorBody),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn update_contact(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<ContactView>, ApiError> {
    let mut contact = load_contact(&state, &caller, &id).await?;
    let patch = ContactPatch::from_json(&body, "")?;
    if patch.phone.as_ref().is_some_and(|p| *p != contact.phone) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "phone",
            "a contact's phone is its key and cannot change; POST /v1/contacts with the new number",
        )
        .into());
    }
    contact.apply(&patch, state.clock.now(), "")?;
    if !state
        .store
        .update_contact(&contact, &patch.touched(), &caller.actor)
        .await??
    {
        return Err(ApiError::not_found("contact"));
    }
    Ok(Json(ContactView::from(&contact)))
}

#[utoipa::path(
    delete, path = "/v1/contacts/{id}", operation_id = "delete_contact", tag = "contacts",
    summary = "Delete a contact",
    description = "The contact's data is erased; the audit trail keeps that it was deleted, not \
        what it held.",
    params(("id" = String, Path, description = "A contact id (`ctc_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn delete_contact(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = ContactId::parse(&id).ok_or_else(|| ApiError::not_found("contact"))?;
    let deleted = state
        .store
        .delete_contact(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?;
    deleted_or_not_found(deleted, "contact")
}

/// What an import did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ContactImportReport {
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    #[serde(flatten)]
    pub errors: RowErrors,
}

#[utoipa::path(
    post, path = "/v1/contacts/import", operation_id = "import_contacts", tag = "contacts",
    summary = "Import contacts from CSV",
    description = "The body is CSV (`Content-Type: text/csv`) read as it arrives. The header row \
        names the columns: `phone` (required), `external_id`, the contact fields, `timezone`, \
        `custom_fields.<name>` or `custom.<name>`, `custom_fields` (a JSON object, as exports \
        write it); any other column is a custom field of that name, and `id`, `created_at`, \
        `updated_at` are ignored. Each row is upserted by phone like `POST /v1/contacts`; an \
        empty cell leaves the stored value alone. Rows that fail are reported (row, line, \
        column, reason) and skipped; the others are kept. Rows are committed in batches as \
        they are read.",
    request_body(content = String, content_type = "text/csv",
        description = "phone,first_name,plan\n+14155550199,Ann,gold"),
    responses(
        (status = 200, description = "Counts and the rows that failed.", body = ContactImportReport),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, description = "The body is not declared as `text/csv`.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn import_contacts(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ContactImportReport>, ApiError> {
    let mut csv = CsvBody::open(&headers, body, "phone").await?;
    let columns: Vec<(Column, String)> = csv
        .header
        .iter()
        .map(|h| (Column::from_header(h), h.clone()))
        .collect();
    let mut report = ContactImportReport {
        rows: 0,
        created: 0,
        updated: 0,
        errors: RowErrors::default(),
    };
    let mut batch: Vec<(Row, ContactPatch)> = Vec::with_capacity(IMPORT_BATCH);
    while let Some(row) = next_import_row(&mut csv, &mut report.rows, &mut report.errors).await? {
        let cells: Vec<&str> = row.cells.iter().map(String::as_str).collect();
        match patch_from_row(&columns, &cells) {
            Ok(patch) => batch.push((row, patch)),
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
    batch: &mut Vec<(Row, ContactPatch)>,
    report: &mut ContactImportReport,
) -> Result<(), ApiError> {
    if batch.is_empty() {
        return Ok(());
    }
    let patches: Vec<ContactPatch> = batch.iter().map(|(_, p)| p.clone()).collect();
    let results = state
        .store
        .upsert_contacts(
            &caller.account_id,
            &patches,
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    for ((row, _), result) in batch.iter().zip(results) {
        match result {
            Ok(Upserted::Created(_)) => report.created += 1,
            Ok(Upserted::Updated(_)) => report.updated += 1,
            Err(e) => report.errors.push(row, e),
        }
    }
    batch.clear();
    Ok(())
}

/// The export's columns, in order.
fn export_header() -> Vec<&'static str> {
    let mut columns = vec!["id", "phone", "external_id"];
    columns.extend(ContactDetails::NAMES);
    columns.extend(["timezone", "custom_fields", "created_at", "updated_at"]);
    columns
}

fn export_row(c: &Contact) -> Vec<u8> {
    let mut cells: Vec<String> = vec![
        c.id.to_string(),
        c.phone.to_string(),
        c.external_id.clone().unwrap_or_default(),
    ];
    cells.extend(
        ContactDetails::NAMES
            .iter()
            .map(|n| c.details.get(n).unwrap_or("").to_owned()),
    );
    cells.push(c.timezone.as_ref().map_or("", |z| z.name()).to_owned());
    cells.push(if c.custom_fields.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&c.custom_fields).unwrap_or_default()
    });
    cells.push(c.created_at.to_string());
    cells.push(c.updated_at.to_string());
    csv_line(cells)
}

#[utoipa::path(
    get, path = "/v1/contacts/export", operation_id = "export_contacts", tag = "contacts",
    summary = "Export every contact as CSV",
    description = "Newest first, streamed page by page. Columns: `id`, `phone`, `external_id`, the contact \
        fields, `timezone`, `custom_fields` (a JSON object), `created_at`, `updated_at`; the \
        file can be imported again as it is.",
    responses(
        (status = 200, description = "The contacts.", content_type = "text/csv", body = String),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn export_contacts(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
) -> Result<Response, ApiError> {
    let account = caller.account_id.clone();
    // An erasure committed while the export runs stops it: no row read before the erasure is
    // sent after it (the count is read before each page and checked after it).
    let erasures = state.store.erasures(&account).await?;
    // The first page is read before answering, so a store failure is still a clean 500.
    let first = state
        .store
        .list_contacts(
            &account,
            &ContactFilter {
                phone: None,
                before: None,
                limit: EXPORT_PAGE,
            },
        )
        .await?;
    if state.store.erasures(&account).await? != erasures {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            "a number was erased while the export was read; run it again",
        ));
    }
    let mut head = csv_line(export_header());
    for c in &first {
        head.extend(export_row(c));
    }
    let cursor = (first.len() == EXPORT_PAGE as usize)
        .then(|| first.last().map(|c| c.id.clone()))
        .flatten();
    let rest = futures::stream::unfold(cursor, move |cursor| {
        let state = state.clone();
        let account = account.clone();
        async move {
            let before = cursor?;
            let filter = ContactFilter {
                phone: None,
                before: Some(before),
                limit: EXPORT_PAGE,
            };
            let read = state.store.list_contacts(&account, &filter).await;
            let erased = match state.store.erasures(&account).await {
                Ok(now) => now != erasures,
                Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
            };
            match read {
                Ok(_) if erased => {
                    tracing::warn!(account = %account, "contact export stopped: a number was erased while it ran");
                    Some((
                        Err(std::io::Error::other(
                            "a number was erased during the export",
                        )),
                        None,
                    ))
                }
                Ok(page) => {
                    let next = (page.len() == EXPORT_PAGE as usize)
                        .then(|| page.last().map(|c| c.id.clone()))
                        .flatten();
                    let bytes: Vec<u8> = page.iter().flat_map(export_row).collect();
                    Some((Ok::<Bytes, std::io::Error>(Bytes::from(bytes)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "contact export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let body = futures::stream::once(async move { Ok(Bytes::from(head)) }).chain(rest);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"contacts.csv\"",
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
