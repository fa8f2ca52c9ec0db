//! Time zones and the parsing of requested call times.
//!
//! Instants are `jiff::Timestamp` (UTC). A customer's zone is kept by IANA name so that local
//! calling windows are computed with real tz data, including DST.
//!
//! **Ambiguous local times.** A local time given without an offset that falls in a DST overlap
//! (it happens twice, e.g. 01:30 on the first Sunday of November in New York) resolves to the
//! *earlier* instant, the first time the wall clock shows it. A local time in a DST gap (it never
//! happens, e.g. 02:30 on the second Sunday of March in New York) is refused with
//! `nonexistent_local_time`: silently moving a customer's call by an hour is worse than asking.

use std::fmt;

use jiff::{
    Timestamp,
    civil::DateTime,
    tz::{AmbiguousOffset, TimeZone},
};

use super::{ErrorCode, FieldError};

/// An IANA time zone, known to the tz database.
#[derive(Clone)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    pub fn parse(name: &str, field: &str) -> Result<Self, FieldError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(FieldError::new(
                ErrorCode::InvalidTimezone,
                field,
                "time zone must be an IANA name such as America/New_York",
            ));
        }
        let tz = TimeZone::get(name).map_err(|_| {
            FieldError::new(
                ErrorCode::InvalidTimezone,
                field,
                format!("unknown time zone {name:?}; use an IANA name such as America/New_York"),
            )
        })?;
        // Keep the canonical spelling the tz database reports where it has one.
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Self { name, tz })
    }

    pub fn utc() -> Self {
        Self {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The instant shown in this zone, RFC 3339 with the local offset.
    pub fn format_local(&self, at: Timestamp) -> String {
        at.to_zoned(self.tz.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Zone").field(&self.name).finish()
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

/// Parses a requested call time: RFC 3339 with an offset (`2027-01-05T15:00:00Z`,
/// `2027-01-05T10:00:00-05:00`), or a local date-time without offset
/// (`2027-01-05T10:00:00`, `2027-01-05 10:00:00`) read in `zone`.
pub fn parse_scheduled_at(
    input: &str,
    zone: Option<&Zone>,
    field: &str,
) -> Result<Timestamp, FieldError> {
    let input = input.trim();
    if offset_out_of_range(input) {
        return Err(FieldError::new(
            ErrorCode::InvalidDatetime,
            field,
            "the UTC offset must be between -23:59 and +23:59",
        ));
    }
    if let Ok(ts) = input.parse::<Timestamp>() {
        return Ok(to_millisecond(ts));
    }
    let dt: DateTime = input.parse().map_err(|_| {
        FieldError::new(
            ErrorCode::InvalidDatetime,
            field,
            format!(
                "{input:?} is not a date-time; use RFC 3339 with an offset \
                 (2027-01-05T15:00:00Z) or a local date-time (2027-01-05T10:00:00) with timezone"
            ),
        )
    })?;
    let Some(zone) = zone else {
        return Err(FieldError::new(
            ErrorCode::MissingField,
            "timezone",
            "a local date-time without offset needs a timezone to be read in",
        ));
    };
    resolve_local(dt, zone, field).map(to_millisecond)
}

/// Instants are kept to the millisecond; finer input is truncated once, here, so what is
/// answered is what is stored.
fn to_millisecond(ts: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(ts.as_millisecond()).unwrap_or(ts)
}

/// RFC 3339 allows offsets up to 23:59; the parser would take up to 25:59. Reads bytes, not
/// characters: the input may be any text, and a slice inside a multi-byte character panics.
fn offset_out_of_range(input: &str) -> bool {
    let bytes = input.as_bytes();
    let Some(tail) = bytes.len().checked_sub(6).map(|start| &bytes[start..]) else {
        return false;
    };
    let hours = |b: &[u8]| -> Option<u8> {
        (b[0].is_ascii_digit() && b[1].is_ascii_digit()).then(|| (b[0] - b'0') * 10 + (b[1] - b'0'))
    };
    matches!(tail[0], b'+' | b'-') && tail[3] == b':' && hours(&tail[1..3]).is_some_and(|h| h > 23)
}

/// Resolves a wall-clock time in `zone` to an instant: refuses DST gaps, takes the earlier
/// instant in DST overlaps.
pub fn resolve_local(dt: DateTime, zone: &Zone, field: &str) -> Result<Timestamp, FieldError> {
    let ambiguous = zone.tz.to_ambiguous_timestamp(dt);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt),
        AmbiguousOffset::Gap { .. } => {
            return Err(FieldError::new(
                ErrorCode::NonexistentLocalTime,
                field,
                format!(
                    "{dt} does not exist in {} (the clocks skip it for daylight saving time)",
                    zone.name
                ),
            ));
        }
    }
    .map_err(|_| {
        FieldError::new(
            ErrorCode::InvalidDatetime,
            field,
            "date-time is out of range",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> Zone {
        Zone::parse(name, "timezone").unwrap()
    }

    #[test]
    fn rfc3339_with_offset_is_an_instant_whatever_the_zone() {
        let ts = parse_scheduled_at("2027-01-05T10:00:00-05:00", None, "scheduled_at").unwrap();
        assert_eq!(ts.to_string(), "2027-01-05T15:00:00Z");
    }

    #[test]
    fn local_time_is_read_in_its_zone() {
        let ny = zone("America/New_York");
        let ts = parse_scheduled_at("2027-07-05 10:00:00", Some(&ny), "scheduled_at").unwrap();
        assert_eq!(ts.to_string(), "2027-07-05T14:00:00Z");
    }

    #[test]
    fn dst_gap_in_new_york_and_london_is_refused() {
        let ny = zone("America/New_York");
        let err = parse_scheduled_at("2027-03-14T02:30:00", Some(&ny), "scheduled_at").unwrap_err();
        assert_eq!(err.code, ErrorCode::NonexistentLocalTime);
        let london = zone("Europe/London");
        let err =
            parse_scheduled_at("2027-03-28T01:30:00", Some(&london), "scheduled_at").unwrap_err();
        assert_eq!(err.code, ErrorCode::NonexistentLocalTime);
    }

    #[test]
    fn dst_overlap_takes_the_earlier_instant() {
        let ny = zone("America/New_York");
        // 01:30 happens first at -04:00 (EDT), then at -05:00 (EST).
        let ts = parse_scheduled_at("2027-11-07T01:30:00", Some(&ny), "scheduled_at").unwrap();
        assert_eq!(ts.to_string(), "2027-11-07T05:30:00Z");
        let london = zone("Europe/London");
        let ts = parse_scheduled_at("2027-10-31T01:30:00", Some(&london), "scheduled_at").unwrap();
        assert_eq!(ts.to_string(), "2027-10-31T00:30:00Z");
    }

    #[test]
    fn unknown_zone_and_missing_zone_are_named() {
        assert_eq!(
            Zone::parse("Mars/Olympus_Mons", "timezone")
                .unwrap_err()
                .code,
            ErrorCode::InvalidTimezone
        );
        let err = parse_scheduled_at("2027-01-05T10:00:00", None, "scheduled_at").unwrap_err();
        assert_eq!(
            (err.code, err.field.as_str()),
            (ErrorCode::MissingField, "timezone")
        );
        let err = parse_scheduled_at("tomorrow", None, "scheduled_at").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidDatetime);
    }
}
