//! The OpenAPI 3.1 document of the native API (`GET /openapi.json`) and a Swagger UI page that
//! browses it (`GET /docs`).
//!
//! The page works offline: Swagger UI's script and stylesheet are vendored in
//! `assets/swagger-ui/` (from the npm package `swagger-ui-dist`) and compiled into the binary.
//!
//! Each handler carries its own `#[utoipa::path]` (its `bearer` security requirement names the
//! scope it needs); [`ApiDoc`] lists them. Answers every `/v1` operation can give whatever it
//! does (403, 408, 429, 500, 503) are added by [`CommonResponses`], so the handlers' attributes
//! name only the answers specific to them.

use std::sync::LazyLock;

use axum::{
    Router,
    body::Bytes,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use sha2::{Digest, Sha256};
use utoipa::{
    Modify, OpenApi, ToResponse,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    admin, agent_work, agents, audio, availability, callbacks, caller_ids, calls, campaigns,
    compliance, consents, contacts, data_subjects, dispositions, dnc,
    error::{
        AudioInUse, BadRequest, ErrorBody, ErrorObject, Forbidden, Internal, NotFound,
        PayloadTooLarge, RateLimited, RequestTimeout, TrunkInUse, Unauthorized, Unavailable,
        UnsupportedMediaType,
    },
    notifications,
    ops::{self, HealthStatus},
    playbooks, queue_callbacks, reports, settings, trunks, webhooks,
};
use crate::app::AppState;
use crate::domain::{ErrorCode, Origin, Status};

const DESCRIPTION: &str = "\
A self-hosted, durable scheduler for customer callbacks and outbound calls.

Every `/v1` request carries `Authorization: Bearer <token>` (an API key, or a JWT signed with \
the key the account registered; the `auth` header is accepted too); everything is scoped to \
that credential's account, and another account's ids answer 404. Each operation names the \
scope it needs in its security requirement (`admin` grants every scope, a `:write` scope its \
`:read`); without it the answer is 403. Each credential is rate limited: past the limit the \
answer is 429 with `Retry-After`. Request bodies are JSON (`Content-Type: application/json`).

Every error has the body `{\"error\": {\"code\", \"message\", \"field\"}}`; `code` is one of \
the `ErrorCode` values and never changes meaning, `field` names the offending input \
(`callbacks[3].phone` inside a batch), and some errors carry more members (`existing_id`, \
`status`).";

/// The OpenAPI document of every native route.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ringback",
        version = env!("CARGO_PKG_VERSION"),
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        callbacks::create::create,
        callbacks::create::create_batch,
        callbacks::read::list,
        callbacks::read::get,
        callbacks::change::patch,
        callbacks::change::cancel,
        callbacks::change::outcome,
        callbacks::eligibility::eligibility,
        availability::availability,
        settings::get_settings,
        settings::put_settings,
        notifications::get_notification_settings,
        notifications::put_notification_settings,
        notifications::test_email_settings,
        campaigns::create::create,
        campaigns::list,
        campaigns::get,
        campaigns::contacts,
        campaigns::pause,
        campaigns::resume,
        campaigns::cancel,
        webhooks::create_endpoint,
        webhooks::list_endpoints,
        webhooks::get_endpoint,
        webhooks::update_endpoint,
        webhooks::delete_endpoint,
        webhooks::rotate_endpoint_secret,
        webhooks::list_deliveries,
        webhooks::list_events,
        webhooks::redeliver_event,
        webhooks::rotate_signing_secret,
        admin::create_key,
        admin::list_keys,
        admin::revoke_key,
        admin::rotate_key,
        admin::set_jwt_key,
        admin::get_jwt_key,
        admin::delete_jwt_key,
        admin::list_audit,
        agents::create_agent,
        agents::list_agents,
        agents::get_agent,
        agents::update_agent,
        agents::delete_agent,
        agents::set_presence,
        agent_work::list,
        agent_work::accept,
        agent_work::reject,
        agent_work::complete,
        agent_work::reschedule,
        agent_work::cancel,
        agent_work::events,
        agents::create_queue,
        agents::list_queues,
        agents::get_queue,
        agents::update_queue,
        agents::delete_queue,
        queue_callbacks::create_queue_callback,
        queue_callbacks::get_queue_wait,
        contacts::upsert_contact,
        contacts::list_contacts,
        contacts::get_contact,
        contacts::update_contact,
        contacts::delete_contact,
        contacts::import_contacts,
        contacts::export_contacts,
        dnc::add_dnc,
        dnc::list_dnc,
        data_subjects::get_data_subject,
        data_subjects::erase_data_subject,
        dnc::get_dnc,
        dnc::remove_dnc,
        dnc::import_dnc,
        consents::record_consent,
        consents::revoke_consent,
        consents::list_consents,
        compliance::evidence,
        playbooks::create_playbook,
        playbooks::list_playbooks,
        playbooks::get_playbook,
        playbooks::update_playbook,
        playbooks::delete_playbook,
        audio::upload_audio,
        audio::list_audio,
        audio::get_audio,
        audio::get_audio_content,
        audio::delete_audio,
        calls::get_call_recording,
        trunks::create_trunk,
        trunks::list_trunks,
        trunks::get_trunk,
        trunks::update_trunk,
        trunks::delete_trunk,
        dispositions::create_disposition,
        dispositions::list_dispositions,
        dispositions::get_disposition,
        dispositions::update_disposition,
        dispositions::delete_disposition,
        caller_ids::create_caller_id,
        caller_ids::list_caller_ids,
        caller_ids::get_caller_id,
        caller_ids::update_caller_id,
        caller_ids::delete_caller_id,
        reports::callbacks,
        ops::healthz,
        ops::readyz,
    ),
    components(
        // Schemas only query parameters name are not collected on their own.
        schemas(ErrorBody, ErrorObject, ErrorCode, HealthStatus, Status, Origin),
        responses(
            BadRequest,
            Unauthorized,
            Forbidden,
            NotFound,
            PayloadTooLarge,
            UnsupportedMediaType,
            RequestTimeout,
            TrunkInUse,
            AudioInUse,
            RateLimited,
            Internal,
            Unavailable,
        ),
    ),
    modifiers(&CommonResponses),
    tags(
        (name = "callbacks", description = "Schedule, list, read, change, cancel and report on callbacks."),
        (name = "webhooks", description = "Webhook endpoints, their delivery logs, and the account signing secret."),
        (name = "events", description = "The account's event log: catch up after downtime, redeliver."),
        (name = "contacts", description = "Contacts, upserted by phone; CSV import and export."),
        (name = "dnc", description = "The do-not-call list; adding a number cancels its scheduled callbacks."),
        (name = "compliance", description = "Evidence of each call's lawfulness, from the tamper-evident audit trail."),
        (name = "data_subjects", description = "A data subject's rights: everything held about a phone number, and its erasure (`admin` scope, audited)."),
        (name = "consents", description = "Customers' consent per number and scope; a revocation cancels what is pending and stops later calls."),
        (name = "playbooks", description = "Playbooks, their `initial_message` templates and the audio they play (`/v1/audio`)."),
        (name = "trunks", description = "Where calls leave Ringback: HTTP dialer bridges and SIP trunks, with their limits."),
        (name = "dispositions", description = "Wrap-up codes: the account's names for how a call ended, each with its native outcome class and whether it ends the callback."),
        (name = "caller_ids", description = "The numbers the account owns and shows on its calls: pools, local presence (area code, region), daily caps."),
        (name = "reports", description = "The Callback Manager's report figures: callbacks per day by origin and result, answer rate, timeliness, SLA, per agent and per queue."),
        (name = "admin", description = "API keys, the account's JWT key and the audit trail (`admin` scope)."),
        (name = "campaigns", description = "Campaigns over a contact list, and the account's dialling policy (calling window, attempt caps)."),
        (name = "notifications", description = "Confirmations and reminders to customers by SMS and email: channels, templates, the SMTP server and its test."),
        (name = "ops", description = "Liveness and readiness; no authentication."),
    ),
)]
pub struct ApiDoc;

/// Adds the bearer security scheme, and to every `/v1` operation the answers any of them can
/// give: 403 (missing scope), 408 (request timeout), 429 (rate limited), 500 and 503; to those
/// with a body 413 (too large) and, for a JSON body, 415 (not declared as JSON).
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key (`rbk_...`) or a JWT: `Authorization: Bearer <token>`. \
                         Operations list the scope they need.",
                    ))
                    .build(),
            ),
        );
        let common = [
            ("403", Forbidden::response().0),
            ("408", RequestTimeout::response().0),
            ("429", RateLimited::response().0),
            ("500", Internal::response().0),
            ("503", Unavailable::response().0),
        ];
        for (path, item) in openapi.paths.paths.iter_mut() {
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                // A body may be too large; a JSON one must say it is JSON.
                let body = operation.request_body.as_ref().map(|body| {
                    let json = body.content.contains_key("application/json");
                    [
                        Some(("413", PayloadTooLarge::response().0)),
                        json.then(|| ("415", UnsupportedMediaType::response().0)),
                    ]
                });
                let answers = common
                    .into_iter()
                    .chain(body.into_iter().flatten().flatten());
                for (status, name) in answers {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| utoipa::openapi::Ref::from_response_name(name).into());
                }
            }
        }
    }
}

/// The native document with `more` merged in (the app adds the dialects', which `api` does not
/// know).
pub fn document(more: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(more);
    doc
}

const SWAGGER_UI_JS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/swagger-ui/swagger-ui-bundle.js"
));
const SWAGGER_UI_CSS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/swagger-ui/swagger-ui.css"
));

/// The assets are cached for a year; the page names them with a digest of their bytes, so a
/// new build with other assets is fetched anew.
const ASSET_CACHE: &str = "public, max-age=31536000, immutable";

fn digest(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..6])
}

static DOCS_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ringback API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css?v={css}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js?v={js}"></script>
<script>
window.ui = SwaggerUIBundle({{
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
</script>
</body>
</html>
"##,
        css = digest(SWAGGER_UI_CSS),
        js = digest(SWAGGER_UI_JS),
    )
});

/// `/openapi.json` (the document `doc`, rendered once), `/docs` and the page's assets.
pub fn routes(doc: &utoipa::openapi::OpenApi) -> Router<AppState> {
    let json = Bytes::from(
        doc.to_pretty_json()
            .expect("the OpenAPI document serializes"),
    );
    Router::new()
        .route(
            "/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route("/docs", get(docs))
        .route("/docs/swagger-ui-bundle.js", get(swagger_ui_js))
        .route("/docs/swagger-ui.css", get(swagger_ui_css))
}

/// The Swagger UI page, pointed at `/openapi.json`.
pub async fn docs() -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(DOCS_PAGE.as_str()),
    )
}

pub async fn swagger_ui_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        SWAGGER_UI_JS,
    )
}

pub async fn swagger_ui_css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE),
        ],
        SWAGGER_UI_CSS,
    )
}
