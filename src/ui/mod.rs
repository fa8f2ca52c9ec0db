//! The Callback Manager: a web page for supervisors and agents, served by the same binary at
//! `/`, and the JSON endpoints under `/ui/api/` its script calls.
//!
//! The page is plain HTML, CSS and JavaScript from `assets/ui/`, compiled into the binary, so
//! it works offline with no build step. Its endpoints authenticate with a session cookie (see
//! [`session`]) and check a CSRF header on every change; they translate to the same handlers
//! and `Store` verbs as the native API, always scoped to the session's account, with the actor
//! recorded as the user.
//!
//! Architecture invariant: `ui` has no SQL and no business rules of its own: it reaches data
//! through `Store` and the `api` module's handlers, and decides only who may see what
//! (supervisors: the whole account; agents: their own work).

use axum::{
    Router,
    http::header,
    response::{Html, IntoResponse},
    routing::{get, post, put},
};

use crate::app::AppState;

pub mod customer;
pub mod endpoints;
pub mod session;

pub use session::{UiState, Viewer};

const INDEX: &str = include_str!("../../assets/ui/index.html");
const APP_JS: &str = include_str!("../../assets/ui/app.js");
const APP_CSS: &str = include_str!("../../assets/ui/app.css");

/// The page's routes and its JSON endpoints.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/c/{token}", get(customer::page))
        .route("/c/{token}/confirm", post(customer::confirm))
        .route("/c/{token}/reschedule", post(customer::reschedule))
        .route("/c/{token}/cancel", post(customer::cancel))
        .route("/c/{token}/stop", post(customer::stop))
        .route("/ui/assets/app.js", get(app_js))
        .route("/ui/assets/app.css", get(app_css))
        .route(
            "/ui/api/session",
            get(session::me)
                .post(session::sign_in)
                .delete(session::sign_out),
        )
        .route(
            "/ui/api/callbacks",
            get(endpoints::list).post(endpoints::create),
        )
        .route("/ui/api/callbacks/export", get(endpoints::export))
        .route("/ui/api/callbacks/bulk", post(endpoints::bulk))
        .route(
            "/ui/api/callbacks/{id}",
            get(endpoints::detail).patch(endpoints::change),
        )
        .route("/ui/api/callbacks/{id}/cancel", post(endpoints::cancel))
        .route("/ui/api/callbacks/{id}/notes", post(endpoints::add_note))
        .route("/ui/api/events", get(endpoints::live))
        .route("/ui/api/directory", get(endpoints::directory))
        .route("/ui/api/reports", get(endpoints::reports))
        .route("/ui/api/campaigns", get(endpoints::campaigns))
        .route(
            "/ui/api/campaigns/{id}/pause",
            post(endpoints::pause_campaign),
        )
        .route(
            "/ui/api/campaigns/{id}/resume",
            post(endpoints::resume_campaign),
        )
        .route(
            "/ui/api/campaigns/{id}/cancel",
            post(endpoints::cancel_campaign),
        )
        .route("/ui/api/me/callbacks", get(endpoints::my_callbacks))
        .route("/ui/api/me/callbacks/{id}/accept", post(endpoints::accept))
        .route("/ui/api/me/callbacks/{id}/reject", post(endpoints::reject))
        .route(
            "/ui/api/me/callbacks/{id}/complete",
            post(endpoints::complete),
        )
        .route("/ui/api/me/presence", put(endpoints::presence))
        .route("/ui/api/me/events", get(endpoints::my_events))
}

/// Headers every page answer carries: no framing by other sites, scripts only from us.
fn page_headers(content_type: &'static str) -> [(header::HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    ]
}

async fn index() -> impl IntoResponse {
    (page_headers("text/html; charset=utf-8"), Html(INDEX))
}

async fn app_js() -> impl IntoResponse {
    (page_headers("text/javascript; charset=utf-8"), APP_JS)
}

async fn app_css() -> impl IntoResponse {
    (page_headers("text/css; charset=utf-8"), APP_CSS)
}
