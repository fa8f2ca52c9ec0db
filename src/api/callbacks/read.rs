//! `GET /v1/callbacks` (the filtered list) and `GET /v1/callbacks/{id}` (one callback with its
//! attempts and history).

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{
    super::{
        authorized::{Authorized, scope},
        error::ApiError,
        extract::ApiQuery,
    },
    callback_id,
};
use crate::{
    app::AppState,
    domain::{CallbackId, CallbackView, ErrorCode, Origin, PhoneNumber, Status},
    store::ListFilter,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub phone: Option<String>,
    pub status: Option<Status>,
    /// An agent or queue id the callback is assigned to, or `unassigned`.
    pub assignee: Option<String>,
    pub origin: Option<Origin>,
    /// RFC 3339; callbacks scheduled at or after this instant.
    pub scheduled_from: Option<String>,
    /// RFC 3339; callbacks scheduled before this instant.
    pub scheduled_to: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ListResponse {
    pub data: Vec<CallbackView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn instant(raw: &Option<String>, field: &str) -> Result<Option<Timestamp>, ApiError> {
    raw.as_deref()
        .map(|s| {
            s.parse::<Timestamp>().map_err(|_| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::InvalidQuery,
                    "must be an RFC 3339 date-time with an offset",
                )
                .field(field)
            })
        })
        .transpose()
}

/// List callbacks, newest first.
#[utoipa::path(
    get, path = "/v1/callbacks", operation_id = "list_callbacks", tag = "callbacks",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of callbacks; follow `next_cursor` for the next.", body = ListResponse),
        (status = 400, response = crate::api::error::BadRequest),
        (status = 401, response = crate::api::error::Unauthorized),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidQuery,
            "must be between 1 and 200",
        )
        .field("limit"));
    }
    let before = match &q.cursor {
        Some(c) => Some(CallbackId::parse(c).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidQuery,
                "not a cursor from a previous page",
            )
            .field("cursor")
        })?),
        None => None,
    };
    let filter = ListFilter {
        phone: q
            .phone
            .as_deref()
            .map(|p| PhoneNumber::parse(p, "phone"))
            .transpose()?,
        status: q.status,
        assignee: q.assignee,
        origin: q.origin,
        scheduled_from: instant(&q.scheduled_from, "scheduled_from")?,
        scheduled_to: instant(&q.scheduled_to, "scheduled_to")?,
        before,
        limit: limit + 1,
        ..ListFilter::default()
    };
    let mut rows = state
        .store
        .list_callbacks(&caller.account_id, &filter)
        .await?;
    let next_cursor = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|cb| cb.id.to_string())
    } else {
        None
    };
    Ok(Json(ListResponse {
        data: rows
            .iter()
            .map(|cb| CallbackView::with_link(cb, &state.links))
            .collect(),
        next_cursor,
    }))
}

/// Read one callback with its attempts and history.
#[utoipa::path(
    get, path = "/v1/callbacks/{id}", operation_id = "get_callback", tag = "callbacks",
    params(("id" = String, Path, description = "A callback id (`cb_...`).")),
    responses(
        (status = 200, description = "The callback, with `attempts` and `history`.", body = CallbackView),
        (status = 401, response = crate::api::error::Unauthorized),
        (status = 404, response = crate::api::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Json<CallbackView>, ApiError> {
    let id = callback_id(&id)?;
    // One snapshot: the callback, its attempts and its history agree.
    let (cb, attempts, mut history) = state
        .store
        .callback_detail(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("callback"))?;
    let mut view = CallbackView::with_link(&cb, &state.links);
    view.attempts = Some(attempts);
    for event in &mut history {
        // The snapshot each event carries (for webhooks) would repeat the callback here.
        if let Some(data) = event.data.as_object_mut() {
            data.remove("object");
        }
    }
    view.history = Some(history);
    Ok(Json(view))
}
