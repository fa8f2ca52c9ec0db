//! Placing calls. Every call goes out on a trunk (`domain::trunk`), and each trunk kind is a
//! [`Driver`] in a file of this module: `http_bridge` (the operator's HTTP bridge, also the
//! server's `--dialer-url` for calls without a trunk), `sip`, `twilio` (`twilio_compatible`
//! trunks), and the voice-AI vendors `vapi` and `retell` (`voice_ai`: the vendor's API places
//! the call). The scheduler asks the [`Dialer`] to place a claimed call and knows only the
//! trait.
//!
//! A driver answers once it has taken a call on or refused it; what happens on the call is
//! reported later (an `http_bridge` reports the outcome to `/v1/callbacks/{id}/outcome`).

pub mod bridge_test;
mod http_bridge;
pub mod retell;
pub mod rtp;
pub mod sip;
pub mod trust;
pub mod twilio;
pub mod vapi;
mod voice_ai;

use std::{collections::HashMap, sync::Arc, time::Duration};

use jiff::Timestamp;

pub use self::http_bridge::{DispatchPayload, HttpBridge};
use crate::{
    background::Recent,
    clock::SharedClock,
    domain::{
        AccountId, Amd, Callback, DialingMode, SigningSecret,
        ids::{AgentId, TrunkId},
        trunk::{SipUri, Trunk, TrunkKind},
    },
    store::{Claimed, Store},
};

/// What a driver answered when asked to place a call.
#[derive(Debug, Clone)]
pub enum Placement {
    /// The driver took the call on; `status` is its HTTP status, if it speaks HTTP, and
    /// `provider_call_id` the call's id at a provider that placed it (stored with the answer).
    Accepted {
        status: Option<u16>,
        provider_call_id: Option<String>,
    },
    /// The driver (or the peer behind it) said no.
    Refused { status: Option<u16>, reason: String },
    /// The driver could not be asked, or did not answer.
    Unreachable { reason: String },
}

/// Who an answered customer is connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    /// The voice-AI agent of an `ai` call.
    Ai,
    /// The agent reserved for the call.
    Agent(AgentId),
}

/// The second leg of a call: who, and where they are reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub party: Party,
    pub uri: SipUri,
    /// Rung before the customer, who is dialled once this party answers (a preview call's
    /// agent); otherwise rung once the customer answers.
    pub first: bool,
}

/// One call to place: the claim, the trunk it goes out on (`None`: the server's bridge) and the
/// account's signing secret for drivers that sign their requests.
pub struct CallOrder<'a> {
    pub claimed: &'a Claimed,
    pub trunk: Option<&'a Trunk>,
    pub secret: Option<&'a SigningSecret>,
    /// Who the answered customer is connected to, for drivers that bridge media themselves.
    pub connect: Option<Connection>,
    /// The message an `amd: "drop"` call leaves on an answering machine (8 kHz samples): its
    /// campaign playbook's `voicemail_audio`.
    pub voicemail: Option<Arc<Vec<i16>>>,
    /// Read by the caller from its clock.
    pub now: Timestamp,
}

/// A kind of trunk: places calls through it.
#[async_trait::async_trait]
pub trait Driver: Send + Sync + 'static {
    /// Places the call of `order`. Never panics and never retries by itself: a refusal is
    /// planned again by the scheduler, with the attempt's idempotency key.
    async fn place(&self, order: &CallOrder<'_>) -> Placement;
}

/// The drivers of a server, and the trunks its calls go out on.
pub struct Dialer {
    bridge: Arc<HttpBridge>,
    drivers: HashMap<TrunkKind, Arc<dyn Driver>>,
    /// The SIP user agent, started with the server or by the first call on a `sip` trunk.
    sip: Option<SipSlot>,
    trunks: TrunkCache,
    /// Each account's `ai_sip_uri`, re-read like trunks.
    ai_agents: Recent<AccountId, Option<SipUri>>,
}

/// How to start the SIP user agent, and the one started.
struct SipSlot {
    config: sip::SipConfig,
    store: Arc<dyn Store>,
    clock: SharedClock,
    driver: tokio::sync::OnceCell<Arc<sip::SipDriver>>,
}

impl Dialer {
    /// A dialer with the `http_bridge` driver (`bridge`, which also serves calls without a
    /// trunk).
    pub fn new(bridge: HttpBridge) -> Self {
        let bridge = Arc::new(bridge);
        let mut drivers: HashMap<TrunkKind, Arc<dyn Driver>> = HashMap::new();
        drivers.insert(TrunkKind::HttpBridge, bridge.clone());
        // Voice-AI vendors: their API places the call and answers at once.
        let vendor_timeout = Duration::from_secs(15);
        drivers.insert(
            TrunkKind::Vapi,
            Arc::new(vapi::VapiDriver::new(vendor_timeout)),
        );
        drivers.insert(
            TrunkKind::Retell,
            Arc::new(retell::RetellDriver::new(vendor_timeout)),
        );
        Self {
            bridge,
            drivers,
            sip: None,
            trunks: TrunkCache::default(),
            ai_agents: Recent::new(Duration::from_secs(5)),
        }
    }

    /// Adds the driver of `sip` trunks: its user agent is started by [`Dialer::start_sip`] or
    /// by the first call on a `sip` trunk.
    pub fn with_sip(
        mut self,
        config: sip::SipConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Self {
        self.sip = Some(SipSlot {
            config,
            store,
            clock,
            driver: tokio::sync::OnceCell::new(),
        });
        self
    }

    /// Starts the SIP user agent now, unless it runs already.
    pub async fn start_sip(&self) -> Result<Arc<sip::SipDriver>, std::io::Error> {
        let Some(slot) = &self.sip else {
            return Err(std::io::Error::other("this server has no SIP driver"));
        };
        slot.driver
            .get_or_try_init(|| async {
                tracing::info!(listen = %slot.config.listen, "starting the SIP user agent");
                sip::SipDriver::start(slot.config.clone(), slot.store.clone(), slot.clock.clone())
                    .await
            })
            .await
            .cloned()
    }

    /// The SIP user agent, if it was started.
    pub fn running_sip(&self) -> Option<Arc<sip::SipDriver>> {
        self.sip.as_ref()?.driver.get().cloned()
    }

    /// Adds the driver of `twilio_compatible` trunks.
    pub fn with_twilio(mut self, driver: Arc<twilio::TwilioDriver>) -> Self {
        self.drivers.insert(TrunkKind::TwilioCompatible, driver);
        self
    }

    /// Whether calls that name no trunk have a bridge to go to (`--dialer-url`).
    pub fn has_default_bridge(&self) -> bool {
        self.bridge.is_configured()
    }

    /// Places a claimed call on its trunk's driver.
    pub async fn place(
        &self,
        store: &Arc<dyn Store>,
        claimed: &Claimed,
        secret: Option<&SigningSecret>,
        now: Timestamp,
    ) -> Placement {
        let trunk = match &claimed.trunk_id {
            None => None,
            Some(id) => match self
                .trunks
                .get(store, &claimed.callback.account_id, id)
                .await
            {
                Ok(Some(trunk)) => Some(trunk),
                Ok(None) => {
                    return Placement::Unreachable {
                        reason: format!("trunk {id} no longer exists"),
                    };
                }
                Err(reason) => return Placement::Unreachable { reason },
            },
        };
        let kind = trunk
            .as_ref()
            .map_or(TrunkKind::HttpBridge, |t| t.settings.kind());
        let driver: Arc<dyn Driver> = match kind {
            TrunkKind::Sip => match self.start_sip().await {
                Ok(driver) => Arc::new(driver),
                Err(e) => {
                    return Placement::Unreachable {
                        reason: format!("the SIP user agent could not start: {e}"),
                    };
                }
            },
            _ => match self.drivers.get(&kind) {
                Some(driver) => driver.clone(),
                None => {
                    return Placement::Unreachable {
                        reason: format!("no {} driver runs on this server", kind.as_str()),
                    };
                }
            },
        };
        // A driver that bridges media itself needs the party the customer is connected to; a
        // bridge is told the reserved agent.
        let cb = &claimed.callback;
        let connect = match (kind, cb.dialing_mode, &cb.agent_id) {
            (_, DialingMode::Progressive | DialingMode::Preview, Some(agent)) => {
                match store.get_agent(&cb.account_id, agent).await {
                    Ok(Some(found)) => match found.sip_uri {
                        Some(uri) => Some(Connection {
                            party: Party::Agent(agent.clone()),
                            uri,
                            first: cb.dialing_mode == DialingMode::Preview,
                        }),
                        None if kind == TrunkKind::Sip => {
                            return Placement::Refused {
                                status: None,
                                reason: format!(
                                    "agent {agent} has no sip_uri: a {} call on a sip trunk \
                                     connects the customer to it",
                                    cb.dialing_mode.as_str()
                                ),
                            };
                        }
                        None => None,
                    },
                    Ok(None) => {
                        return Placement::Refused {
                            status: None,
                            reason: format!("the reserved agent {agent} no longer exists"),
                        };
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, agent_id = %agent, "reading an agent failed");
                        return Placement::Unreachable {
                            reason: "the reserved agent could not be read".to_owned(),
                        };
                    }
                }
            }
            (TrunkKind::Sip, DialingMode::Ai, _) => {
                match self.ai_agent(store, &claimed.callback.account_id).await {
                    Ok(Some(uri)) => Some(Connection {
                        party: Party::Ai,
                        uri,
                        first: false,
                    }),
                    Ok(None) => {
                        return Placement::Refused {
                            status: None,
                            reason: "an ai call on a sip trunk needs the account's ai_sip_uri \
                                     (PUT /v1/settings): nobody would take the answered call"
                                .to_owned(),
                        };
                    }
                    Err(reason) => return Placement::Unreachable { reason },
                }
            }
            // A twilio_compatible trunk may stream to its own `ai_stream_url` instead: its
            // driver refuses the call when it has neither.
            (TrunkKind::TwilioCompatible, DialingMode::Ai, _) => {
                match self.ai_agent(store, &claimed.callback.account_id).await {
                    Ok(uri) => uri.map(|uri| Connection {
                        party: Party::Ai,
                        uri,
                        first: false,
                    }),
                    Err(reason) => return Placement::Unreachable { reason },
                }
            }
            _ => None,
        };
        let voicemail = if kind == TrunkKind::Sip && cb.amd == Amd::Drop {
            self.voicemail(store, cb).await
        } else {
            None
        };
        let order = CallOrder {
            claimed,
            trunk: trunk.as_deref(),
            secret,
            connect,
            voicemail,
            now,
        };
        driver.place(&order).await
    }
}

impl Dialer {
    /// The voicemail message of `cb`'s campaign playbook, if it has one. A call whose message
    /// cannot be read goes on without one (a machine then ends it as `voicemail`).
    async fn voicemail(&self, store: &Arc<dyn Store>, cb: &Callback) -> Option<Arc<Vec<i16>>> {
        let campaign = cb.campaign_id.as_ref()?;
        let playbook = match store.get_campaign(&cb.account_id, campaign).await {
            Ok(found) => found?.0.playbook_id,
            Err(e) => {
                tracing::warn!(error = %e, campaign_id = %campaign, "reading a campaign failed");
                return None;
            }
        };
        match store.voicemail_audio(&cb.account_id, &playbook).await {
            Ok(samples) => samples.map(Arc::new),
            Err(e) => {
                tracing::warn!(error = %e, "reading a voicemail message failed");
                None
            }
        }
    }

    /// Where the account's voice-AI agent is reached, if it set one.
    async fn ai_agent(
        &self,
        store: &Arc<dyn Store>,
        account: &AccountId,
    ) -> Result<Option<SipUri>, String> {
        if let Some(uri) = self.ai_agents.get(account) {
            return Ok(uri);
        }
        let uri = match store.account_settings(account).await {
            Ok(settings) => settings.ai_sip_uri,
            Err(e) => {
                tracing::warn!(error = %e, account_id = %account, "reading the account's settings failed");
                return Err("the account's settings could not be read".to_owned());
            }
        };
        self.ai_agents.keep(account.clone(), uri.clone());
        Ok(uri)
    }
}

/// Trunks read for dispatch, re-read every few seconds so a change takes effect soon without a
/// query per call.
struct TrunkCache(Recent<(AccountId, TrunkId), Option<Arc<Trunk>>>);

impl Default for TrunkCache {
    fn default() -> Self {
        Self(Recent::new(Duration::from_secs(5)))
    }
}

impl TrunkCache {
    async fn get(
        &self,
        store: &Arc<dyn Store>,
        account: &AccountId,
        id: &TrunkId,
    ) -> Result<Option<Arc<Trunk>>, String> {
        let key = (account.clone(), id.clone());
        if let Some(trunk) = self.0.get(&key) {
            return Ok(trunk);
        }
        let trunk = match store.get_trunk(account, id).await {
            Ok(trunk) => trunk.map(Arc::new),
            Err(e) => {
                tracing::warn!(error = %e, trunk_id = %id, "reading a trunk failed");
                return Err("the trunk could not be read".to_owned());
            }
        };
        self.0.keep(key, trunk.clone());
        Ok(trunk)
    }
}
