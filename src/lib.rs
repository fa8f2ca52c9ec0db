//! Ringback: a durable scheduler for customer callbacks and outbound calls.
//!
//! # Layout
//! - [`domain`]: the vocabulary (callbacks, phone numbers, zones, states) with no I/O.
//! - [`secrets`]: the cipher and key ring that encrypt the secrets the store keeps.
//! - [`store`]: persistence behind the [`store::Store`] trait; the only place with SQL.
//! - [`api`]: the HTTP edge (axum): authentication, JSON in and out, error bodies.
//! - [`ui`]: the Callback Manager, a web page for supervisors and agents served at `/`.
//! - [`scheduler`]: claims due callbacks and hands them to the [`dialer`] (trunk drivers:
//!   the HTTP bridge, Ringback's own SIP user agent).
//! - [`media`]: audio without I/O: G.711, WAV in and out, tone energy, answering-machine and
//!   beep detection.
//! - [`dialects`]: other vendors' callback APIs translated onto the native model.
//! - [`routing`]: offers due preview callbacks to free agents and reserves them for
//!   progressive ones.
//! - [`app`]: wires the parts together, binds the listener, shuts down gracefully.
//! - [`config`]: the command line and environment.
//! - [`parallel`]: a request's CPU-heavy work over many items, spread over every core.
//! - [`retention`]: deletes call recordings past their account's retention.
//! - [`notifications`]: sends confirmations and reminders to customers (SMS, email).

pub mod admin;
pub mod api;
pub mod app;
pub mod audit;
pub mod background;
pub mod clock;
pub mod config;
pub mod dialects;
pub mod dialer;
pub mod domain;
pub mod media;
pub mod notifications;
pub mod parallel;
pub mod retention;
pub mod routing;
pub mod scheduler;
pub mod secrets;
pub mod store;
pub mod telemetry;
pub mod ui;
pub mod webhooks;
