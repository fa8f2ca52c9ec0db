//! `/v1/agents` and `/v1/queues`: who takes callbacks, their presence, and ring groups.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    callbacks::present,
    error::{ApiError, deleted_or_not_found},
    extract::ApiJson,
};
use crate::app::AppState;
use crate::domain::trunk::SipUri;
use crate::domain::{
    ErrorCode, FieldError, Zone,
    agent::{Agent, Presence, Queue, parse_working_hours},
    ids::{AgentId, QueueId},
    routing::{LineRules, Skills},
};
use crate::store::StoreError;
use serde_json::Value;

/// An agent as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub external_id: Option<String>,
    /// Where the agent takes the calls Ringback connects to them (progressive and preview calls
    /// on `sip` trunks), e.g. `sip:ada@pbx.example.com`; null: none.
    pub sip_uri: Option<String>,
    pub queue_ids: Vec<String>,
    pub concurrency: u32,
    pub timezone: String,
    /// `{"mon": ["09:00-17:00"], ...}` in the agent's zone; null: no limit.
    #[schema(value_type = Option<Object>)]
    pub working_hours: Option<serde_json::Map<String, serde_json::Value>>,
    /// The skills the agent holds, levels 1 to 5 (`{"spanish": 3, "billing": 5}`).
    #[schema(value_type = Object)]
    pub skills: Skills,
    pub presence: Presence,
    pub presence_changed_at: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Agent> for AgentView {
    fn from(a: &Agent) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            external_id: a.external_id.clone(),
            sip_uri: a.sip_uri.as_ref().map(ToString::to_string),
            queue_ids: a.queue_ids.iter().map(ToString::to_string).collect(),
            concurrency: a.concurrency,
            timezone: a.timezone.name().to_owned(),
            working_hours: a.working_hours.clone(),
            skills: a.skills.clone(),
            presence: a.presence,
            presence_changed_at: a.presence_changed_at.to_string(),
            created_at: a.created_at.to_string(),
            updated_at: a.updated_at.to_string(),
        }
    }
}

/// A queue (ring group) as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueView {
    pub id: String,
    pub name: String,
    pub offer_timeout_seconds: u32,
    /// Points of priority a waiting callback gains each minute past its due time.
    pub priority_aging_per_minute: f64,
    /// After this wait past its due time a callback goes to any member, skilled or not; null:
    /// never.
    pub skill_relax_after_seconds: Option<u64>,
    pub member_ids: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Queue> for QueueView {
    fn from(q: &Queue) -> Self {
        Self {
            id: q.id.to_string(),
            name: q.name.clone(),
            offer_timeout_seconds: q.offer_timeout_seconds,
            priority_aging_per_minute: q.rules.aging_per_minute,
            skill_relax_after_seconds: q.rules.relax_after.map(|d| d.as_secs()),
            member_ids: q.member_ids.iter().map(ToString::to_string).collect(),
            created_at: q.created_at.to_string(),
            updated_at: q.updated_at.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentList {
    pub data: Vec<AgentView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueList {
    pub data: Vec<QueueView>,
}

fn name(value: &str, field: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be 1 to 200 characters",
        ));
    }
    Ok(v.to_owned())
}

fn in_range(value: u32, field: &str, min: u32, max: u32) -> Result<u32, FieldError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// `priority_aging_per_minute`: 0 to 100.
fn aging(value: f64) -> Result<f64, FieldError> {
    if value.is_finite() && (0.0..=LineRules::MAX_AGING_PER_MINUTE).contains(&value) {
        Ok(value)
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            "priority_aging_per_minute",
            "must be between 0 and 100",
        ))
    }
}

/// `skill_relax_after_seconds`: 1 to 604,800 (a week), or none.
fn relax_after(value: Option<u32>) -> Result<Option<std::time::Duration>, FieldError> {
    value
        .map(|s| in_range(s, "skill_relax_after_seconds", 1, 7 * 24 * 3600))
        .transpose()
        .map(|s| s.map(|s| std::time::Duration::from_secs(u64::from(s))))
}

/// The distinct ids of `ids` (the list field `field`), each of which must parse and name an
/// existing `what` of the account by `exists`.
async fn existing_ids<Id, Exists, Fut>(
    ids: &[String],
    field: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<Id>,
    exists: Exists,
) -> Result<Vec<Id>, ApiError>
where
    Id: Clone + PartialEq,
    Exists: Fn(Id) -> Fut,
    Fut: Future<Output = Result<bool, StoreError>>,
{
    let mut out = Vec::with_capacity(ids.len());
    for (i, raw) in ids.iter().enumerate() {
        let unknown = || {
            ApiError::from(FieldError::new(
                ErrorCode::InvalidField,
                format!("{field}[{i}]"),
                format!("no {what} {raw:?} in this account"),
            ))
        };
        let id = parse(raw).ok_or_else(unknown)?;
        if !exists(id.clone()).await? {
            return Err(unknown());
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Checks that every queue id names one of the account's queues.
async fn existing_queues(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> Result<Vec<QueueId>, ApiError> {
    existing_ids(ids, "queue_ids", "queue", QueueId::parse, |id| async move {
        let queue = state.store.get_queue(&caller.account_id, &id).await?;
        Ok(queue.is_some())
    })
    .await
}

/// Checks that every agent id names one of the account's agents.
async fn existing_agents(
    state: &AppState,
    caller: &Caller,
    ids: &[String],
) -> Result<Vec<AgentId>, ApiError> {
    existing_ids(
        ids,
        "member_ids",
        "agent",
        AgentId::parse,
        |id| async move {
            let agent = state.store.get_agent(&caller.account_id, &id).await?;
            Ok(agent.is_some())
        },
    )
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// 1 to 200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// The agent's id in your own system (telephony, CRM).
    pub external_id: Option<String>,
    /// A `sip:` or `sips:` URI where the agent takes calls.
    pub sip_uri: Option<String>,
    pub queue_ids: Option<Vec<String>>,
    /// Most offers and calls at once, 1 to 20 (default 1).
    #[schema(minimum = 1, maximum = 20)]
    pub concurrency: Option<u32>,
    /// IANA zone of the agent's working hours (default UTC).
    pub timezone: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub working_hours: Option<serde_json::Value>,
    /// Skills the agent holds, levels 1 to 5 (`{"spanish": 3}`).
    #[schema(value_type = Option<Object>)]
    pub skills: Option<serde_json::Value>,
}

#[utoipa::path(
    post, path = "/v1/agents", operation_id = "create_agent", tag = "agents",
    summary = "Create an agent",
    description = "A new agent starts `offline`.",
    request_body = CreateAgent,
    responses(
        (status = 201, description = "The agent.", body = AgentView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn create_agent(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    ApiJson(req): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let now = state.clock.now();
    let agent = Agent {
        id: AgentId::generate(),
        account_id: caller.account_id.clone(),
        name: name(&req.name, "name")?,
        external_id: req.external_id.filter(|e| !e.trim().is_empty()),
        sip_uri: req
            .sip_uri
            .map(|u| SipUri::parse(&u, "sip_uri"))
            .transpose()?,
        queue_ids: existing_queues(&state, &caller, &req.queue_ids.unwrap_or_default()).await?,
        concurrency: in_range(req.concurrency.unwrap_or(1), "concurrency", 1, 20)?,
        timezone: match &req.timezone {
            Some(z) => Zone::parse(z, "timezone")?,
            None => Zone::utc(),
        },
        working_hours: parse_working_hours(req.working_hours.unwrap_or_default(), "working_hours")?,
        skills: Skills::parse(req.skills.as_ref().unwrap_or(&Value::Null), "skills")?,
        presence: Presence::Offline,
        presence_changed_at: now,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_agent(&agent, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(AgentView::from(&agent))))
}

#[utoipa::path(
    get, path = "/v1/agents", operation_id = "list_agents", tag = "agents",
    summary = "List agents",
    responses(
        (status = 200, description = "The account's agents.", body = AgentList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["agents:read"])),
)]
pub async fn list_agents(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsRead>,
) -> Result<Json<AgentList>, ApiError> {
    let agents = state.store.list_agents(&caller.account_id).await?;
    Ok(Json(AgentList {
        data: agents.iter().map(AgentView::from).collect(),
    }))
}

async fn load_agent(state: &AppState, caller: &Caller, raw: &str) -> Result<Agent, ApiError> {
    let id = AgentId::parse(raw).ok_or_else(|| ApiError::not_found("agent"))?;
    state
        .store
        .get_agent(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))
}

#[utoipa::path(
    get, path = "/v1/agents/{id}", operation_id = "get_agent", tag = "agents",
    summary = "Get an agent",
    params(("id" = String, Path, description = "An agent id (`agt_...`).")),
    responses(
        (status = 200, description = "The agent.", body = AgentView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:read"])),
)]
pub async fn get_agent(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsRead>,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(AgentView::from(
        &load_agent(&state, &caller, &id).await?,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgent {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub external_id: Option<Option<String>>,
    /// Replaces the agent's SIP URI; null removes it.
    #[serde(default, deserialize_with = "present")]
    pub sip_uri: Option<Option<String>>,
    /// Replaces the agent's queues.
    pub queue_ids: Option<Vec<String>>,
    #[schema(minimum = 1, maximum = 20)]
    pub concurrency: Option<u32>,
    pub timezone: Option<String>,
    /// Replaces the working hours; null removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub working_hours: Option<Option<serde_json::Value>>,
    /// Replaces the agent's skills; null removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub skills: Option<Option<serde_json::Value>>,
}

#[utoipa::path(
    patch, path = "/v1/agents/{id}", operation_id = "update_agent", tag = "agents",
    summary = "Change an agent",
    params(("id" = String, Path, description = "An agent id (`agt_...`).")),
    request_body = UpdateAgent,
    responses(
        (status = 200, description = "The agent.", body = AgentView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn update_agent(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateAgent>,
) -> Result<Json<AgentView>, ApiError> {
    let mut agent = load_agent(&state, &caller, &id).await?;
    if let Some(n) = &req.name {
        agent.name = name(n, "name")?;
    }
    if let Some(external_id) = req.external_id {
        agent.external_id = external_id.filter(|e| !e.trim().is_empty());
    }
    if let Some(uri) = req.sip_uri {
        agent.sip_uri = uri.map(|u| SipUri::parse(&u, "sip_uri")).transpose()?;
    }
    if let Some(ids) = &req.queue_ids {
        agent.queue_ids = existing_queues(&state, &caller, ids).await?;
    }
    if let Some(c) = req.concurrency {
        agent.concurrency = in_range(c, "concurrency", 1, 20)?;
    }
    if let Some(z) = &req.timezone {
        agent.timezone = Zone::parse(z, "timezone")?;
    }
    if let Some(hours) = req.working_hours {
        agent.working_hours = parse_working_hours(hours.unwrap_or_default(), "working_hours")?;
    }
    if let Some(skills) = req.skills {
        agent.skills = Skills::parse(skills.as_ref().unwrap_or(&Value::Null), "skills")?;
    }
    agent.updated_at = state.clock.now();
    if !state.store.update_agent(&agent, &caller.actor).await? {
        return Err(ApiError::not_found("agent"));
    }
    Ok(Json(AgentView::from(&agent)))
}

#[utoipa::path(
    delete, path = "/v1/agents/{id}", operation_id = "delete_agent", tag = "agents",
    summary = "Delete an agent",
    description = "The agent leaves its queues.",
    params(("id" = String, Path, description = "An agent id (`agt_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn delete_agent(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = AgentId::parse(&id).ok_or_else(|| ApiError::not_found("agent"))?;
    let now = state.clock.now();
    let deleted = state
        .store
        .delete_agent(&caller.account_id, &id, now, &caller.actor)
        .await?;
    deleted_or_not_found(deleted, "agent")
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceRequest {
    pub presence: Presence,
}

#[utoipa::path(
    put, path = "/v1/agents/{id}/presence", operation_id = "set_agent_presence", tag = "agents",
    summary = "Set an agent's presence",
    params(("id" = String, Path, description = "An agent id (`agt_...`).")),
    request_body = PresenceRequest,
    responses(
        (status = 200, description = "The agent.", body = AgentView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn set_presence(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PresenceRequest>,
) -> Result<Json<AgentView>, ApiError> {
    let id = AgentId::parse(&id).ok_or_else(|| ApiError::not_found("agent"))?;
    let agent = state
        .store
        .set_presence(
            &caller.account_id,
            &id,
            req.presence,
            state.clock.now(),
            &caller.actor,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(Json(AgentView::from(&agent)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateQueue {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// Seconds an offer waits for an agent before going to the next, 5 to 600 (default 30).
    #[schema(minimum = 5, maximum = 600)]
    pub offer_timeout_seconds: Option<u32>,
    /// Points of priority a waiting callback gains each minute past its due time, 0 to 100
    /// (default 0: none), so that nothing starves behind higher priorities.
    pub priority_aging_per_minute: Option<f64>,
    /// After this many seconds past its due time (1 to 604,800) a callback waiting in the
    /// queue is offered to any member, whether or not they hold the skills it requires;
    /// absent: never.
    pub skill_relax_after_seconds: Option<u32>,
    pub member_ids: Option<Vec<String>>,
}

#[utoipa::path(
    post, path = "/v1/queues", operation_id = "create_queue", tag = "agents",
    summary = "Create a queue (ring group)",
    request_body = CreateQueue,
    responses(
        (status = 201, description = "The queue.", body = QueueView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn create_queue(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    ApiJson(req): ApiJson<CreateQueue>,
) -> Result<(StatusCode, Json<QueueView>), ApiError> {
    let now = state.clock.now();
    let queue = Queue {
        id: QueueId::generate(),
        account_id: caller.account_id.clone(),
        name: name(&req.name, "name")?,
        offer_timeout_seconds: in_range(
            req.offer_timeout_seconds.unwrap_or(30),
            "offer_timeout_seconds",
            5,
            600,
        )?,
        rules: LineRules {
            aging_per_minute: aging(req.priority_aging_per_minute.unwrap_or(0.0))?,
            relax_after: relax_after(req.skill_relax_after_seconds)?,
        },
        member_ids: existing_agents(&state, &caller, &req.member_ids.unwrap_or_default()).await?,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_queue(&queue, &caller.actor).await?;
    Ok((StatusCode::CREATED, Json(QueueView::from(&queue))))
}

#[utoipa::path(
    get, path = "/v1/queues", operation_id = "list_queues", tag = "agents",
    summary = "List queues",
    responses(
        (status = 200, description = "The account's queues.", body = QueueList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["agents:read"])),
)]
pub async fn list_queues(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsRead>,
) -> Result<Json<QueueList>, ApiError> {
    let queues = state.store.list_queues(&caller.account_id).await?;
    Ok(Json(QueueList {
        data: queues.iter().map(QueueView::from).collect(),
    }))
}

async fn load_queue(state: &AppState, caller: &Caller, raw: &str) -> Result<Queue, ApiError> {
    let id = QueueId::parse(raw).ok_or_else(|| ApiError::not_found("queue"))?;
    state
        .store
        .get_queue(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("queue"))
}

#[utoipa::path(
    get, path = "/v1/queues/{id}", operation_id = "get_queue", tag = "agents",
    summary = "Get a queue",
    params(("id" = String, Path, description = "A queue id (`que_...`).")),
    responses(
        (status = 200, description = "The queue.", body = QueueView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:read"])),
)]
pub async fn get_queue(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsRead>,
    Path(id): Path<String>,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(QueueView::from(
        &load_queue(&state, &caller, &id).await?,
    )))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateQueue {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    #[schema(minimum = 5, maximum = 600)]
    pub offer_timeout_seconds: Option<u32>,
    pub priority_aging_per_minute: Option<f64>,
    /// Null: never relaxed.
    #[serde(default, deserialize_with = "present")]
    pub skill_relax_after_seconds: Option<Option<u32>>,
    /// Replaces the members.
    pub member_ids: Option<Vec<String>>,
}

#[utoipa::path(
    patch, path = "/v1/queues/{id}", operation_id = "update_queue", tag = "agents",
    summary = "Change a queue",
    params(("id" = String, Path, description = "A queue id (`que_...`).")),
    request_body = UpdateQueue,
    responses(
        (status = 200, description = "The queue.", body = QueueView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn update_queue(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateQueue>,
) -> Result<Json<QueueView>, ApiError> {
    let mut queue = load_queue(&state, &caller, &id).await?;
    if let Some(n) = &req.name {
        queue.name = name(n, "name")?;
    }
    if let Some(t) = req.offer_timeout_seconds {
        queue.offer_timeout_seconds = in_range(t, "offer_timeout_seconds", 5, 600)?;
    }
    if let Some(a) = req.priority_aging_per_minute {
        queue.rules.aging_per_minute = aging(a)?;
    }
    if let Some(relax) = req.skill_relax_after_seconds {
        queue.rules.relax_after = relax_after(relax)?;
    }
    if let Some(ids) = &req.member_ids {
        queue.member_ids = existing_agents(&state, &caller, ids).await?;
    }
    queue.updated_at = state.clock.now();
    if !state.store.update_queue(&queue, &caller.actor).await? {
        return Err(ApiError::not_found("queue"));
    }
    Ok(Json(QueueView::from(&queue)))
}

#[utoipa::path(
    delete, path = "/v1/queues/{id}", operation_id = "delete_queue", tag = "agents",
    summary = "Delete a queue",
    params(("id" = String, Path, description = "A queue id (`que_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["agents:write"])),
)]
pub async fn delete_queue(
    State(state): State<AppState>,
    caller: Authorized<scope::AgentsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = QueueId::parse(&id).ok_or_else(|| ApiError::not_found("queue"))?;
    let deleted = state
        .store
        .delete_queue(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?;
    deleted_or_not_found(deleted, "queue")
}
