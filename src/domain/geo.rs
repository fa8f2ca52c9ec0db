//! Where a phone number may be: the IANA time zones it may ring in and the region it belongs
//! to, for rules that depend on the called party's local time or place.
//!
//! The data is libphonenumber's prefix-to-time-zone map (its `PhoneNumberToTimeZonesMapper`),
//! generated into `assets/phone_zones/` by `tools/phone_zones/generate.py`; see the README
//! there for its source, licence and how to refresh it. The lookup mirrors libphonenumber:
//! numbers tied to a place (fixed lines, and mobiles where they carry an area) take the longest
//! matching prefix; the others (toll-free, premium, VoIP, mobiles of most countries, ...) could
//! ring anywhere their calling code reaches, so they take every zone of it.
//!
//! `Region` is the place vocabulary of account policies: an ISO 3166-1 country or an ISO 3166-2
//! subdivision.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use phonenumber::Type;
use phonenumber::metadata::{DATABASE, Database, Descriptor, Metadata};

use super::{ErrorCode, FieldError, PhoneNumber, Zone};

/// How precisely a number's place is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// From the number's prefix (area code): one place, possibly one zone.
    Prefix,
    /// Only the country calling code is known to be meaningful (toll-free, mobile in a
    /// country whose mobiles carry no area, premium, VoIP, a country-wide prefix): every zone
    /// of it.
    Country,
}

/// Where a phone number may be.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPlace {
    /// Candidate IANA zones, never empty, in a stable order (the table's).
    pub zones: &'static [Zone],
    /// ISO 3166-1 alpha-2 of the number (from `phonenumber`'s region for it), if known.
    pub country: Option<&'static str>,
    /// ISO 3166-2 subdivision (`US-FL`, `CA-ON`) when the prefix pins one (NANP area codes).
    pub subdivision: Option<&'static str>,
    pub precision: Precision,
}

/// The place of a number. It never fails: a number whose place is unknown gets the zones of
/// its calling code, and a calling code that belongs to no country (+800, +881 ...) a zone of
/// every offset in use (it may be anywhere), with no country.
pub fn place_of(phone: &PhoneNumber) -> NumberPlace {
    let known = PLACES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(phone.as_str())
        .cloned();
    if let Some(place) = known {
        return place;
    }
    let place = work_out(phone);
    let mut places = PLACES.lock().unwrap_or_else(PoisonError::into_inner);
    if places.len() >= REMEMBERED {
        places.clear();
    }
    places.insert(phone.as_str().to_owned(), place.clone());
    place
}

/// Places already worked out, by number. A callback's number is placed at each step of its
/// life (the dispatch guard, each event's snapshot), and working it out costs microseconds of
/// `phonenumber`'s pattern matching; remembering it costs a lookup.
static PLACES: LazyLock<Mutex<HashMap<String, NumberPlace>>> = LazyLock::new(Mutex::default);

/// How many places are remembered before the memory starts afresh.
const REMEMBERED: usize = 16_384;

fn work_out(phone: &PhoneNumber) -> NumberPlace {
    let table = &*TABLE;
    let digits = phone.as_str().trim_start_matches('+');
    // Only numbers that failed to parse reach the fallback: `PhoneNumber` holds parsed ones.
    let Ok(number) = phonenumber::parse(None, phone.as_str()) else {
        return table.place(digits, table.calling_code_len(digits), false, None);
    };
    let code = number.code().value();
    let national = number.national().to_string();
    let (country, geographic) = match classify(code, &national) {
        Some((meta, kind)) => (
            Some(meta.id()).filter(|id| *id != NON_GEOGRAPHIC),
            is_geographic(kind, code),
        ),
        None => (None, false),
    };
    let code_len = code.checked_ilog10().map_or(1, |log| log as usize + 1);
    table.place(digits, code_len, geographic, country)
}

/// libphonenumber's region of the calling codes that belong to no country.
const NON_GEOGRAPHIC: &str = "001";

/// Calling codes whose mobile numbers are tied to a place, as libphonenumber's
/// `GEO_MOBILE_COUNTRIES` has them: Mexico, Argentina, Brazil and Indonesia give mobiles area
/// codes, China assigns them by place. Elsewhere a mobile can be anywhere in its country.
const GEO_MOBILE_CODES: [u16; 5] = [52, 54, 55, 62, 86];

/// libphonenumber's `isNumberTypeGeographical`.
fn is_geographic(kind: Type, code: u16) -> bool {
    match kind {
        Type::FixedLine | Type::FixedLineOrMobile => true,
        Type::Mobile => GEO_MOBILE_CODES.contains(&code),
        _ => false,
    }
}

// `classify` and `kind_of` are the `phonenumber` crate's own `PhoneNumber::metadata` and
// `number_type`, except that they are given the national number with its leading zeros: the
// crate drops them there (not in `is_valid`), so an Italian landline (+39 02 ...) would match
// no pattern and have neither a country nor a type.

/// The region a number belongs to among those sharing its calling code, and its type there.
fn classify(code: u16, national: &str) -> Option<(&'static Metadata, Type)> {
    let database: &'static Database = &DATABASE;
    let with_kind = |meta: &'static Metadata| (meta, kind_of(meta, national));
    let regions = database.region(&code)?;
    match regions[..] {
        [NON_GEOGRAPHIC] => database.by_code(&code)?.into_iter().next().map(with_kind),
        [only] => database.by_id(only).map(with_kind),
        _ => regions
            .iter()
            .filter_map(|region| database.by_id(*region))
            .find_map(|meta| match meta.leading_digits() {
                Some(leading) => leading
                    .find(national)
                    .is_some_and(|m| m.start() == 0)
                    .then(|| with_kind(meta)),
                None => Some(with_kind(meta)).filter(|(_, kind)| *kind != Type::Unknown),
            }),
    }
}

/// The type of a national number in its region; the first special service that matches wins,
/// as in libphonenumber.
fn kind_of(meta: &Metadata, national: &str) -> Type {
    let d = meta.descriptors();
    let matches = |desc: Option<&Descriptor>| desc.is_some_and(|desc| desc.is_match(national));
    if !d.general().is_match(national) {
        return Type::Unknown;
    }
    let services = [
        (d.premium_rate(), Type::PremiumRate),
        (d.toll_free(), Type::TollFree),
        (d.shared_cost(), Type::SharedCost),
        (d.voip(), Type::Voip),
        (d.personal_number(), Type::PersonalNumber),
        (d.pager(), Type::Pager),
        (d.uan(), Type::Uan),
        (d.voicemail(), Type::Voicemail),
    ];
    if let Some((_, kind)) = services.into_iter().find(|(desc, _)| matches(*desc)) {
        return kind;
    }
    let same_patterns = d.fixed_line().map(|f| f.national_number().as_str())
        == d.mobile().map(|m| m.national_number().as_str());
    match (matches(d.fixed_line()), matches(d.mobile())) {
        (true, true) => Type::FixedLineOrMobile,
        (true, false) if same_patterns => Type::FixedLineOrMobile,
        (true, false) => Type::FixedLine,
        (false, true) => Type::Mobile,
        (false, false) => Type::Unknown,
    }
}

const PHONE_ZONES: &str = include_str!("../../assets/phone_zones/phone_zones.txt");

static TABLE: LazyLock<Table> = LazyLock::new(|| Table::parse(PHONE_ZONES));

/// `phone_zones.txt`, parsed once; zone sets are interned so that a lookup only borrows.
struct Table {
    sets: Vec<Box<[Zone]>>,
    prefixes: HashMap<&'static str, Line>,
    /// The longest prefix with a line: no longer prefix of a number need be looked up.
    longest: usize,
    /// For a number whose calling code has no line, which a parsed number never lacks.
    nowhere: Box<[Zone]>,
}

/// One line of the table. A missing part is the next shorter prefix's.
struct Line {
    zones: Option<usize>,
    region: Option<&'static str>,
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
    fn calling_code_len(&self, digits: &str) -> usize {
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
    fn place(
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

/// A place named in policies: an ISO 3166-1 alpha-2 country (`US`) or an ISO 3166-2
/// subdivision (`US-FL`), in its canonical upper-case spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Region(&'static str);

impl Region {
    /// "US", "us", "US-FL", "CA-ON", "AU-NSW", "BR-SP", "MX-JAL"...: an ISO 3166-1 alpha-2
    /// country that `phonenumber` has numbers for (so that a number's country can be one), or
    /// an ISO 3166-2 subdivision from the list below (`SUBDIVISIONS`).
    pub fn parse(text: &str, field: &str) -> Result<Region, FieldError> {
        let code = text.trim();
        let invalid = |why: String| FieldError::new(ErrorCode::InvalidField, field, why);
        let (country, subdivision) = match code.split_once('-') {
            Some((country, _)) => (country, true),
            None => (code, false),
        };
        let Some(country) = known_country(country) else {
            return Err(invalid(if code.is_empty() {
                "region is empty; use a country such as US or a subdivision such as US-FL"
                    .to_owned()
            } else if country.len() == 2 {
                format!(
                    "unknown country {country:?} in region {code:?}; \
                     use an ISO 3166-1 code such as US"
                )
            } else {
                format!(
                    "{code:?} is not a region; use a two-letter ISO 3166-1 country such as US, \
                     or an ISO 3166-2 subdivision such as US-FL"
                )
            }));
        };
        if !subdivision {
            return Ok(Region(country));
        }
        subdivisions()
            .find(|(known, _)| known.eq_ignore_ascii_case(code))
            .map(|(known, _)| Region(known))
            .ok_or_else(|| {
                invalid(format!(
                    "unknown subdivision {code:?}; use an ISO 3166-2 code such as US-FL \
                     (subdivisions are known for {LISTED_COUNTRIES}), or the country {country}"
                ))
            })
    }

    /// "US" for "US-FL".
    pub fn country(&self) -> &str {
        &self.0[..2]
    }

    /// Some("US-FL") for "US-FL"; None for a country.
    pub fn subdivision(&self) -> Option<&str> {
        (self.0.len() > 2).then_some(self.0)
    }

    pub fn as_str(&self) -> &str {
        self.0
    }

    /// A contact's free-text `state` ("FL", "fl", "Florida", "Nuevo León", "NSW") read as a
    /// subdivision of `country`; None when it names none. Case, accents and punctuation are
    /// ignored ("Nuevo Leon", "N.S.W."), since the text is typed by people and imported files.
    pub fn from_state(country: &str, state: &str) -> Option<Region> {
        let (country, state) = (country.trim(), state.trim());
        if state.is_empty() {
            return None;
        }
        subdivisions()
            .find(|(code, names)| {
                code.split_once('-').is_some_and(|(of, short)| {
                    of.eq_ignore_ascii_case(country)
                        && (same_name(state, short)
                            || same_name(state, code)
                            || names.split('|').any(|name| same_name(state, name)))
                })
            })
            .map(|(code, _)| Region(code))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// The upper-case spelling of a two-letter country `phonenumber` has metadata for.
fn known_country(code: &str) -> Option<&'static str> {
    let &[a, b] = code.as_bytes() else {
        return None;
    };
    let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
    let upper = std::str::from_utf8(&upper).ok()?;
    DATABASE.by_id(upper).map(|meta| meta.id())
}

fn subdivisions() -> impl Iterator<Item = (&'static str, &'static str)> {
    SUBDIVISIONS.lines().filter_map(|line| line.split_once(' '))
}

/// Whether two names are the same once case, accents and everything but letters and digits
/// are set aside: "Nuevo León" is "nuevo leon", "Washington D.C." is "Washington DC".
fn same_name(a: &str, b: &str) -> bool {
    fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
        s.chars()
            .flat_map(char::to_lowercase)
            .filter_map(|c| match c {
                'á' | 'à' | 'â' | 'ã' | 'ä' | 'ā' => Some('a'),
                'é' | 'è' | 'ê' | 'ë' | 'ē' => Some('e'),
                'í' | 'ì' | 'î' | 'ï' | 'ī' => Some('i'),
                'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'ō' => Some('o'),
                'ú' | 'ù' | 'û' | 'ü' | 'ū' => Some('u'),
                'ç' => Some('c'),
                'ñ' => Some('n'),
                c if c.is_alphanumeric() => Some(c),
                _ => None,
            })
    }
    folded(a).eq(folded(b))
}

/// The countries [`SUBDIVISIONS`] covers, for error messages.
const LISTED_COUNTRIES: &str = "US, CA, AU, BR, MX, IN and DE";

/// ISO 3166-2 subdivisions, one a line: the code, then the names people write for it, the
/// ISO name first (from the iso-codes project's list, with India's 2023 codes), then common
/// English, unaccented and former names. Only these countries' policies and contacts are
/// expected to name states; a country elsewhere is named by its ISO 3166-1 code.
const SUBDIVISIONS: &str = "\
US-AK Alaska
US-AL Alabama
US-AR Arkansas
US-AS American Samoa
US-AZ Arizona
US-CA California
US-CO Colorado
US-CT Connecticut
US-DC District of Columbia|Washington DC
US-DE Delaware
US-FL Florida
US-GA Georgia
US-GU Guam
US-HI Hawaii
US-IA Iowa
US-ID Idaho
US-IL Illinois
US-IN Indiana
US-KS Kansas
US-KY Kentucky
US-LA Louisiana
US-MA Massachusetts
US-MD Maryland
US-ME Maine
US-MI Michigan
US-MN Minnesota
US-MO Missouri
US-MP Northern Mariana Islands
US-MS Mississippi
US-MT Montana
US-NC North Carolina
US-ND North Dakota
US-NE Nebraska
US-NH New Hampshire
US-NJ New Jersey
US-NM New Mexico
US-NV Nevada
US-NY New York
US-OH Ohio
US-OK Oklahoma
US-OR Oregon
US-PA Pennsylvania
US-PR Puerto Rico
US-RI Rhode Island
US-SC South Carolina
US-SD South Dakota
US-TN Tennessee
US-TX Texas
US-UM United States Minor Outlying Islands
US-UT Utah
US-VA Virginia
US-VI Virgin Islands, U.S.|U.S. Virgin Islands|Virgin Islands
US-VT Vermont
US-WA Washington
US-WI Wisconsin
US-WV West Virginia
US-WY Wyoming
CA-AB Alberta
CA-BC British Columbia
CA-MB Manitoba
CA-NB New Brunswick
CA-NL Newfoundland and Labrador|Newfoundland
CA-NS Nova Scotia
CA-NT Northwest Territories
CA-NU Nunavut
CA-ON Ontario
CA-PE Prince Edward Island
CA-QC Quebec
CA-SK Saskatchewan
CA-YT Yukon|Yukon Territory
AU-ACT Australian Capital Territory
AU-NSW New South Wales
AU-NT Northern Territory
AU-QLD Queensland
AU-SA South Australia
AU-TAS Tasmania
AU-VIC Victoria
AU-WA Western Australia
BR-AC Acre
BR-AL Alagoas
BR-AM Amazonas
BR-AP Amapá
BR-BA Bahia
BR-CE Ceará
BR-DF Distrito Federal
BR-ES Espírito Santo
BR-GO Goiás
BR-MA Maranhão
BR-MG Minas Gerais
BR-MS Mato Grosso do Sul
BR-MT Mato Grosso
BR-PA Pará
BR-PB Paraíba
BR-PE Pernambuco
BR-PI Piauí
BR-PR Paraná
BR-RJ Rio de Janeiro
BR-RN Rio Grande do Norte
BR-RO Rondônia
BR-RR Roraima
BR-RS Rio Grande do Sul
BR-SC Santa Catarina
BR-SE Sergipe
BR-SP São Paulo
BR-TO Tocantins
MX-AGU Aguascalientes
MX-BCN Baja California
MX-BCS Baja California Sur
MX-CAM Campeche
MX-CHH Chihuahua
MX-CHP Chiapas
MX-CMX Ciudad de México|Mexico City|CDMX|Distrito Federal
MX-COA Coahuila de Zaragoza|Coahuila
MX-COL Colima
MX-DUR Durango
MX-GRO Guerrero
MX-GUA Guanajuato
MX-HID Hidalgo
MX-JAL Jalisco
MX-MEX México|Estado de México|State of Mexico
MX-MIC Michoacán de Ocampo|Michoacán
MX-MOR Morelos
MX-NAY Nayarit
MX-NLE Nuevo León
MX-OAX Oaxaca
MX-PUE Puebla
MX-QUE Querétaro
MX-ROO Quintana Roo
MX-SIN Sinaloa
MX-SLP San Luis Potosí
MX-SON Sonora
MX-TAB Tabasco
MX-TAM Tamaulipas
MX-TLA Tlaxcala
MX-VER Veracruz de Ignacio de la Llave|Veracruz
MX-YUC Yucatán
MX-ZAC Zacatecas
IN-AN Andaman and Nicobar Islands
IN-AP Andhra Pradesh
IN-AR Arunāchal Pradesh
IN-AS Assam
IN-BR Bihār
IN-CG Chhattīsgarh|CT
IN-CH Chandīgarh
IN-DH Dādra and Nagar Haveli and Damān and Diu
IN-DL Delhi
IN-GA Goa
IN-GJ Gujarāt
IN-HP Himāchal Pradesh
IN-HR Haryāna
IN-JH Jhārkhand
IN-JK Jammu and Kashmīr
IN-KA Karnātaka
IN-KL Kerala
IN-LA Ladākh
IN-LD Lakshadweep
IN-MH Mahārāshtra
IN-ML Meghālaya
IN-MN Manipur
IN-MP Madhya Pradesh
IN-MZ Mizoram
IN-NL Nāgāland
IN-OD Odisha|Orissa|OR
IN-PB Punjab
IN-PY Puducherry|Pondicherry
IN-RJ Rājasthān
IN-SK Sikkim
IN-TN Tamil Nādu
IN-TR Tripura
IN-TS Telangāna|TG
IN-UK Uttarākhand|Uttaranchal|UT
IN-UP Uttar Pradesh
IN-WB West Bengal
DE-BB Brandenburg
DE-BE Berlin
DE-BW Baden-Württemberg|Baden-Wuerttemberg
DE-BY Bayern|Bavaria
DE-HB Bremen
DE-HE Hessen|Hesse
DE-HH Hamburg
DE-MV Mecklenburg-Vorpommern|Mecklenburg-Western Pomerania
DE-NI Niedersachsen|Lower Saxony
DE-NW Nordrhein-Westfalen|North Rhine-Westphalia|NRW
DE-RP Rheinland-Pfalz|Rhineland-Palatinate
DE-SH Schleswig-Holstein
DE-SL Saarland
DE-SN Sachsen|Saxony
DE-ST Sachsen-Anhalt|Saxony-Anhalt
DE-TH Thüringen|Thueringen|Thuringia";

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(text: &str) -> PhoneNumber {
        PhoneNumber::parse(text, "phone").unwrap()
    }

    fn names(place: &NumberPlace) -> Vec<&str> {
        place.zones.iter().map(Zone::name).collect()
    }

    #[test]
    fn numbers_tied_to_a_place_take_their_prefix() {
        use Precision::*;
        // Number, its zones ("+ zone": one of them), its country or subdivision, precision.
        let cases = [
            ("+14155550199", "America/Los_Angeles", "US-CA", Prefix),
            ("+12125550199", "America/New_York", "US-NY", Prefix),
            ("+13055550199", "America/New_York", "US-FL", Prefix),
            ("+14165550199", "America/Toronto", "CA-ON", Prefix),
            ("+16045550199", "America/Vancouver", "CA-BC", Prefix),
            // Labrador, also in 709, keeps Atlantic time.
            ("+17095550199", "+ America/St_Johns", "CA-NL", Prefix),
            ("+17875550199", "America/Puerto_Rico", "PR", Prefix),
            ("+61293744000", "Australia/Sydney", "AU", Prefix),
            ("+551134567890", "America/Sao_Paulo", "BR", Prefix),
            // Brazil's mobiles carry their area code.
            ("+5511987654321", "America/Sao_Paulo", "BR", Prefix),
            ("+525512345678", "America/Mexico_City", "MX", Prefix),
            ("+74951234567", "Europe/Moscow", "RU", Prefix),
            ("+622112345678", "Asia/Jakarta", "ID", Prefix),
            ("+442079460958", "Europe/London", "GB", Prefix),
            // Germany has one zone: the country's line says it all.
            ("+493012345678", "Europe/Berlin", "DE", Country),
            // Italian landlines keep their leading zero (see `classify`).
            ("+390212345678", "Europe/Rome", "IT", Prefix),
            ("+390669812345", "Europe/Vatican", "VA", Prefix),
        ];
        for (number, zones, region, precision) in cases {
            let place = place_of(&phone(number));
            let found = names(&place);
            match zones.strip_prefix("+ ") {
                Some(zone) => assert!(found.contains(&zone), "{number}: {found:?}"),
                None => assert_eq!(found, [zones], "{number}"),
            }
            assert_eq!(place.country, Some(&region[..2]), "{number}");
            let subdivision = (region.len() > 2).then_some(region);
            assert_eq!(place.subdivision, subdivision, "{number}");
            assert_eq!(place.precision, precision, "{number}");
        }
    }

    #[test]
    fn numbers_not_tied_to_a_place_take_every_zone_of_their_calling_code() {
        let us = [
            "America/New_York",
            "America/Chicago",
            "America/Denver",
            "America/Phoenix",
            "America/Los_Angeles",
            "America/Anchorage",
            "America/Adak",
            "Pacific/Honolulu",
        ];
        for number in ["+18005550199", "+18885550199"] {
            let place = place_of(&phone(number));
            let found = names(&place);
            assert!(us.iter().all(|z| found.contains(z)), "{number}: {found:?}");
            assert_eq!(place.precision, Precision::Country, "{number}");
            assert_eq!((place.country, place.subdivision), (Some("US"), None));
        }
        // Australia's mobiles carry no area.
        let place = place_of(&phone("+61412345678"));
        let found = names(&place);
        for zone in ["Australia/Sydney", "Australia/Perth", "Australia/Adelaide"] {
            assert!(found.contains(&zone), "{found:?}");
        }
        assert_eq!(place.precision, Precision::Country);
        // International freephone belongs to no country.
        let place = place_of(&phone("+80012345678"));
        assert_eq!(place.country, None);
        assert_eq!(place.precision, Precision::Country);
        assert!(!place.zones.is_empty());
    }

    /// zone.tab's zones of Russia (tz database 2025b).
    const RUSSIA: [&str; 26] = [
        "Asia/Anadyr",
        "Asia/Barnaul",
        "Asia/Chita",
        "Asia/Irkutsk",
        "Asia/Kamchatka",
        "Asia/Khandyga",
        "Asia/Krasnoyarsk",
        "Asia/Magadan",
        "Asia/Novokuznetsk",
        "Asia/Novosibirsk",
        "Asia/Omsk",
        "Asia/Sakhalin",
        "Asia/Srednekolymsk",
        "Asia/Tomsk",
        "Asia/Ust-Nera",
        "Asia/Vladivostok",
        "Asia/Yakutsk",
        "Asia/Yekaterinburg",
        "Europe/Astrakhan",
        "Europe/Kaliningrad",
        "Europe/Kirov",
        "Europe/Moscow",
        "Europe/Samara",
        "Europe/Saratov",
        "Europe/Ulyanovsk",
        "Europe/Volgograd",
    ];

    #[test]
    fn zones_of_another_country_are_replaced_by_the_countrys_own() {
        // libphonenumber names these a zone of another country with the same offset today but
        // other daylight saving rules (in the comment); the generator puts the country's own.
        for (number, zones) in [
            ("+50522701234", &["America/Managua"][..]), // America/Chicago
            ("+211912345678", &["Africa/Juba"]),        // Africa/Nairobi
            ("+218212345678", &["Africa/Tripoli"]),     // Europe/Bucharest
            ("+21321123456", &["Africa/Algiers"]),      // Europe/Paris
            // Atlantic/Canary. +212 is Western Sahara's too, whence El_Aaiun (Morocco's clocks).
            ("+212522123456", &["Africa/Casablanca", "Africa/El_Aaiun"]),
            ("+35312345678", &["Europe/Dublin"]), // Europe/London and its Crown dependencies
            ("+375172345678", &["Europe/Minsk"]), // Europe/Moscow
            ("+37052345678", &["Europe/Vilnius"]), // Europe/Bucharest
            ("+37167123456", &["Europe/Riga"]),   // Europe/Bucharest
            ("+3726123456", &["Europe/Tallinn"]), // Europe/Bucharest
            ("+97022345678", &["Asia/Gaza", "Asia/Hebron"]), // Europe/Bucharest
        ] {
            let place = place_of(&phone(number));
            assert_eq!(names(&place), zones, "{number}");
            assert!(place.country.is_some(), "{number}");
        }
        // Kaliningrad (+7 401), in Europe/Bucharest for libphonenumber: every zone of Russia.
        let place = place_of(&phone("+74012345678"));
        let found = names(&place);
        assert!(found.contains(&"Europe/Kaliningrad"), "{found:?}");
        assert!(found.iter().all(|zone| RUSSIA.contains(zone)), "{found:?}");
        assert_eq!(place.country, Some("RU"));
        // +1 879, Newfoundland and Labrador. libphonenumber also names America/Puerto_Rico,
        // which the tz database counts as Canada's too (Quebec's Lower North Shore).
        let place = place_of(&phone("+18792345678"));
        assert!(names(&place).contains(&"America/St_Johns"), "{place:?}");
        assert_eq!(place.subdivision, Some("CA-NL"));
        // Mexico: no line of +52 holds America/New_York any more (libphonenumber has it in some).
        let mut lines = 0;
        for (prefix, line) in &TABLE.prefixes {
            let Some(set) = line.zones.filter(|_| prefix.starts_with("52")) else {
                continue;
            };
            let zones: Vec<&str> = TABLE.sets[set].iter().map(Zone::name).collect();
            assert!(!zones.contains(&"America/New_York"), "+{prefix}: {zones:?}");
            assert!(
                zones.iter().all(|z| z.starts_with("America/")),
                "+{prefix}: {zones:?}"
            );
            lines += 1;
        }
        assert!(lines > 50, "{lines}");
    }

    #[test]
    fn numbers_of_no_country_may_be_anywhere() {
        // International freephone (+800) and a satellite phone (+881): a zone of every offset.
        let mut expected: Vec<String> = (1..=12).map(|h| format!("Etc/GMT+{h}")).collect();
        expected.push("Etc/GMT".to_owned());
        expected.extend((1..=14).map(|h| format!("Etc/GMT-{h}")));
        expected.extend(
            [
                "America/St_Johns",
                "Pacific/Marquesas",
                "Asia/Tehran",
                "Asia/Kabul",
                "Asia/Kolkata",
                "Asia/Kathmandu",
                "Asia/Yangon",
                "Australia/Eucla",
                "Australia/Adelaide",
                "Pacific/Chatham",
            ]
            .map(str::to_owned),
        );
        expected.sort();
        for number in ["+80012345678", "+881612345678"] {
            let place = place_of(&phone(number));
            assert_eq!(place.country, None, "{number}");
            assert_eq!(place.subdivision, None, "{number}");
            assert_eq!(place.precision, Precision::Country, "{number}");
            let mut found = names(&place);
            found.sort_unstable();
            assert_eq!(found, expected, "{number}");
            // jiff knows them all, and they show 37 different offsets, UTC-12 to UTC+14, in
            // winter and in summer alike: no calling window holds in all of them at once.
            for at in ["2025-01-15T12:00:00Z", "2025-07-15T12:00:00Z"] {
                let at: jiff::Timestamp = at.parse().unwrap();
                let mut offsets: Vec<i32> = place
                    .zones
                    .iter()
                    .map(|zone| zone.tz().to_offset(at).seconds())
                    .collect();
                offsets.sort_unstable();
                offsets.dedup();
                assert_eq!(offsets.len(), 37, "{number} at {at}: {offsets:?}");
                assert_eq!(offsets[0], -12 * 3600);
                assert_eq!(offsets[36], 14 * 3600);
            }
        }
    }

    #[test]
    fn a_number_of_every_country_has_a_place() {
        let mut regions = 0;
        for meta in DATABASE.iter() {
            let d = meta.descriptors();
            let examples = [
                d.fixed_line(),
                d.mobile(),
                d.toll_free(),
                d.premium_rate(),
                d.shared_cost(),
                d.personal_number(),
                d.voip(),
                d.pager(),
                d.uan(),
                d.voicemail(),
            ]
            .into_iter()
            .flatten()
            .filter_map(|desc| desc.example());
            let mut placed = false;
            for example in examples {
                let Ok(number) =
                    PhoneNumber::parse(&format!("+{}{example}", meta.country_code()), "phone")
                else {
                    continue;
                };
                let place = place_of(&number);
                assert!(!place.zones.is_empty(), "{number}");
                // It may be another region's of its calling code (libphonenumber has a Jersey
                // mobile example as GB's), but it is a country's unless the code is no one's.
                let sharing = DATABASE.region(&meta.country_code()).unwrap();
                match place.country {
                    Some(country) => assert!(sharing.contains(&country), "{number}: {country}"),
                    None => assert_eq!(sharing, [NON_GEOGRAPHIC], "{number}"),
                }
                placed = true;
            }
            assert!(placed, "no valid example number for {}", meta.id());
            regions += 1;
        }
        assert!(regions > 240, "{regions}");
    }

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

    #[test]
    fn regions_are_countries_or_listed_subdivisions() {
        for (text, canonical) in [
            ("US", "US"),
            ("us", "US"),
            (" US-FL ", "US-FL"),
            ("ca-on", "CA-ON"),
            ("AU-NSW", "AU-NSW"),
            ("BR-SP", "BR-SP"),
            ("MX-JAL", "MX-JAL"),
            ("IN-TS", "IN-TS"),
            ("DE-BY", "DE-BY"),
            ("US-PR", "US-PR"),
            ("PR", "PR"),
            ("GB", "GB"),
        ] {
            let region = Region::parse(text, "region").unwrap();
            assert_eq!(region.as_str(), canonical);
            assert_eq!(region.to_string(), canonical);
            assert_eq!(region.country(), &canonical[..2]);
            assert_eq!(
                region.subdivision(),
                (canonical.len() > 2).then_some(canonical)
            );
        }
        assert_eq!(
            serde_json::to_string(&Region::parse("us-fl", "region").unwrap()).unwrap(),
            "\"US-FL\""
        );
        for (text, names) in [
            ("XX", "\"XX\""),
            ("US-ZZ", "\"US-ZZ\""),
            ("usa", "\"usa\""),
            ("", "empty"),
            ("FR-75", "\"FR-75\""),
        ] {
            let err = Region::parse(text, "policy.regions[0]").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidField, "{text}");
            assert_eq!(err.field, "policy.regions[0]");
            assert!(err.message.contains(names), "{text}: {}", err.message);
        }
        for (country, expected) in [
            ("US", 57),
            ("CA", 13),
            ("AU", 8),
            ("BR", 27),
            ("MX", 32),
            ("IN", 36),
            ("DE", 16),
        ] {
            let count = subdivisions()
                .filter(|(code, _)| code.starts_with(country))
                .count();
            assert_eq!(count, expected, "{country}");
        }
    }

    #[test]
    fn states_are_read_from_codes_and_names() {
        for (country, state, expected) in [
            ("US", "FL", Some("US-FL")),
            ("us", "fl", Some("US-FL")),
            ("US", "Florida", Some("US-FL")),
            ("US", "US-FL", Some("US-FL")),
            ("US", "Washington D.C.", Some("US-DC")),
            ("US", "Puerto Rico", Some("US-PR")),
            ("MX", "Nuevo León", Some("MX-NLE")),
            ("MX", "nuevo leon", Some("MX-NLE")),
            ("MX", "CDMX", Some("MX-CMX")),
            ("AU", "NSW", Some("AU-NSW")),
            ("AU", "New South Wales", Some("AU-NSW")),
            ("CA", "Québec", Some("CA-QC")),
            ("CA", "Quebec", Some("CA-QC")),
            ("BR", "Sao Paulo", Some("BR-SP")),
            ("DE", "Baden-Württemberg", Some("DE-BW")),
            ("DE", "Bavaria", Some("DE-BY")),
            ("IN", "Telangana", Some("IN-TS")),
            ("IN", "Orissa", Some("IN-OD")),
            ("US", "Ontario", None),
            ("CA", "FL", None),
            ("US", "", None),
            ("US", "  ", None),
            ("FR", "Paris", None),
        ] {
            assert_eq!(
                Region::from_state(country, state)
                    .as_ref()
                    .map(Region::as_str),
                expected,
                "{country} {state}"
            );
        }
    }

    #[test]
    fn no_two_subdivisions_of_a_country_share_a_name() {
        let all: Vec<_> = subdivisions().collect();
        for (i, (code, names)) in all.iter().enumerate() {
            let spellings = || std::iter::once(&code[3..]).chain(names.split('|'));
            for (other, other_names) in &all[i + 1..] {
                if other[..2] != code[..2] {
                    continue;
                }
                for a in spellings() {
                    for b in std::iter::once(&other[3..]).chain(other_names.split('|')) {
                        assert!(!same_name(a, b), "{code} {a:?} and {other} {b:?}");
                    }
                }
            }
        }
    }
}
