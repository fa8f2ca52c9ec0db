//! Callback instead of hold: `POST /v1/queues/{id}/callbacks` (a caller waiting in an inbound
//! queue is called back instead, keeping their place) and `GET /v1/queues/{id}/wait` (what
//! waits in the queue and how long a callback joining now would wait). The estimate's rules
//! are `domain::queue_wait`; the callback is made through the one create path
//! ([`prepare_at`]), so the dial decision, do-not-call, consent and the calling window apply.
//! The inbound TwiML flow of a `twilio_compatible` trunk (`api::queue_ivr`) makes its
//! callbacks here too.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    callbacks::{
        Prepared,
        create::{idempotency_key, json_response, replay},
        duplicate, prepare_at,
    },
    error::ApiError,
    extract::RawJson,
};
use crate::{
    app::AppState,
    domain::{
        AccountId, AssigneeKind, Assignment, Callback, CallbackView, DialingMode, ErrorCode,
        Origin,
        agent::Queue,
        callback::{CreatePolicy, NewCallback},
        ids::QueueId,
        queue_wait::{
            self, HANDLE_HISTORY, MAX_HANDLE_SAMPLES, QUEUE_CALLBACK_EXPIRE_MINUTES, Staffing,
            WaitInputs, Waiting,
        },
        routing::DEFAULT_PRIORITY,
    },
    store::{IdempotentResponse, InsertOutcome},
};

/// A callback for a caller waiting in the queue.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueCallbackRequest {
    /// E.164, or a human format with a country code (`+1-415-555-0199`).
    pub phone: String,
    pub contact_name: Option<String>,
    /// When the caller joined the inbound queue, RFC 3339 with an offset; default now. At most
    /// a minute ahead of the server's clock and at most 24 hours ago. The callback's place in
    /// the queue's line is counted from it.
    pub queued_since: Option<String>,
    pub notes: Option<String>,
    /// Schedule even if an active callback for this phone exists (as on `POST /v1/callbacks`).
    pub allow_duplicate: Option<bool>,
}

/// A queue callback as the API shows it: the callback, its place in the queue's line and its
/// estimated wait.
#[derive(Serialize, utoipa::ToSchema)]
pub struct QueueCallbackView {
    #[serde(flatten)]
    pub callback: CallbackView,
    /// Its 1-based place among the callbacks waiting in the queue's line (priority first, then
    /// when each caller joined the queue).
    pub position: u32,
    /// Seconds until an agent takes it, estimated (`GET /v1/queues/{id}/wait` documents how);
    /// when the calling window is closed now, at least until it opens. `null` when no agent of
    /// the queue is working now.
    pub estimated_wait_seconds: Option<u32>,
}

/// What waits in a queue and how long a callback joining it now would wait.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueWaitView {
    /// Callbacks waiting in the queue's line for an agent (in line, or due and joining it).
    pub waiting: u32,
    /// Members available now, under their concurrency and inside their working hours.
    pub free_agents: u32,
    /// Members available or busy, inside their working hours: those taking the line's calls.
    pub agents_working: u32,
    /// The mean time the queue's answered calls that ended in the last 4 hours held their
    /// agent (the latest 200), in seconds; 300 when there are none.
    pub average_handle_seconds: u32,
    /// How many calls `average_handle_seconds` is the mean of (0: the default was used).
    pub handle_samples: u32,
    /// The queue's offer timeout, in seconds: half of it is counted for an agent to answer an
    /// offer.
    pub offer_timeout_seconds: u32,
    /// The place a callback joining now at the default priority would take.
    pub position_next: u32,
    /// Seconds until an agent would take that callback, estimated:
    /// `A + ceil((position_next - free_agents) x (average_handle_seconds + A) / agents_working)`
    /// with `A` half the offer timeout, or just `A` when a free agent takes it at once; `null`
    /// when no agent is working.
    pub estimated_wait_seconds: Option<u32>,
}

/// The account's queue named by a path, else 404 (another account's looks the same).
pub(crate) async fn named_queue(
    state: &AppState,
    account: &AccountId,
    raw: &str,
) -> Result<Queue, ApiError> {
    let id = QueueId::parse(raw).ok_or_else(|| ApiError::not_found("queue"))?;
    state
        .store
        .get_queue(account, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("queue"))
}

/// What a queue's estimate reads, at one instant.
pub(crate) struct QueueState {
    pub waiting: Vec<Waiting>,
    pub staffing: Staffing,
    pub average_handle_seconds: u32,
    pub handle_samples: u32,
    pub offer_timeout: Duration,
    pub queue: Queue,
}

impl QueueState {
    pub(crate) async fn read(
        state: &AppState,
        queue: Queue,
        now: Timestamp,
    ) -> Result<Self, ApiError> {
        let (account, id) = (&queue.account_id, &queue.id);
        let waiting = state.store.queue_waiting(account, id, now).await?;
        let staff = state.store.queue_staff(account, id).await?;
        let since = now.checked_sub(HANDLE_HISTORY).unwrap_or(Timestamp::MIN);
        let handles = state
            .store
            .queue_handle_times(account, id, since, MAX_HANDLE_SAMPLES)
            .await?;
        Ok(Self {
            waiting,
            staffing: queue_wait::staffing(staff.iter().map(|(a, load)| (a, *load)), now),
            average_handle_seconds: queue_wait::average_handle(&handles),
            handle_samples: handles.len() as u32,
            offer_timeout: Duration::from_secs(u64::from(queue.offer_timeout_seconds)),
            queue,
        })
    }

    /// The place `candidate` takes in the line.
    pub(crate) fn place(&self, candidate: &Waiting) -> u32 {
        queue_wait::place_in_line(&self.waiting, &self.queue.rules, candidate)
    }

    /// The estimated wait of the callback at `place`.
    pub(crate) fn wait_at(&self, place: u32) -> Option<u32> {
        queue_wait::estimate_wait(&WaitInputs {
            ahead: place.saturating_sub(1),
            staffing: self.staffing,
            average_handle_seconds: self.average_handle_seconds,
            offer_timeout: self.offer_timeout,
        })
    }

    /// A callback joining now at the default priority.
    pub(crate) fn next(&self, now: Timestamp) -> Waiting {
        Waiting {
            // After every callback id on a tie.
            callback_id: "~".to_owned(),
            priority: DEFAULT_PRIORITY,
            line_at: now,
        }
    }

    fn view(&self, now: Timestamp) -> QueueWaitView {
        let position_next = self.place(&self.next(now));
        QueueWaitView {
            waiting: self.waiting.len() as u32,
            free_agents: self.staffing.free,
            agents_working: self.staffing.working,
            average_handle_seconds: self.average_handle_seconds,
            handle_samples: self.handle_samples,
            offer_timeout_seconds: self.queue.offer_timeout_seconds,
            position_next,
            estimated_wait_seconds: self.wait_at(position_next),
        }
    }
}

/// A queue callback's request, read.
pub(crate) struct QueueCallbackInput {
    pub phone: String,
    pub contact_name: Option<String>,
    pub queued_since: Timestamp,
    pub notes: Option<String>,
    pub allow_duplicate: bool,
}

/// A queue callback ready to store, with its answer.
pub(crate) struct QueueCallback {
    pub callback: Callback,
    pub allow_duplicate: bool,
    pub view: QueueCallbackView,
}

/// Prepares a callback assigned to `queue` for `caller`'s account through the one create path:
/// due at once (preview, offered to the queue's members), or, when the calling window is
/// closed now, when it opens; its place in line counted from `queued_since`. Answers it with
/// its place and estimated wait. Nothing is stored.
pub(crate) async fn prepare_queue_callback(
    state: &AppState,
    caller: &Caller,
    queue: Queue,
    input: QueueCallbackInput,
    now: Timestamp,
) -> Result<QueueCallback, ApiError> {
    let new = |scheduled_at: String| NewCallback {
        phone: input.phone.clone(),
        contact_name: input.contact_name.clone(),
        notes: input.notes.clone(),
        scheduled_at,
        assignment: Some(Assignment {
            kind: AssigneeKind::Queue,
            ids: vec![queue.id.to_string()],
        }),
        dialing_mode: Some(DialingMode::Preview),
        expire_after_minutes: Some(QUEUE_CALLBACK_EXPIRE_MINUTES),
        allow_duplicate: Some(input.allow_duplicate),
        ..NewCallback::default()
    };
    // As soon as possible: a moment after now, with no lead time required.
    let asap = CreatePolicy {
        min_lead: SignedDuration::ZERO,
    };
    let soon = (now + SignedDuration::from_millis(1)).to_string();
    let mut waits_for_window = None;
    let prepared = match prepare_at(state, caller, new(soon), Origin::Api, asap, now, "").await {
        Ok(prepared) => prepared,
        // The window is closed now: due when it opens.
        Err(e) if e.code == ErrorCode::OutsideCallingWindow => {
            let Some(opening) = e.extra.get("next_opening").and_then(|v| v.as_str()) else {
                return Err(e);
            };
            waits_for_window = Some(opening.to_owned());
            let at = opening.to_owned();
            prepare_at(state, caller, new(at), Origin::Api, asap, now, "").await?
        }
        Err(e) => return Err(e),
    };
    let Prepared {
        mut callback,
        allow_duplicate,
        judged,
        slot: _,
    } = prepared;
    callback.queued_since = Some(input.queued_since);
    let mut view = CallbackView::from(&callback);
    view.effective_dial_at = judged.effective_dial_at.map(|t| t.to_string());
    let mut explanation = judged.explanation;
    if let Some(opening) = &waits_for_window {
        explanation.insert(
            0,
            format!("the calling window is closed now: it falls due when it opens, at {opening}"),
        );
    }
    view.explanation = (!explanation.is_empty()).then_some(explanation);
    let line = QueueState::read(state, queue, now).await?;
    let position = line.place(&Waiting {
        callback_id: callback.id.to_string(),
        priority: callback.priority,
        line_at: callback.line_instant(),
    });
    // Not before it may be dialled.
    let until_dial = judged
        .effective_dial_at
        .unwrap_or(callback.due_at)
        .duration_since(now)
        .as_secs_f64()
        .max(0.0)
        .ceil() as u32;
    let estimated_wait_seconds = line.wait_at(position).map(|w| w.max(until_dial));
    Ok(QueueCallback {
        callback,
        allow_duplicate,
        view: QueueCallbackView {
            callback: view,
            position,
            estimated_wait_seconds,
        },
    })
}

/// Call a waiting caller back instead of holding.
#[utoipa::path(
    post, path = "/v1/queues/{id}/callbacks", operation_id = "create_queue_callback", tag = "agents",
    summary = "Call a waiting caller back instead of holding",
    description = "An as-soon-as-possible preview callback assigned to the queue, made like \
        `POST /v1/callbacks` (dial decision, do-not-call, consent; when the calling window is \
        closed now it falls due when it opens, and `explanation` says so). It keeps the \
        caller's place: the queue's line orders by priority, then by `queued_since`. `201` with \
        the callback, its `position` and `estimated_wait_seconds`. With an `Idempotency-Key`, \
        a repeat of the same body answers the first answer again.",
    params(
        ("id" = String, Path, description = "A queue id (`que_...`)."),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible characters; a retry with the same key and body is not scheduled twice."),
    ),
    request_body = QueueCallbackRequest,
    responses(
        (status = 201, description = "Scheduled.", body = QueueCallbackView,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key."))),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
        (status = 409, description = "`duplicate_active_callback`: an active callback for this phone exists (`existing_id` names it); set `allow_duplicate` to schedule another.", body = super::error::ErrorBody),
        (status = 413, response = super::error::PayloadTooLarge),
        (status = 415, response = super::error::UnsupportedMediaType),
        (status = 422, description = "`idempotency_key_reused`: the Idempotency-Key was used with a different body.", body = super::error::ErrorBody),
    ),
    security(("bearer" = ["callbacks:write"])),
)]
pub async fn create_queue_callback(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksWrite>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawJson(body): RawJson,
) -> Result<Response, ApiError> {
    let queue = named_queue(&state, &caller.account_id, &id).await?;
    let idempotency_key = idempotency_key(&headers)?;
    let request_hash = hex::encode(Sha256::digest(&body));
    if let Some(key) = &idempotency_key
        && let Some(seen) = state
            .store
            .find_idempotent_response(&caller.account_id, key)
            .await?
    {
        return replay(seen, &request_hash);
    }
    let req: QueueCallbackRequest = crate::api::extract::parse_json(&body)?;
    let now = state.clock.now();
    let queued_since =
        queue_wait::parse_queued_since(req.queued_since.as_deref(), now, "queued_since")?;
    let input = QueueCallbackInput {
        phone: req.phone,
        contact_name: req.contact_name,
        queued_since,
        notes: req.notes,
        allow_duplicate: req.allow_duplicate.unwrap_or(false),
    };
    let made = prepare_queue_callback(&state, &caller, queue, input, now).await?;
    let body_json = serde_json::to_string(&made.view).map_err(|e| ApiError::internal(&e))?;
    let idem = idempotency_key.map(|key| IdempotentResponse {
        key,
        request_hash: request_hash.clone(),
        status: 201,
        body: body_json.clone(),
    });
    match state
        .store
        .insert_callback(
            &made.callback,
            made.allow_duplicate,
            idem.as_ref(),
            &caller.actor,
        )
        .await?
    {
        InsertOutcome::Inserted => Ok(json_response(StatusCode::CREATED, body_json)),
        InsertOutcome::Replayed(seen) => replay(seen, &request_hash),
        InsertOutcome::Duplicate { existing_id } => Err(duplicate(&existing_id)),
    }
}

/// What waits in a queue, and the wait of a callback joining it now.
#[utoipa::path(
    get, path = "/v1/queues/{id}/wait", operation_id = "get_queue_wait", tag = "agents",
    summary = "A queue's wait",
    description = "The callbacks waiting in the queue's line, its free and working agents, its \
        recent handle time, and the place and estimated wait of a callback joining it now (the \
        estimator is described in the README, \"Callback instead of hold\").",
    params(("id" = String, Path, description = "A queue id (`que_...`).")),
    responses(
        (status = 200, description = "The queue's wait.", body = QueueWaitView),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn get_queue_wait(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    Path(id): Path<String>,
) -> Result<Json<QueueWaitView>, ApiError> {
    let queue = named_queue(&state, &caller.account_id, &id).await?;
    let now = state.clock.now();
    Ok(Json(QueueState::read(&state, queue, now).await?.view(now)))
}
