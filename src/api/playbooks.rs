//! `/v1/playbooks`: the script a campaign call uses, with its `initial_message` template.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::{Deserialize, Serialize};

use super::{
    audio::named_audio,
    auth::Caller,
    authorized::{Authorized, scope},
    error::{ApiError, deleted_or_not_found},
    extract::ApiJson,
};
use crate::app::AppState;
use crate::domain::{
    ErrorCode, FieldError,
    playbook::{MessageTemplate, Playbook, PlaybookId},
};

/// A playbook as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PlaybookView {
    /// A UUID.
    pub id: String,
    pub name: String,
    /// The template of the first thing said, e.g. `Hi {{ first_name }}, this is Acme.`
    pub initial_message: String,
    /// The audio (`aud_...`, `POST /v1/audio`) a call leaves on an answering machine after
    /// the beep; `null`: none.
    pub voicemail_audio_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Playbook> for PlaybookView {
    fn from(p: &Playbook) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            initial_message: p.initial_message.as_str().to_owned(),
            voicemail_audio_id: p.voicemail_audio_id.as_ref().map(ToString::to_string),
            created_at: p.created_at.to_string(),
            updated_at: p.updated_at.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PlaybookList {
    pub data: Vec<PlaybookView>,
}

fn name(value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 200 {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "name",
            "must be 1 to 200 characters",
        ));
    }
    Ok(v.to_owned())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlaybook {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// A Jinja template of at most 2,000 characters. Variables: `phone`, `first_name`,
    /// `last_name`, `email`, `company`, `job_title`, `address`, `city`, `state`, `country`,
    /// `postal_code`, `timezone`, `utm_source` .. `utm_content`, `custom_fields.<name>` (or
    /// `custom.<name>`). A contact without a value reads as empty, except `first_name`, which
    /// reads as "there"; `{{ company | default("your team") }}` sets another default.
    pub initial_message: String,
    /// The account's audio (`aud_...`) to leave on an answering machine after the beep.
    pub voicemail_audio_id: Option<String>,
}

#[utoipa::path(
    post, path = "/v1/playbooks", operation_id = "create_playbook", tag = "playbooks",
    summary = "Create a playbook",
    description = "A template with a syntax error or naming an unknown variable is refused \
        with 400 naming `initial_message` and the reason; a `voicemail_audio_id` that is not \
        audio of the account, with 400 naming it.",
    request_body = CreatePlaybook,
    responses(
        (status = 201, description = "The playbook.", body = PlaybookView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn create_playbook(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    ApiJson(req): ApiJson<CreatePlaybook>,
) -> Result<(StatusCode, Json<PlaybookView>), ApiError> {
    let name = name(&req.name)?;
    let initial_message = MessageTemplate::parse(&req.initial_message, "initial_message")?;
    let voicemail_audio_id = match &req.voicemail_audio_id {
        Some(raw) => Some(named_audio(&state, &caller, raw, "voicemail_audio_id").await?),
        None => None,
    };
    let now = state.clock.now();
    let playbook = Playbook {
        id: PlaybookId::generate(),
        account_id: caller.account_id.clone(),
        name,
        initial_message,
        voicemail_audio_id,
        created_at: now,
        updated_at: now,
    };
    state
        .store
        .insert_playbook(&playbook, &caller.actor)
        .await?;
    Ok((StatusCode::CREATED, Json(PlaybookView::from(&playbook))))
}

#[utoipa::path(
    get, path = "/v1/playbooks", operation_id = "list_playbooks", tag = "playbooks",
    summary = "List playbooks, oldest first",
    responses(
        (status = 200, description = "The account's playbooks.", body = PlaybookList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn list_playbooks(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
) -> Result<Json<PlaybookList>, ApiError> {
    let playbooks = state.store.list_playbooks(&caller.account_id).await?;
    Ok(Json(PlaybookList {
        data: playbooks.iter().map(PlaybookView::from).collect(),
    }))
}

async fn load(state: &AppState, caller: &Caller, raw: &str) -> Result<Playbook, ApiError> {
    let id = PlaybookId::parse(raw).ok_or_else(|| ApiError::not_found("playbook"))?;
    state
        .store
        .get_playbook(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("playbook"))
}

#[utoipa::path(
    get, path = "/v1/playbooks/{id}", operation_id = "get_playbook", tag = "playbooks",
    summary = "Get a playbook",
    params(("id" = String, Path, description = "A playbook id (a UUID).")),
    responses(
        (status = 200, description = "The playbook.", body = PlaybookView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn get_playbook(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(id): Path<String>,
) -> Result<Json<PlaybookView>, ApiError> {
    Ok(Json(PlaybookView::from(&load(&state, &caller, &id).await?)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlaybook {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    /// Checked like a new playbook's.
    pub initial_message: Option<String>,
    /// The account's audio (`aud_...`); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub voicemail_audio_id: Option<Option<String>>,
}

use crate::domain::present;

#[utoipa::path(
    patch, path = "/v1/playbooks/{id}", operation_id = "update_playbook", tag = "playbooks",
    summary = "Change a playbook",
    params(("id" = String, Path, description = "A playbook id (a UUID).")),
    request_body = UpdatePlaybook,
    responses(
        (status = 200, description = "The playbook.", body = PlaybookView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn update_playbook(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdatePlaybook>,
) -> Result<Json<PlaybookView>, ApiError> {
    let mut playbook = load(&state, &caller, &id).await?;
    if let Some(n) = &req.name {
        playbook.name = name(n)?;
    }
    if let Some(message) = &req.initial_message {
        playbook.initial_message = MessageTemplate::parse(message, "initial_message")?;
    }
    match &req.voicemail_audio_id {
        None => {}
        Some(None) => playbook.voicemail_audio_id = None,
        Some(Some(raw)) => {
            playbook.voicemail_audio_id =
                Some(named_audio(&state, &caller, raw, "voicemail_audio_id").await?);
        }
    }
    playbook.updated_at = state.clock.now();
    if !state
        .store
        .update_playbook(&playbook, &caller.actor)
        .await?
    {
        return Err(ApiError::not_found("playbook"));
    }
    Ok(Json(PlaybookView::from(&playbook)))
}

#[utoipa::path(
    delete, path = "/v1/playbooks/{id}", operation_id = "delete_playbook", tag = "playbooks",
    summary = "Delete a playbook",
    params(("id" = String, Path, description = "A playbook id (a UUID).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn delete_playbook(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = PlaybookId::parse(&id).ok_or_else(|| ApiError::not_found("playbook"))?;
    let deleted = state
        .store
        .delete_playbook(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?;
    deleted_or_not_found(deleted, "playbook")
}
