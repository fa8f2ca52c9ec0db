//! Caller IDs the account owns, their pools, and which pool number a call shows (local
//! presence).
//!
//! A registered number may belong to one pool (a name such as `sales`); a callback or campaign
//! names the pool (`caller_id_pool`) instead of one `caller_id`. When the call is claimed,
//! [`pick`] chooses among the pool's numbers still under their daily cap (calls counted since
//! midnight UTC): first one with the callee's area code, else one in the callee's region
//! (subdivision), else in their country, else any; within a tier the least used today, then
//! the first registered.

use jiff::{Timestamp, ToSpan, tz::TimeZone};

use super::{AccountId, ErrorCode, FieldError, PhoneNumber, geo::Region};

/// Longest pool name, in characters.
pub const MAX_POOL: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub struct CallerId {
    pub account_id: AccountId,
    pub number: PhoneNumber,
    /// The pool it belongs to, if any.
    pub pool: Option<String>,
    /// Where the number is presented as local, when not what its prefix says.
    pub region: Option<Region>,
    /// The area code, as the national digits it starts with, when set by hand; otherwise a
    /// North American number's three-digit area code is read from the number.
    pub area_code: Option<String>,
    /// At most this many calls a day (midnight to midnight UTC); `None`: no cap.
    pub max_calls_per_day: Option<u32>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The country calling code of an E.164 number, and its national digits.
fn split(number: &PhoneNumber) -> Option<(String, String)> {
    let parsed = phonenumber::parse(None, number.as_str()).ok()?;
    Some((
        parsed.code().value().to_string(),
        parsed.national().to_string(),
    ))
}

impl CallerId {
    /// The E.164 prefix a callee shares with it when it has its area code (`+1415`), if it has
    /// one: its `area_code` after its calling code, else a North American area code.
    pub fn local_prefix(&self) -> Option<String> {
        let (code, area) = self.area()?;
        Some(format!("+{code}{area}"))
    }

    /// Its calling code and area code: its `area_code`, else a North American one.
    pub fn area(&self) -> Option<(String, String)> {
        let (code, national) = split(&self.number)?;
        let area = match &self.area_code {
            Some(a) => a.clone(),
            None if code == "1" && national.len() == 10 => national[..3].to_owned(),
            None => return None,
        };
        Some((code, area))
    }

    /// Its region: the one set, else the subdivision its prefix places it in, else its
    /// country.
    pub fn region(&self) -> Option<Region> {
        self.region.clone().or_else(|| number_region(&self.number))
    }
}

/// Where a number is: its subdivision when its prefix pins one, else its country.
pub fn number_region(number: &PhoneNumber) -> Option<Region> {
    let place = super::geo::place_of(number);
    let name = place.subdivision.or(place.country)?;
    Region::parse(name, "region").ok()
}

/// A pool name: 1 to 64 letters, digits, `_`, `-` or `.`.
pub fn parse_pool(raw: &str, field: &str) -> Result<String, FieldError> {
    let pool = raw.trim();
    let ok = !pool.is_empty()
        && pool.chars().count() <= MAX_POOL
        && pool
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(pool.to_owned())
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            format!("must be 1 to {MAX_POOL} letters, digits, `_`, `-` or `.` (such as sales)"),
        ))
    }
}

/// An area code: 1 to 6 digits (the national digits the numbers of the area start with).
pub fn parse_area_code(raw: &str, field: &str) -> Result<String, FieldError> {
    let code = raw.trim();
    if (1..=6).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit()) {
        Ok(code.to_owned())
    } else {
        Err(FieldError::new(
            ErrorCode::InvalidField,
            field,
            "must be 1 to 6 digits, the national digits numbers of the area start with (415)",
        ))
    }
}

/// The first instant of `now`'s day (UTC), from which daily caps count.
pub fn day_start(now: Timestamp) -> Timestamp {
    now.to_zoned(TimeZone::UTC)
        .start_of_day()
        .map(|z| z.timestamp())
        .unwrap_or(now)
}

/// The first instant of the next day (UTC): when every daily cap starts again.
pub fn next_day(now: Timestamp) -> Timestamp {
    day_start(now)
        .to_zoned(TimeZone::UTC)
        .checked_add(1.day())
        .map(|z| z.timestamp())
        .unwrap_or(now)
}

/// One pool number as the pick sees it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub caller_id: CallerId,
    /// Calls it was shown on today.
    pub used_today: u32,
}

impl Candidate {
    fn has_room(&self) -> bool {
        self.caller_id
            .max_calls_per_day
            .is_none_or(|cap| self.used_today < cap)
    }
}

/// The pool number a call to `callee` (in `callee_region`, a contact's, else the number's)
/// shows, as an index into `candidates` (in registration order); `None` when every one is at
/// its daily cap.
pub fn pick(
    callee: &PhoneNumber,
    callee_region: Option<&Region>,
    candidates: &[Candidate],
) -> Option<usize> {
    let callee_region = callee_region.cloned().or_else(|| number_region(callee));
    let tier = |c: &CallerId| -> u8 {
        if c.local_prefix()
            .is_some_and(|p| callee.as_str().starts_with(&p))
        {
            return 0;
        }
        let (Some(theirs), Some(ours)) = (&callee_region, c.region()) else {
            return 3;
        };
        if ours.subdivision().is_some() && theirs.subdivision() == ours.subdivision() {
            1
        } else if theirs.country() == ours.country() {
            2
        } else {
            3
        }
    };
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.has_room())
        .min_by_key(|(i, c)| (tier(&c.caller_id), c.used_today, *i))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(number: &str, cap: Option<u32>) -> CallerId {
        CallerId {
            account_id: AccountId::generate(),
            number: PhoneNumber::parse(number, "number").unwrap(),
            pool: Some("sales".into()),
            region: None,
            area_code: None,
            max_calls_per_day: cap,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
        }
    }

    fn c(number: &str, cap: Option<u32>, used: u32) -> Candidate {
        Candidate {
            caller_id: cid(number, cap),
            used_today: used,
        }
    }

    #[test]
    fn the_area_code_wins_then_the_state_then_the_country_then_the_least_used() {
        let callee = PhoneNumber::parse("+14155550100", "p").unwrap();
        // New York, Los Angeles (California, like San Francisco), San Francisco, London.
        let pool = vec![
            c("+12125550100", None, 0),
            c("+13105550100", None, 0),
            c("+14155550111", Some(2), 1),
            c("+442079460000", None, 0),
        ];
        assert_eq!(pick(&callee, None, &pool), Some(2));
        let mut capped = pool.clone();
        capped[2].used_today = 2;
        assert_eq!(pick(&callee, None, &capped), Some(1), "same state");
        capped[1].caller_id.max_calls_per_day = Some(5);
        capped[1].used_today = 5;
        assert_eq!(pick(&callee, None, &capped), Some(0), "same country");
        let london = PhoneNumber::parse("+442079460001", "p").unwrap();
        assert_eq!(pick(&london, None, &pool), Some(3));
        let paris = PhoneNumber::parse("+33142685300", "p").unwrap();
        assert_eq!(
            pick(&paris, None, &capped),
            Some(0),
            "least used of the rest"
        );
        let all_full = vec![c("+14155550111", Some(1), 1)];
        assert_eq!(pick(&callee, None, &all_full), None);
    }

    #[test]
    fn area_codes_set_by_hand_and_regions_count() {
        let mut london = cid("+442079460000", None);
        assert_eq!(london.local_prefix(), None);
        london.area_code = Some("20".into());
        assert_eq!(london.local_prefix().as_deref(), Some("+4420"));
        assert_eq!(
            cid("+14155550100", None).local_prefix().as_deref(),
            Some("+1415")
        );
        assert_eq!(
            cid("+14155550100", None)
                .region()
                .map(|r| r.as_str().to_owned()),
            Some("US-CA".to_owned())
        );
        for bad in ["", "4a", "1234567"] {
            assert!(parse_area_code(bad, "area_code").is_err(), "{bad}");
        }
        assert!(parse_pool("sales-east", "pool").is_ok());
        assert!(parse_pool("a b", "pool").is_err());
    }

    #[test]
    fn days_are_counted_in_utc() {
        let t: Timestamp = "2027-03-04T23:59:00Z".parse().unwrap();
        assert_eq!(day_start(t).to_string(), "2027-03-04T00:00:00Z");
        assert_eq!(next_day(t).to_string(), "2027-03-05T00:00:00Z");
    }
}
