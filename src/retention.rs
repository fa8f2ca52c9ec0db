//! The recording retention sweep: a call's recording (a file under `--recordings-dir`, named by
//! the call's `recording`) is deleted once the call ended more than its account's
//! `recording_retention_days` ago, and the call forgets it (no `recording_url`; the recording
//! answers 404). Accounts without a retention keep their recordings.
//!
//! A [`RetentionSweep`] is a [`background::Loop`]: each step is one pass over every account
//! with a retention ([`RetentionSweep::sweep_once`], which tests call directly too), repeated
//! every `--recording-sweep-seconds` (five minutes), at once while a pass found more than one
//! batch. Time is the injected clock's. The file is deleted before the call forgets it, so a
//! crash in between leaves a recording that answers 404 and is forgotten by the next pass,
//! never a file nothing names. A file already gone is fine; one that cannot be deleted (its
//! directory is read-only) is kept, named, and tried again at the next pass.
//!
//! Several nodes on one PostgreSQL each run the sweep; deleting a file twice and forgetting a
//! recording twice are both harmless. Their `--recordings-dir` is the one shared directory that
//! `GET /v1/calls/{id}/recording` also needs.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use jiff::{SignedDuration, Timestamp};
use tokio_util::sync::CancellationToken;

use crate::{
    background::{self, Arm, Pacing, Step},
    clock::SharedClock,
    domain::AccountId,
    store::{DueSignal, Store, StoreError, StoredRecording},
    telemetry::names,
};

/// Recordings one account's pass handles at a time.
const BATCH: u32 = 500;

/// The instant before which a call must have ended for its recording to be deleted, with a
/// retention of `days` at `now`; `None` when that is before time began (nothing is that old).
pub fn expired_before(now: Timestamp, days: u32) -> Option<Timestamp> {
    now.checked_sub(SignedDuration::from_hours(24 * i64::from(days)))
        .ok()
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    /// Recordings deleted and forgotten.
    pub deleted: u64,
    /// Ended callbacks deleted with what was kept about them.
    pub purged: u64,
    /// Audit entries deleted from the start of their chains.
    pub audit_purged: u64,
    /// Recordings whose file could not be deleted (kept for the next pass).
    pub failed: u64,
    /// An account had more expired recordings than one batch: another pass follows at once.
    pub more: bool,
}

/// Deletes recordings past their account's retention (see the module's documentation).
pub struct RetentionSweep {
    store: Arc<dyn Store>,
    clock: SharedClock,
    /// `--recordings-dir`: where the stored names are relative to.
    dir: PathBuf,
    /// The pause between passes (`--recording-sweep-seconds`).
    interval: Duration,
    /// Never raised: the sweep has no work that announces itself, only the time between passes.
    signal: DueSignal,
    /// `--audit-retention-floor-days`: no audit entry younger goes, whatever an account says.
    audit_floor_days: u32,
}

impl RetentionSweep {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        dir: PathBuf,
        interval: Duration,
        audit_floor_days: u32,
    ) -> Self {
        Self {
            store,
            clock,
            dir,
            interval: interval.max(Duration::from_secs(1)),
            signal: DueSignal::default(),
            audit_floor_days,
        }
    }

    /// One pass: for every account with a retention, deletes a batch of its expired
    /// recordings' files and forgets them.
    pub async fn sweep_once(&self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let now = self.clock.now();
        for (account, days) in self.store.recording_retentions().await? {
            let Some(before) = expired_before(now, days) else {
                continue;
            };
            let expired = self
                .store
                .expired_recordings(&account, before, BATCH)
                .await?;
            let found = expired.len();
            let deleted = self.delete_files(&account, expired).await;
            let failed = found - deleted.len();
            report.deleted += self.store.forget_recordings(&account, &deleted).await?;
            report.failed += failed as u64;
            // Another batch waits, unless files that cannot be deleted filled this one (they
            // are tried again at the next pass, not at once).
            report.more |= found == BATCH as usize && failed == 0;
        }
        // Then the ended callbacks, those whose recordings are gone (above, or never made).
        for (account, days) in self.store.callback_retentions().await? {
            let Some(before) = expired_before(now, days) else {
                continue;
            };
            let purged = self
                .store
                .purge_ended_callbacks(&account, before, BATCH)
                .await?;
            report.purged += purged;
            report.more |= purged == u64::from(BATCH);
        }
        // Then the audit entries, from the start of each chain (its anchor moves with them).
        for (account, days) in self.store.audit_retentions().await? {
            let Some(before) = expired_before(now, days.max(self.audit_floor_days)) else {
                continue;
            };
            let purged = self.store.purge_audit(&account, before, BATCH).await?;
            report.audit_purged += purged;
            report.more |= purged == u64::from(BATCH);
        }
        if report.audit_purged > 0 {
            metrics::counter!(names::AUDIT_PURGED).increment(report.audit_purged);
            tracing::info!(
                count = report.audit_purged,
                "deleted audit entries past their account's audit retention"
            );
        }
        if report.deleted > 0 {
            metrics::counter!(names::RECORDINGS_PURGED).increment(report.deleted);
            tracing::info!(
                count = report.deleted,
                "deleted recordings past their account's retention"
            );
        }
        if report.purged > 0 {
            metrics::counter!(names::PURGED).increment(report.purged);
            tracing::info!(
                count = report.purged,
                "deleted ended callbacks past their account's retention"
            );
        }
        Ok(report)
    }

    /// Deletes the files of `expired`; the recordings whose file is gone now (or never was).
    async fn delete_files(
        &self,
        account: &AccountId,
        expired: Vec<StoredRecording>,
    ) -> Vec<StoredRecording> {
        let mut gone = Vec::with_capacity(expired.len());
        for recording in expired {
            let Some(path) = within(&self.dir, &recording.file) else {
                // Not a name the server writes: no file of ours to delete.
                tracing::warn!(account = %account, file = %recording.file, "a recording's name leaves the recordings directory; forgotten, no file deleted");
                gone.push(recording);
                continue;
            };
            match tokio::fs::remove_file(&path).await {
                Ok(()) => gone.push(recording),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(recording),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "a recording past its retention cannot be deleted; kept until the next pass");
                }
            }
        }
        gone
    }

    /// Sweeps until `shutdown`: a pass at once, then one every interval.
    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            max_idle: self.interval,
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            after_read_error: self.interval,
            arm: Arm::BeforeNextWakeup,
        };
        background::run_loop(&self, &self.signal, &self.clock, pacing, &shutdown).await;
    }
}

impl background::Loop for RetentionSweep {
    const STEP_FAILED: &'static str = "the recording retention sweep failed";
    const WAKEUP_FAILED: &'static str = "the recording retention sweep failed";

    async fn step(&self) -> Result<Step, StoreError> {
        Ok(Step::from_saturated(self.sweep_once().await?.more))
    }

    /// No due time: the next pass is an interval away.
    async fn next_wakeup(&self, _now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        Ok(None)
    }
}

/// Deletes the recording files `files` (names under `dir`, as calls store them) that the rows
/// no longer name, after an erasure. Answers how many are gone (deleted, or already missing)
/// and how many could not be deleted (each logged with its path).
pub async fn delete_recording_files(dir: &Path, files: &[String]) -> (u64, u64) {
    let (mut gone, mut failed) = (0, 0);
    for file in files {
        let Some(path) = within(dir, file) else {
            tracing::warn!(file = %file, "an erased recording's name leaves the recordings directory; no file deleted");
            failed += 1;
            continue;
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => gone += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone += 1,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "an erased recording's file cannot be deleted");
                failed += 1;
            }
        }
    }
    (gone, failed)
}

/// `file` under `dir`, if it is a relative path of plain names (the server's own
/// `<account>/<call id>.wav`), never leaving the directory.
fn within(dir: &Path, file: &str) -> Option<PathBuf> {
    let plain = !file.is_empty()
        && !file.starts_with('/')
        && file
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    plain.then(|| dir.join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_reaches_back_whole_days() {
        let now: Timestamp = "2027-03-15T12:00:00Z".parse().unwrap();
        assert_eq!(
            expired_before(now, 1),
            Some("2027-03-14T12:00:00Z".parse().unwrap())
        );
        assert_eq!(
            expired_before(now, 30),
            Some("2027-02-13T12:00:00Z".parse().unwrap())
        );
    }

    #[test]
    fn only_plain_names_under_the_directory_are_deleted() {
        let dir = Path::new("/srv/recordings");
        assert_eq!(
            within(dir, "acc_1/cb_1.2.wav"),
            Some(PathBuf::from("/srv/recordings/acc_1/cb_1.2.wav"))
        );
        for bad in [
            "",
            "/etc/passwd",
            "../x.wav",
            "acc_1/../../x",
            "acc_1//x",
            "./x",
        ] {
            assert_eq!(within(dir, bad), None, "{bad}");
        }
    }
}
