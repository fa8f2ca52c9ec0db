//! `GET /v1/compliance/evidence?phone=`: for one number, every attempt with the dial decision
//! that allowed it (and every call refused), each with its link in the account's audit hash
//! chain, and the chain verified from its anchor to its head at the time of the export.
//!
//! The entries are found by the number's salted hash, so the evidence outlives an erasure of
//! the number (their content holds no personal data).

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use super::{
    authorized::{Authorized, scope},
    error::ApiError,
    extract::ApiQuery,
};
use crate::{
    app::AppState,
    audit::{ChainReport, verify_chains},
    domain::PhoneNumber,
    store::ChainedEntry,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    /// The number (any format with a country code).
    pub phone: String,
}

/// One entry of the audit trail about the number, with its place in the hash chain.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EvidenceEntry {
    /// The audit log's row.
    pub seq: i64,
    pub occurred_at: String,
    /// `dial.allowed` (an attempt and the decision that allowed it), `dial.refused`, or another
    /// audited change about the number.
    pub action: String,
    pub actor_type: String,
    pub actor_id: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    /// The entry's content: for `dial.*`, `callback_id` and `decision` (the zones judged in and
    /// where they came from, the local time in each, the calling window and regional windows,
    /// the caps and the attempts counted, do-not-call and consent, the decision). `{"redacted":
    /// true}` once an erasure replaced personal content.
    #[schema(value_type = Object)]
    pub content: serde_json::Value,
    pub redacted: bool,
    /// SHA-256 of the content as written, which the chain commits to.
    pub content_digest: Option<String>,
    /// The entry's link; `null` for the last moments' entries, not sealed yet.
    pub link: Option<ChainLink>,
}

/// An entry's place in its account's hash chain.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChainLink {
    pub chain_index: i64,
    /// The hash of the entry before it.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash`, the index and every field of the entry (see the
    /// architecture notes).
    pub entry_hash: String,
}

/// The account's chain, verified at the time of the export.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ChainVerification {
    /// `ok`, `broken`, or `empty` (no sealed entry yet).
    pub status: String,
    pub verified_entries: u64,
    /// The chain starts after this entry (earlier ones were deleted by audit retention).
    pub anchor_index: i64,
    pub head_index: i64,
    /// Keep it: a later export whose chain does not pass through it shows a rewrite.
    pub head_hash: Option<String>,
    /// Entries of the last moments, not sealed yet.
    pub unsealed_entries: u64,
    /// The first entry that breaks the chain (`chain_index`, `seq`, `reason`).
    #[schema(value_type = Option<Object>)]
    pub broken_at: Option<serde_json::Value>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Evidence {
    /// The number's salted hash in this account: what the entries are kept under.
    pub subject_hash: String,
    /// `dial.allowed` entries, one per attempt Ringback placed, and `offer.allowed`, one per
    /// preview callback offered to agents (who place the call), oldest first.
    pub attempts: Vec<EvidenceEntry>,
    /// `dial.refused` entries: calls never placed (do-not-call, consent).
    pub refusals: Vec<EvidenceEntry>,
    /// Every other audited change about the number (do-not-call, consent, and each export of
    /// this evidence, `compliance.evidence_exported`, this one included).
    pub other_entries: Vec<EvidenceEntry>,
    pub chain: ChainVerification,
}

impl From<ChainedEntry> for EvidenceEntry {
    fn from(e: ChainedEntry) -> Self {
        Self {
            seq: e.seq,
            occurred_at: e.occurred_at.to_string(),
            action: e.action,
            actor_type: e.actor_type,
            actor_id: e.actor_id,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            content: e.changes,
            redacted: e.redacted,
            content_digest: e.content_digest,
            link: e
                .link
                .map(|(chain_index, prev_hash, entry_hash)| ChainLink {
                    chain_index,
                    prev_hash,
                    entry_hash,
                }),
        }
    }
}

impl From<Option<ChainReport>> for ChainVerification {
    fn from(report: Option<ChainReport>) -> Self {
        match report {
            None => Self {
                status: "empty".into(),
                verified_entries: 0,
                anchor_index: 0,
                head_index: 0,
                head_hash: None,
                unsealed_entries: 0,
                broken_at: None,
            },
            Some(r) => Self {
                status: r.status.into(),
                verified_entries: r.verified,
                anchor_index: r.anchor_index,
                head_index: r.head_index,
                head_hash: Some(r.head_hash),
                unsealed_entries: r.unsealed,
                broken_at: r
                    .broken_at
                    .map(|b| serde_json::to_value(b).unwrap_or_default()),
            },
        }
    }
}

#[utoipa::path(
    get, path = "/v1/compliance/evidence", operation_id = "compliance_evidence",
    tag = "compliance", summary = "Every attempt to one number, with the decision that allowed it",
    description = "For one number: every call attempt with the dial decision that allowed it \
        (zones judged in and their source, local times, windows, caps and attempts counted, \
        do-not-call and consent state at that instant), every call refused, and every other \
        audited change about the number, each with its link in the account's audit hash chain; \
        and the chain verified from its anchor to its head now. Entries are found by the \
        number's salted hash, so the evidence outlives an erasure of the number. Each export is \
        itself audited (`compliance.evidence_exported`).",
    params(EvidenceQuery),
    responses(
        (status = 200, description = "The evidence.", body = Evidence),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn evidence(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiQuery(query): ApiQuery<EvidenceQuery>,
) -> Result<Json<Evidence>, ApiError> {
    let phone = PhoneNumber::parse(&query.phone, "phone")?;
    let found = state
        .store
        .subject_entries(
            &caller.account_id,
            phone.as_str(),
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    let report = verify_chains(state.store.as_ref(), Some(caller.account_id.as_str()))
        .await?
        .pop();
    let (mut attempts, mut refusals, mut other_entries) = (Vec::new(), Vec::new(), Vec::new());
    for entry in found.entries {
        match entry.action.as_str() {
            "dial.allowed" | "offer.allowed" => attempts.push(entry.into()),
            "dial.refused" => refusals.push(entry.into()),
            _ => other_entries.push(entry.into()),
        }
    }
    // The number itself is not repeated: the answer may be kept after the number is erased.
    Ok(Json(Evidence {
        subject_hash: found.subject_hash,
        attempts,
        refusals,
        other_entries,
        chain: report.into(),
    }))
}
