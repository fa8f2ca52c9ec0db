//! `GET /v1/availability`: the slots in which a queue can keep a call to one number, and the
//! booking of one by `POST /v1/callbacks` with `slot_id` (through
//! [`prepare`](super::callbacks::prepare): [`take_slot`] reads the id, [`book`] checks the
//! slot is offered to the number with a place left; the store counts the places again in the
//! insert's transaction).
//!
//! What makes a slot, and how its places are counted, is `domain::availability`; this module
//! gathers what it needs: the facts the dial decision reads about a new callback to the number
//! (as a create gathers them), the queue's agents, its handle times and what is taken.

use axum::{Json, extract::State, http::StatusCode};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{
    auth::Caller,
    authorized::{Authorized, scope},
    callbacks::{judge::new_call_facts, policy},
    error::ApiError,
    extract::ApiQuery,
};
use crate::{
    app::AppState,
    domain::{
        AssigneeKind, Assignment, Callback, DialingMode, ErrorCode, FieldError, Origin, Zone,
        availability::{
            DEFAULT_RANGE, HANDLE_TIME_HISTORY, MAX_RANGE, Slot, SlotId, SlotLength, SlotQuestion,
            average_handle_seconds, slots,
        },
        callback::{CreatePolicy, MAX_HORIZON, NewCallback, check_lead_time},
        dialing::Facts,
        ids::QueueId,
    },
    store::SlotBooking,
};

/// How far in the past `from` may be (clock skew between client and server).
const FROM_SKEW: SignedDuration = SignedDuration::from_mins(5);
/// How many free slots a refused booking suggests, and how far ahead it looks for them.
const NEXT_SLOTS: usize = 5;
const NEXT_SLOTS_RANGE: SignedDuration = SignedDuration::from_hours(7 * 24);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityQuery {
    /// The queue (`que_...`) whose agents would take the call.
    #[param(required = true)]
    pub queue_id: Option<String>,
    /// The customer's number (E.164, or a human format with a country code): slots are judged
    /// in every zone it may be in (or its contact's zone) and shown on its zone's clock.
    #[param(required = true)]
    pub phone: Option<String>,
    /// RFC 3339; default now. Not in the past (a few minutes of clock skew aside).
    pub from: Option<String>,
    /// RFC 3339, after `from`; default `from` plus 7 days; at most 31 days after `from`.
    pub to: Option<String>,
    /// Minutes per slot, 5 to 240 and dividing a day (1440), so slots tile each local day
    /// from midnight: 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240 ...; default 30.
    #[param(value_type = Option<i64>, minimum = 5, maximum = 240)]
    pub slot_minutes: Option<String>,
    /// The mode the callback will be booked with (its consent rules apply); default
    /// `unattended`, as on create.
    #[param(value_type = Option<DialingMode>)]
    pub dialing_mode: Option<String>,
}

/// One bookable slot.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    /// What `POST /v1/callbacks` takes as `slot_id`.
    pub id: String,
    /// RFC 3339, UTC.
    pub start: String,
    pub end: String,
    /// The start on the customer's clock, with its offset.
    pub start_local: String,
    pub end_local: String,
    /// The customer's zone (the contact's, else the number's; the first of several).
    pub zone: String,
    /// Places left: the queue's agents working through the slot × its length ÷ the queue's
    /// average handle time, minus what is booked or scheduled in it.
    pub capacity_left: u32,
}

impl SlotView {
    fn of(slot: &Slot, queue: &QueueId, length: SlotLength, zone: &Zone) -> Self {
        let id = SlotId {
            queue: queue.clone(),
            start: slot.start,
            length,
        };
        Self {
            id: id.to_string(),
            start: slot.start.to_string(),
            end: slot.end.to_string(),
            start_local: zone.format_local(slot.start),
            end_local: zone.format_local(slot.end),
            zone: zone.name().to_owned(),
            capacity_left: slot.capacity_left(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Availability {
    /// Free slots in time order; empty when none (a number on the do-not-call list has none).
    pub slots: Vec<SlotView>,
}

#[utoipa::path(
    get, path = "/v1/availability", operation_id = "list_availability", tag = "callbacks",
    summary = "Slots a queue can keep a call to a number in",
    description = "Slots on the customer's clock (multiples of `slot_minutes` from local \
        midnight; across a daylight-saving change the local starts stay on the grid) with a \
        place left. A slot is listed when a callback due at its start would be dialled then \
        (the dial decision in every zone the number may be in: calling window, regional \
        windows, holidays, caps, consent, do-not-call) and the calling window holds to its \
        end, when at least one agent of the queue works through all of it (their working \
        hours, in their zone), and when its capacity (agents × length ÷ the queue's average \
        handle time over the last 7 days, 300 s without history, rounded down) exceeds what \
        is booked into it or scheduled in it for the queue. Book one with `slot_id` on \
        `POST /v1/callbacks`.",
    params(AvailabilityQuery),
    responses(
        (status = 200, description = "The free slots.", body = Availability),
        (status = 400, response = super::error::BadRequest),
        (status = 401, response = super::error::Unauthorized),
        (status = 404, response = super::error::NotFound),
    ),
    security(("bearer" = ["callbacks:read"])),
)]
pub async fn availability(
    State(state): State<AppState>,
    caller: Authorized<scope::CallbacksRead>,
    ApiQuery(query): ApiQuery<AvailabilityQuery>,
) -> Result<Json<Availability>, ApiError> {
    let now = state.clock.now();
    let asked = read_query(&query, now)?;
    let queue = state
        .store
        .get_queue(&caller.account_id, &asked.queue)
        .await?
        .ok_or_else(|| ApiError::not_found("queue").field("queue_id"))?;
    let mut callback = template(&caller, &asked.phone, asked.mode, &queue.id, now)?;
    let (found, zone) = find(
        &state,
        &caller,
        &mut callback,
        &queue.id,
        asked.length,
        (asked.from, asked.to),
    )
    .await?;
    Ok(Json(Availability {
        slots: found
            .iter()
            .filter(|s| s.capacity_left() > 0)
            .map(|s| SlotView::of(s, &queue.id, asked.length, &zone))
            .collect(),
    }))
}

/// The query, read.
struct Asked {
    queue: QueueId,
    phone: String,
    mode: DialingMode,
    from: Timestamp,
    to: Timestamp,
    length: SlotLength,
}

fn read_query(q: &AvailabilityQuery, now: Timestamp) -> Result<Asked, FieldError> {
    let required = |value: &Option<String>, field: &str| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                FieldError::new(
                    ErrorCode::MissingField,
                    field,
                    format!("{field:?} is required"),
                )
            })
    };
    let raw_queue = required(&q.queue_id, "queue_id")?;
    let queue = QueueId::parse(&raw_queue).ok_or_else(|| {
        FieldError::new(
            ErrorCode::InvalidField,
            "queue_id",
            "must be a queue id (que_...)",
        )
    })?;
    let phone = required(&q.phone, "phone")?;
    crate::domain::PhoneNumber::parse(&phone, "phone")?;
    let instant = |raw: &str, field: &str| {
        raw.trim().parse::<Timestamp>().map_err(|_| {
            FieldError::new(
                ErrorCode::InvalidDatetime,
                field,
                format!("{raw:?} is not an RFC 3339 instant with an offset (2027-01-05T15:00:00Z)"),
            )
        })
    };
    let from = match &q.from {
        None => now,
        Some(raw) => {
            let from = instant(raw, "from")?;
            if from < now - FROM_SKEW {
                return Err(FieldError::new(
                    ErrorCode::TimeInPast,
                    "from",
                    format!("{from} is in the past (now is {now})"),
                ));
            }
            from
        }
    };
    let to = match &q.to {
        None => from.checked_add(DEFAULT_RANGE).unwrap_or(Timestamp::MAX),
        Some(raw) => instant(raw, "to")?,
    };
    if to <= from {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "to",
            format!("must be after from ({from})"),
        ));
    }
    if to.duration_since(from) > MAX_RANGE {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "to",
            "the range may span at most 31 days",
        ));
    }
    if to.duration_since(now) > MAX_HORIZON {
        return Err(FieldError::new(
            ErrorCode::TimeTooFar,
            "to",
            "must be at most two years from now",
        ));
    }
    let length = match q.slot_minutes.as_deref().map(str::trim) {
        None => SlotLength::default(),
        Some(raw) => SlotLength::parse(raw.parse().unwrap_or(-1), "slot_minutes")?,
    };
    let mode = match q.dialing_mode.as_deref() {
        None => DialingMode::Unattended,
        Some(raw) => DialingMode::parse(raw.trim()).ok_or_else(|| {
            FieldError::new(
                ErrorCode::InvalidField,
                "dialing_mode",
                "must be unattended, preview, progressive or ai",
            )
        })?,
    };
    Ok(Asked {
        queue,
        phone,
        mode,
        from,
        to,
        length,
    })
}

/// A new callback to `phone` for `queue`, as a create would make it: what the dial decision
/// is asked about at each slot's start.
fn template(
    caller: &Caller,
    phone: &str,
    mode: DialingMode,
    queue: &QueueId,
    now: Timestamp,
) -> Result<Callback, ApiError> {
    let new = NewCallback {
        phone: phone.to_owned(),
        scheduled_at: (now + SignedDuration::from_mins(1)).to_string(),
        assignment: Some(Assignment {
            kind: AssigneeKind::Queue,
            ids: vec![queue.to_string()],
        }),
        dialing_mode: Some(mode),
        allow_duplicate: Some(true),
        ..NewCallback::default()
    };
    let lax = CreatePolicy {
        min_lead: SignedDuration::ZERO,
    };
    let (callback, _) = new.validate(&caller.account_id, Origin::Api, now, lax, "")?;
    Ok(callback)
}

/// Every slot of `queue` in `range` the dial decision and the agents allow for `callback`'s
/// number, full ones included, and the zone they are shown in.
async fn find(
    state: &AppState,
    caller: &Caller,
    callback: &mut Callback,
    queue: &QueueId,
    length: SlotLength,
    (from, to): (Timestamp, Timestamp),
) -> Result<(Vec<Slot>, Zone), ApiError> {
    let now = state.clock.now();
    let (call, settings) = new_call_facts(state, caller, callback).await?;
    let members = state
        .store
        .get_queue(&caller.account_id, queue)
        .await?
        .map(|q| q.member_ids)
        .unwrap_or_default();
    let agents: Vec<_> = state
        .store
        .list_agents(&caller.account_id)
        .await?
        .into_iter()
        .filter(|a| members.contains(&a.id))
        .collect();
    let since = now.checked_sub(HANDLE_TIME_HISTORY).unwrap_or(now);
    let handle_seconds = average_handle_seconds(
        &state
            .store
            .queue_handle_times(&caller.account_id, queue, since, 1_000)
            .await?,
    );
    let taken = state
        .store
        .slot_takings(&caller.account_id, queue, from.max(now), to)
        .await?;
    let location = callback.location();
    let facts = Facts {
        on_dnc: call.on_dnc,
        consent: call.consent,
        campaign: call.campaign,
        ..Facts::of(callback, &location, &call.history)
    };
    let zone = callback.timezone.clone();
    let min_lead = policy(state).min_lead;
    let found = slots(&SlotQuestion {
        facts,
        policy: &settings,
        zone: &zone,
        agents: &agents,
        handle_seconds,
        taken: &taken,
        length,
        from,
        to,
        not_before: now.checked_add(min_lead).unwrap_or(now),
        now,
    });
    Ok((found, zone))
}

/// A slot a new callback is being booked into.
#[derive(Debug, Clone)]
pub(crate) struct BookedSlot {
    pub id: SlotId,
    pub booking: SlotBooking,
}

/// Reads the `slot_id` of a create request into its time and assignment: `scheduled_at`
/// becomes the slot's start and `assignment` its queue (either given must say the same), and
/// the slot must be the account's queue's and not too soon. Refusals name `slot_id` (400).
pub(crate) async fn take_slot(
    state: &AppState,
    caller: &Caller,
    new: &mut NewCallback,
    raw: &str,
    create: CreatePolicy,
    prefix: &str,
) -> Result<SlotId, ApiError> {
    let field = format!("{prefix}slot_id");
    let id = SlotId::parse(raw, &field)?;
    if state
        .store
        .get_queue(&caller.account_id, &id.queue)
        .await?
        .is_none()
    {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "names no queue of this account; take slots from GET /v1/availability",
        )
        .into());
    }
    check_lead_time(id.start, state.clock.now(), create, &field)?;
    if new.scheduled_at.trim().is_empty() {
        new.scheduled_at = id.start.to_string();
    } else if new.scheduled_at.trim().parse::<Timestamp>().ok() != Some(id.start) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            format!("{prefix}scheduled_at"),
            format!(
                "must be left out with a slot_id, or be its start ({})",
                id.start
            ),
        )
        .into());
    }
    let queue = Assignment {
        kind: AssigneeKind::Queue,
        ids: vec![id.queue.to_string()],
    };
    match &new.assignment {
        None => new.assignment = Some(queue),
        Some(given) if *given == queue => {}
        Some(_) => {
            return Err(FieldError::new(
                ErrorCode::InvalidField,
                format!("{prefix}assignment"),
                format!(
                    "a booked callback is assigned to its slot's queue: leave it out, or give \
                     {{\"type\": \"queue\", \"ids\": [\"{}\"]}}",
                    id.queue
                ),
            )
            .into());
        }
    }
    Ok(id)
}

/// Checks the slot is offered to the prepared `callback`'s number with a place left (409
/// `slot_unavailable` or `slot_full`, with `next_slots`, otherwise), and what its booking
/// holds: the store counts its places again when it inserts.
pub(crate) async fn book(
    state: &AppState,
    caller: &Caller,
    callback: &Callback,
    id: SlotId,
) -> Result<BookedSlot, ApiError> {
    let mut asked = callback.clone();
    let (found, zone) = find(
        state,
        caller,
        &mut asked,
        &id.queue,
        id.length,
        (id.start, id.end()),
    )
    .await?;
    let Some(slot) = found.into_iter().find(|s| s.start == id.start) else {
        return Err(refused(
            state,
            caller,
            callback,
            &id,
            ErrorCode::SlotUnavailable,
            &zone,
        )
        .await);
    };
    if slot.capacity_left() == 0 {
        return Err(refused(state, caller, callback, &id, ErrorCode::SlotFull, &zone).await);
    }
    Ok(BookedSlot {
        booking: SlotBooking {
            queue: id.queue.clone(),
            start: slot.start,
            end: slot.end,
            places: slot.capacity,
        },
        id,
    })
}

/// The 409 of a slot that cannot be booked (`slot_full`, `slot_unavailable`), with the next
/// free slots of the same queue and length for the number (`next_slots`, up to five within a
/// week of the slot).
pub(crate) async fn refused(
    state: &AppState,
    caller: &Caller,
    callback: &Callback,
    id: &SlotId,
    code: ErrorCode,
    zone: &Zone,
) -> ApiError {
    let message = match code {
        ErrorCode::SlotFull => "the slot has no place left; pick one of next_slots".to_owned(),
        _ => "the slot is not offered for this number (its calling window, holidays or the \
              queue's agents' hours); pick one of next_slots"
            .to_owned(),
    };
    let mut error = ApiError::new(StatusCode::CONFLICT, code, message)
        .field("slot_id")
        .with("slot_id", id.to_string());
    let mut asked = callback.clone();
    let from = id.start.max(state.clock.now());
    let to = from.checked_add(NEXT_SLOTS_RANGE).unwrap_or(Timestamp::MAX);
    match find(state, caller, &mut asked, &id.queue, id.length, (from, to)).await {
        Ok((found, _)) => {
            let next: Vec<SlotView> = found
                .iter()
                .filter(|s| s.capacity_left() > 0 && s.start != id.start)
                .take(NEXT_SLOTS)
                .map(|s| SlotView::of(s, &id.queue, id.length, zone))
                .collect();
            error = error.with(
                "next_slots",
                serde_json::to_value(next).unwrap_or(serde_json::Value::Null),
            );
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "the next free slots could not be read");
            error = error.with("next_slots", serde_json::Value::Array(Vec::new()));
        }
    }
    error
}

/// A free slot the customer's page offers: its id and start.
pub(crate) struct FreeSlot {
    pub id: String,
    pub start: Timestamp,
}

/// The first `n` free slots (default length, the next week) of the queue `current` is assigned
/// to, for its number, other than the one it is in: what its customer may move it to. None for
/// a callback not assigned to a queue.
pub(crate) async fn free_slots_for(
    state: &AppState,
    caller: &Caller,
    current: &Callback,
    n: usize,
) -> Result<Vec<FreeSlot>, ApiError> {
    let Some(queue) = queue_of(current) else {
        return Ok(Vec::new());
    };
    let length = SlotLength::default();
    let from = state.clock.now();
    let to = from.checked_add(DEFAULT_RANGE).unwrap_or(Timestamp::MAX);
    let mut asked = current.clone();
    let (found, _) = find(state, caller, &mut asked, &queue, length, (from, to)).await?;
    Ok(found
        .iter()
        .filter(|s| s.capacity_left() > 0 && !(s.start <= current.due_at && current.due_at < s.end))
        .take(n)
        .map(|s| FreeSlot {
            id: SlotId {
                queue: queue.clone(),
                start: s.start,
                length,
            }
            .to_string(),
            start: s.start,
        })
        .collect())
}

/// Moves `current` to the slot `raw` of its own queue: the slot must be offered to its number
/// with a place left (`409 slot_full` / `slot_unavailable` with `next_slots`), then the
/// callback is rescheduled to its start as a `PATCH` of `scheduled_at` is (editable, the dial
/// decision), the store counting the slot's places again in the change's transaction.
pub(crate) async fn move_to_slot(
    state: &AppState,
    caller: &Caller,
    current: &Callback,
    raw: &str,
) -> Result<Callback, ApiError> {
    let id = SlotId::parse(raw, "slot_id")?;
    if queue_of(current).as_ref() != Some(&id.queue) {
        return Err(FieldError::new(
            ErrorCode::InvalidField,
            "slot_id",
            "is not a slot of the callback's queue",
        )
        .into());
    }
    check_lead_time(id.start, state.clock.now(), policy(state), "slot_id")?;
    super::callbacks::check_editable(current, "reschedule")?;
    let booked = book(state, caller, current, id).await?;
    let changes = crate::store::CallbackChanges {
        scheduled_at: Some(crate::store::Reschedule {
            at: booked.booking.start,
            zone: None,
        }),
        slot: Some(booked.booking),
        ..Default::default()
    };
    let (cb, _) =
        super::callbacks::change::apply_changes(state, caller, current, &changes, "reschedule")
            .await?;
    Ok(cb)
}

/// The queue a callback is assigned to (the first, if several).
fn queue_of(cb: &Callback) -> Option<QueueId> {
    cb.assignment
        .as_ref()
        .filter(|a| a.kind == AssigneeKind::Queue)
        .and_then(|a| a.ids.first())
        .map(|q| QueueId::from_trusted(q.clone()))
}
