//! A window as the API spells it: [`CallingWindow::parse`] and
//! [`CallingWindow::to_json`], local times `HH:MM` and dates `YYYY-MM-DD`.

use jiff::civil::Date;

use super::{CallingWindow, DAY_NAMES, MAX_BLACKOUT_DATES, hhmm};
use crate::domain::{ErrorCode, FieldError};

impl CallingWindow {
    /// Parses `{"start": "08:00", "end": "21:00", "days": ["mon", ...], "blackout_dates":
    /// ["2026-12-24"]}`; each member is optional (defaults: 08:00, 21:00, every day, none).
    /// `null` is the default window. Errors name the member under `field`
    /// (`calling_window.start`).
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Self, FieldError> {
        let at = |member: &str| format!("{field}.{member}");
        let invalid = |f: String, why: &str| FieldError::new(ErrorCode::InvalidField, f, why);
        let map = match value {
            serde_json::Value::Null => return Ok(Self::default()),
            serde_json::Value::Object(map) => map,
            _ => {
                return Err(invalid(
                    field.to_owned(),
                    "must be an object such as {\"start\": \"08:00\", \"end\": \"21:00\", \
                     \"days\": [\"mon\", \"tue\"]}",
                ));
            }
        };
        if let Some(unknown) = map
            .keys()
            .find(|k| !["start", "end", "days", "blackout_dates"].contains(&k.as_str()))
        {
            return Err(FieldError::new(
                ErrorCode::UnknownField,
                at(unknown),
                format!(
                    "unknown field {unknown:?}; a window has start, end, days and blackout_dates"
                ),
            ));
        }
        let mut window = Self::default();
        let time = |member: &str, allow_24: bool| -> Result<Option<u16>, FieldError> {
            match map.get(member) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => v
                    .as_str()
                    .and_then(|s| clock_minutes(s, allow_24))
                    .map(Some)
                    .ok_or_else(|| invalid(at(member), "must be a local time \"HH:MM\"")),
            }
        };
        if let Some(start) = time("start", false)? {
            window.start = start;
        }
        if let Some(end) = time("end", true)? {
            window.end = end;
        }
        if window.start >= window.end {
            return Err(invalid(
                at("end"),
                "the window must end after it starts, on the same day",
            ));
        }
        match map.get("days") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                let mut days = [false; 7];
                for (i, item) in items.iter().enumerate() {
                    let index = item
                        .as_str()
                        .and_then(|d| DAY_NAMES.iter().position(|n| n.eq_ignore_ascii_case(d)))
                        .ok_or_else(|| {
                            invalid(
                                format!("{field}.days[{i}]"),
                                "days are mon, tue, wed, thu, fri, sat, sun",
                            )
                        })?;
                    days[index] = true;
                }
                if !days.contains(&true) {
                    return Err(invalid(at("days"), "name at least one day"));
                }
                window.days = days;
            }
            Some(_) => {
                return Err(invalid(
                    at("days"),
                    "must be a list of days such as [\"mon\", \"tue\"]",
                ));
            }
        }
        match map.get("blackout_dates") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                if items.len() > MAX_BLACKOUT_DATES {
                    return Err(invalid(
                        at("blackout_dates"),
                        &format!("at most {MAX_BLACKOUT_DATES} dates"),
                    ));
                }
                let dates = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        parse_date(item).ok_or_else(|| {
                            invalid(
                                format!("{field}.blackout_dates[{i}]"),
                                "must be a date \"YYYY-MM-DD\"",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                window = window.with_blackout_dates(dates);
            }
            Some(_) => {
                return Err(invalid(
                    at("blackout_dates"),
                    "must be a list of dates such as [\"2026-12-24\"]",
                ));
            }
        }
        Ok(window)
    }

    /// The window as the API shows it (the shape [`parse`](Self::parse) reads).
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "start": hhmm(self.start),
            "end": hhmm(self.end),
            "days": DAY_NAMES
                .iter()
                .zip(self.days)
                .filter(|(_, on)| *on)
                .map(|(name, _)| *name)
                .collect::<Vec<_>>(),
        });
        if !self.blackout_dates.is_empty() {
            json["blackout_dates"] = self
                .blackout_dates
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .into();
        }
        json
    }
}

/// `"2026-12-25"` as a date.
pub fn parse_date(value: &serde_json::Value) -> Option<Date> {
    let text = value.as_str()?.trim();
    if text.len() != 10 {
        return None;
    }
    text.parse().ok()
}

/// Minutes since midnight of `HH:MM`; `24:00` only where `allow_24` (a window's end).
fn clock_minutes(text: &str, allow_24: bool) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (allow_24 && h == 24 && m == 0))).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn windows_are_parsed_with_defaults_and_named_errors() {
        let w = CallingWindow::parse(&json!(null), "calling_window").unwrap();
        assert_eq!(w, CallingWindow::default());
        let w = CallingWindow::parse(
            &json!({"start": "09:30", "end": "24:00", "days": ["mon", "FRI"]}),
            "calling_window",
        )
        .unwrap();
        assert_eq!(
            w.to_json(),
            json!({"start": "09:30", "end": "24:00", "days": ["mon", "fri"]})
        );
        for (input, field) in [
            (json!({"start": "8:00"}), "calling_window.start"),
            (json!({"start": "24:00"}), "calling_window.start"),
            (json!({"end": "21:60"}), "calling_window.end"),
            (
                json!({"start": "21:00", "end": "08:00"}),
                "calling_window.end",
            ),
            (json!({"days": []}), "calling_window.days"),
            (json!({"days": ["mon", "funday"]}), "calling_window.days[1]"),
            (json!({"days": "mon"}), "calling_window.days"),
            (json!({"begin": "08:00"}), "calling_window.begin"),
            (json!("08:00-21:00"), "calling_window"),
        ] {
            let err = CallingWindow::parse(&input, "calling_window").unwrap_err();
            assert_eq!(err.field, field, "{input}");
        }
    }
}
