//! `/v1/data-subjects`: what the account holds about one phone number (the right of access),
//! and its erasure (the right to be forgotten), both `admin` scope and both audited under the
//! number's subject hash. The store does the erasure in one transaction
//! (`SubjectStore::erase_subject`); the recording files its rows stopped naming are deleted
//! here afterwards (`retention::delete_recording_files`, the one place files are deleted).
//!
//! Neither answer repeats the number it was asked about: after an erasure, no endpoint shows it.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use super::{
    authorized::{Authorized, scope},
    consents::ConsentView,
    contacts::ContactView,
    dnc::DncView,
    error::ApiError,
    extract::{ApiJson, ApiQuery},
};
use crate::{
    app::AppState,
    domain::{Attempt, CallbackId, CallbackView, PhoneNumber, erasure::ErasureCounts},
    store::ChainedEntry,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SubjectQuery {
    /// The number (E.164, or any format with a country code).
    pub phone: String,
}

/// A customer message still waiting to be sent (sent ones are in their callback's history).
#[derive(Serialize, utoipa::ToSchema)]
pub struct PendingMessageView {
    pub id: String,
    pub callback_id: String,
    /// `confirmation`, `reminder` ...
    pub kind: String,
    /// `sms` or `email`.
    pub channel: String,
    pub due_at: String,
}

/// A recording of a call to the number.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordingView {
    pub callback_id: String,
    pub attempt: u32,
    /// Where to fetch it (`GET`, `callbacks:read`).
    pub url: String,
    /// The file, relative to the server's recordings directory.
    pub file: String,
}

/// An audit entry about the number or its callbacks and contacts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubjectAuditView {
    pub occurred_at: String,
    pub actor_type: String,
    pub actor_id: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// What changed; `{"redacted": true}` once an erasure removed it.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub redacted: bool,
}

impl From<&ChainedEntry> for SubjectAuditView {
    fn from(e: &ChainedEntry) -> Self {
        Self {
            occurred_at: e.occurred_at.to_string(),
            actor_type: e.actor_type.clone(),
            actor_id: e.actor_id.clone(),
            action: e.action.clone(),
            resource_type: e.resource_type.clone(),
            resource_id: e.resource_id.clone(),
            changes: e.changes.clone(),
            redacted: e.redacted,
        }
    }
}

/// Everything the account holds about one number.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SubjectDocument {
    pub contacts: Vec<ContactView>,
    /// Each callback to the number (an erased one under its masked number), with `attempts`
    /// and `history`.
    pub callbacks: Vec<CallbackView>,
    /// Its consents, scope by scope (under the number's erased key once it was erased).
    pub consents: Vec<ConsentView>,
    /// Its do-not-call entry, if it is listed.
    pub do_not_call: Option<DncView>,
    pub messages: Vec<PendingMessageView>,
    pub recordings: Vec<RecordingView>,
    pub audit_entries: Vec<SubjectAuditView>,
}

#[utoipa::path(
    get, path = "/v1/data-subjects", operation_id = "get_data_subject", tag = "data_subjects",
    summary = "Everything held about a phone number",
    description = "One document with the contacts, callbacks (with their attempts and history), \
        consents, do-not-call entry, customer messages waiting to be sent, recordings and audit \
        entries the account holds about the number. Audited as `data_subject.exported`, keyed \
        by the number's salted hash; the number is not repeated in the answer.",
    params(SubjectQuery),
    responses(
        (status = 200, description = "The document.", body = SubjectDocument),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn get_data_subject(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiQuery(query): ApiQuery<SubjectQuery>,
) -> Result<Json<SubjectDocument>, ApiError> {
    let phone = PhoneNumber::parse(&query.phone, "phone")?;
    let data = state
        .store
        .subject_data(&caller.account_id, &phone, state.clock.now(), &caller.actor)
        .await?;
    let callbacks = data
        .callbacks
        .iter()
        .map(|(cb, attempts, history)| {
            let mut view = CallbackView::with_link(cb, &state.links);
            view.attempts = Some(attempts.clone());
            view.history = Some(history.clone());
            view
        })
        .collect();
    Ok(Json(SubjectDocument {
        contacts: data.contacts.iter().map(ContactView::from).collect(),
        callbacks,
        consents: data.consents.iter().map(ConsentView::from).collect(),
        do_not_call: data.dnc.as_ref().map(DncView::from),
        messages: data
            .messages
            .iter()
            .map(|m| PendingMessageView {
                id: m.id.clone(),
                callback_id: m.callback_id.clone(),
                kind: m.kind.clone(),
                channel: m.channel.clone(),
                due_at: m.due_at.to_string(),
            })
            .collect(),
        recordings: data
            .recordings
            .iter()
            .map(|r| RecordingView {
                callback_id: r.callback_id.clone(),
                attempt: r.attempt,
                url: Attempt::recording_url(
                    &CallbackId::from_trusted(r.callback_id.clone()),
                    r.attempt,
                ),
                file: r.file.clone(),
            })
            .collect(),
        audit_entries: data.audit.iter().map(SubjectAuditView::from).collect(),
    }))
}

/// Which number to erase.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    /// E.164, or any format with a country code.
    pub phone: String,
}

/// What an erasure did.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EraseResponse {
    /// How many of each kind were erased, masked, deleted or re-keyed.
    pub erased: ErasureCounts,
    /// Recording files the rows no longer name but that could not be deleted (logged with
    /// their paths; 0 normally).
    pub recordings_not_deleted: u64,
}

#[utoipa::path(
    post, path = "/v1/data-subjects/erase", operation_id = "erase_data_subject",
    tag = "data_subjects",
    summary = "Erase a phone number and the person's data",
    description = "In one transaction: callbacks still to be called are canceled; contacts \
        are deleted; callbacks keep their ids, statuses, times and attempts but lose the number \
        (masked as `erased:<hash prefix>`), name, notes, metadata and initial message; attempts \
        lose notes, provider details and recording; events and agents' feed entries keep their \
        type and time with a minimal payload; unsent webhook deliveries and customer messages \
        are deleted; the do-not-call entry and consents stay, keyed by the number's salted hash \
        (the number stays blocked); audit entries holding the person's data are redacted (the \
        chain still verifies). Then the recording files are deleted. Audited as \
        `data_subject.erased` (counts only). A number nothing is held about answers zero counts.",
    request_body = EraseRequest,
    responses(
        (status = 200, description = "What was erased.", body = EraseResponse),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn erase_data_subject(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(body): ApiJson<EraseRequest>,
) -> Result<Json<EraseResponse>, ApiError> {
    let phone = PhoneNumber::parse(&body.phone, "phone")?;
    let erasure = state
        .store
        .erase_subject(&caller.account_id, &phone, state.clock.now(), &caller.actor)
        .await?;
    let (deleted, failed) = crate::retention::delete_recording_files(
        &state.settings.recordings_dir,
        &erasure.recordings,
    )
    .await;
    let mut erased = erasure.counts;
    erased.recordings = deleted;
    Ok(Json(EraseResponse {
        erased,
        recordings_not_deleted: failed,
    }))
}
