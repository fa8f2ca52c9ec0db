//! The HTTP edge: the handlers, authentication, JSON in and out and the error body (the
//! routes and request limits are assembled in [`crate::app::router`]).
//!
//! Architecture invariant: handlers talk to the store through the [`Store`](crate::store::Store) trait and build
//! domain values; they never see SQL and never call the scheduler.

pub mod admin;
pub mod agent_work;
pub mod agents;
pub mod audio;
pub mod auth;
pub mod authorized;
pub mod availability;
pub mod callbacks;
pub mod caller_ids;
pub mod calls;
pub mod campaigns;
pub mod compliance;
pub mod consents;
pub mod contacts;
pub mod csv;
pub mod data_subjects;
pub mod dispositions;
pub mod dnc;
pub mod error;
pub mod extract;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod playbooks;
pub mod queue_callbacks;
pub mod queue_ivr;
pub mod reports;
pub mod settings;
pub mod telephony;
pub mod trunks;
pub mod voice_ai_events;
pub mod webhooks;
