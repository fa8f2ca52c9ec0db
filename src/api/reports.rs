//! `/v1/reports`: the figures of the Callback Manager's reports page, for integrators.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;

use super::{
    authorized::{Authorized, scope},
    error::ApiError,
    extract::ApiQuery,
};
use crate::app::AppState;
use crate::domain::{
    AccountId, ErrorCode, Zone,
    report::{self, Report, ReportRange},
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// The first day, `YYYY-MM-DD` in `timezone` (default: 6 days before `to`).
    pub from: Option<String>,
    /// The last day, inclusive (default: today in `timezone`). At most 366 days in all.
    pub to: Option<String>,
    /// The IANA zone whose days the report counts in (default UTC).
    pub timezone: Option<String>,
    /// A callback first dialled more than this many minutes after its time, or expired
    /// undialled, misses the SLA (1 to 1440, default 15).
    pub sla_minutes: Option<u32>,
}

fn date(raw: &str, field: &str) -> Result<jiff::civil::Date, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be a date, YYYY-MM-DD",
        )
        .field(field)
    })
}

/// Builds the report of an account for a query (shared with the Callback Manager's page).
pub(crate) async fn build_report(
    state: &AppState,
    account: &AccountId,
    q: ReportQuery,
) -> Result<Report, ApiError> {
    let zone = match &q.timezone {
        Some(name) => Zone::parse(name, "timezone")?,
        None => Zone::utc(),
    };
    let now = state.clock.now();
    let to = match &q.to {
        Some(raw) => date(raw, "to")?,
        None => now.to_zoned(zone.tz().clone()).date(),
    };
    let from = match &q.from {
        Some(raw) => date(raw, "from")?,
        None => to.checked_sub(jiff::Span::new().days(6)).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "out of range",
            )
            .field("to")
        })?,
    };
    let range = ReportRange::new(from, to, zone, q.sla_minutes.unwrap_or(15))?;
    let (start, end) = range.instants();
    let (callbacks, attempts) = state.store.report_data(account, start, end).await?;
    Ok(report::build(&range, &callbacks, &attempts, now))
}

/// Callback figures for a date range.
#[utoipa::path(
    get, path = "/v1/reports/callbacks", operation_id = "callback_report", tag = "reports",
    description = "Callbacks scheduled in the range (local days of `timezone`): per day by origin \
        and by result, the answer rate, the time from request to first dial, the share dialled on \
        time (within 60 s) versus late, SLA misses, and figures per agent (from the attempts \
        they made) and per queue.",
    params(ReportQuery),
    responses(
        (status = 200, description = "The figures.", body = Report),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn callbacks(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(build_report(&state, &caller.account_id, q).await?))
}
