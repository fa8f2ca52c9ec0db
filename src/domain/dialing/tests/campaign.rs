//! Rows of the campaign and agent rules: a paused campaign, pacing, preview calls without
//! a free agent.

use super::*;

pub(super) fn cases() -> Vec<Case> {
    use BlockCode::*;
    vec![
        Case {
            name: "a paused campaign",
            campaign: Some(CampaignFacts {
                status: CampaignStatus::Paused,
                room: Some(5),
            }),
            expect: &[(CampaignPaused, None)],
            ..Case::default()
        },
        Case {
            name: "a campaign at its pacing limit",
            campaign: Some(CampaignFacts {
                status: CampaignStatus::Running,
                room: Some(0),
            }),
            expect: &[(Pacing, None)],
            ..Case::default()
        },
        Case {
            name: "a preview call with no free agent",
            mode: DialingMode::Preview,
            free_agents: Some(0),
            expect: &[(NoAgent, None)],
            ..Case::default()
        },
        Case {
            name: "a progressive call with no free agent",
            mode: DialingMode::Progressive,
            free_agents: Some(0),
            expect: &[(NoAgent, None)],
            ..Case::default()
        },
        Case {
            name: "free agents do not matter to an unattended call",
            free_agents: Some(0),
            ..Case::default()
        },
    ]
}
