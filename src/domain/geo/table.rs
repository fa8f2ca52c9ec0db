//! The prefix table, `phone_zones.txt`, parsed once: the zones and region of each prefix,
//! and the longest-prefix match a number's place is read from.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{NumberPlace, Precision};
use crate::domain::Zone;

const PHONE_ZONES: &str = include_str!("../../../assets/phone_zones/phone_zones.txt");

pub(super) static TABLE: LazyLock<Table> = LazyLock::new(|| Table::parse(PHONE_ZONES));

/// `phone_zones.txt`, parsed once; zone sets are interned so that a lookup only borrows.
pub(super) struct Table {
    pub(super) sets: Vec<Box<[Zone]>>,
    pub(super) prefixes: HashMap<&'static str, Line>,
    /// The longest prefix with a line: no longer prefix of a number need be looked up.
    longest: usize,
    /// For a number whose calling code has no line, which a parsed number never lacks.
    nowhere: Box<[Zone]>,
}

/// One line of the table. A missing part is the next shorter prefix's.
pub(super) struct Line {
    pub(super) zones: Option<usize>,
    pub(super) region: Option<&'static str>,
}

impl Table {
    /// Panics on a malformed table or a zone jiff does not know: the table is compiled in,
    /// and the tests read every line.
    fn parse(text: &'static str) -> Self {
        let mut sets: Vec<Box<[Zone]>> = Vec::new();
        let mut interned: HashMap<&str, usize> = HashMap::new();
        let mut prefixes = HashMap::new();
        for line in text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let mut fields = line.split('|');
            let (Some(prefix), Some(zones)) = (fields.next(), fields.next()) else {
                panic!("phone_zones.txt: malformed line {line:?}");
            };
            let zones = (!zones.is_empty()).then(|| {
                *interned.entry(zones).or_insert_with(|| {
                    sets.push(zones.split(' ').map(known_zone).collect());
                    sets.len() - 1
                })
            });
            let region = fields.next().filter(|r| !r.is_empty());
            prefixes.insert(prefix, Line { zones, region });
        }
        let longest = prefixes.keys().map(|p| p.len()).max().unwrap_or(0);
        Self {
            sets,
            prefixes,
            longest,
            nowhere: Box::new([Zone::utc()]),
        }
    }

    /// The calling code's length in a string of E.164 digits: calling codes are prefix-free
    /// and each has its own line, so the shortest prefix with a line is the calling code.
    pub(super) fn calling_code_len(&self, digits: &str) -> usize {
        (1..=3)
            .find(|&len| {
                digits
                    .get(..len)
                    .is_some_and(|p| self.prefixes.contains_key(p))
            })
            .unwrap_or(0)
    }

    /// The zones of the longest matching prefix (if the number is tied to a place) or of the
    /// calling code, and the region of the longest prefix that names one.
    pub(super) fn place(
        &'static self,
        digits: &str,
        code_len: usize,
        geographic: bool,
        country: Option<&'static str>,
    ) -> NumberPlace {
        let line = |len| digits.get(..len).and_then(|p| self.prefixes.get(p));
        let (mut zones, mut region) = (None, None);
        if geographic {
            for len in (code_len + 1..=self.longest.min(digits.len())).rev() {
                if let Some(found) = line(len) {
                    zones = zones.or(found.zones);
                    region = region.or(found.region);
                }
            }
        }
        let precision = match zones {
            Some(_) => Precision::Prefix,
            None => Precision::Country,
        };
        let zones = zones.or_else(|| line(code_len).and_then(|l| l.zones));
        // The table's region is the country's subdivision only if `phonenumber` agrees on the
        // country; a PR or JM line names a country, which `country` already says.
        let subdivision = region.filter(|r| {
            r.split_once('-')
                .is_some_and(|(of, _)| country.is_some_and(|c| c == of))
        });
        NumberPlace {
            zones: zones.map_or(&*self.nowhere, |set| &*self.sets[set]),
            country,
            subdivision,
            precision,
        }
    }
}

fn known_zone(name: &str) -> Zone {
    Zone::parse(name, "timezone").unwrap_or_else(|e| panic!("phone_zones.txt: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{
        PhoneNumber,
        geo::{Region, place_of},
    };

    #[test]
    fn every_zone_and_region_of_the_table_is_known() {
        for line in PHONE_ZONES.lines().filter(|l| !l.starts_with('#')) {
            let mut fields = line.split('|');
            let prefix = fields.next().unwrap();
            assert!(prefix.bytes().all(|b| b.is_ascii_digit()), "{line}");
            for zone in fields.next().unwrap().split(' ').filter(|z| !z.is_empty()) {
                Zone::parse(zone, "timezone").unwrap_or_else(|e| panic!("{line}: {e}"));
            }
            if let Some(region) = fields.next() {
                let parsed =
                    Region::parse(region, "region").unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(parsed.as_str(), region);
            }
        }
        // Zone sets are interned: each is held once, however many lines name it.
        let sets: Vec<Vec<&str>> = TABLE
            .sets
            .iter()
            .map(|set| set.iter().map(Zone::name).collect())
            .collect();
        for (i, set) in sets.iter().enumerate() {
            assert!(!set.is_empty() && !sets[..i].contains(set), "{set:?}");
        }
    }

    #[test]
    fn area_code_regions_agree_with_phonenumber() {
        // The table comes from python's metadata, the number's country from the crate's; a
        // drift between their versions shows here first.
        let mut checked = 0;
        for (prefix, line) in &TABLE.prefixes {
            let Some(region) = line.region else { continue };
            let Some(number) = ["2345678", "5550199", "2002000"]
                .iter()
                .find_map(|rest| PhoneNumber::parse(&format!("+{prefix}{rest}"), "phone").ok())
            else {
                continue;
            };
            let place = place_of(&number);
            assert_eq!(place.country, Some(&region[..2]), "{number}");
            if region.len() > 2 {
                assert_eq!(place.subdivision, Some(region), "{number}");
            }
            checked += 1;
        }
        assert!(checked > 400, "{checked}");
    }
}
