//! The dial decision: may this call be placed at this instant, and if not, every rule that
//! stops it and the instant that rule lifts.
//!
//! [`decide`] is the one place these rules live. The dispatch guard, `/eligibility`, create
//! and dry-run answers, campaign planning, recall planning and the preview offers all call it
//! (or [`earliest_dial`], which asks it again until nothing blocks); none keeps a rule of its
//! own. It is pure: the callers gather the [`Facts`] (the callback, the do-not-call hit, the
//! attempts to the number, the campaign, the free agents) and the account's
//! [`AccountSettings`], and pass `now`.
//!
//! **Where the callee is.** A call is judged in the zone the request named, else the contact's,
//! else every zone the number may be in ([`Location`]): a call is placed only when the calling
//! window holds in each of them (the *safe window*), so a toll-free number is called only at
//! hours that are legal from Honolulu to St. John's.

use std::{borrow::Cow, fmt};

use jiff::{SignedDuration, Timestamp, ToSpan, civil::Date};
use serde::Serialize;

use super::{
    Callback, DialingMode, ErrorCode, FieldError, PhoneNumber, Status, Zone,
    campaign::{AccountSettings, CampaignStatus},
    geo::{self, Precision, Region},
    window::{CallingWindow, moved_to, parse_date, start_of_day},
};

/// How far ahead an opening of the safe window is looked for, beyond the dates it is closed.
/// Hours that never overlap in every candidate zone within it are taken never to overlap.
const SEARCH_DAYS: i64 = 16;

// -------------------------------------------------------------------------------------------
// Where the callee is
// -------------------------------------------------------------------------------------------

/// Where the zone a call is judged in came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ZoneSource {
    /// The request named it (`timezone`).
    Request,
    /// The stored contact for the number has one.
    Contact,
    /// The number's prefix places it in one zone.
    Number,
    /// The number may be in several zones (toll-free, a mobile or country-wide prefix): the
    /// call is judged in all of them.
    NumberAmbiguous,
}

impl ZoneSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneSource::Request => "request",
            ZoneSource::Contact => "contact",
            ZoneSource::Number => "number",
            ZoneSource::NumberAmbiguous => "number_ambiguous",
        }
    }

    /// Reads a stored source. `number_ambiguous` is stored as `number`: whether a number is
    /// ambiguous is read from the prefix table each time.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "request" => Some(Self::Request),
            "contact" => Some(Self::Contact),
            "number" | "number_ambiguous" => Some(Self::Number),
            _ => None,
        }
    }

    /// The zone was given (by the request or the contact), not derived from the number.
    pub fn is_stated(self) -> bool {
        matches!(self, ZoneSource::Request | ZoneSource::Contact)
    }
}

/// Where a callee is taken to be: the zones a call is judged in and the regions whose rules
/// apply.
#[derive(Debug, Clone)]
pub struct Location {
    zones: Cow<'static, [Zone]>,
    source: ZoneSource,
    /// ISO 3166-1 country of the number, when known.
    country: Option<&'static str>,
    /// Subdivisions the callee is known to be in (from the number's prefix, the contact's
    /// state).
    subdivisions: Vec<Region>,
    /// No subdivision is known: every subdivision rule of the country applies.
    subdivision_unknown: bool,
    /// How the number placed the callee (for the explanation).
    precision: Precision,
}

impl Location {
    /// Where a call to `phone` is judged: in `stated` (the request's or the contact's zone)
    /// if there is one, else in every zone the number may be in. `state` is the subdivision a
    /// contact record names, if any.
    pub fn locate(
        phone: &PhoneNumber,
        stated: Option<(&Zone, ZoneSource)>,
        state: Option<&Region>,
    ) -> Self {
        let place = geo::place_of(phone);
        let mut subdivisions: Vec<Region> = Vec::new();
        if let Some(code) = place.subdivision
            && let Ok(region) = Region::parse(code, "region")
        {
            subdivisions.push(region);
        }
        if let Some(region) = state.filter(|r| r.subdivision().is_some())
            && !subdivisions.contains(region)
        {
            subdivisions.push(region.clone());
        }
        let (zones, source) = match stated {
            Some((zone, source)) => (Cow::Owned(vec![zone.clone()]), source),
            None if place.zones.len() == 1 => (Cow::Borrowed(place.zones), ZoneSource::Number),
            None => (Cow::Borrowed(place.zones), ZoneSource::NumberAmbiguous),
        };
        Self {
            zones,
            source,
            country: place.country,
            subdivision_unknown: subdivisions.is_empty(),
            subdivisions,
            precision: place.precision,
        }
    }

    /// The zones a call is judged in; never empty.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The names of [`zones`](Self::zones), as answers list them.
    pub fn zone_names(&self) -> Vec<String> {
        self.zones.iter().map(|z| z.name().to_owned()).collect()
    }

    pub fn source(&self) -> ZoneSource {
        self.source
    }

    /// The zone local times are shown in: the one judged in, or the first candidate.
    pub fn display_zone(&self) -> &Zone {
        &self.zones[0]
    }

    /// Do the rules of `region` apply to this callee? A country's rules apply to its numbers;
    /// a subdivision's where the callee is known to be in it, or where no subdivision is known
    /// (the stricter reading).
    pub fn is_in(&self, region: &Region) -> bool {
        if self.country != Some(region.country()) {
            return false;
        }
        region.subdivision().is_none()
            || self.subdivision_unknown
            || self.subdivisions.contains(region)
    }

    /// One sentence on which zones were assumed and why, for `explanation`.
    pub fn describe(&self, phone: &PhoneNumber) -> String {
        let names = self
            .zones
            .iter()
            .map(Zone::name)
            .collect::<Vec<_>>()
            .join(", ");
        match self.source {
            ZoneSource::Request => format!("judged in {names}, the request's timezone"),
            ZoneSource::Contact => format!("judged in {names}, the contact's timezone"),
            ZoneSource::Number => format!(
                "no timezone given: {phone} is judged in {names}, from its {}",
                match self.precision {
                    Precision::Prefix => "area code",
                    Precision::Country => "country",
                }
            ),
            ZoneSource::NumberAmbiguous => format!(
                "no timezone given and {phone} may be in any of {} zones ({names}){}: it is \
                 called only when the calling window holds in every one of them",
                self.zones.len(),
                match self.precision {
                    Precision::Prefix => "",
                    Precision::Country => ", since its prefix does not pin a place",
                }
            ),
        }
    }
}

// -------------------------------------------------------------------------------------------
// The account's extra calendar rules: holidays and regional windows
// -------------------------------------------------------------------------------------------

/// Most holidays and regional windows an account may hold.
pub const MAX_HOLIDAYS: usize = 1_000;
pub const MAX_REGIONAL_WINDOWS: usize = 200;

/// A date on which nobody in `regions` (everybody, when empty) is called, judged in the
/// callee's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: Date,
    pub name: Option<String>,
    pub regions: Vec<Region>,
}

impl Holiday {
    /// Reads `[{"date": "2026-12-25", "regions": ["US"], "name": "Christmas Day"}]`.
    pub fn parse_list(value: &serde_json::Value, field: &str) -> Result<Vec<Self>, FieldError> {
        let invalid = |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why);
        object_list(
            value,
            field,
            MAX_HOLIDAYS,
            "[{\"date\": \"2026-12-25\", \"regions\": [\"US\"]}]",
            &["date", "regions", "name"],
        )?
        .into_iter()
        .enumerate()
        .map(|(i, map)| {
            let at = |member: &str| format!("{field}[{i}].{member}");
            let date = map
                .get("date")
                .and_then(parse_date)
                .ok_or_else(|| invalid(at("date"), "must be a date \"YYYY-MM-DD\""))?;
            let name = match map.get("name") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) if s.chars().count() <= 100 => {
                    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
                }
                Some(_) => {
                    return Err(invalid(
                        at("name"),
                        "must be text of at most 100 characters",
                    ));
                }
            };
            let regions = match map.get("regions") {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(serde_json::Value::Array(codes)) => codes
                    .iter()
                    .enumerate()
                    .map(|(j, code)| {
                        let f = format!("{field}[{i}].regions[{j}]");
                        match code.as_str() {
                            Some(text) => Region::parse(text, &f),
                            None => Err(invalid(
                                f,
                                "must be a region code such as \"US\" or \"US-FL\"",
                            )),
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(_) => {
                    return Err(invalid(
                        at("regions"),
                        "must be a list of region codes such as [\"US\", \"CA-QC\"]",
                    ));
                }
            };
            Ok(Holiday {
                date,
                name,
                regions,
            })
        })
        .collect()
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "date": self.date.to_string(),
            "regions": self.regions.iter().map(Region::as_str).collect::<Vec<_>>(),
        });
        if let Some(name) = &self.name {
            json["name"] = name.clone().into();
        }
        json
    }

    fn applies_to(&self, location: &Location) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| location.is_in(r))
    }

    fn describe(&self) -> String {
        let regions = self
            .regions
            .iter()
            .map(Region::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        match (&self.name, regions.is_empty()) {
            (Some(name), false) => format!("a holiday ({name}, {regions})"),
            (Some(name), true) => format!("a holiday ({name})"),
            (None, false) => format!("a holiday ({regions})"),
            (None, true) => "a holiday".to_owned(),
        }
    }
}

/// A region's own calling hours, applied on top of the account's (or a campaign's) window:
/// a call is placed only inside both. Several windows are alternatives (Texas: 09:00-21:00
/// Monday to Saturday, 12:00-21:00 on Sunday).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionalWindow {
    pub region: Region,
    pub windows: Vec<CallingWindow>,
}

impl RegionalWindow {
    /// Reads `[{"region": "US-FL", "calling_window": {"start": "08:00", "end": "20:00"}}]`,
    /// where `calling_window` may also be a list of windows, any of which allows a call.
    pub fn parse_list(value: &serde_json::Value, field: &str) -> Result<Vec<Self>, FieldError> {
        let invalid = |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why);
        let items = object_list(
            value,
            field,
            MAX_REGIONAL_WINDOWS,
            "[{\"region\": \"US-FL\", \"calling_window\": {\"start\": \"08:00\", \"end\": \"20:00\"}}]",
            &["region", "calling_window"],
        )?;
        let mut rules: Vec<RegionalWindow> = Vec::with_capacity(items.len());
        for (i, map) in items.into_iter().enumerate() {
            let at = |member: &str| format!("{field}[{i}].{member}");
            let region = match map.get("region") {
                Some(serde_json::Value::String(code)) => Region::parse(code, &at("region"))?,
                None | Some(serde_json::Value::Null) => {
                    return Err(FieldError::new(
                        ErrorCode::MissingField,
                        at("region"),
                        "name the region, such as \"US-FL\"",
                    ));
                }
                Some(_) => {
                    return Err(invalid(
                        at("region"),
                        "must be a region code such as \"US\" or \"US-FL\"",
                    ));
                }
            };
            if rules.iter().any(|r| r.region == region) {
                return Err(invalid(
                    at("region"),
                    &format!("{region} is listed twice; give its windows as one list"),
                ));
            }
            let windows = match map.get("calling_window") {
                None | Some(serde_json::Value::Null) => {
                    return Err(FieldError::new(
                        ErrorCode::MissingField,
                        at("calling_window"),
                        "give the region's window, such as {\"start\": \"08:00\", \"end\": \"20:00\"}",
                    ));
                }
                Some(serde_json::Value::Array(list)) if !list.is_empty() && list.len() <= 7 => list
                    .iter()
                    .enumerate()
                    .map(|(j, w)| {
                        CallingWindow::parse(w, &format!("{field}[{i}].calling_window[{j}]"))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(serde_json::Value::Array(_)) => {
                    return Err(invalid(at("calling_window"), "give 1 to 7 windows"));
                }
                Some(w) => vec![CallingWindow::parse(w, &at("calling_window"))?],
            };
            rules.push(RegionalWindow { region, windows });
        }
        Ok(rules)
    }

    pub fn to_json(&self) -> serde_json::Value {
        let window = match self.windows.as_slice() {
            [one] => one.to_json(),
            many => many.iter().map(CallingWindow::to_json).collect(),
        };
        serde_json::json!({ "region": self.region.as_str(), "calling_window": window })
    }

    fn contains(&self, at: Timestamp, zone: &Zone) -> bool {
        self.windows.iter().any(|w| w.contains(at, zone))
    }

    fn next_inside(&self, at: Timestamp, zone: &Zone) -> Option<Timestamp> {
        self.windows
            .iter()
            .filter_map(|w| w.next_inside(at, zone))
            .min()
    }

    fn describe(&self) -> String {
        let hours = self
            .windows
            .iter()
            .map(|w| {
                let json = w.to_json();
                let days = json["days"].as_array().map(Vec::len).unwrap_or(7);
                if days == 7 {
                    w.to_string()
                } else {
                    format!(
                        "{w} on {}",
                        json["days"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|d| d.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!("the {} window ({hours})", self.region)
    }
}

/// The objects of a list setting: `null` is none; anything but a list of at most `max` objects
/// holding only `members` is refused, naming the field. `example` shows the shape.
fn object_list<'v>(
    value: &'v serde_json::Value,
    field: &str,
    max: usize,
    example: &str,
    members: &[&str],
) -> Result<Vec<&'v serde_json::Map<String, serde_json::Value>>, FieldError> {
    let invalid = |f: String, why: String| FieldError::new(ErrorCode::InvalidField, f, why);
    let items = match value {
        serde_json::Value::Null => return Ok(Vec::new()),
        serde_json::Value::Array(items) => items,
        _ => {
            return Err(invalid(
                field.to_owned(),
                format!("must be a list such as {example}"),
            ));
        }
    };
    if items.len() > max {
        return Err(invalid(field.to_owned(), format!("at most {max} entries")));
    }
    let names = members.join(", ");
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let map = item.as_object().ok_or_else(|| {
                invalid(
                    format!("{field}[{i}]"),
                    format!("must be an object with {names}"),
                )
            })?;
            if let Some(unknown) = map.keys().find(|k| !members.contains(&k.as_str())) {
                return Err(FieldError::new(
                    ErrorCode::UnknownField,
                    format!("{field}[{i}].{unknown}"),
                    format!("unknown field {unknown:?}; an entry has {names}"),
                ));
            }
            Ok(map)
        })
        .collect()
}

// -------------------------------------------------------------------------------------------
// The safe window: every window rule, in every candidate zone
// -------------------------------------------------------------------------------------------

/// One rule of the safe window.
#[derive(Clone, Copy)]
enum WindowRule<'a> {
    /// The account's or the campaign's window (with its blackout dates).
    Base(&'a CallingWindow),
    Regional(&'a RegionalWindow),
    Holiday(&'a Holiday),
}

impl WindowRule<'_> {
    fn contains(self, at: Timestamp, zone: &Zone) -> bool {
        match self {
            WindowRule::Base(w) => w.contains(at, zone),
            WindowRule::Regional(r) => r.contains(at, zone),
            WindowRule::Holiday(h) => local_date(at, zone) != h.date,
        }
    }

    fn next_inside(self, at: Timestamp, zone: &Zone) -> Option<Timestamp> {
        match self {
            WindowRule::Base(w) => w.next_inside(at, zone),
            WindowRule::Regional(r) => r.next_inside(at, zone),
            WindowRule::Holiday(h) => {
                if local_date(at, zone) == h.date {
                    start_of_day(h.date.tomorrow().ok()?, zone.tz())
                } else {
                    Some(at)
                }
            }
        }
    }

    /// Why `at` is outside this rule in `zone`.
    fn why(self, at: Timestamp, zone: &Zone) -> String {
        match self {
            WindowRule::Base(w) => w.why_outside(at, zone),
            WindowRule::Regional(r) => format!(
                "{} {} is outside {}",
                at.to_zoned(zone.tz().clone()).strftime("%H:%M"),
                zone.name(),
                r.describe()
            ),
            WindowRule::Holiday(h) => {
                format!("{} in {} is {}", h.date, zone.name(), h.describe())
            }
        }
    }
}

/// Every window rule that applies to a call, read in every zone its callee may be in.
pub struct SafeWindow<'a> {
    zones: &'a [Zone],
    rules: Vec<WindowRule<'a>>,
}

impl<'a> SafeWindow<'a> {
    /// The rules for a call to `location`: `window` (the callback's or campaign's own, else the
    /// account's), the regional windows and holidays of the account that apply to it.
    pub fn new(
        window: &'a CallingWindow,
        policy: &'a AccountSettings,
        location: &'a Location,
    ) -> Self {
        let mut rules = vec![WindowRule::Base(window)];
        rules.extend(
            policy
                .regional_windows
                .iter()
                .filter(|r| location.is_in(&r.region))
                .map(WindowRule::Regional),
        );
        rules.extend(
            policy
                .holidays
                .iter()
                .filter(|h| h.applies_to(location))
                .map(WindowRule::Holiday),
        );
        Self {
            zones: location.zones(),
            rules,
        }
    }

    /// Is `at` inside every rule in every zone?
    pub fn contains(&self, at: Timestamp) -> bool {
        self.rules
            .iter()
            .all(|rule| self.zones.iter().all(|zone| rule.contains(at, zone)))
    }

    /// The first rule and zone `at` is outside of, with the reason.
    fn breach(&self, at: Timestamp) -> Option<(String, &'a Zone)> {
        self.rules.iter().find_map(|rule| {
            self.zones
                .iter()
                .find(|zone| !rule.contains(at, zone))
                .map(|zone| (rule.why(at, zone), zone))
        })
    }

    /// The earliest instant at or after `at` inside every rule in every zone; `None` when the
    /// rules do not overlap within [`SEARCH_DAYS`] beyond the dates they close.
    ///
    /// Each rule's own next opening never passes the answer (the answer is inside that rule
    /// and not before `at`), so jumping to the latest of them, again and again, climbs to the
    /// answer and stops on it.
    pub fn next_opening(&self, at: Timestamp) -> Option<Timestamp> {
        let closed_days: i64 = self
            .rules
            .iter()
            .map(|rule| match rule {
                WindowRule::Base(w) => w.blackout_dates().len() as i64,
                WindowRule::Regional(r) => r
                    .windows
                    .iter()
                    .map(|w| w.blackout_dates().len() as i64)
                    .sum(),
                WindowRule::Holiday(_) => 1,
            })
            .sum();
        let limit = at
            .checked_add((24 * (SEARCH_DAYS + closed_days)).hours())
            .ok()?;
        let mut t = at;
        loop {
            let mut moved = false;
            for rule in &self.rules {
                for zone in self.zones {
                    let next = rule.next_inside(t, zone)?;
                    if next > t {
                        t = next;
                        moved = true;
                    }
                }
            }
            if !moved {
                return Some(t);
            }
            if t > limit {
                return None;
            }
        }
    }

    /// Why `at` is outside, and where the call moves: "02:00 America/Los_Angeles is before the
    /// 08:00 window start: moved to 08:00". `None` when `at` is inside.
    pub fn explain(&self, at: Timestamp, opening: Option<Timestamp>) -> Option<String> {
        let (why, zone) = self.breach(at)?;
        let all = if self.zones.len() > 1 {
            format!(
                " (when the window holds in all {} zones the number may be in)",
                self.zones.len()
            )
        } else {
            String::new()
        };
        Some(match opening {
            Some(to) => {
                let start = match self.rules.as_slice() {
                    [WindowRule::Base(w)] if self.zones.len() == 1 => Some(w.start_minutes()),
                    _ => None,
                };
                format!("{why}: {}{all}", moved_to(at, to, zone, start))
            }
            None => format!(
                "{why}, and no instant within {SEARCH_DAYS} days is inside the calling window \
                 in every zone the number may be in{}",
                if self.zones.len() > 1 {
                    "; give the callee's timezone"
                } else {
                    ""
                }
            ),
        })
    }
}

fn local_date(at: Timestamp, zone: &Zone) -> Date {
    zone.tz().to_offset(at).to_datetime(at).date()
}

// -------------------------------------------------------------------------------------------
// The decision
// -------------------------------------------------------------------------------------------

/// Attempts already made to the callee's number (or about the same debt), from whatever
/// created them, skipped ones excepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// When each attempt started, oldest first. The stores hands over those of the cap's
    /// period before `now`; earlier ones are ignored.
    pub started: Vec<Timestamp>,
    /// When the last answered call ended.
    pub last_answered: Option<Timestamp>,
    /// The debt (`metadata.debt_ref`) whose attempts are counted beside the number's.
    pub debt: Option<String>,
}

/// The campaign a call belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignFacts {
    pub status: CampaignStatus,
    /// Calls it may still start under its pacing (`max_concurrent_calls` minus the ones being
    /// placed or in progress); `None` when not counted.
    pub room: Option<i64>,
}

/// Everything [`decide`] needs to know about one call.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub status: Status,
    /// When the call is due (the requested time, a recall's time, a retry's time).
    pub due_at: Timestamp,
    /// Number of the current (or last) attempt; 0 before the first.
    pub attempt: u32,
    /// The current attempt has no outcome yet (the call is being retried after the dialer
    /// refused it), so a new dispatch continues it rather than starting another.
    pub attempt_open: bool,
    pub campaign: Option<CampaignFacts>,
    pub dialing_mode: DialingMode,
    /// The callback's own window (a campaign's); `None`: the account's.
    pub window: Option<&'a CallingWindow>,
    pub location: &'a Location,
    pub on_dnc: bool,
    pub history: &'a History,
    /// Agents free to take a preview call, where that was counted.
    pub free_agents: Option<u32>,
}

impl<'a> Facts<'a> {
    /// The facts a stored callback carries; the caller adds the do-not-call hit, the campaign
    /// and the free agents it knows.
    pub fn of(cb: &'a Callback, location: &'a Location, history: &'a History) -> Self {
        Self {
            status: cb.status,
            due_at: cb.due_at,
            attempt: cb.attempt,
            attempt_open: cb.attempt_open,
            campaign: None,
            dialing_mode: cb.dialing_mode,
            window: cb.calling_window.as_ref(),
            location,
            on_dnc: false,
            history,
            free_agents: None,
        }
    }

    /// An automated attempt: a campaign call, or any attempt after the first call of a one-off
    /// callback (a recall). The first call of a one-off callback, retries after the dialer
    /// refused it included, is at the time the customer asked for.
    pub fn is_automated(&self) -> bool {
        let first_call = self.attempt == 0 || (self.attempt == 1 && self.attempt_open);
        self.campaign.is_some() || !first_call
    }
}

/// A rule that stops a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlockCode {
    /// The callback has ended.
    FinalState,
    /// Its time has not come.
    NotDue,
    /// The number is on the do-not-call list.
    Dnc,
    /// The number (or debt) had the account's most attempts in its period.
    AttemptCap,
    /// The number answered an automated call too recently.
    QuietPeriod,
    /// Outside the calling window (hours, days, blackout dates, holidays, regional windows) in
    /// some zone the callee may be in.
    CallingWindow,
    /// Its campaign is paused (or ended).
    CampaignPaused,
    /// Its campaign has as many calls under way as its pacing allows.
    Pacing,
    /// A preview call, and no agent is free.
    NoAgent,
}

impl BlockCode {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockCode::FinalState => "final_state",
            BlockCode::NotDue => "not_due",
            BlockCode::Dnc => "dnc",
            BlockCode::AttemptCap => "attempt_cap",
            BlockCode::QuietPeriod => "quiet_period",
            BlockCode::CallingWindow => "calling_window",
            BlockCode::CampaignPaused => "campaign_paused",
            BlockCode::Pacing => "pacing",
            BlockCode::NoAgent => "no_agent",
        }
    }

    /// Lifted by the passing of time alone (it says `until`), or by nothing but an event (a
    /// resume, a free agent, a call ending) or never.
    fn lifts_by_time(self) -> bool {
        matches!(
            self,
            BlockCode::NotDue
                | BlockCode::AttemptCap
                | BlockCode::QuietPeriod
                | BlockCode::CallingWindow
        )
    }
}

impl fmt::Display for BlockCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stops a call, and when it lifts by itself, if it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub code: BlockCode,
    pub reason: String,
    pub until: Option<Timestamp>,
}

/// The answer of [`decide`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The instant judged: `now`, or the due time if that is later.
    pub at: Timestamp,
    /// Every rule that stops the call at `at`; empty: dial.
    pub blocks: Vec<Block>,
    /// Rules that applied without blocking, one sentence each (a window lifted for a time the
    /// customer asked for).
    pub notes: Vec<String>,
}

impl Decision {
    /// Nothing stops the call: dial at `at`.
    pub fn may_dial(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn blocked_by(&self, code: BlockCode) -> Option<&Block> {
        self.blocks.iter().find(|b| b.code == code)
    }
}

/// Decides whether the call described by `facts` may be placed at `now` (or at its due time,
/// if that is later) under `policy`. Pure: the same facts, policy and instant always give the
/// same decision.
pub fn decide(facts: &Facts<'_>, policy: &AccountSettings, now: Timestamp) -> Decision {
    let at = now.max(facts.due_at);
    let mut decision = Decision {
        at,
        blocks: Vec::new(),
        notes: Vec::new(),
    };
    let mut block = |code, reason: String, until| {
        decision.blocks.push(Block {
            code,
            reason,
            until,
        })
    };
    if facts.status.is_final() {
        block(
            BlockCode::FinalState,
            format!("the callback is {}", facts.status.as_str()),
            None,
        );
        return decision;
    }
    if facts.status == Status::Scheduled && facts.due_at > now {
        block(
            BlockCode::NotDue,
            "its time has not come".to_owned(),
            Some(facts.due_at),
        );
    }
    if facts.on_dnc {
        block(
            BlockCode::Dnc,
            "the number is on the do-not-call list".to_owned(),
            None,
        );
    }
    if let Some(max) = policy.max_attempts {
        let period = SignedDuration::from_hours(i64::from(policy.attempt_window_days) * 24);
        let recent: Vec<Timestamp> = facts
            .history
            .started
            .iter()
            .copied()
            .filter(|t| *t <= at && t.checked_add(period).is_ok_and(|end| end > at))
            .collect();
        if recent.len() >= max as usize {
            // The cap lifts when enough of them have left the period for one more to fit.
            let until = recent[recent.len() - max as usize].checked_add(period).ok();
            block(
                BlockCode::AttemptCap,
                format!(
                    "{} attempts to this number{} in the last {} days (cap {max})",
                    recent.len(),
                    facts
                        .history
                        .debt
                        .as_ref()
                        .map(|d| format!(" or about debt {d}"))
                        .unwrap_or_default(),
                    policy.attempt_window_days
                ),
                until,
            );
        }
    }
    let automated = facts.is_automated();
    if automated
        && let Some(hours) = policy.quiet_after_answer_hours
        && let Some(answered) = facts.history.last_answered
        && let Ok(until) = answered.checked_add(SignedDuration::from_hours(i64::from(hours)))
        && until > at
    {
        block(
            BlockCode::QuietPeriod,
            format!("the number answered a call less than {hours} hours ago"),
            Some(until),
        );
    }
    let window = facts.window.unwrap_or(&policy.calling_window);
    let safe = SafeWindow::new(window, policy, facts.location);
    if !safe.contains(at) {
        let opening = safe.next_opening(at);
        let reason = safe
            .explain(at, opening)
            .unwrap_or_else(|| "outside the calling window".to_owned());
        if !automated && policy.allow_customer_requested_times {
            decision.notes.push(format!(
                "{reason}; kept at the time asked for, because the account allows times \
                 customers ask for (outside the calling window) on first calls"
            ));
        } else {
            decision.blocks.push(Block {
                code: BlockCode::CallingWindow,
                reason,
                until: opening,
            });
        }
    }
    if let Some(campaign) = facts.campaign {
        if campaign.status != CampaignStatus::Running {
            decision.blocks.push(Block {
                code: BlockCode::CampaignPaused,
                reason: format!("its campaign is {}", campaign.status.as_str()),
                until: None,
            });
        } else if campaign.room.is_some_and(|room| room <= 0) {
            decision.blocks.push(Block {
                code: BlockCode::Pacing,
                reason: "its campaign has as many calls under way as its pacing allows".to_owned(),
                until: None,
            });
        }
    }
    if facts.dialing_mode == DialingMode::Preview && facts.free_agents == Some(0) {
        decision.blocks.push(Block {
            code: BlockCode::NoAgent,
            reason: "no agent of the account is available".to_owned(),
            until: None,
        });
    }
    decision
}

/// When the call would be placed if nothing changed but time: the first instant from `now`
/// (or its due time) at which [`decide`] lets it through, asking again at the latest `until`
/// of what blocks it. Blocks that only an event lifts (pacing, a paused campaign, no free
/// agent) are left out of the reckoning; one that never lifts (do-not-call, an ended callback,
/// a window that never opens) gives `Err` with it.
pub fn earliest_dial(
    facts: &Facts<'_>,
    policy: &AccountSettings,
    now: Timestamp,
) -> Result<Timestamp, Block> {
    let mut decision = decide(facts, policy, now);
    // Each round moves past a block that lifts; a window, a cap and a quiet period settle
    // together within a few.
    for _ in 0..32 {
        let mut until = decision.at;
        for block in &decision.blocks {
            match block.until {
                Some(t) if block.code.lifts_by_time() => until = until.max(t),
                Some(_) => {}
                None if block.code.lifts_by_time() || is_permanent(block.code) => {
                    return Err(block.clone());
                }
                None => {}
            }
        }
        if until == decision.at {
            return Ok(decision.at);
        }
        decision = decide(facts, policy, until);
    }
    Err(decision
        .blocks
        .into_iter()
        .next()
        .expect("a decision that kept moving has a block"))
}

fn is_permanent(code: BlockCode) -> bool {
    matches!(code, BlockCode::Dnc | BlockCode::FinalState)
}

#[cfg(test)]
mod property;
#[cfg(test)]
mod tests;
