//! The dialects' part of the OpenAPI document: each vendor's routes under a tag of its own, with
//! the vendor's request and response shapes (the app merges it into `/openapi.json`; `api`
//! does not know the dialects).
//!
//! The handlers read their requests loosely on purpose (every field optional, so a missing one
//! gets the vendor's own message; numbers accepted where the page says string), and render
//! their answers with `json!`; the schemas here are what a client may send and will get, and
//! the paths are declared on stubs named after the handlers. The schemathesis run
//! (`tests/api/openapi_fuzz.rs`) holds them to what the handlers do: a body the schema refuses
//! must be refused, and every answer must match its schema.

#![allow(dead_code)]

use serde::Deserialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::api::campaigns::{CampaignCreated, NewCampaign};
use crate::domain::ErrorCode;

/// The dialects' operations and shapes.
#[derive(OpenApi)]
#[openapi(
    paths(
        acefone_schedule_call,
        ai_calls_create,
        ai_calls_list,
        ai_calls_read,
        ai_calls_delete,
        ai_calls_cancel,
        talkdesk_create,
        talkdesk_list,
        talkdesk_read,
        talkdesk_update,
        talkdesk_delete,
        kore_call_contact_at,
        campaign_list_create,
    ),
    components(schemas(
        AcefoneScheduleCall,
        AcefoneAnswer,
        AiCallsScheduleCall,
        AiCall,
        AiCallAnswer,
        AiCallListAnswer,
        AiCallsError,
        TalkdeskNewCallback,
        TalkdeskAssignee,
        TalkdeskCallback,
        TalkdeskCallbackPage,
        TalkdeskPatchOp,
        TalkdeskError,
        KoreContactAt,
        KoreAnswer,
        KoreItemResult,
        KoreError,
        CampaignListError,
    )),
    tags(
        (name = "dialect: acefone", description = "Acefone-style dialer: schedule a preview callback assigned to an agent (`POST /v1/dialer/schedule_call/`). Errors answer `{\"success\": false, \"message\": ...}`. The token goes in `Authorization`, with or without `Bearer`."),
        (name = "dialect: ai_calls", description = "AI outbound calls: schedule, list, read and cancel AI calls to a contact, in the `{status, message, data}` envelope."),
        (name = "dialect: talkdesk", description = "Talkdesk-style scheduled callbacks (`/schedule-callbacks`). Scopes `schedule-callbacks:read` and `schedule-callbacks:write` are other names for `callbacks:read` and `callbacks:write`. Errors answer `{code, message, description, fields}`."),
        (name = "dialect: kore", description = "Kore.ai-style campaign callbacks onto a native campaign's entries (`callContactAt`). The JWT may come in the `auth` header. Errors answer `{\"status\": \"failed\", \"errors\": [...]}`."),
        (name = "dialect: campaign_list", description = "A campaign from a contact list (`POST /campaign`): the native campaign body, answered `202` with `campaign_id`. Errors answer `{error, message, field}`."),
    ),
)]
pub struct DialectsDoc;

// ---------------------------------------------------------------------------------------------
// Acefone
// ---------------------------------------------------------------------------------------------

/// A string, or a whole number (Acefone data often has numeric agent ids and phone numbers).
#[derive(ToSchema, Deserialize)]
#[serde(untagged)]
#[schema(as = AcefoneText)]
enum Text {
    Str(String),
    Num(i64),
}

/// The body of `POST /v1/dialer/schedule_call/`. Fields the page does not list are ignored
/// (with a warning in the server's log); an empty body reads as `{}`.
#[derive(ToSchema)]
pub struct AcefoneScheduleCall {
    /// The name of the lead; not blank.
    #[schema(pattern = r"\S", max_length = 200)]
    customer_name: String,
    /// `YYYY-MM-DD HH:MM:SS`, wall-clock time in the account's `dialect_timezone` (UTC when
    /// unset).
    #[schema(pattern = r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\s*$")]
    schedule_date_time: String,
    /// The agent: its id (`agt_...`) or its `external_id`.
    #[schema(inline)]
    assigned_to: Text,
    /// The number to call (E.164, or a human format with a country code).
    #[schema(inline)]
    customer_number: Text,
    /// Send the agent a reminder before the call.
    reminder_schedule_callbacks: Option<bool>,
    /// Minutes before the call the reminder goes out (default 5).
    #[schema(minimum = 1, maximum = 10080)]
    reminder_time: Option<u32>,
    /// Minutes the call rings unanswered before it ends (at most 5 minutes are rung).
    #[schema(minimum = 1)]
    call_end_min: Option<u32>,
    /// A queue (`que_...`, or its name) the callback also waits in.
    #[schema(inline)]
    inbound_queue: Option<Text>,
}

/// Every answer of the Acefone dialect, success or not.
#[derive(ToSchema)]
pub struct AcefoneAnswer {
    success: bool,
    /// `Callback scheduled successfully.`, or what was wrong (`customer_number is required.`).
    message: String,
}

#[utoipa::path(
    post, path = "/v1/dialer/schedule_call/", operation_id = "acefone_schedule_call",
    tag = "dialect: acefone",
    summary = "Schedule a callback (Acefone)",
    description = "Schedules a `preview` callback assigned to `assigned_to`, offered to the agent (or through `inbound_queue` to its members) at `schedule_date_time`. Also served without the trailing slash. The answer's `Location` names the native callback.",
    request_body = AcefoneScheduleCall,
    responses(
        (status = 200, description = "Scheduled.", body = AcefoneAnswer,
            headers(("Location" = String, description = "The native callback: `/v1/callbacks/{id}`."))),
        (status = 400, description = "A field is missing or invalid; `message` names it.", body = AcefoneAnswer),
        (status = 401, description = "No valid credential.", body = AcefoneAnswer),
        (status = 403, description = "The key lacks `callbacks:write`.", body = AcefoneAnswer),
        (status = 413, description = "The body is too large.", body = AcefoneAnswer),
        (status = 415, description = "The body is not declared as JSON.", body = AcefoneAnswer),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AcefoneAnswer),
        (status = 500, description = "Internal error; retry.", body = AcefoneAnswer),
        (status = 503, description = "The store is busy; retry.", body = AcefoneAnswer),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
fn acefone_schedule_call() {}

// ---------------------------------------------------------------------------------------------
// AI calls
// ---------------------------------------------------------------------------------------------

/// The body of `POST /v1/calls/scheduled`; other fields are refused.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AiCallsScheduleCall {
    /// The contact to call (`ctc_...`).
    #[schema(pattern = r"\S")]
    contact_id: String,
    /// Your campaign's id, kept and shown on the call.
    #[schema(max_length = 200)]
    campaign_id: Option<String>,
    /// ISO-8601 with an offset, or a local time read in `timezone`.
    scheduled_at: String,
    /// IANA zone; without it the contact's, else the number's.
    timezone: Option<String>,
    /// What the AI agent says first; `{{first_name}}` and the contact's other fields are
    /// filled in.
    #[schema(pattern = r"\S")]
    initial_message: String,
    #[schema(minimum = 10, maximum = 14400)]
    max_duration_seconds: Option<u32>,
    /// The number the call comes from (E.164).
    caller_id: Option<String>,
    /// Your key-value data, shown on the call (`ai_calls` is reserved).
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    recording_enabled: Option<bool>,
    /// Where the call's `started`, `completed`, `failed` and `canceled` events go.
    webhook_url: Option<String>,
}

/// The page's status of a call.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum AiCallStatus {
    Scheduled,
    InProgress,
    Completed,
    Failed,
    Canceled,
}

/// A call, as the page shows it.
#[derive(ToSchema)]
pub struct AiCall {
    /// The call's id: the native callback's id.
    call_id: String,
    contact_id: Option<String>,
    campaign_id: Option<String>,
    scheduled_at: String,
    timezone: String,
    initial_message: Option<String>,
    max_duration_seconds: u32,
    /// As sent.
    caller_id: Option<String>,
    recording_enabled: bool,
    webhook_url: Option<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    status: AiCallStatus,
    /// UTC, to the second.
    created_at: String,
    updated_at: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum Success {
    Success,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum Failure {
    Error,
}

/// The envelope of a call.
#[derive(ToSchema)]
pub struct AiCallAnswer {
    status: Success,
    message: String,
    data: AiCall,
}

/// The envelope of a page of calls, newest first.
#[derive(ToSchema)]
pub struct AiCallListAnswer {
    status: Success,
    message: String,
    data: Vec<AiCall>,
}

/// The envelope of a refusal: `message` says which field and why.
#[derive(ToSchema)]
pub struct AiCallsError {
    status: Failure,
    message: String,
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

#[utoipa::path(
    post, path = "/v1/calls/scheduled", operation_id = "ai_calls_create",
    tag = "dialect: ai_calls",
    summary = "Schedule an AI call (AI calls)",
    description = "Schedules an `ai` callback to the contact's number with the rendered opening message, judged like any new callback (calling window, lead time).",
    request_body = AiCallsScheduleCall,
    responses(
        (status = 201, description = "Scheduled.", body = AiCallAnswer),
        (status = 400, description = "A field is missing or invalid.", body = AiCallsError),
        (status = 401, description = "No valid credential.", body = AiCallsError),
        (status = 403, description = "The key lacks `callbacks:write` or `contacts:read`.", body = AiCallsError),
        (status = 404, description = "No such contact.", body = AiCallsError),
        (status = 413, description = "The body is too large.", body = AiCallsError),
        (status = 415, description = "The body is not declared as JSON.", body = AiCallsError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AiCallsError),
        (status = 500, description = "Internal error or the store is busy; retry after `Retry-After`.", body = AiCallsError),
    ),
    security(("bearer" = ["callbacks:write", "contacts:read"])),
)]
fn ai_calls_create() {}

#[utoipa::path(
    get, path = "/v1/calls/scheduled", operation_id = "ai_calls_list",
    tag = "dialect: ai_calls",
    summary = "List AI calls (AI calls)",
    description = "The account's calls made through this dialect, newest first. Other query parameters are refused.",
    params(
        ("status" = Option<AiCallStatus>, Query, description = "Only calls with this status."),
        ("page" = Option<u32>, Query, minimum = 1, maximum = 1000000, description = "From 1."),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100 (50)."),
    ),
    responses(
        (status = 200, description = "A page of calls.", body = AiCallListAnswer,
            headers(("X-Total-Count" = u64, description = "How many calls match."))),
        (status = 400, description = "A query parameter is invalid or unknown.", body = AiCallsError),
        (status = 401, description = "No valid credential.", body = AiCallsError),
        (status = 403, description = "The key lacks `callbacks:read`.", body = AiCallsError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AiCallsError),
        (status = 500, description = "Internal error or the store is busy; retry.", body = AiCallsError),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
fn ai_calls_list() {}

#[utoipa::path(
    get, path = "/v1/calls/scheduled/{call_id}", operation_id = "ai_calls_read",
    tag = "dialect: ai_calls",
    summary = "Read an AI call (AI calls)",
    params(("call_id" = String, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The call.", body = AiCallAnswer),
        (status = 401, description = "No valid credential.", body = AiCallsError),
        (status = 403, description = "The key lacks `callbacks:read`.", body = AiCallsError),
        (status = 404, description = "No such call made through this dialect.", body = AiCallsError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AiCallsError),
        (status = 500, description = "Internal error or the store is busy; retry.", body = AiCallsError),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
fn ai_calls_read() {}

#[utoipa::path(
    delete, path = "/v1/calls/scheduled/{call_id}", operation_id = "ai_calls_delete",
    tag = "dialect: ai_calls",
    summary = "Cancel an AI call (AI calls)",
    params(("call_id" = String, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The canceled call.", body = AiCallAnswer),
        (status = 401, description = "No valid credential.", body = AiCallsError),
        (status = 403, description = "The key lacks `callbacks:write`.", body = AiCallsError),
        (status = 404, description = "No such call made through this dialect.", body = AiCallsError),
        (status = 409, description = "The call is no longer scheduled.", body = AiCallsError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AiCallsError),
        (status = 500, description = "Internal error or the store is busy; retry.", body = AiCallsError),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
fn ai_calls_delete() {}

#[utoipa::path(
    post, path = "/v1/calls/scheduled/{call_id}/cancel", operation_id = "ai_calls_cancel",
    tag = "dialect: ai_calls",
    summary = "Cancel an AI call, by POST (AI calls)",
    params(("call_id" = String, Path, description = "The call's id.")),
    responses(
        (status = 200, description = "The canceled call.", body = AiCallAnswer),
        (status = 401, description = "No valid credential.", body = AiCallsError),
        (status = 403, description = "The key lacks `callbacks:write`.", body = AiCallsError),
        (status = 404, description = "No such call made through this dialect.", body = AiCallsError),
        (status = 409, description = "The call is no longer scheduled.", body = AiCallsError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = AiCallsError),
        (status = 500, description = "Internal error or the store is busy; retry.", body = AiCallsError),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
fn ai_calls_cancel() {}

// ---------------------------------------------------------------------------------------------
// Talkdesk
// ---------------------------------------------------------------------------------------------

/// An assignee: its id, or `{"agent_id": ...}` / `{"ring_group": ...}`.
#[derive(ToSchema, Deserialize)]
#[serde(untagged)]
enum TalkdeskAssignee {
    Id(String),
    Agent { agent_id: String },
    RingGroup { ring_group: String },
}

/// How the callback is assigned (`SPECIFIC_AGENTS`, `AGENT`, `RING_GROUP`, `QUEUE` and their
/// plurals are read too, in any case).
#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
enum AssignType {
    SpecificAgent,
    SpecificRingGroup,
    AnyEligibleAgent,
}

/// The body of `POST /schedule-callbacks`. camelCase names (`phoneNumber`,
/// `scheduledTimeToCall`, `assignType`, `ringGroups`, `callerId`, `dialingModel`,
/// `interactionId`) are read too; fields of Talkdesk's callback object that Ringback does not
/// model are ignored.
#[derive(ToSchema)]
pub struct TalkdeskNewCallback {
    /// E.164.
    phone_number: String,
    /// An instant (RFC 3339; UTC when it has no offset), at least a minute ahead.
    scheduled_time_to_call: String,
    /// IANA zone, to show local times.
    timezone: String,
    /// `SPECIFIC_AGENT`, `SPECIFIC_RING_GROUP` or `ANY_ELIGIBLE_AGENT` (see `TalkdeskCallback`).
    assign_type: String,
    /// The agents, for `SPECIFIC_AGENT`.
    agents: Option<Vec<TalkdeskAssignee>>,
    /// The queues, for `SPECIFIC_RING_GROUP`.
    ring_groups: Option<Vec<TalkdeskAssignee>>,
    /// Assignees of the kind `assign_type` names.
    assignees: Option<Vec<TalkdeskAssignee>>,
    caller_id: Option<String>,
    /// `PREVIEW` only.
    dialing_model: Option<String>,
    interaction_id: Option<String>,
    notes: Option<String>,
}

/// `{"agent_id": ...}`.
#[derive(ToSchema)]
struct AgentRef {
    agent_id: String,
}

/// `{"ring_group": ...}`.
#[derive(ToSchema)]
struct RingGroupRef {
    ring_group: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
enum TalkdeskStatus {
    Unattempted,
    ToBeRetried,
    InProgress,
    Success,
    Canceled,
    InvalidNumber,
    Exhausted,
}

#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
enum DialingModel {
    Preview,
    Progressive,
    Ai,
    Unattended,
}

#[derive(ToSchema)]
#[schema(rename_all = "SCREAMING_SNAKE_CASE")]
enum TalkdeskOrigin {
    Agent,
    Api,
}

#[derive(ToSchema)]
struct Href {
    href: String,
}

#[derive(ToSchema)]
struct SelfLink {
    #[schema(rename = "self")]
    self_: Href,
}

/// A scheduled callback, as Talkdesk shows it.
#[derive(ToSchema)]
pub struct TalkdeskCallback {
    id: String,
    callback_id: String,
    account_id: String,
    interaction_id: Option<String>,
    caller_id: Option<String>,
    phone_number: String,
    /// The contact's name's first word.
    record_first_name: Option<String>,
    /// The rest of the contact's name.
    record_last_name: Option<String>,
    campaign_id: Option<String>,
    scheduled_time_to_call: String,
    time_to_call: String,
    /// When it is next due, while it may still change.
    next_time_to_call: Option<String>,
    timezone: String,
    #[schema(inline)]
    assign_type: AssignType,
    agents: Vec<AgentRef>,
    ring_groups: Vec<RingGroupRef>,
    #[schema(inline)]
    dialing_model: DialingModel,
    notes: Option<String>,
    #[schema(inline)]
    origin: TalkdeskOrigin,
    #[schema(inline)]
    status: TalkdeskStatus,
    created_at: String,
    updated_at: String,
    _links: SelfLink,
}

#[derive(ToSchema)]
struct EmbeddedCallbacks {
    callbacks: Vec<TalkdeskCallback>,
}

#[derive(ToSchema)]
struct PageLinks {
    #[schema(rename = "self")]
    self_: Href,
    first: Href,
    last: Href,
    prev: Option<Href>,
    next: Option<Href>,
}

/// A page of callbacks, newest first.
#[derive(ToSchema)]
pub struct TalkdeskCallbackPage {
    count: u64,
    total: u64,
    total_pages: u64,
    /// The same as `total_pages`.
    total_page: u64,
    page: u32,
    per_page: u32,
    _embedded: EmbeddedCallbacks,
    _links: PageLinks,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum PatchOpName {
    Replace,
}

/// One JSON Patch operation: only `replace`.
#[derive(ToSchema)]
pub struct TalkdeskPatchOp {
    #[schema(inline)]
    op: PatchOpName,
    /// `/timeToCall`, `/phoneNumber`, `/timezone`, `/assignType`, `/agents`, `/ringGroups` or
    /// `/notes` (also `/scheduledTimeToCall` and the snake_case names).
    path: String,
    /// The new value: a string, or for `/agents` and `/ringGroups` a list of assignees.
    value: Option<Value>,
}

#[derive(ToSchema)]
struct TalkdeskFieldError {
    name: String,
    description: String,
}

/// A Talkdesk error: the native `code`, the status's name and what was wrong.
#[derive(ToSchema)]
pub struct TalkdeskError {
    code: ErrorCode,
    message: String,
    description: String,
    /// The field at fault, when there is one.
    fields: Option<Vec<TalkdeskFieldError>>,
}

#[utoipa::path(
    post, path = "/schedule-callbacks", operation_id = "talkdesk_create",
    tag = "dialect: talkdesk",
    summary = "Schedule a callback (Talkdesk)",
    description = "Schedules a `preview` callback at `scheduled_time_to_call`, at least a minute ahead, for the agents or queues named, or for any eligible agent.",
    request_body = TalkdeskNewCallback,
    responses(
        (status = 201, description = "Scheduled.", body = TalkdeskCallback),
        (status = 400, description = "A field is missing or invalid; `fields` names it.", body = TalkdeskError),
        (status = 401, description = "No valid credential.", body = TalkdeskError),
        (status = 403, description = "The key lacks `schedule-callbacks:write`.", body = TalkdeskError),
        (status = 413, description = "The body is too large.", body = TalkdeskError),
        (status = 415, description = "The body is not declared as JSON.", body = TalkdeskError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = TalkdeskError),
        (status = 500, description = "Internal error.", body = TalkdeskError),
        (status = 503, description = "The store is busy; retry.", body = TalkdeskError),
    ),
    security(("bearer" = ["schedule-callbacks:write"])),
)]
fn talkdesk_create() {}

#[utoipa::path(
    get, path = "/schedule-callbacks", operation_id = "talkdesk_list",
    tag = "dialect: talkdesk",
    summary = "List callbacks (Talkdesk)",
    description = "The account's callbacks, newest first, with HAL links. Other query parameters are refused.",
    params(
        ("phone_number" = Option<String>, Query, description = "Only this number (E.164); `phoneNumber` is read too."),
        ("status" = Option<String>, Query, description = "`UNATTEMPTED`, `TO_BE_RETRIED`, `IN_PROGRESS`, `SUCCESS`, `CANCELED`, `INVALID_NUMBER` or `EXHAUSTED`."),
        ("agent_id" = Option<String>, Query, description = "Only callbacks assigned to this agent (`agt_...`)."),
        ("campaign_id" = Option<String>, Query, description = "Only this campaign's callbacks (`cmp_...`)."),
        ("page" = Option<u32>, Query, minimum = 0, maximum = 1000000, description = "From 1 (0 is the first page too)."),
        ("per_page" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1 to 500 (50)."),
    ),
    responses(
        (status = 200, description = "A page of callbacks.", body = TalkdeskCallbackPage),
        (status = 400, description = "A query parameter is invalid or unknown.", body = TalkdeskError),
        (status = 401, description = "No valid credential.", body = TalkdeskError),
        (status = 403, description = "The key lacks `schedule-callbacks:read`.", body = TalkdeskError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = TalkdeskError),
        (status = 500, description = "Internal error.", body = TalkdeskError),
        (status = 503, description = "The store is busy; retry.", body = TalkdeskError),
    ),
    security(("bearer" = ["schedule-callbacks:read"])),
)]
fn talkdesk_list() {}

#[utoipa::path(
    get, path = "/schedule-callbacks/{id}", operation_id = "talkdesk_read",
    tag = "dialect: talkdesk",
    summary = "Read a callback (Talkdesk)",
    params(("id" = String, Path, description = "The callback's id.")),
    responses(
        (status = 200, description = "The callback.", body = TalkdeskCallback),
        (status = 401, description = "No valid credential.", body = TalkdeskError),
        (status = 403, description = "The key lacks `schedule-callbacks:read`.", body = TalkdeskError),
        (status = 404, description = "No such callback.", body = TalkdeskError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = TalkdeskError),
        (status = 500, description = "Internal error.", body = TalkdeskError),
        (status = 503, description = "The store is busy; retry.", body = TalkdeskError),
    ),
    security(("bearer" = ["schedule-callbacks:read"])),
)]
fn talkdesk_read() {}

#[utoipa::path(
    patch, path = "/schedule-callbacks/{id}", operation_id = "talkdesk_update",
    tag = "dialect: talkdesk",
    summary = "Change a callback (Talkdesk)",
    description = "A JSON Patch of `replace` operations; a new time, zone or number is judged as a new callback is.",
    params(("id" = String, Path, description = "The callback's id.")),
    request_body(content = Vec<TalkdeskPatchOp>, content_type = "application/json"),
    responses(
        (status = 200, description = "The changed callback.", body = TalkdeskCallback),
        (status = 400, description = "An operation or its value is invalid; `fields` names it.", body = TalkdeskError),
        (status = 401, description = "No valid credential.", body = TalkdeskError),
        (status = 403, description = "The key lacks `schedule-callbacks:write`.", body = TalkdeskError),
        (status = 404, description = "No such callback.", body = TalkdeskError),
        (status = 409, description = "The callback can no longer change, or changed meanwhile.", body = TalkdeskError),
        (status = 413, description = "The body is too large.", body = TalkdeskError),
        (status = 415, description = "The body is not declared as JSON.", body = TalkdeskError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = TalkdeskError),
        (status = 500, description = "Internal error.", body = TalkdeskError),
        (status = 503, description = "The store is busy; retry.", body = TalkdeskError),
    ),
    security(("bearer" = ["schedule-callbacks:write"])),
)]
fn talkdesk_update() {}

#[utoipa::path(
    delete, path = "/schedule-callbacks/{id}", operation_id = "talkdesk_delete",
    tag = "dialect: talkdesk",
    summary = "Cancel a callback (Talkdesk)",
    params(("id" = String, Path, description = "The callback's id.")),
    responses(
        (status = 204, description = "Canceled."),
        (status = 401, description = "No valid credential.", body = TalkdeskError),
        (status = 403, description = "The key lacks `schedule-callbacks:write`.", body = TalkdeskError),
        (status = 404, description = "No such callback.", body = TalkdeskError),
        (status = 409, description = "The callback has ended.", body = TalkdeskError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = TalkdeskError),
        (status = 500, description = "Internal error.", body = TalkdeskError),
        (status = 503, description = "The store is busy; retry.", body = TalkdeskError),
    ),
    security(("bearer" = ["schedule-callbacks:write"])),
)]
fn talkdesk_delete() {}

// ---------------------------------------------------------------------------------------------
// Kore.ai
// ---------------------------------------------------------------------------------------------

/// One contact to call back. An item without either field, or with one that is not a string,
/// fails alone (`invalid_dialing_list_id`, `invalid_time`); the others go on.
#[derive(ToSchema)]
pub struct KoreContactAt {
    /// The campaign entry: its callback id (`cb_...`) or its contact id (`ctc_...`).
    #[schema(rename = "campaignDialingListId", required = false)]
    campaign_dialing_list_id: String,
    /// RFC 3339 instant.
    #[schema(rename = "timeToContact", required = false)]
    time_to_contact: String,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum ItemStatus {
    Success,
    Failed,
}

/// What became of one item.
#[derive(ToSchema)]
pub struct KoreItemResult {
    /// As sent.
    #[schema(rename = "campaignDialingListId", value_type = Object)]
    campaign_dialing_list_id: Value,
    #[schema(inline)]
    status: ItemStatus,
    /// A failure's reason: `invalid_dialing_list_id`, `unknown_dialing_list_id`,
    /// `invalid_time`, `time_in_past`, `time_too_far`, `lead_time_too_short`,
    /// `campaign_not_running`, `outside_calling_window`, `call_in_progress`, `do_not_call`,
    /// `changed_concurrently`.
    #[schema(required = false)]
    reason: String,
    /// A success's action: `rescheduled` or `reopened`.
    #[schema(required = false)]
    action: String,
    /// A success's callback (`cb_...`).
    #[schema(rename = "callbackId", required = false)]
    callback_id: String,
}

/// The answer: one result per item, in order.
#[derive(ToSchema)]
pub struct KoreAnswer {
    #[schema(inline)]
    status: Success,
    data: Vec<KoreItemResult>,
}

#[derive(ToSchema)]
struct KoreErrorItem {
    msg: String,
    code: ErrorCode,
    #[schema(rename = "retryAfterSeconds", required = false)]
    retry_after_seconds: u64,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
enum KoreFailed {
    Failed,
}

/// Kore.ai's error list.
#[derive(ToSchema)]
pub struct KoreError {
    #[schema(inline)]
    status: KoreFailed,
    errors: Vec<KoreErrorItem>,
}

#[utoipa::path(
    post, path = "/campaign/api/v2/public/{bot_id}/campaign/{campaign_instance_id}/callContactAt",
    operation_id = "kore_call_contact_at",
    tag = "dialect: kore",
    summary = "Call contacts back at a time (Kore.ai)",
    description = "Moves each entry's pending call to its new time, or reopens an ended one with its attempts kept.",
    params(
        ("bot_id" = String, Path, description = "Recorded on the callback."),
        ("campaign_instance_id" = String, Path, description = "The native campaign (`cmp_...`)."),
        ("iid" = String, Header, pattern = r"\S", max_length = 200, description = "The application id, recorded on the callback."),
        ("accountId" = String, Header, pattern = r"\S", max_length = 200, description = "Recorded on the callback; in Ringback's `acc_` form it must be the token's account."),
    ),
    request_body(content = Vec<KoreContactAt>, content_type = "application/json",
        description = "1 to 1,000 items."),
    responses(
        (status = 200, description = "One result per item.", body = KoreAnswer),
        (status = 400, description = "A header or the body is invalid.", body = KoreError),
        (status = 401, description = "No valid credential.", body = KoreError),
        (status = 403, description = "The key lacks `campaigns:write`, or `accountId` names another account.", body = KoreError),
        (status = 404, description = "No such campaign.", body = KoreError),
        (status = 413, description = "The body is too large.", body = KoreError),
        (status = 415, description = "The body is not declared as JSON.", body = KoreError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = KoreError),
        (status = 500, description = "Internal error.", body = KoreError),
        (status = 503, description = "The store is busy; retry.", body = KoreError),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
fn kore_call_contact_at() {}

// ---------------------------------------------------------------------------------------------
// Campaign from a contact list
// ---------------------------------------------------------------------------------------------

/// A refusal: the native code, its message and the field at fault.
#[derive(ToSchema)]
pub struct CampaignListError {
    error: ErrorCode,
    message: String,
    #[schema(required = true)]
    field: Option<String>,
}

#[utoipa::path(
    post, path = "/campaign", operation_id = "campaign_list_create",
    tag = "dialect: campaign_list",
    summary = "Launch a campaign from a contact list",
    description = "The native `POST /v1/campaigns` body (`playbook_id`, `contacts`, `launch_at`, `recall` as `[30, 120]` or `\"[30,120]\"`). Also served with a trailing slash.",
    request_body = NewCampaign,
    responses(
        (status = 202, description = "Accepted.", body = CampaignCreated),
        (status = 400, description = "Invalid data: a missing `playbook_id`, no contacts, a contact without a valid phone.", body = CampaignListError),
        (status = 401, description = "No valid credential.", body = CampaignListError),
        (status = 403, description = "The playbook is not the account's, or the key lacks `campaigns:write`.", body = CampaignListError),
        (status = 413, description = "The body is too large.", body = CampaignListError),
        (status = 415, description = "The body is not declared as JSON.", body = CampaignListError),
        (status = 429, description = "Rate limited; see `Retry-After`.", body = CampaignListError),
        (status = 500, description = "Internal error.", body = CampaignListError),
        (status = 503, description = "The store is busy; retry.", body = CampaignListError),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
fn campaign_list_create() {}
