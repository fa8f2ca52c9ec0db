//! Media tests: real SIP phones (baresip) exchanging real audio over RTP with each other and
//! with Ringback, all on 127.0.0.1 inside a network namespace each test makes for itself
//! ([`netns`]). Needs, as root: baresip (Debian 12's 1.0.0), sox, util-linux's `unshare` and
//! iproute2's `ip`; a test fails, saying so, when one is missing. PostgreSQL is not reachable
//! inside a namespace, so these tests run on SQLite only.
//!
//! * [`netns`]: `netns::run(|| async { … })` runs a test's body in its own namespace.
//! * [`baresip`]: a phone that plays a WAV file, auto-answers, dials and records what it hears.
//! * [`audio`]: test tones and what a recording holds.
//!
//! `tls` also needs openssl (a test CA and certificates are made for each test).

// The harness serves more tests than use each part of it.
#[allow(dead_code)]
mod audio;
#[allow(dead_code)]
mod baresip;
mod netns;

/// The store the Ringback of these tests runs on.
pub const BACKEND: ringback::store::Backend = ringback::store::Backend::Sqlite;
#[path = "../api/database.rs"]
#[allow(dead_code)]
mod database;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod calls;
mod harness;
mod screening;
mod server;
mod tls;
