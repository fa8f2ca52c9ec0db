//! The whole HTTP surface: the native API's routes, the vendor dialects' and the Callback
//! Manager's, under the request limits, metrics, tracing and the API's error body for answers
//! produced outside the handlers.

use axum::{
    Router,
    extract::{MatchedPath, Request},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use tower_http::{
    catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer, timeout::TimeoutLayer,
    trace::TraceLayer,
};

use utoipa::OpenApi as _;

use super::AppState;
use crate::{
    api::{
        admin, agent_work, agents, audio, availability, callbacks, caller_ids, calls, campaigns,
        compliance, consents, contacts, data_subjects, dispositions, dnc, error::ApiError,
        notifications, openapi, ops, playbooks, queue_callbacks, reports, settings, trunks,
        webhooks,
    },
    domain::ErrorCode,
    telemetry::names,
};

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let v1 = Router::new()
        .route("/callbacks", post(callbacks::create).get(callbacks::list))
        .route("/callbacks/batch", post(callbacks::create_batch))
        .route(
            "/callbacks/{id}",
            get(callbacks::get).patch(callbacks::patch),
        )
        .route("/callbacks/{id}/cancel", post(callbacks::cancel))
        .route("/callbacks/{id}/eligibility", get(callbacks::eligibility))
        .route("/availability", get(availability::availability))
        .route(
            "/settings",
            get(settings::get_settings).put(settings::put_settings),
        )
        .route(
            "/settings/notifications",
            get(notifications::get_notification_settings)
                .put(notifications::put_notification_settings),
        )
        .route(
            "/settings/email/test",
            post(notifications::test_email_settings),
        )
        .route("/campaigns/{id}", get(campaigns::get))
        .route("/campaigns/{id}/contacts", get(campaigns::contacts))
        .route("/campaigns/{id}/pause", post(campaigns::pause))
        .route("/campaigns/{id}/resume", post(campaigns::resume))
        .route("/campaigns/{id}/cancel", post(campaigns::cancel))
        .route("/callbacks/{id}/outcome", post(callbacks::outcome))
        .route(
            "/webhook-endpoints",
            post(webhooks::create_endpoint).get(webhooks::list_endpoints),
        )
        .route(
            "/webhook-endpoints/{id}",
            get(webhooks::get_endpoint)
                .patch(webhooks::update_endpoint)
                .delete(webhooks::delete_endpoint),
        )
        .route(
            "/webhook-endpoints/{id}/rotate-secret",
            post(webhooks::rotate_endpoint_secret),
        )
        .route(
            "/webhook-endpoints/{id}/deliveries",
            get(webhooks::list_deliveries),
        )
        .route("/api-keys", post(admin::create_key).get(admin::list_keys))
        .route("/api-keys/{id}/revoke", post(admin::revoke_key))
        .route("/api-keys/{id}/rotate", post(admin::rotate_key))
        .route(
            "/jwt-key",
            axum::routing::put(admin::set_jwt_key)
                .get(admin::get_jwt_key)
                .delete(admin::delete_jwt_key),
        )
        .route("/audit", get(admin::list_audit))
        .route(
            "/agents",
            post(agents::create_agent).get(agents::list_agents),
        )
        .route(
            "/agents/{id}",
            get(agents::get_agent)
                .patch(agents::update_agent)
                .delete(agents::delete_agent),
        )
        .route("/agents/{id}/callbacks", get(agent_work::list))
        .route("/agents/{id}/events", get(agent_work::events))
        .route(
            "/agents/{id}/callbacks/{callback_id}/accept",
            post(agent_work::accept),
        )
        .route(
            "/agents/{id}/callbacks/{callback_id}/reject",
            post(agent_work::reject),
        )
        .route(
            "/agents/{id}/callbacks/{callback_id}/complete",
            post(agent_work::complete),
        )
        .route(
            "/agents/{id}/callbacks/{callback_id}/reschedule",
            post(agent_work::reschedule),
        )
        .route(
            "/agents/{id}/callbacks/{callback_id}/cancel",
            post(agent_work::cancel),
        )
        .route(
            "/agents/{id}/presence",
            axum::routing::put(agents::set_presence),
        )
        .route(
            "/queues",
            post(agents::create_queue).get(agents::list_queues),
        )
        .route(
            "/queues/{id}",
            get(agents::get_queue)
                .patch(agents::update_queue)
                .delete(agents::delete_queue),
        )
        .route(
            "/queues/{id}/callbacks",
            post(queue_callbacks::create_queue_callback),
        )
        .route("/queues/{id}/wait", get(queue_callbacks::get_queue_wait))
        .route(
            "/contacts",
            post(contacts::upsert_contact).get(contacts::list_contacts),
        )
        .route("/contacts/import", post(contacts::import_contacts))
        .route("/contacts/export", get(contacts::export_contacts))
        .route(
            "/contacts/{id}",
            get(contacts::get_contact)
                .patch(contacts::update_contact)
                .delete(contacts::delete_contact),
        )
        .route(
            "/consents",
            post(consents::record_consent).get(consents::list_consents),
        )
        .route("/consents/revoke", post(consents::revoke_consent))
        .route("/compliance/evidence", get(compliance::evidence))
        .route("/dnc", post(dnc::add_dnc).get(dnc::list_dnc))
        .route("/dnc/import", post(dnc::import_dnc))
        .route("/data-subjects", get(data_subjects::get_data_subject))
        .route(
            "/data-subjects/erase",
            post(data_subjects::erase_data_subject),
        )
        .route("/dnc/{phone}", get(dnc::get_dnc).delete(dnc::remove_dnc))
        .route(
            "/playbooks",
            post(playbooks::create_playbook).get(playbooks::list_playbooks),
        )
        .route(
            "/playbooks/{id}",
            get(playbooks::get_playbook)
                .patch(playbooks::update_playbook)
                .delete(playbooks::delete_playbook),
        )
        .route("/calls/{id}/recording", get(calls::get_call_recording))
        .route("/audio", get(audio::list_audio))
        .route(
            "/audio/{id}",
            get(audio::get_audio).delete(audio::delete_audio),
        )
        .route("/audio/{id}/content", get(audio::get_audio_content))
        .route(
            "/trunks",
            post(trunks::create_trunk).get(trunks::list_trunks),
        )
        .route(
            "/trunks/{id}",
            get(trunks::get_trunk)
                .patch(trunks::update_trunk)
                .delete(trunks::delete_trunk),
        )
        .route(
            "/dispositions",
            post(dispositions::create_disposition).get(dispositions::list_dispositions),
        )
        .route(
            "/dispositions/{code}",
            get(dispositions::get_disposition)
                .patch(dispositions::update_disposition)
                .delete(dispositions::delete_disposition),
        )
        .route(
            "/caller-ids",
            post(caller_ids::create_caller_id).get(caller_ids::list_caller_ids),
        )
        .route(
            "/caller-ids/{number}",
            get(caller_ids::get_caller_id)
                .patch(caller_ids::update_caller_id)
                .delete(caller_ids::delete_caller_id),
        )
        .route("/reports/callbacks", get(reports::callbacks))
        .route("/events", get(webhooks::list_events))
        .route("/events/{id}/redeliver", post(webhooks::redeliver_event))
        .route(
            "/signing-secret/rotate",
            post(webhooks::rotate_signing_secret),
        );
    // A campaign carries its contact list: up to 100,000 contacts in one body; an audio
    // upload, minutes of WAV.
    let bulk = Router::new()
        .route("/campaigns", post(campaigns::create).get(campaigns::list))
        .route("/audio", post(audio::upload_audio))
        .layer(axum::extract::DefaultBodyLimit::max(
            settings.max_bulk_body_bytes,
        ))
        .layer(RequestBodyLimitLayer::new(settings.max_bulk_body_bytes));
    let v1 = v1.layer(RequestBodyLimitLayer::new(settings.max_body_bytes));
    Router::new()
        .nest("/v1", v1.merge(bulk))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(openapi::routes(&openapi::document(
            crate::dialects::openapi::DialectsDoc::openapi(),
        )))
        .merge(crate::dialects::router().layer(RequestBodyLimitLayer::new(settings.max_body_bytes)))
        .merge(
            crate::api::telephony::routes()
                .layer(RequestBodyLimitLayer::new(settings.max_body_bytes)),
        )
        .merge(crate::ui::routes())
        // Voice-AI vendors' reports on calls they placed, signed by the vendor.
        .merge(
            crate::api::voice_ai_events::routes()
                .layer(RequestBodyLimitLayer::new(settings.max_bulk_body_bytes)),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        // Outside the limits, so their answers get the API's error body too.
        .layer(middleware::from_fn(rewrite_rejections))
        .layer(middleware::from_fn(record_http_metrics))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("-", |p| p.as_str());
            tracing::info_span!("http", method = %req.method(), route)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
                "internal error; it has been logged",
            )
            .into_response()
        }))
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this method is not allowed on this route",
    )
}

/// Gives answers produced by layers outside the handlers (body limit, timeout) the API's
/// error body.
async fn rewrite_rejections(req: Request, next: Next) -> Response {
    let dialect = crate::dialects::Dialect::for_path(req.uri().path());
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return resp;
    }
    let error = match resp.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "the request body is larger than the server accepts",
        ),
        StatusCode::REQUEST_TIMEOUT => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            ErrorCode::RequestTimeout,
            "the request took too long",
        ),
        // A framework rejection (a path segment that is not UTF-8, say): same shape as ours.
        StatusCode::BAD_REQUEST => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidField,
            "the request could not be read: a path or header value is malformed",
        ),
        _ => return resp,
    };
    // A vendor dialect's routes answer in that vendor's error shape.
    match dialect {
        Some(dialect) => dialect.error_response(error),
        None => error.into_response(),
    }
}

async fn record_http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!(names::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(names::HTTP_DURATION, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}
