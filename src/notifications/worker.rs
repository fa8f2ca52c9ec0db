//! The notification worker: claims the outbox's due messages, renders and sends each, and
//! records what became of them (see the module's parent).
//!
//! A message about a callback that has ended, a reminder of a call already under way, and a
//! message whose channel the account turned off are dropped unsent, with no event. A text to a
//! number whose `sms` consent was revoked (or, when the account requires it, never given), and
//! an email to a customer without an address, are skipped (`callback.notification_skipped`).
//! Anything else is sent; a failure is tried again after the configured delays (the webhooks'
//! backoff, `domain::webhook::plan_delivery_retry`) unless the provider refused the message
//! for good, and after the last it is `callback.notification_failed`.

use std::{collections::HashMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use tokio_util::sync::CancellationToken;

use super::{SendError, email, sms};
use crate::{
    background::{Arm, Loop, Pacing, Step, run_loop},
    clock::SharedClock,
    domain::{
        AccountId, Status,
        consent::{ConsentScope, ConsentState},
        customer_link::CustomerLinks,
        notification::{Channel, MessageContext, NotificationKind, NotificationSettings},
        trunk::TrunkSettings,
        webhook::{DeliveryPlan, plan_delivery_retry},
    },
    store::{
        ClaimedNotification, DueSignal, NotificationOutcome, NotificationReport, Store, StoreError,
    },
};

#[derive(Debug, Clone)]
pub struct NotificationConfig {
    /// Claims name the node.
    pub owner: String,
    pub lease: Duration,
    /// Delay before each retry; after the last one a message is failed.
    pub retry_delays: Arc<[Duration]>,
    /// One SMS request or SMTP session.
    pub timeout: Duration,
    /// Longest sleep without looking at the outbox (new rows do not wake the worker).
    pub max_idle: Duration,
    /// Most messages claimed (and sent side by side) in one step.
    pub batch: u32,
    /// SMTP servers on internal addresses are allowed (`--allow-private-webhooks`).
    pub allow_private: bool,
}

/// What one step did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StepReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub skipped: usize,
    pub dropped: usize,
    /// It claimed a full batch: more may be due now.
    pub saturated: bool,
}

pub struct NotificationWorker {
    store: Arc<dyn Store>,
    clock: SharedClock,
    links: CustomerLinks,
    config: NotificationConfig,
    http: reqwest::Client,
    /// Never raised: the worker looks at the outbox at its due times and every `max_idle`.
    signal: DueSignal,
}

impl NotificationWorker {
    pub fn new(
        store: Arc<dyn Store>,
        clock: SharedClock,
        links: CustomerLinks,
        config: NotificationConfig,
    ) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(config.timeout)
                .build()
                .expect("an HTTP client can be built"),
            store,
            clock,
            links,
            config,
            signal: DueSignal::default(),
        }
    }

    /// Claims the due messages, sends them side by side and records what became of each.
    pub async fn run_once(&self) -> Result<StepReport, StoreError> {
        let claimed = self
            .store
            .claim_notifications(
                self.clock.now(),
                self.config.batch,
                &self.config.owner,
                self.config.lease,
            )
            .await?;
        let mut report = StepReport {
            saturated: claimed.len() as u32 >= self.config.batch,
            ..Default::default()
        };
        let mut settings: HashMap<AccountId, NotificationSettings> = HashMap::new();
        for n in &claimed {
            let account = &n.callback.account_id;
            if !settings.contains_key(account) {
                let s = self.store.notification_settings(account).await?;
                settings.insert(account.clone(), s);
            }
        }
        let reports = futures::future::join_all(claimed.iter().map(|n| async {
            let outcome = self.process(n, &settings[&n.callback.account_id]).await;
            NotificationReport {
                id: n.id.clone(),
                account_id: n.callback.account_id.clone(),
                callback_id: n.callback.id.clone(),
                kind: n.kind,
                channel: n.channel,
                at: self.clock.now(),
                outcome,
            }
        }))
        .await;
        for r in &reports {
            match &r.outcome {
                NotificationOutcome::Sent { .. } => report.sent += 1,
                NotificationOutcome::RetryAt { error, .. } => {
                    report.retried += 1;
                    tracing::info!(callback_id = %r.callback_id, channel = r.channel.as_str(),
                        error, "a customer notification failed; it is tried again");
                }
                NotificationOutcome::Failed { error, .. } => {
                    report.failed += 1;
                    tracing::warn!(callback_id = %r.callback_id, channel = r.channel.as_str(),
                        error, "a customer notification failed for good");
                }
                NotificationOutcome::Skipped { .. } => report.skipped += 1,
                NotificationOutcome::Dropped => report.dropped += 1,
            }
        }
        self.store.finish_notifications(&reports).await?;
        Ok(report)
    }

    /// What becomes of one claimed message.
    async fn process(
        &self,
        n: &ClaimedNotification,
        settings: &NotificationSettings,
    ) -> NotificationOutcome {
        let cb = &n.callback;
        let before_call = matches!(
            cb.status,
            Status::Scheduled | Status::Waiting | Status::Offered
        );
        if cb.status.is_final()
            || (n.kind == NotificationKind::Reminder && !before_call)
            || !settings.channels().any(|c| c == n.channel)
        {
            return NotificationOutcome::Dropped;
        }
        let attempts = n.attempts + 1;
        let ctx = MessageContext {
            contact_name: cb.contact_name.clone().or_else(|| n.contact_name.clone()),
            at: cb.due_at,
            zone: cb.timezone.clone(),
            link: self.links.link(&cb.account_id, &cb.id),
            company: settings
                .company_name
                .clone()
                .unwrap_or_else(|| n.account_name.clone()),
        };
        let rendered = match settings.render(n.channel, n.kind, &ctx) {
            Ok(r) => r,
            Err(error) => {
                return NotificationOutcome::Failed {
                    to: None,
                    attempts,
                    error,
                };
            }
        };
        let (to, sent) = match n.channel {
            Channel::Sms => {
                let to = cb.phone.as_str().to_owned();
                let sent = match self.sms_refused(n, settings).await {
                    Ok(Some(reason)) => {
                        return NotificationOutcome::Skipped {
                            to: Some(to),
                            reason,
                        };
                    }
                    Ok(None) => self.text(n, settings, &to, &rendered.body).await,
                    // Not known now: tried again, as a failure to send would be.
                    Err(e) => Err(SendError::transient(format!(
                        "the number's consent could not be read: {e}"
                    ))),
                };
                (to, sent)
            }
            Channel::Email => {
                let Some(to) = n.email.clone() else {
                    return NotificationOutcome::Skipped {
                        to: None,
                        reason: "the customer has no email address (the contact's `email`, \
                                 else the callback's `metadata.email`)"
                            .to_owned(),
                    };
                };
                let subject = rendered.subject.unwrap_or_default();
                let sent = email::send(
                    settings,
                    self.config.timeout,
                    self.config.allow_private,
                    &to,
                    &subject,
                    &rendered.body,
                )
                .await;
                (to, sent)
            }
        };
        match sent {
            Ok(answer) => NotificationOutcome::Sent {
                to,
                attempts,
                provider_answer: (!answer.is_empty()).then_some(answer),
            },
            Err(SendError { message, permanent }) => {
                let now = self.clock.now();
                let plan = match permanent {
                    true => DeliveryPlan::GiveUp,
                    false => plan_delivery_retry(
                        &self.config.retry_delays,
                        now,
                        attempts,
                        None,
                        rand::random::<f64>(),
                    ),
                };
                match plan {
                    DeliveryPlan::RetryAt(at) => {
                        NotificationOutcome::RetryAt { at, error: message }
                    }
                    DeliveryPlan::GiveUp => NotificationOutcome::Failed {
                        to: Some(to),
                        attempts,
                        error: message,
                    },
                }
            }
        }
    }

    /// Why a text may not go to the callback's number, if it may not: `sms` consent revoked,
    /// or required by the account and never given.
    async fn sms_refused(
        &self,
        n: &ClaimedNotification,
        settings: &NotificationSettings,
    ) -> Result<Option<String>, StoreError> {
        let cb = &n.callback;
        let consents = self.store.consents_of(&cb.account_id, &cb.phone).await?;
        let mut state = ConsentState::default();
        for c in &consents {
            state.set(c.scope, c.granted);
        }
        if state.is_revoked(ConsentScope::Sms) {
            return Ok(Some("the customer revoked consent to texts".to_owned()));
        }
        if settings.sms_requires_consent && !state.is_granted(ConsentScope::Sms) {
            return Ok(Some(
                "the account requires consent to texts and none is recorded for the number"
                    .to_owned(),
            ));
        }
        Ok(None)
    }

    /// Sends a text on the account's SMS trunk.
    async fn text(
        &self,
        n: &ClaimedNotification,
        settings: &NotificationSettings,
        to: &str,
        body: &str,
    ) -> Result<String, SendError> {
        let Some(trunk_id) = &settings.sms_trunk_id else {
            return Err(SendError::permanent("no SMS trunk is set (sms_trunk_id)"));
        };
        let trunk = self
            .store
            .get_trunk(&n.callback.account_id, trunk_id)
            .await
            .map_err(|e| SendError::transient(format!("the trunk could not be read: {e}")))?;
        let Some(TrunkSettings::TwilioCompatible(s)) = trunk.map(|t| t.settings) else {
            return Err(SendError::permanent(
                "the SMS trunk is gone or is not twilio_compatible",
            ));
        };
        let from = settings.sms_from.as_ref().unwrap_or(&s.caller_id);
        sms::send(&self.http, &s, from.as_str(), to, body).await
    }

    /// Runs until `shutdown`; a step under way is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            max_idle: self.config.max_idle,
            min_interval: Duration::ZERO,
            lookahead: Duration::ZERO,
            after_read_error: Duration::from_secs(1),
            arm: Arm::BeforeNextWakeup,
        };
        run_loop(&self, &self.signal, &self.clock, pacing, &shutdown).await;
    }
}

impl Loop for NotificationWorker {
    const STEP_FAILED: &'static str = "notification step failed";
    const WAKEUP_FAILED: &'static str = "reading the next notification time failed";

    async fn step(&self) -> Result<Step, StoreError> {
        Ok(Step::from_saturated(self.run_once().await?.saturated))
    }

    async fn next_wakeup(&self, _now: Timestamp) -> Result<Option<Timestamp>, StoreError> {
        self.store.next_notification_at().await
    }
}
