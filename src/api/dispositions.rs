//! `/v1/dispositions`: the account's wrap-up codes, which agents and drivers complete calls
//! with (`disposition` on an outcome report).
//!
//! Deleting one that calls were completed with keeps their history: the row is only marked
//! deleted, so those calls keep their code and reports still count them; it is gone from the
//! list and from `GET`, and a new outcome naming it is refused. Creating the code again
//! brings it back with the new fields.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    error::{ApiError, deleted_or_not_found},
    extract::ApiJson,
};
use crate::app::AppState;
use crate::domain::{
    ErrorCode,
    disposition::{Disposition, parse_code, parse_label, parse_outcome_class},
};

/// A disposition as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DispositionView {
    pub code: String,
    pub label: String,
    /// The native outcome a call completed with it has (recall policies and answer rates
    /// read it).
    pub outcome_class: String,
    /// `true`: the callback ends, whatever its recall policy; `false`: recallable.
    #[serde(rename = "final")]
    pub is_final: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Disposition> for DispositionView {
    fn from(d: &Disposition) -> Self {
        Self {
            code: d.code.clone(),
            label: d.label.clone(),
            outcome_class: d.outcome_class.as_str().to_owned(),
            is_final: d.is_final,
            created_at: d.created_at.to_string(),
            updated_at: d.updated_at.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DispositionList {
    pub data: Vec<DispositionView>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDisposition {
    /// 1 to 64 letters, digits, `_`, `-` or `.`, unique in the account (`SALE_MADE`).
    pub code: String,
    /// What people see (1 to 200 characters).
    pub label: String,
    /// A native outcome: `answered`, `no_answer`, `busy`, `voicemail`, `failed`,
    /// `invalid_number` or `voicemail_left`.
    pub outcome_class: String,
    /// `true`: a call completed with it ends the callback (no recall); default `false`.
    #[serde(rename = "final")]
    pub is_final: Option<bool>,
}

#[utoipa::path(
    post, path = "/v1/dispositions", operation_id = "create_disposition", tag = "dispositions",
    summary = "Create a disposition (wrap-up code)",
    description = "A code already in use is refused with 400 naming `code`; a code that was \
        deleted is brought back with these fields.",
    request_body = CreateDisposition,
    responses(
        (status = 201, description = "The disposition.", body = DispositionView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn create_disposition(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    ApiJson(req): ApiJson<CreateDisposition>,
) -> Result<(StatusCode, Json<DispositionView>), ApiError> {
    let now = state.clock.now();
    let disposition = Disposition {
        account_id: caller.account_id.clone(),
        code: parse_code(&req.code, "code")?,
        label: parse_label(&req.label, "label")?,
        outcome_class: parse_outcome_class(&req.outcome_class, "outcome_class")?,
        is_final: req.is_final.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    if !state
        .store
        .insert_disposition(&disposition, &caller.actor)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!(
                "the account already has a disposition {:?}; change it with PATCH",
                disposition.code
            ),
        )
        .field("code"));
    }
    Ok((
        StatusCode::CREATED,
        Json(DispositionView::from(&disposition)),
    ))
}

#[utoipa::path(
    get, path = "/v1/dispositions", operation_id = "list_dispositions", tag = "dispositions",
    summary = "List dispositions, by code",
    responses(
        (status = 200, description = "The account's dispositions (deleted ones left out).", body = DispositionList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn list_dispositions(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
) -> Result<Json<DispositionList>, ApiError> {
    let all = state.store.list_dispositions(&caller.account_id).await?;
    Ok(Json(DispositionList {
        data: all.iter().map(DispositionView::from).collect(),
    }))
}

async fn load(state: &AppState, caller: &Caller, code: &str) -> Result<Disposition, ApiError> {
    state
        .store
        .get_disposition(&caller.account_id, code)
        .await?
        .ok_or_else(|| ApiError::not_found("disposition"))
}

/// The account's live disposition `code`, named by an outcome report's `field`: unknown or
/// deleted codes are refused with 400 naming it.
pub(crate) async fn named_disposition(
    state: &AppState,
    caller: &Caller,
    code: &str,
    field: &str,
) -> Result<Disposition, ApiError> {
    state
        .store
        .get_disposition(&caller.account_id, code.trim())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidField,
                format!("{code:?} is not a disposition of the account (GET /v1/dispositions)"),
            )
            .field(field)
        })
}

#[utoipa::path(
    get, path = "/v1/dispositions/{code}", operation_id = "get_disposition", tag = "dispositions",
    summary = "Get a disposition",
    params(("code" = String, Path, description = "A disposition's code.")),
    responses(
        (status = 200, description = "The disposition.", body = DispositionView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get_disposition(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(code): Path<String>,
) -> Result<Json<DispositionView>, ApiError> {
    Ok(Json(DispositionView::from(
        &load(&state, &caller, &code).await?,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDisposition {
    pub label: Option<String>,
    /// Calls already completed keep the class they were completed with.
    pub outcome_class: Option<String>,
    #[serde(rename = "final")]
    pub is_final: Option<bool>,
}

#[utoipa::path(
    patch, path = "/v1/dispositions/{code}", operation_id = "update_disposition", tag = "dispositions",
    summary = "Change a disposition",
    description = "The code stays; calls already completed keep their outcome.",
    params(("code" = String, Path, description = "A disposition's code.")),
    request_body = UpdateDisposition,
    responses(
        (status = 200, description = "The disposition.", body = DispositionView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn update_disposition(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<UpdateDisposition>,
) -> Result<Json<DispositionView>, ApiError> {
    let mut d = load(&state, &caller, &code).await?;
    if let Some(label) = &req.label {
        d.label = parse_label(label, "label")?;
    }
    if let Some(class) = &req.outcome_class {
        d.outcome_class = parse_outcome_class(class, "outcome_class")?;
    }
    if let Some(is_final) = req.is_final {
        d.is_final = is_final;
    }
    d.updated_at = state.clock.now();
    if !state.store.update_disposition(&d, &caller.actor).await? {
        return Err(ApiError::not_found("disposition"));
    }
    Ok(Json(DispositionView::from(&d)))
}

#[utoipa::path(
    delete, path = "/v1/dispositions/{code}", operation_id = "delete_disposition", tag = "dispositions",
    summary = "Delete a disposition",
    description = "Calls completed with it keep its code and reports still count them; new \
        outcomes may no longer name it. Creating the code again brings it back.",
    params(("code" = String, Path, description = "A disposition's code.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn delete_disposition(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let deleted = state
        .store
        .delete_disposition(&caller.account_id, &code, state.clock.now(), &caller.actor)
        .await?;
    deleted_or_not_found(deleted, "disposition")
}
