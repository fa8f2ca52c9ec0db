//! `Region`, the place vocabulary of account policies: an ISO 3166-1 country or an ISO 3166-2
//! subdivision, with the list of subdivisions and the names people write for them.

use std::fmt;

use phonenumber::metadata::DATABASE;

use crate::domain::{ErrorCode, FieldError};

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
