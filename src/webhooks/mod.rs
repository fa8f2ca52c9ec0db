//! Outbound lifecycle webhooks: signing, target safety, and (later) the delivery worker.

pub mod signing;
pub mod ssrf;
