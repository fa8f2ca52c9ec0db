//! The HTTP suite of `tests/api` again, every test on its own fresh PostgreSQL database: the
//! conformance run of the PostgreSQL store. Each module is the same file as in `tests/api`.
//!
//! Needs the PostgreSQL at `RINGBACK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); without it every test fails saying so.

/// The store this binary tests.
pub const BACKEND: ringback::store::Backend = ringback::store::Backend::Postgres;

#[path = "../api/agents.rs"]
mod agents;
#[path = "../api/audio.rs"]
mod audio;
#[path = "../api/audit_chain.rs"]
mod audit_chain;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/availability.rs"]
mod availability;
#[path = "../api/callback_retention.rs"]
mod callback_retention;
#[path = "../api/callbacks.rs"]
mod callbacks;
#[path = "../api/caller_ids.rs"]
mod caller_ids;
#[path = "../api/campaigns.rs"]
mod campaigns;
#[path = "../api/consents.rs"]
mod consents;
#[path = "../api/contacts.rs"]
mod contacts;
#[path = "../api/customer_page.rs"]
mod customer_page;
#[path = "../api/data_subjects.rs"]
mod data_subjects;
#[path = "../api/database.rs"]
mod database;
#[path = "../api/dial_decision.rs"]
mod dial_decision;
#[path = "../api/dialect_acefone.rs"]
mod dialect_acefone;
#[path = "../api/dialect_ai_calls.rs"]
mod dialect_ai_calls;
#[path = "../api/dialect_campaign_list.rs"]
mod dialect_campaign_list;
#[path = "../api/dialect_kore.rs"]
mod dialect_kore;
#[path = "../api/dialect_talkdesk.rs"]
mod dialect_talkdesk;
#[path = "../api/dispositions.rs"]
mod dispositions;
#[path = "../api/dnc.rs"]
mod dnc;
#[path = "../api/event_ids.rs"]
mod event_ids;
#[path = "../api/fallback.rs"]
mod fallback;
#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/isolation.rs"]
mod isolation;
#[path = "../api/migration.rs"]
mod migration;
#[path = "../api/notifications.rs"]
mod notifications;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/ops.rs"]
mod ops;
#[path = "../api/playbooks.rs"]
mod playbooks;
#[path = "../api/priority.rs"]
mod priority;
#[path = "../api/queue_callbacks.rs"]
mod queue_callbacks;
#[path = "../api/recordings.rs"]
mod recordings;
#[path = "../api/restart.rs"]
mod restart;
#[path = "../api/routing.rs"]
mod routing;
#[path = "../api/scheduler.rs"]
mod scheduler;
#[path = "../api/secrets_at_rest.rs"]
mod secrets_at_rest;
#[path = "../api/sip.rs"]
mod sip;
#[path = "../api/sip_burst.rs"]
mod sip_burst;
#[path = "../api/trunks.rs"]
mod trunks;
#[path = "../api/twilio.rs"]
mod twilio;
#[path = "../api/ui.rs"]
mod ui;
#[path = "../api/validation.rs"]
mod validation;
#[path = "../api/voice_ai.rs"]
mod voice_ai;
#[path = "../api/webhooks.rs"]
mod webhooks;
