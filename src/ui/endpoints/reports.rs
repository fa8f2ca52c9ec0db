//! The Reports page's figures (`GET /ui/api/reports`).

use axum::{Json, extract::State};

use super::{AppState, Viewer};
use crate::{
    api::{
        error::ApiError,
        extract::ApiQuery,
        reports::{ReportQuery, build_report},
    },
    domain::report::Report,
};

/// The reports' figures (supervisors): the same as `GET /v1/reports/callbacks`.
pub async fn reports(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    viewer.require_supervisor()?;
    Ok(Json(
        build_report(&state, &viewer.principal.account_id, q).await?,
    ))
}
