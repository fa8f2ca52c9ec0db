//! The tamper-evident audit trail: the sealer that chains new entries into their account's hash
//! chain ([`AuditSealer`], a [`background::Loop`] on every node), and the verification of the
//! chains that `ringback audit verify` runs ([`verify_chains`]).
//!
//! Entries are written unsealed in the transaction of the change they record (so no hot path
//! reads or locks a chain head) and sealed a moment later, at most 2,000 a second (a burst is
//! sealed behind it); an entry not sealed yet is
//! reported as such, never as verified.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::{
    background::{self, Arm, Pacing, Step},
    clock::SharedClock,
    domain::{
        AccountId,
        audit_chain::{Break, Verifier},
    },
    store::{DueSignal, Store, StoreError},
};

/// Entries one seal transaction takes.
const SEAL_BATCH: u32 = 500;
/// The pause between seal transactions.
const SEAL_EVERY: Duration = Duration::from_millis(250);
/// Entries read at a time when a chain is verified.
const VERIFY_PAGE: u32 = 5_000;

/// Seals new audit entries into their chains: a batch of 500 every quarter of a second at
/// most (2,000 entries a second). A burst of writes (a campaign's calls, each with its
/// evidence) is sealed behind it rather than beside it: sealing as fast as it could took the
/// database from the claims that dispatch the calls (BENCHMARKS.md, issue 23).
pub struct AuditSealer {
    store: Arc<dyn Store>,
    clock: SharedClock,
    /// Never raised: sealing follows the time between passes.
    signal: DueSignal,
}

impl AuditSealer {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            signal: DueSignal::default(),
        }
    }

    /// Seals until `shutdown`: a pass at once, then one every [`SEAL_EVERY`].
    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            max_idle: SEAL_EVERY,
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            after_read_error: Duration::from_secs(1),
            arm: Arm::BeforeNextWakeup,
        };
        background::run_loop(&self, &self.signal, &self.clock, pacing, &shutdown).await;
    }
}

impl background::Loop for AuditSealer {
    const STEP_FAILED: &'static str = "sealing audit entries failed";
    const WAKEUP_FAILED: &'static str = "sealing audit entries failed";

    /// Never saturated: a full batch waits for the next pass like any other.
    async fn step(&self) -> Result<Step, StoreError> {
        self.store.seal_audit(self.clock.now(), SEAL_BATCH).await?;
        Ok(Step::CaughtUp)
    }

    async fn next_wakeup(&self, _now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        Ok(None)
    }
}

/// What verifying one account's chain found.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub account_id: String,
    /// `ok`, or `broken`.
    pub status: &'static str,
    /// Entries verified (from the anchor to the head, or to the break).
    pub verified: u64,
    /// Where the chain starts (entries before it were deleted by retention) and ends.
    pub anchor_index: i64,
    pub head_index: i64,
    pub head_hash: String,
    /// Entries written in the last moments, not sealed yet (not verified).
    pub unsealed: u64,
    /// The first link that does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<BrokenLink>,
}

/// The first entry that breaks a chain.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenLink {
    /// The entry's place in its chain.
    pub chain_index: i64,
    /// The entry's `seq` (the audit log's row), when there is a row at that place.
    pub seq: Option<i64>,
    /// `missing`, `content_altered`, `hash_mismatch` or `link_broken`.
    pub reason: &'static str,
    pub explanation: &'static str,
}

impl From<Break> for BrokenLink {
    fn from(b: Break) -> Self {
        Self {
            chain_index: b.index,
            seq: b.seq,
            reason: b.reason.as_str(),
            explanation: b.reason.sentence(),
        }
    }
}

/// Verifies every account's chain (or only `account`'s), from its anchor to its head.
pub async fn verify_chains(
    store: &dyn Store,
    account: Option<&str>,
) -> Result<Vec<ChainReport>, StoreError> {
    let chains = match account {
        Some(account) => store
            .audit_chain(&AccountId::from_trusted(account.to_owned()))
            .await?
            .into_iter()
            .collect(),
        None => store.audit_chains().await?,
    };
    let mut reports = Vec::new();
    for chain in chains {
        let mut verifier = Verifier::from_anchor(chain.anchor_index, &chain.anchor_hash);
        let mut broken = None;
        'pages: loop {
            // From the next index on: a missing entry makes the read start at a later one,
            // which the verifier names.
            let page = store
                .sealed_entries(&chain.account_id, verifier.next_index() - 1, VERIFY_PAGE)
                .await?;
            if page.is_empty() {
                break;
            }
            for sealed in &page {
                if let Err(b) = verifier.feed(sealed) {
                    broken = Some(b);
                    break 'pages;
                }
            }
        }
        let verified = match broken {
            Some(b) => Err(b),
            None => verifier.clone().finish(chain.head_index),
        };
        let unsealed = store.unsealed_entries(&chain.account_id).await?;
        reports.push(match verified {
            Ok(n) => ChainReport {
                account_id: chain.account_id.to_string(),
                status: "ok",
                verified: n,
                anchor_index: chain.anchor_index,
                head_index: chain.head_index,
                head_hash: chain.head_hash,
                unsealed,
                broken_at: None,
            },
            Err(b) => ChainReport {
                account_id: chain.account_id.to_string(),
                status: "broken",
                verified: verifier.verified(),
                anchor_index: chain.anchor_index,
                head_index: chain.head_index,
                head_hash: chain.head_hash,
                unsealed,
                broken_at: Some(b.into()),
            },
        });
    }
    Ok(reports)
}
