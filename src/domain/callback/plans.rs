//! What the scheduler does with a claimed callback ([`plan_claim`]) and after the dialer
//! bridge refused or did not answer a dispatch ([`plan_bridge_failure`], [`bridge_backoff`]).

use std::time::Duration;

use jiff::Timestamp;

/// What the scheduler does with a claimed callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPlan {
    Dispatch,
    Expire,
}

/// Decides, at claim time, whether a due callback is still worth dialling.
pub fn plan_claim(now: Timestamp, expires_at: Timestamp) -> ClaimPlan {
    if now >= expires_at {
        ClaimPlan::Expire
    } else {
        ClaimPlan::Dispatch
    }
}

/// What happens after the bridge refused (non-2xx) or did not answer a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeFailurePlan {
    RetryAt(Timestamp),
    Expire,
}

/// Backoff between bridge retries: 1 s, 2 s, 4 s ... capped at 60 s, with up to 20 % jitter
/// taken from `jitter` (0.0..1.0) so the caller controls randomness.
pub fn bridge_backoff(requests_so_far: u32, jitter: f64) -> Duration {
    let base = 1u64 << requests_so_far.saturating_sub(1).min(6);
    let base = Duration::from_secs(base.min(60));
    base.mul_f64(1.0 + 0.2 * jitter.clamp(0.0, 1.0))
}

pub fn plan_bridge_failure(
    now: Timestamp,
    expires_at: Timestamp,
    requests_so_far: u32,
    jitter: f64,
) -> BridgeFailurePlan {
    let delay = bridge_backoff(requests_so_far, jitter);
    match now.checked_add(delay) {
        Ok(at) if at < expires_at => BridgeFailurePlan::RetryAt(at),
        _ => BridgeFailurePlan::Expire,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(bridge_backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(bridge_backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(bridge_backoff(4, 0.0), Duration::from_secs(8));
        assert_eq!(bridge_backoff(40, 0.0), Duration::from_secs(60));
        assert!(bridge_backoff(1, 1.0) <= Duration::from_millis(1200));
    }

    #[test]
    fn a_failure_near_the_deadline_expires() {
        let now: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let soon: Timestamp = "2027-01-01T00:00:00.500Z".parse().unwrap();
        let later: Timestamp = "2027-01-01T01:00:00Z".parse().unwrap();
        assert_eq!(
            plan_bridge_failure(now, soon, 1, 0.0),
            BridgeFailurePlan::Expire
        );
        assert!(matches!(
            plan_bridge_failure(now, later, 1, 0.0),
            BridgeFailurePlan::RetryAt(_)
        ));
        assert_eq!(plan_claim(later, now), ClaimPlan::Expire);
        assert_eq!(plan_claim(now, later), ClaimPlan::Dispatch);
    }
}
