//! The webhook worker: fans events out into deliveries and sends them.

use std::{sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::target::{self, literal_host_forbidden};
use crate::{
    background::{Arm, Loop, Pacing, Step, run_loop, write_in_batches},
    clock::SharedClock,
    dialects::ai_calls_events::{self, Lifecycle},
    domain::webhook::{DeliveryPlan, plan_delivery_retry},
    store::{ClaimedDelivery, DeliveryOutcome, DeliveryReport, Store, StoreError},
    telemetry::names,
};

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    pub owner: String,
    pub allow_private: bool,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub lease: Duration,
    pub max_idle: Duration,
    /// Delay before each retry; after the last one a delivery is failed.
    pub retry_delays: Arc<[Duration]>,
}

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub events_fanned_out: usize,
    pub deliveries_started: usize,
    pub saturated: bool,
}

pub struct WebhookWorker {
    store: Arc<dyn Store>,
    clock: SharedClock,
    client: reqwest::Client,
    config: WebhookConfig,
    in_flight: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<DeliveryReport>,
    reports_rx: Option<mpsc::UnboundedReceiver<DeliveryReport>>,
}

const FAN_OUT_BATCH: u32 = 1000;

impl WebhookWorker {
    pub fn new(store: Arc<dyn Store>, clock: SharedClock, config: WebhookConfig) -> Self {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        Self {
            client: target::client(config.timeout, config.allow_private),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            store,
            clock,
            config,
            reports,
            reports_rx: Some(reports_rx),
        }
    }

    /// Fans out new events, then claims due deliveries and starts sending them.
    pub async fn run_once(&self) -> Result<StepReport, StoreError> {
        let mut report = StepReport::default();
        loop {
            let n = self
                .store
                .fan_out_events(FAN_OUT_BATCH, self.clock.now())
                .await?;
            report.events_fanned_out += n;
            if n < FAN_OUT_BATCH as usize {
                break;
            }
        }
        let limit = self.in_flight.available_permits().min(500) as u32;
        if limit == 0 {
            report.saturated = true;
            return Ok(report);
        }
        let claimed = self
            .store
            .claim_deliveries(
                self.clock.now(),
                limit,
                &self.config.owner,
                self.config.lease,
            )
            .await?;
        report.deliveries_started = claimed.len();
        report.saturated = claimed.len() as u32 >= limit;
        for delivery in claimed {
            let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
                break;
            };
            let client = self.client.clone();
            let clock = self.clock.clone();
            let reports = self.reports.clone();
            let allow_private = self.config.allow_private;
            let delays = self.config.retry_delays.clone();
            tokio::spawn(async move {
                let report = deliver(&client, &clock, &delivery, allow_private, &delays).await;
                let _ = reports.send(report);
                drop(permit);
            });
        }
        Ok(report)
    }

    /// Runs until `shutdown`, then waits briefly for deliveries in flight; unfinished ones are
    /// retried after their lease.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let store = self.store.clone();
        let writer = tokio::spawn(write_in_batches(
            self.reports_rx.take().expect("run is called once"),
            500,
            "webhook deliveries",
            async move |batch| store.record_deliveries(batch).await,
        ));
        let pacing = Pacing {
            max_idle: self.config.max_idle,
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            // The full idle time, where the scheduler and the router look again after 1 s:
            // kept as it was, though no reason for the difference is known.
            after_read_error: self.config.max_idle,
            arm: Arm::BeforeNextWakeup,
        };
        let signal = self.store.event_signal();
        run_loop(&self, &signal, &self.clock, pacing, &shutdown).await;
        let max = self.config.max_in_flight as u32;
        let _ =
            tokio::time::timeout(Duration::from_secs(5), self.in_flight.acquire_many(max)).await;
        drop(self.reports);
        let _ = writer.await;
    }
}

impl Loop for WebhookWorker {
    const STEP_FAILED: &'static str = "webhook step failed";
    const WAKEUP_FAILED: &'static str = "reading the next delivery time failed";

    async fn step(&self) -> Result<Step, StoreError> {
        Ok(Step::from_saturated(self.run_once().await?.saturated))
    }

    /// Waits for a free delivery slot (at once if one is free: the batch was full).
    async fn wait_for_slot(&self) {
        drop(self.in_flight.acquire().await);
    }

    /// Now if events wait to be fanned out, else the earliest due delivery or expiring lease.
    async fn next_wakeup(&self, now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.store.next_delivery_wakeup(now).await
    }
}

/// Sends one delivery and decides what comes next. Never panics.
async fn deliver(
    client: &reqwest::Client,
    clock: &SharedClock,
    delivery: &ClaimedDelivery,
    allow_private: bool,
    delays: &[Duration],
) -> DeliveryReport {
    let attempt = delivery.attempts + 1;
    let started = clock.now();
    // A callback's own URL hears an AI-calls call's lifecycle in that dialect's vocabulary.
    let body = match delivery.endpoint_id {
        Some(_) => serde_json::to_vec(&delivery.event),
        None => match ai_calls_events::lifecycle(&delivery.event) {
            Lifecycle::Native => serde_json::to_vec(&delivery.event),
            Lifecycle::Send(body) => serde_json::to_vec(&body),
            Lifecycle::Skip => {
                return DeliveryReport {
                    id: delivery.id,
                    endpoint_id: None,
                    at: started,
                    status_code: None,
                    error: Some("not an event of the ai_calls lifecycle: not sent".to_owned()),
                    outcome: DeliveryOutcome::Delivered,
                };
            }
        },
    }
    .unwrap_or_default();
    let timestamp = started.as_second();
    let (status_code, error, retry_after) = match Url::parse(&delivery.url) {
        Ok(url) if !allow_private && literal_host_forbidden(&url) => {
            (None, Some("target address is not allowed".to_owned()), None)
        }
        Ok(url) => {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .header("webhook-id", &delivery.event.id)
                .header("webhook-timestamp", timestamp.to_string());
            if let Some(secret) = &delivery.secret {
                request = request.header(
                    "webhook-signature",
                    secret.sign(&delivery.event.id, timestamp, &body),
                );
            }
            match request.body(body).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, started));
                    let error =
                        (!status.is_success()).then(|| format!("receiver answered {status}"));
                    crate::background::finish_response(resp).await;
                    (Some(status.as_u16()), error, retry_after)
                }
                Err(e) if e.is_timeout() => (None, Some("timed out".to_owned()), None),
                Err(e) if e.is_connect() => (None, Some("could not connect".to_owned()), None),
                Err(_) => (None, Some("request failed".to_owned()), None),
            }
        }
        Err(_) => (None, Some("not a valid URL".to_owned()), None),
    };
    let at = clock.now();
    let outcome = match status_code {
        Some(code) if (200..300).contains(&code) => DeliveryOutcome::Delivered,
        Some(410) => DeliveryOutcome::Gone,
        _ => match plan_delivery_retry(delays, at, attempt, retry_after, rand::random::<f64>()) {
            DeliveryPlan::RetryAt(next) => DeliveryOutcome::RetryAt(next),
            DeliveryPlan::GiveUp => DeliveryOutcome::GaveUp,
        },
    };
    let result = match outcome {
        DeliveryOutcome::Delivered => {
            if attempt == 1 {
                let latency = at.duration_since(delivery.event.timestamp).as_secs_f64();
                metrics::histogram!(names::WEBHOOK_LATENCY).record(latency.max(0.0));
            }
            "delivered"
        }
        DeliveryOutcome::RetryAt(_) => "retry",
        DeliveryOutcome::GaveUp | DeliveryOutcome::Gone => "failed",
    };
    metrics::counter!(names::WEBHOOK_DELIVERIES, "result" => result).increment(1);
    if result != "delivered" {
        tracing::info!(
            delivery_id = delivery.id,
            attempt,
            status_code,
            ?error,
            "webhook delivery failed"
        );
    }
    DeliveryReport {
        id: delivery.id,
        endpoint_id: delivery.endpoint_id.clone(),
        at,
        status_code,
        error,
        outcome,
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(value.trim()).ok()?.timestamp();
    at.duration_since(now).try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Tue, 24 Nov 2026 10:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
