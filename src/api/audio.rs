//! `/v1/audio`: audio an account uploads to play into calls (the voicemail message a playbook's
//! calls leave after the beep). Any PCM WAV is converted on upload to 8 kHz mono 16-bit
//! (`media::wav::read_as_8k_mono`), the form calls play, and only that is kept.

use axum::{
    Json,
    body::{Body, Bytes},
    extract::{FromRequest, Path, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    error::ApiError,
    extract::{ApiQuery, invalid_query},
};
use crate::app::AppState;
use crate::domain::{ErrorCode, FieldError, audio::Audio, ids::AudioId};
use crate::media::wav::{read_as_8k_mono, write_8k_mono};
use crate::store::AudioDeletion;

/// The content types of a WAV file.
const WAV_TYPES: [&str; 4] = ["audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"];

/// Audio as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AudioView {
    /// `aud_...`
    pub id: String,
    pub name: String,
    /// Its length, in milliseconds.
    pub duration_ms: u64,
    pub created_at: String,
}

impl From<&Audio> for AudioView {
    fn from(a: &Audio) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            duration_ms: a.duration_ms,
            created_at: a.created_at.to_string(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AudioList {
    pub data: Vec<AudioView>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// 1 to 200 characters; default `Untitled audio`.
    pub name: Option<String>,
}

/// Refuses a body that is not declared as WAV.
fn require_wav(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if WAV_TYPES.iter().any(|t| mime.eq_ignore_ascii_case(t)) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as a WAV file with Content-Type: audio/wav",
        )
        .field("Content-Type"))
    }
}

/// The body's bytes; over the body limit, the API's 413.
async fn read_body(req: Request, state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::PayloadTooLarge,
                "the request body is larger than the server accepts",
            )
        } else {
            FieldError::new(
                ErrorCode::InvalidField,
                "body",
                "the request body could not be read",
            )
            .into()
        }
    })
}

#[utoipa::path(
    post, path = "/v1/audio", operation_id = "upload_audio", tag = "playbooks",
    summary = "Upload audio",
    description = "The body is a WAV file (`Content-Type: audio/wav` or `audio/x-wav`) of any \
        PCM kind (8 to 32-bit integer, 32-bit float, G.711; any channels and sample rate), at \
        most 600 seconds long and `--max-bulk-body-bytes` large. It is converted to 8 kHz mono \
        16-bit, the form calls play, and only that is kept. A body that is not such a file is \
        refused with 400 naming `body` and the reason (`not a WAV file`, `compressed WAV ... is \
        not supported`, `longer than 600 seconds`, `empty`).",
    params(UploadQuery),
    request_body(content = String, content_type = "audio/wav",
        description = "A PCM WAV file."),
    responses(
        (status = 201, description = "The stored audio.", body = AudioView),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, description = "The body is not declared as `audio/wav`.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn upload_audio(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    req: Request,
) -> Result<(StatusCode, Json<AudioView>), ApiError> {
    require_wav(req.headers())?;
    let name = Audio::parse_name(query.name.as_deref(), "name")
        .map_err(|e| invalid_query(&e.field, &e.message))?;
    let body = read_body(req, &state).await?;
    // Converting minutes of 48 kHz audio takes a while: off the request threads.
    let converted = tokio::task::spawn_blocking(move || {
        read_as_8k_mono(&body).map(|samples| (samples.len(), write_8k_mono(&samples)))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let (samples, wav) =
        converted.map_err(|e| FieldError::new(ErrorCode::InvalidField, "body", e.to_string()))?;
    let audio = Audio {
        id: AudioId::generate(),
        account_id: caller.account_id.clone(),
        name,
        duration_ms: Audio::duration_ms_of(samples),
        created_at: state.clock.now(),
    };
    state
        .store
        .insert_audio(&audio, &wav, &caller.actor)
        .await?;
    Ok((StatusCode::CREATED, Json(AudioView::from(&audio))))
}

#[utoipa::path(
    get, path = "/v1/audio", operation_id = "list_audio", tag = "playbooks",
    summary = "List audio, oldest first",
    responses(
        (status = 200, description = "The account's audio (without the sound).", body = AudioList),
        (status = 401, response = super::error::Unauthorized),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn list_audio(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
) -> Result<Json<AudioList>, ApiError> {
    let audio = state.store.list_audio(&caller.account_id).await?;
    Ok(Json(AudioList {
        data: audio.iter().map(AudioView::from).collect(),
    }))
}

/// The id `raw` names, or 404 (a malformed id is not found either).
fn audio_id(raw: &str) -> Result<AudioId, ApiError> {
    AudioId::parse(raw).ok_or_else(|| ApiError::not_found("audio"))
}

#[utoipa::path(
    get, path = "/v1/audio/{id}", operation_id = "get_audio", tag = "playbooks",
    summary = "Get audio",
    params(("id" = String, Path, description = "An audio id (`aud_...`).")),
    responses(
        (status = 200, description = "The audio (without the sound).", body = AudioView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn get_audio(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(id): Path<String>,
) -> Result<Json<AudioView>, ApiError> {
    let audio = state
        .store
        .get_audio(&caller.account_id, &audio_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::not_found("audio"))?;
    Ok(Json(AudioView::from(&audio)))
}

#[utoipa::path(
    get, path = "/v1/audio/{id}/content", operation_id = "get_audio_content", tag = "playbooks",
    summary = "The sound of audio",
    description = "The WAV file as calls play it: 8 kHz mono 16-bit PCM.",
    params(("id" = String, Path, description = "An audio id (`aud_...`).")),
    responses(
        (status = 200, description = "The WAV file.", content_type = "audio/wav"),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["campaigns:read"])),
)]
pub async fn get_audio_content(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsRead>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = audio_id(&id)?;
    let bytes = state
        .store
        .audio_content(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("audio"))?;
    Response::builder()
        .header(header::CONTENT_TYPE, "audio/wav")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{id}.wav\""),
        )
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(&e))
}

#[utoipa::path(
    delete, path = "/v1/audio/{id}", operation_id = "delete_audio", tag = "playbooks",
    summary = "Delete audio",
    description = "Refused with 409 `audio_in_use` while a playbook plays it (its \
        `voicemail_audio_id`; also a deleted playbook a running or paused campaign still calls \
        with). Clear it there first (`PATCH /v1/playbooks/{id}` with `\"voicemail_audio_id\": \
        null`).",
    params(("id" = String, Path, description = "An audio id (`aud_...`).")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
        (status = 409, response = super::error::AudioInUse),
    ),
    security(("bearer" = ["campaigns:write"])),
)]
pub async fn delete_audio(
    State(state): State<AppState>,
    caller: Authorized<scope::CampaignsWrite>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = audio_id(&id)?;
    match state
        .store
        .delete_audio(&caller.account_id, &id, state.clock.now(), &caller.actor)
        .await?
    {
        AudioDeletion::Deleted => Ok(StatusCode::NO_CONTENT),
        AudioDeletion::NotFound => Err(ApiError::not_found("audio")),
        AudioDeletion::InUse { what } => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::AudioInUse,
            format!("the audio cannot be deleted: {what}"),
        )),
    }
}

/// An audio id a request names (`voicemail_audio_id`): one of the caller's, else 400 naming
/// `field`.
pub async fn named_audio(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    field: &str,
) -> Result<AudioId, ApiError> {
    let unknown = || {
        FieldError::new(
            ErrorCode::InvalidField,
            field,
            "names no audio of this account",
        )
    };
    let id = AudioId::parse(raw).ok_or_else(unknown)?;
    match state.store.get_audio(&caller.account_id, &id).await? {
        Some(_) => Ok(id),
        None => Err(unknown().into()),
    }
}
