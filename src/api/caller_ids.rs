//! `/v1/caller-ids`: the numbers the account owns and may show on its calls, their pools and
//! daily caps (local presence).
//!
//! Once the account has registered any number, a `caller_id` it has not registered is refused
//! (`400 caller_id_not_owned`) on callbacks and campaigns ([`check_caller_id`]). A callback or
//! campaign may name a `caller_id_pool` instead: the store picks the pool number when each
//! call is claimed (`domain::caller_id::pick`) and keeps it on the attempt (its `caller_id`).

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
    extract::{ApiJson, ApiQuery},
};
use crate::app::AppState;
use crate::domain::{
    ErrorCode, FieldError, PhoneNumber,
    caller_id::{CallerId, parse_area_code, parse_pool},
    geo::Region,
};

/// Most calls a day a number may be capped at.
const MAX_PER_DAY: u32 = 1_000_000;

/// A registered number as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallerIdView {
    /// E.164.
    pub number: String,
    pub pool: Option<String>,
    /// Where it is presented as local: the region set, else the one its prefix places it in.
    pub region: Option<String>,
    /// The national digits of its area: the one set, else a North American area code.
    pub area_code: Option<String>,
    pub max_calls_per_day: Option<u32>,
    /// Calls it was shown on since midnight UTC.
    pub calls_today: u32,
    pub created_at: String,
    pub updated_at: String,
}

impl CallerIdView {
    fn new(c: &CallerId, calls_today: u32) -> Self {
        Self {
            number: c.number.to_string(),
            pool: c.pool.clone(),
            region: c.region().map(|r| r.as_str().to_owned()),
            area_code: c.area().map(|(_, area)| area),
            max_calls_per_day: c.max_calls_per_day,
            calls_today,
            created_at: c.created_at.to_string(),
            updated_at: c.updated_at.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CallerIdList {
    pub data: Vec<CallerIdView>,
}

fn per_day(value: Option<u32>) -> Result<Option<u32>, FieldError> {
    match value {
        Some(n) if !(1..=MAX_PER_DAY).contains(&n) => Err(FieldError::new(
            ErrorCode::InvalidField,
            "max_calls_per_day",
            format!("must be between 1 and {MAX_PER_DAY}"),
        )),
        other => Ok(other),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCallerId {
    /// E.164 (`+14155550100`); each number once per account.
    pub number: String,
    /// The pool it belongs to (1 to 64 letters, digits, `_`, `-` or `.`).
    pub pool: Option<String>,
    /// Where it is presented as local (`US-CA`, `GB`), when not what its prefix says.
    pub region: Option<String>,
    /// Its area code as the national digits numbers of the area start with (`20` for
    /// London); North American numbers have theirs read from the number.
    pub area_code: Option<String>,
    /// At most this many calls a day (midnight to midnight UTC); absent: no cap.
    pub max_calls_per_day: Option<u32>,
}

#[utoipa::path(
    post, path = "/v1/caller-ids", operation_id = "create_caller_id", tag = "caller_ids",
    summary = "Register a number the account owns",
    description = "A number already registered is refused with 400 naming `number`. Once the \
        account has registered any number, callbacks and campaigns may show only registered \
        ones (`caller_id_not_owned`).",
    request_body = CreateCallerId,
    responses(
        (status = 201, description = "The number.", body = CallerIdView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn create_caller_id(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    ApiJson(req): ApiJson<CreateCallerId>,
) -> Result<(StatusCode, Json<CallerIdView>), ApiError> {
    let now = state.clock.now();
    let caller_id = CallerId {
        account_id: caller.account_id.clone(),
        number: PhoneNumber::parse(&req.number, "number")?,
        pool: req
            .pool
            .as_deref()
            .map(|p| parse_pool(p, "pool"))
            .transpose()?,
        region: req
            .region
            .as_deref()
            .map(|r| Region::parse(r, "region"))
            .transpose()?,
        area_code: req
            .area_code
            .as_deref()
            .map(|a| parse_area_code(a, "area_code"))
            .transpose()?,
        max_calls_per_day: per_day(req.max_calls_per_day)?,
        created_at: now,
        updated_at: now,
    };
    if !state
        .store
        .insert_caller_id(&caller_id, &caller.actor)
        .await?
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!(
                "{} is registered already (a number belongs to one pool); change it with PATCH",
                caller_id.number
            ),
        )
        .field("number"));
    }
    Ok((StatusCode::CREATED, Json(CallerIdView::new(&caller_id, 0))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallerIdQuery {
    /// Only the numbers of this pool.
    pub pool: Option<String>,
}

#[utoipa::path(
    get, path = "/v1/caller-ids", operation_id = "list_caller_ids", tag = "caller_ids",
    summary = "List the registered numbers, oldest first",
    params(CallerIdQuery),
    responses(
        (status = 200, description = "The numbers, with their calls today.", body = CallerIdList),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn list_caller_ids(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    ApiQuery(q): ApiQuery<CallerIdQuery>,
) -> Result<Json<CallerIdList>, ApiError> {
    let pool = q
        .pool
        .as_deref()
        .map(|p| parse_pool(p, "pool"))
        .transpose()
        .map_err(|e| FieldError::new(ErrorCode::InvalidQuery, e.field, e.message))?;
    let all = state
        .store
        .list_caller_ids(&caller.account_id, pool.as_deref(), state.clock.now())
        .await?;
    Ok(Json(CallerIdList {
        data: all.iter().map(|(c, n)| CallerIdView::new(c, *n)).collect(),
    }))
}

fn path_number(raw: &str) -> Result<PhoneNumber, ApiError> {
    PhoneNumber::parse(raw, "number").map_err(|_| ApiError::not_found("caller ID"))
}

async fn load(state: &AppState, caller: &Caller, raw: &str) -> Result<(CallerId, u32), ApiError> {
    let number = path_number(raw)?;
    let found = state
        .store
        .list_caller_ids(&caller.account_id, None, state.clock.now())
        .await?
        .into_iter()
        .find(|(c, _)| c.number == number);
    found.ok_or_else(|| ApiError::not_found("caller ID"))
}

#[utoipa::path(
    get, path = "/v1/caller-ids/{number}", operation_id = "get_caller_id", tag = "caller_ids",
    summary = "Get a registered number",
    params(("number" = String, Path, description = "E.164 (URL-encode `+` as `%2B` if your client does not keep it).")),
    responses(
        (status = 200, description = "The number.", body = CallerIdView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn get_caller_id(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(number): Path<String>,
) -> Result<Json<CallerIdView>, ApiError> {
    let (c, n) = load(&state, &caller, &number).await?;
    Ok(Json(CallerIdView::new(&c, n)))
}

/// A field that may be left out (`None`) or given, possibly as `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCallerId {
    /// `null` takes it out of its pool.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub pool: Option<Option<String>>,
    /// `null`: the region its prefix places it in.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    /// `null`: a North American number's own.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub area_code: Option<Option<String>>,
    /// `null`: no cap.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_calls_per_day: Option<Option<u32>>,
}

#[utoipa::path(
    patch, path = "/v1/caller-ids/{number}", operation_id = "update_caller_id", tag = "caller_ids",
    summary = "Change a number's pool, region, area code or cap",
    params(("number" = String, Path, description = "E.164.")),
    request_body = UpdateCallerId,
    responses(
        (status = 200, description = "The number.", body = CallerIdView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn update_caller_id(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(number): Path<String>,
    ApiJson(req): ApiJson<UpdateCallerId>,
) -> Result<Json<CallerIdView>, ApiError> {
    let (mut c, n) = load(&state, &caller, &number).await?;
    if let Some(pool) = req.pool {
        c.pool = pool.as_deref().map(|p| parse_pool(p, "pool")).transpose()?;
    }
    if let Some(region) = req.region {
        c.region = region
            .as_deref()
            .map(|r| Region::parse(r, "region"))
            .transpose()?;
    }
    if let Some(area) = req.area_code {
        c.area_code = area
            .as_deref()
            .map(|a| parse_area_code(a, "area_code"))
            .transpose()?;
    }
    if let Some(cap) = req.max_calls_per_day {
        c.max_calls_per_day = per_day(cap)?;
    }
    c.updated_at = state.clock.now();
    if !state.store.update_caller_id(&c, &caller.actor).await? {
        return Err(ApiError::not_found("caller ID"));
    }
    Ok(Json(CallerIdView::new(&c, n)))
}

#[utoipa::path(
    delete, path = "/v1/caller-ids/{number}", operation_id = "delete_caller_id", tag = "caller_ids",
    summary = "Forget a number",
    description = "Calls that showed it keep it on their attempts. Callbacks naming it as \
        their `caller_id` still show it.",
    params(("number" = String, Path, description = "E.164.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["admin"])),
)]
pub async fn delete_caller_id(
    State(state): State<AppState>,
    caller: Authorized<scope::Admin>,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    let number = path_number(&number)?;
    let deleted = state
        .store
        .delete_caller_id(
            &caller.account_id,
            &number,
            state.clock.now(),
            &caller.actor,
        )
        .await?;
    deleted_or_not_found(deleted, "caller ID")
}

/// The rule for a new callback's or campaign's caller ID: a `caller_id` must be one of the
/// account's registered numbers once it has registered any (`caller_id_not_owned`), and a
/// `caller_id_pool` must have numbers. `prefix` names the fields (`callbacks[3].`).
pub(crate) async fn check_caller_id(
    state: &AppState,
    caller: &Caller,
    caller_id: Option<&PhoneNumber>,
    pool: Option<&str>,
    prefix: &str,
) -> Result<(), ApiError> {
    if let Some(number) = caller_id
        && state
            .store
            .owns_caller_id(&caller.account_id, number)
            .await?
            == Some(false)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::CallerIdNotOwned,
            format!("{number} is not one of the account's registered numbers (/v1/caller-ids)"),
        )
        .field(format!("{prefix}caller_id")));
    }
    if let Some(pool) = pool
        && state.store.pool_size(&caller.account_id, pool).await? == 0
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            format!("the account has no caller IDs in pool {pool:?} (/v1/caller-ids)"),
        )
        .field(format!("{prefix}caller_id_pool")));
    }
    Ok(())
}
