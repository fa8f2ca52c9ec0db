//! Reports: the figures managers look at, computed from callbacks and their attempts.
//!
//! Pure: the store hands over the rows of a date range, this module counts. Days are the local
//! dates of the report's zone; a callback belongs to the day of its scheduled time.

use std::collections::BTreeMap;

use jiff::{Timestamp, civil::Date};
use serde::Serialize;

use super::{ErrorCode, FieldError, Origin, Outcome, Status, Zone};

/// One callback as reports need it.
#[derive(Debug, Clone)]
pub struct ReportCallback {
    pub origin: Origin,
    pub status: Status,
    pub outcome: Option<Outcome>,
    pub created_at: Timestamp,
    pub scheduled_at: Timestamp,
    /// When the first call attempt started, if any.
    pub first_dialled_at: Option<Timestamp>,
    /// The queues it is assigned to.
    pub queue_ids: Vec<String>,
    /// The disposition its latest call was completed with.
    pub disposition: Option<String>,
}

/// One call attempt as reports need it.
#[derive(Debug, Clone)]
pub struct ReportAttempt {
    pub agent_id: Option<String>,
    pub outcome: Option<Outcome>,
    pub duration_seconds: Option<u32>,
    /// The disposition the call was completed with (its class is `outcome`).
    pub disposition: Option<String>,
}

/// What a report covers.
#[derive(Debug, Clone)]
pub struct ReportRange {
    pub from: Date,
    /// Inclusive.
    pub to: Date,
    pub zone: Zone,
    /// A first dial later than this after the scheduled time is late.
    pub on_time_seconds: i64,
    /// A callback first dialled later than this after its time, or never dialled before it
    /// expired, misses the SLA.
    pub sla_seconds: i64,
}

pub const MAX_REPORT_DAYS: i64 = 366;

impl ReportRange {
    /// Checks the dates (`from` not after `to`, at most 366 days).
    pub fn new(from: Date, to: Date, zone: Zone, sla_minutes: u32) -> Result<Self, FieldError> {
        if to < from {
            return Err(FieldError::new(
                ErrorCode::InvalidQuery,
                "to",
                "must not be before from",
            ));
        }
        let days = (to - from).get_days() as i64 + 1;
        if days > MAX_REPORT_DAYS {
            return Err(FieldError::new(
                ErrorCode::InvalidQuery,
                "to",
                format!("a report covers at most {MAX_REPORT_DAYS} days"),
            ));
        }
        if !(1..=1440).contains(&sla_minutes) {
            return Err(FieldError::new(
                ErrorCode::InvalidQuery,
                "sla_minutes",
                "must be between 1 and 1440",
            ));
        }
        Ok(Self {
            from,
            to,
            zone,
            on_time_seconds: 60,
            sla_seconds: i64::from(sla_minutes) * 60,
        })
    }

    /// The instants `[start, end)` the range covers in its zone.
    pub fn instants(&self) -> (Timestamp, Timestamp) {
        let start = self
            .from
            .to_zoned(self.zone.tz().clone())
            .map(|z| z.timestamp());
        let end = self
            .to
            .tomorrow()
            .and_then(|d| d.to_zoned(self.zone.tz().clone()))
            .map(|z| z.timestamp());
        (
            start.unwrap_or(Timestamp::MIN),
            end.unwrap_or(Timestamp::MAX),
        )
    }

    fn day_of(&self, at: Timestamp) -> Date {
        at.to_zoned(self.zone.tz().clone()).date()
    }
}

/// The result label of a callback: its outcome, else `canceled`, `expired` or `failed`, else
/// `pending`.
pub fn result_label(cb: &ReportCallback) -> &'static str {
    match (cb.outcome, cb.status) {
        (Some(o), _) => o.as_str(),
        (None, Status::Canceled) => "canceled",
        (None, Status::Expired) => "expired",
        (None, Status::Failed) => "failed",
        _ => "pending",
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub total: u64,
    /// One entry per day of the range, even empty ones.
    pub days: Vec<DayFigures>,
    pub answer_rate: AnswerRate,
    pub request_to_call: Durations,
    pub timeliness: Timeliness,
    pub sla: SlaFigures,
    pub agents: Vec<AgentFigures>,
    pub queues: Vec<QueueFigures>,
    /// Attempts by the disposition they were completed with, by code (attempts without one
    /// are left out).
    pub dispositions: Vec<DispositionFigures>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayFigures {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    pub total: u64,
    /// Callbacks by origin (`api`, `ui`, `campaign`, a dialect ...).
    pub by_origin: BTreeMap<String, u64>,
    /// Callbacks by result: an outcome, `canceled`, `expired`, `failed` or `pending`.
    pub by_outcome: BTreeMap<String, u64>,
    /// Callbacks by the disposition of their latest call (those without one left out).
    pub by_disposition: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnswerRate {
    pub answered: u64,
    /// Callbacks that have an outcome.
    pub with_outcome: u64,
    /// `answered / with_outcome`, or null when nothing has an outcome.
    pub rate: Option<f64>,
}

/// Seconds from the request (creation) to the first dial.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: u64,
    pub average_seconds: Option<f64>,
    pub median_seconds: Option<i64>,
    pub p90_seconds: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Timeliness {
    /// First dialled within `on_time_seconds` of the scheduled time.
    pub on_time: u64,
    pub late: u64,
    pub on_time_seconds: i64,
    /// `on_time / (on_time + late)`, or null.
    pub on_time_share: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlaFigures {
    pub threshold_seconds: i64,
    /// Dialled more than the threshold late, or expired undialled.
    pub misses: u64,
    /// Callbacks whose time has come (the base of the share).
    pub due: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgentFigures {
    pub agent_id: String,
    pub attempts: u64,
    pub answered: u64,
    pub answer_rate: Option<f64>,
    pub average_duration_seconds: Option<f64>,
}

/// The attempts completed with one disposition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DispositionFigures {
    pub code: String,
    /// Its attempts by outcome class (the class they were completed with).
    pub by_outcome: BTreeMap<String, u64>,
    pub attempts: u64,
    /// Callbacks whose latest call was completed with it.
    pub callbacks: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueFigures {
    pub queue_id: String,
    pub callbacks: u64,
    pub answered: u64,
    pub sla_misses: u64,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| (a as f64 / b as f64 * 10_000.0).round() / 10_000.0)
}

/// Counts the figures of a range. `now` decides which callbacks are due (for the SLA).
pub fn build(
    range: &ReportRange,
    callbacks: &[ReportCallback],
    attempts: &[ReportAttempt],
    now: Timestamp,
) -> Report {
    let mut days: BTreeMap<Date, DayFigures> = BTreeMap::new();
    let mut d = range.from;
    while d <= range.to {
        days.insert(
            d,
            DayFigures {
                date: d.to_string(),
                total: 0,
                by_origin: BTreeMap::new(),
                by_outcome: BTreeMap::new(),
                by_disposition: BTreeMap::new(),
            },
        );
        match d.tomorrow() {
            Ok(next) => d = next,
            Err(_) => break,
        }
    }
    let (mut answered, mut with_outcome) = (0, 0);
    let mut waits: Vec<i64> = Vec::new();
    let (mut on_time, mut late) = (0, 0);
    let (mut misses, mut due) = (0, 0);
    let mut queues: BTreeMap<String, QueueFigures> = BTreeMap::new();
    for cb in callbacks {
        let label = result_label(cb);
        if let Some(day) = days.get_mut(&range.day_of(cb.scheduled_at)) {
            day.total += 1;
            *day.by_origin
                .entry(cb.origin.as_str().to_owned())
                .or_default() += 1;
            *day.by_outcome.entry(label.to_owned()).or_default() += 1;
            if let Some(d) = &cb.disposition {
                *day.by_disposition.entry(d.clone()).or_default() += 1;
            }
        }
        if let Some(o) = cb.outcome {
            with_outcome += 1;
            answered += u64::from(o == Outcome::Answered);
        }
        let lateness = cb
            .first_dialled_at
            .map(|at| at.duration_since(cb.scheduled_at).as_secs());
        if let Some(at) = cb.first_dialled_at {
            waits.push(at.duration_since(cb.created_at).as_secs().max(0));
        }
        match lateness {
            Some(s) if s <= range.on_time_seconds => on_time += 1,
            Some(_) => late += 1,
            None => {}
        }
        let missed = match lateness {
            Some(s) => s > range.sla_seconds,
            None => cb.status == Status::Expired,
        };
        let is_due = cb.scheduled_at <= now && cb.status != Status::Canceled;
        due += u64::from(is_due);
        misses += u64::from(missed);
        for q in &cb.queue_ids {
            let f = queues.entry(q.clone()).or_insert_with(|| QueueFigures {
                queue_id: q.clone(),
                callbacks: 0,
                answered: 0,
                sla_misses: 0,
            });
            f.callbacks += 1;
            f.answered += u64::from(cb.outcome == Some(Outcome::Answered));
            f.sla_misses += u64::from(missed);
        }
    }
    waits.sort_unstable();
    let pick = |q: f64| -> Option<i64> {
        (!waits.is_empty()).then(|| waits[((waits.len() - 1) as f64 * q).round() as usize])
    };
    let mut dispositions: BTreeMap<String, DispositionFigures> = BTreeMap::new();
    let figures_of = |code: &String| DispositionFigures {
        code: code.clone(),
        by_outcome: BTreeMap::new(),
        attempts: 0,
        callbacks: 0,
    };
    for a in attempts {
        if let Some(code) = &a.disposition {
            let f = dispositions
                .entry(code.clone())
                .or_insert_with(|| figures_of(code));
            f.attempts += 1;
            if let Some(o) = a.outcome {
                *f.by_outcome.entry(o.as_str().to_owned()).or_default() += 1;
            }
        }
    }
    for code in callbacks.iter().filter_map(|cb| cb.disposition.as_ref()) {
        dispositions
            .entry(code.clone())
            .or_insert_with(|| figures_of(code))
            .callbacks += 1;
    }
    let mut agents: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for a in attempts {
        let Some(agent) = &a.agent_id else { continue };
        let e = agents.entry(agent.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(a.outcome == Some(Outcome::Answered));
        if let Some(d) = a.duration_seconds {
            e.2 += u64::from(d);
            e.3 += 1;
        }
    }
    Report {
        from: range.from.to_string(),
        to: range.to.to_string(),
        timezone: range.zone.name().to_owned(),
        total: callbacks.len() as u64,
        days: days.into_values().collect(),
        answer_rate: AnswerRate {
            answered,
            with_outcome,
            rate: ratio(answered, with_outcome),
        },
        request_to_call: Durations {
            count: waits.len() as u64,
            average_seconds: (!waits.is_empty()).then(|| {
                (waits.iter().sum::<i64>() as f64 / waits.len() as f64 * 10.0).round() / 10.0
            }),
            median_seconds: pick(0.5),
            p90_seconds: pick(0.9),
        },
        timeliness: Timeliness {
            on_time,
            late,
            on_time_seconds: range.on_time_seconds,
            on_time_share: ratio(on_time, on_time + late),
        },
        sla: SlaFigures {
            threshold_seconds: range.sla_seconds,
            misses,
            due,
        },
        agents: agents
            .into_iter()
            .map(
                |(agent_id, (attempts, answered, secs, timed))| AgentFigures {
                    agent_id,
                    attempts,
                    answered,
                    answer_rate: ratio(answered, attempts),
                    average_duration_seconds: (timed > 0)
                        .then(|| (secs as f64 / timed as f64 * 10.0).round() / 10.0),
                },
            )
            .collect(),
        queues: queues.into_values().collect(),
        dispositions: dispositions.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn counts_days_in_the_zone_answers_lateness_and_sla() {
        let zone = Zone::parse("America/New_York", "timezone").unwrap();
        let range = ReportRange::new(date(2027, 1, 4), date(2027, 1, 5), zone, 15).unwrap();
        let (start, end) = range.instants();
        assert_eq!(start, t("2027-01-04T05:00:00Z"));
        assert_eq!(end, t("2027-01-06T05:00:00Z"));
        let cb = |origin, sched: &str, dialled: Option<&str>, outcome, status| ReportCallback {
            origin,
            status,
            outcome,
            created_at: t("2027-01-01T00:00:00Z"),
            scheduled_at: t(sched),
            first_dialled_at: dialled.map(t),
            queue_ids: vec!["que_1".into()],
            disposition: None,
        };
        let rows = vec![
            // 2027-01-04 23:30 local: still the 4th in New York.
            cb(
                Origin::Api,
                "2027-01-05T04:30:00Z",
                Some("2027-01-05T04:30:20Z"),
                Some(Outcome::Answered),
                Status::Completed,
            ),
            cb(
                Origin::Ui,
                "2027-01-05T15:00:00Z",
                Some("2027-01-05T15:20:00Z"),
                Some(Outcome::NoAnswer),
                Status::Completed,
            ),
            cb(
                Origin::Api,
                "2027-01-05T16:00:00Z",
                None,
                None,
                Status::Expired,
            ),
        ];
        let attempts = vec![ReportAttempt {
            agent_id: Some("agt_1".into()),
            outcome: Some(Outcome::Answered),
            duration_seconds: Some(40),
            disposition: Some("SALE".into()),
        }];
        let r = build(&range, &rows, &attempts, t("2027-01-10T00:00:00Z"));
        assert_eq!(r.days.len(), 2);
        assert_eq!(r.days[0].total, 1);
        assert_eq!(r.days[0].by_origin["api"], 1);
        assert_eq!(r.days[1].by_outcome["expired"], 1);
        assert_eq!(r.answer_rate.rate, Some(0.5));
        assert_eq!(r.timeliness.on_time, 1);
        assert_eq!(r.timeliness.late, 1);
        assert_eq!(r.sla.misses, 2);
        assert_eq!(r.sla.due, 3);
        assert_eq!(r.queues[0].callbacks, 3);
        assert_eq!(r.agents[0].answer_rate, Some(1.0));
        assert_eq!(r.dispositions.len(), 1);
        assert_eq!(r.dispositions[0].code, "SALE");
        assert_eq!(r.dispositions[0].attempts, 1);
        assert_eq!(r.dispositions[0].by_outcome["answered"], 1);
    }

    #[test]
    fn ranges_are_checked() {
        let z = Zone::utc();
        assert!(ReportRange::new(date(2027, 1, 5), date(2027, 1, 4), z.clone(), 15).is_err());
        assert!(ReportRange::new(date(2027, 1, 1), date(2028, 6, 1), z.clone(), 15).is_err());
        assert!(ReportRange::new(date(2027, 1, 1), date(2027, 1, 1), z, 0).is_err());
    }
}
