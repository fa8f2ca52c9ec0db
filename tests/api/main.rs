//! Ringback's HTTP-level test suite: one binary, one module per area.
//!
//! Each test starts its own server on a fresh SQLite file (or, in `restart`, the real binary)
//! with a fake dialer bridge, so tests run in parallel without sharing state. The same modules
//! run again on PostgreSQL as the `api_postgres` binary (`tests/api_postgres/main.rs`).

/// The store this binary tests.
pub const BACKEND: ringback::store::Backend = ringback::store::Backend::Sqlite;

mod agents;
mod audio;
mod audit_chain;
mod audit_tamper;
mod auth;
mod availability;
mod backup;
mod bridge_test;
mod callback_retention;
mod callbacks;
mod caller_ids;
mod campaigns;
mod connections;
mod consents;
mod contacts;
mod customer_page;
mod data_subjects;
mod database;
mod dial_decision;
mod dialect_acefone;
mod dialect_ai_calls;
mod dialect_campaign_list;
mod dialect_kore;
mod dialect_talkdesk;
mod dispositions;
mod dnc;
mod event_ids;
mod fallback;
mod helpers;
mod isolation;
mod migration;
mod notifications;
mod openapi;
mod openapi_fuzz;
mod ops;
mod playbooks;
mod priority;
mod queue_callbacks;
mod recordings;
mod restart;
mod routing;
mod scheduler;
mod secrets_at_rest;
mod sip;
mod sip_burst;
mod trunks;
mod twilio;
mod ui;
mod validation;
mod voice_ai;
mod webhooks;
