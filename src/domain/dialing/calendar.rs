//! The account's extra calendar rules: holidays and regional windows, read from its settings
//! ([`Holiday`], [`RegionalWindow`]).

use jiff::{Timestamp, civil::Date};

use super::Location;
use crate::domain::{
    ErrorCode, FieldError, Zone,
    geo::Region,
    window::{CallingWindow, parse_date},
};

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

    pub(super) fn applies_to(&self, location: &Location) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|r| location.is_in(r))
    }

    pub(super) fn describe(&self) -> String {
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

    pub(super) fn contains(&self, at: Timestamp, zone: &Zone) -> bool {
        self.windows.iter().any(|w| w.contains(at, zone))
    }

    pub(super) fn next_inside(&self, at: Timestamp, zone: &Zone) -> Option<Timestamp> {
        self.windows
            .iter()
            .filter_map(|w| w.next_inside(at, zone))
            .min()
    }

    pub(super) fn describe(&self) -> String {
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
