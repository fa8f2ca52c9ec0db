//! `/v1/consents`: what each customer agreed to be called (or texted) for, and withdrew.
//! Recording a revocation cancels, in the same transaction, what is pending to the number in
//! the modes that needed it; the dial decision reads consent before every call
//! (`domain::consent`, block `no_consent`).

use axum::{Json, extract::State, http::StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiJson, ApiQuery},
};
use crate::{
    app::AppState,
    domain::{
        ErrorCode, FieldError, PhoneNumber,
        consent::{Consent, ConsentScope, check_texts},
    },
};

/// One scope's consent for a number.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentView {
    /// E.164.
    pub phone: String,
    /// `calls`, `ai_calls`, `prerecorded` or `sms`.
    pub scope: ConsentScope,
    /// `granted` or `revoked`.
    pub status: String,
    pub source: String,
    /// When the customer said it.
    pub captured_at: String,
    pub evidence: Option<String>,
    pub updated_at: String,
}

impl From<&Consent> for ConsentView {
    fn from(c: &Consent) -> Self {
        Self {
            phone: c.phone.to_string(),
            scope: c.scope,
            status: status_name(c.granted).to_owned(),
            source: c.source.clone(),
            captured_at: c.captured_at.to_string(),
            evidence: c.evidence.clone(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

fn status_name(granted: bool) -> &'static str {
    match granted {
        true => "granted",
        false => "revoked",
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordConsent {
    /// E.164, or a human format with a country code.
    pub phone: String,
    /// `calls`, `ai_calls`, `prerecorded` or `sms`.
    pub scope: String,
    /// `granted` (the default) or `revoked`.
    pub status: Option<String>,
    /// Where it was captured (`web_form`, `ivr`, `agent`, `crm` ...), 1 to 100 characters.
    pub source: String,
    /// When the customer said it (RFC 3339); default now. Not in the future.
    pub captured_at: Option<String>,
    /// What proves it: the form's wording, a recording's id, the message text (up to 5,000
    /// characters).
    pub evidence: Option<String>,
}

/// The answer to recording consent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentRecorded {
    #[serde(flatten)]
    pub consent: ConsentView,
    /// Callbacks to the number canceled because the revoked scope was needed by their calls.
    pub canceled_callback_ids: Vec<String>,
}

/// Where and when the customer said it, and what proves it, as a request gives them.
#[derive(Clone, Copy)]
struct Said<'a> {
    source: &'a str,
    captured_at: Option<&'a str>,
    evidence: Option<&'a str>,
}

/// Consent as a request gives it; the instant is `now` unless it names an earlier one.
fn consent(
    caller: &Caller,
    phone: &PhoneNumber,
    (scope, granted): (ConsentScope, bool),
    said: &Said,
    now: Timestamp,
) -> Result<Consent, FieldError> {
    let Said {
        source,
        captured_at,
        evidence,
    } = *said;
    check_texts(source, evidence)?;
    let captured_at = match captured_at {
        None => now,
        Some(raw) => {
            let at: Timestamp = raw.parse().map_err(|_| {
                FieldError::new(
                    ErrorCode::InvalidField,
                    "captured_at",
                    "must be an RFC 3339 instant with an offset",
                )
            })?;
            // A little clock skew between the capturing system and Ringback is tolerated.
            if at > now + SignedDuration::from_mins(5) {
                return Err(FieldError::new(
                    ErrorCode::InvalidField,
                    "captured_at",
                    format!("{at} is in the future (now is {now})"),
                ));
            }
            at
        }
    };
    Ok(Consent {
        account_id: caller.account_id.clone(),
        phone: phone.clone(),
        scope,
        granted,
        source: source.trim().to_owned(),
        captured_at,
        evidence: evidence
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned),
        updated_at: now,
    })
}

#[utoipa::path(
    post, path = "/v1/consents", operation_id = "record_consent", tag = "consents",
    summary = "Record a customer's consent, or its withdrawal",
    description = "Stores the customer's latest word on one scope for a number. A `revoked` \
        consent cancels, in the same transaction, the callbacks to the number nobody has started \
        calling whose calls need that scope (`calls`: all; `ai_calls`: `ai`; `prerecorded`: \
        `unattended`), each with `callback.canceled` (`\"reason\": \"consent_revoked\"`), and \
        stops any later call needing it (`no_consent`). Accounts may require consent before \
        calls (`require_consent_for` in `/v1/settings`).",
    request_body = RecordConsent,
    responses(
        (status = 201, description = "Recorded.", body = ConsentRecorded),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn record_consent(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    ApiJson(req): ApiJson<RecordConsent>,
) -> Result<(StatusCode, Json<ConsentRecorded>), ApiError> {
    let phone = PhoneNumber::parse(&req.phone, "phone")?;
    let scope = ConsentScope::parse_field(&req.scope, "scope")?;
    let granted = match req.status.as_deref() {
        None | Some("granted") => true,
        Some("revoked") => false,
        Some(other) => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                "status",
                format!("{other:?} is not a status: granted or revoked"),
            )
            .into());
        }
    };
    let said = Said {
        source: &req.source,
        captured_at: req.captured_at.as_deref(),
        evidence: req.evidence.as_deref(),
    };
    let c = consent(&caller, &phone, (scope, granted), &said, state.clock.now())?;
    let canceled = state
        .store
        .record_consents(std::slice::from_ref(&c), &caller.actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentRecorded {
            consent: ConsentView::from(&c),
            canceled_callback_ids: canceled.iter().map(ToString::to_string).collect(),
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeConsent {
    /// E.164, or a human format with a country code.
    pub phone: String,
    /// The scopes withdrawn; default all four.
    pub scopes: Option<Vec<String>>,
    /// Where the customer said it (`ivr`, `agent`, `email` ...), 1 to 100 characters.
    pub source: String,
    pub evidence: Option<String>,
}

/// The answer to a withdrawal.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentRevoked {
    pub phone: String,
    pub revoked: Vec<ConsentScope>,
    /// Callbacks to the number canceled because their calls needed a revoked scope.
    pub canceled_callback_ids: Vec<String>,
}

#[utoipa::path(
    post, path = "/v1/consents/revoke", operation_id = "revoke_consent", tag = "consents",
    summary = "Withdraw a customer's consent (all scopes unless named)",
    description = "What a customer's \"stop calling me\" does, from whatever channel it came: \
        the scopes are revoked and, in the same transaction, what is pending to the number in \
        the modes that need them is canceled (`callback.canceled`, `\"reason\": \
        \"consent_revoked\"`). An inbound `STOP` text on a `twilio_compatible` trunk does the \
        same for all scopes.",
    request_body = RevokeConsent,
    responses(
        (status = 200, description = "Revoked.", body = ConsentRevoked),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 403, response = super::error::Forbidden),
    ),
    security(("bearer" = ["contacts:write"])),
)]
pub async fn revoke_consent(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsWrite>,
    ApiJson(req): ApiJson<RevokeConsent>,
) -> Result<Json<ConsentRevoked>, ApiError> {
    let phone = PhoneNumber::parse(&req.phone, "phone")?;
    let scopes = match &req.scopes {
        None => ConsentScope::ALL.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                "scopes",
                "must name at least one scope, or be left out for all",
            )
            .into());
        }
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(i, n)| ConsentScope::parse_field(n, &format!("scopes[{i}]")))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let now = state.clock.now();
    let said = Said {
        source: &req.source,
        captured_at: None,
        evidence: req.evidence.as_deref(),
    };
    let consents = scopes
        .iter()
        .map(|scope| consent(&caller, &phone, (*scope, false), &said, now))
        .collect::<Result<Vec<_>, _>>()?;
    let canceled = state
        .store
        .record_consents(&consents, &caller.actor)
        .await?;
    Ok(Json(ConsentRevoked {
        phone: phone.to_string(),
        revoked: scopes,
        canceled_callback_ids: canceled.iter().map(ToString::to_string).collect(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsentQuery {
    /// The number (any format with a country code).
    pub phone: String,
}

/// What is known of one number's consent.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsentList {
    pub phone: String,
    /// One per scope ever recorded; scopes not listed were never recorded.
    pub data: Vec<ConsentView>,
}

#[utoipa::path(
    get, path = "/v1/consents", operation_id = "list_consents", tag = "consents",
    summary = "A number's consent, scope by scope",
    params(ConsentQuery),
    responses(
        (status = 200, description = "What is known.", body = ConsentList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["contacts:read"])),
)]
pub async fn list_consents(
    State(state): State<AppState>,
    caller: Authorized<scope::ContactsRead>,
    ApiQuery(query): ApiQuery<ConsentQuery>,
) -> Result<Json<ConsentList>, ApiError> {
    let phone = PhoneNumber::parse(&query.phone, "phone")?;
    let consents = state.store.consents_of(&caller.account_id, &phone).await?;
    Ok(Json(ConsentList {
        phone: phone.to_string(),
        data: consents.iter().map(ConsentView::from).collect(),
    }))
}
