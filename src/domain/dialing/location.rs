//! Where the callee is: the zones a call is judged in, where they came from, and the regions
//! whose rules apply ([`Location`], [`ZoneSource`]).

use std::borrow::Cow;

use serde::Serialize;

use crate::domain::{
    PhoneNumber, Zone,
    geo::{self, Precision, Region},
};

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
