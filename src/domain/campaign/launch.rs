//! Where a campaign's first calls go: each contact's paced slot from the launch, moved by the
//! dial decision to the next time its rules allow. Pure: the API reads the request and the
//! store, this decides the times.

use jiff::Timestamp;

use super::{AccountSettings, CampaignStatus, Pacing};
use crate::domain::{
    DialingMode, Status,
    contact::Contact,
    dialing::{Block, CampaignFacts, Facts, History, Location, ZoneSource, decide, earliest_dial},
    geo::{self, Region},
    window::{CallingWindow, Opening},
};

/// What a campaign's first calls are planned with.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// When the first call may start.
    pub launch_at: Timestamp,
    pub pacing: Pacing,
    /// The campaign's calling window.
    pub window: &'a CallingWindow,
    pub dialing_mode: DialingMode,
    /// The account's dialling policy (holidays, regional windows).
    pub settings: &'a AccountSettings,
}

/// Where and when a campaign's first call to one contact goes.
#[derive(Debug, Clone)]
pub struct FirstCall {
    /// Where the callee is: the contact's zone, else every zone its number may be in.
    pub location: Location,
    /// The subdivision the contact's `state` names, if it names one.
    pub region: Option<Region>,
    /// When the call is placed, and why it moved from its paced slot if it did.
    pub opening: Opening,
}

impl Launch<'_> {
    /// The first call to the `index`-th contact (0-based): its paced slot ([`Pacing::slot`]),
    /// moved to the earliest time the dial decision allows (window, holidays, regional
    /// windows, in every zone the contact may be in); caps and the do-not-call list are read
    /// when each call falls due. `Err`: no time will do, and the block says why.
    pub fn first_call(&self, contact: &Contact, index: usize) -> Result<FirstCall, Block> {
        let region =
            contact.details.state.as_deref().and_then(|state| {
                Region::from_state(geo::place_of(&contact.phone).country?, state)
            });
        let stated = contact.timezone.as_ref().map(|z| (z, ZoneSource::Contact));
        let location = Location::locate(&contact.phone, stated, region.as_ref());
        let slot = self.pacing.slot(self.launch_at, index);
        let no_history = History::default();
        let facts = Facts {
            status: Status::Scheduled,
            due_at: slot,
            attempt: 0,
            attempt_open: false,
            campaign: Some(CampaignFacts {
                status: CampaignStatus::Running,
                room: None,
            }),
            dialing_mode: self.dialing_mode,
            window: Some(self.window),
            location: &location,
            on_dnc: false,
            // Consent is read when each call is claimed.
            consent: Default::default(),
            history: &no_history,
            free_agents: None,
        };
        let at = earliest_dial(&facts, self.settings, slot)?;
        let moved = (at != slot).then(|| {
            decide(&facts, self.settings, slot)
                .blocks
                .iter()
                .map(|b| b.reason.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        });
        Ok(FirstCall {
            location,
            region,
            opening: Opening { at, moved },
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{AccountId, contact::ContactPatch};

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn contact(fields: serde_json::Value) -> Contact {
        let patch = ContactPatch::from_json(&fields, "").unwrap();
        Contact::create(
            AccountId::generate(),
            &patch,
            at("2026-11-24T00:00:00Z"),
            "",
        )
        .unwrap()
    }

    fn always() -> CallingWindow {
        CallingWindow::parse(&json!({"start": "00:00", "end": "23:59"}), "w").unwrap()
    }

    #[test]
    fn calls_are_spread_by_calls_per_second_from_the_launch() {
        let window = always();
        let settings = AccountSettings::default();
        let launch = Launch {
            launch_at: at("2026-11-24T15:00:00Z"),
            pacing: Pacing {
                max_concurrent_calls: 100,
                calls_per_second: 2.0,
            },
            window: &window,
            dialing_mode: DialingMode::Ai,
            settings: &settings,
        };
        let ada = contact(json!({"phone": "+14155550100", "timezone": "America/New_York"}));
        for (index, expected) in [
            (0, "2026-11-24T15:00:00Z"),
            (1, "2026-11-24T15:00:00.5Z"),
            (4, "2026-11-24T15:00:02Z"),
        ] {
            let first = launch.first_call(&ada, index).unwrap();
            assert_eq!(first.opening.at, at(expected), "call {index}");
            assert_eq!(first.opening.moved, None, "call {index}");
            assert_eq!(first.location.source(), ZoneSource::Contact);
        }
    }

    #[test]
    fn a_slot_outside_the_window_moves_to_the_next_opening_with_the_reason() {
        let window = CallingWindow::parse(&json!({"start": "09:00", "end": "17:00"}), "w").unwrap();
        let settings = AccountSettings::default();
        let launch = Launch {
            // 03:00 in New York.
            launch_at: at("2026-11-24T08:00:00Z"),
            pacing: Pacing::default(),
            window: &window,
            dialing_mode: DialingMode::Ai,
            settings: &settings,
        };
        let ada = contact(json!({"phone": "+14155550100", "timezone": "America/New_York"}));
        let first = launch.first_call(&ada, 0).unwrap();
        // 09:00 in New York (UTC-5 in November).
        assert_eq!(first.opening.at, at("2026-11-24T14:00:00Z"));
        assert!(first.opening.moved.is_some());
    }

    #[test]
    fn the_contacts_state_names_its_region() {
        let window = always();
        let settings = AccountSettings::default();
        let launch = Launch {
            launch_at: at("2026-11-24T15:00:00Z"),
            pacing: Pacing::default(),
            window: &window,
            dialing_mode: DialingMode::Ai,
            settings: &settings,
        };
        let ada = contact(json!({"phone": "+14155550100", "state": "FL"}));
        let first = launch.first_call(&ada, 0).unwrap();
        assert_eq!(first.region, Region::from_state("US", "FL"));
    }
}
