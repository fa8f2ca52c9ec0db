//! The `sip` driver: Ringback's own SIP user agent (`rsipstack` for transactions, dialogs and
//! digest authentication). A call is an INVITE to the trunk's proxy with the callback's number
//! in the Request-URI and its caller ID in From; the ring timeout CANCELs it, a 2xx answers it,
//! and the callback's `max_duration_seconds` ends it with BYE. The final response decides the
//! outcome ([`outcome_of`]); the outcome, the SIP code and reason are recorded on the attempt.
//!
//! Media: the offer is G.711 (PCMU, PCMA) on a port of `--rtp-ports`. Ringback is a
//! back-to-back user agent: once the customer answers, a call with somebody to connect (the
//! voice-AI bot of an `ai` call, the reserved agent of a `progressive` one) INVITEs that party
//! on a second leg, offering the customer's codec, and relays RTP between the two
//! ([`super::rtp`]); a hang-up on either side ends the other with BYE.

use std::{
    net::{IpAddr, SocketAddr},
    ops::RangeInclusive,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU16, Ordering},
    },
    time::Duration,
};

use rsipstack::{
    EndpointBuilder,
    dialog::{
        authenticate::Credential,
        dialog::{DialogState, DialogStateReceiver},
        dialog_layer::DialogLayer,
        invitation::InviteOption,
        invite_dialog::InviteDialog,
    },
    sip::{Header, HostWithPort, StatusCode, Transport, Uri},
    transport::{
        SipAddr, TcpListenerConnection, TlsConfig, TlsListenerConnection, TransportLayer,
        udp::UdpConnection,
    },
};
use tokio::net::UdpSocket;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    CallOrder, Connection, Driver, Party, Placement,
    rtp::{self, MediaTarget, Relay, Side, Tap, answered_media},
};
use crate::media::{
    AmdConfig, AnsweredBy, BeepConfig, BeepDetector, Codec, Cue, Detector, wav::Recorder,
};
use crate::{
    clock::SharedClock,
    domain::{
        Actor, Amd, Attempt, Outcome,
        trunk::{SipSettings, SipTransport, TrunkSettings},
    },
    store::{ChangeError, OutcomeReport, Store},
};

/// Where the SIP user agent listens and advertises itself.
#[derive(Clone)]
pub struct SipConfig {
    pub listen: SocketAddr,
    /// The address put in Contact, Via and SDP when the listen address is not reachable from
    /// the peers (NAT); the listen address's otherwise.
    pub public_address: Option<IpAddr>,
    pub rtp_ports: RangeInclusive<u16>,
    pub ring_timeout: Duration,
    /// Where recordings are written (`<account>/<call id>.wav`).
    pub recordings: PathBuf,
    /// How long past the latest instant a call could still be live (its rings and its
    /// duration cap) a call whose node vanished is ended `failed` (`node_lost`).
    pub lost_call_grace: Duration,
    /// The CAs a `tls` trunk's proxy is verified against, as one PEM bundle
    /// ([`super::trust::trust_anchors`]).
    pub tls_roots: Vec<u8>,
    /// This server's certificate chain and private key (PEM): with them, it also takes SIP
    /// over TLS on the port after its UDP port, where `tls` trunks' peers send in-dialog
    /// requests (a BYE).
    pub tls_identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the driver learned of a call that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEnd {
    pub outcome: Outcome,
    pub sip_code: Option<u16>,
    pub reason: String,
    pub duration_seconds: Option<u32>,
    /// The recording's file, relative to the recordings directory.
    pub recording: Option<String>,
    /// What answering-machine detection found, when it ran.
    pub answered_by: Option<&'static str>,
}

impl CallEnd {
    /// A call that ended before anybody spoke.
    fn failed_with(outcome: Outcome, sip_code: Option<u16>, reason: String) -> Self {
        Self {
            outcome,
            sip_code,
            reason,
            duration_seconds: None,
            recording: None,
            answered_by: None,
        }
    }
}

/// A call to run: the customer's INVITE and what the answered customer is connected to.
struct Call {
    invite: InviteOption,
    ring_timeout: Duration,
    max_duration: Duration,
    rtp: UdpSocket,
    connect: Option<OtherLeg>,
    /// Where to record the bridged call: the full path and the name the attempt keeps.
    recording: Option<(PathBuf, String)>,
    amd: Amd,
    /// The message `amd: drop` leaves after a machine's beep.
    voicemail: Option<Arc<Vec<i16>>>,
}

/// The second leg of a bridged call: its INVITE (the offer is added once the customer's codec
/// is known) and its own RTP socket.
struct OtherLeg {
    invite: InviteOption,
    rtp: UdpSocket,
    rtp_port: u16,
    /// "the AI agent sip:bot@..." or "agent agt_... (sip:...)", for reasons.
    describe: String,
    /// Rung before the customer (a preview call's agent).
    first: bool,
}

impl OtherLeg {
    fn with_offer(&self, offer: String) -> InviteOption {
        let mut invite = self.invite.clone();
        invite.offer = Some(offer.into_bytes());
        invite
    }
}

/// An answered leg of a bridged call.
struct Leg {
    dialog: InviteDialog,
    media: MediaTarget,
    states: DialogStates,
    rtp: UdpSocket,
}

/// When and how the customer answered: what every end of an answered call reports.
struct Answered {
    at: tokio::time::Instant,
    code: u16,
    answered_by: Option<&'static str>,
}

impl Answered {
    fn now(code: u16) -> Self {
        Self {
            at: tokio::time::Instant::now(),
            code,
            answered_by: None,
        }
    }

    fn end(&self, outcome: Outcome, reason: String) -> CallEnd {
        CallEnd {
            outcome,
            sip_code: Some(self.code),
            reason,
            duration_seconds: Some(self.at.elapsed().as_secs_f64().round() as u32),
            recording: None,
            answered_by: self.answered_by,
        }
    }
}

type DialogStates = DialogStateReceiver;

/// Waits until the dialog of `states` ends (or its channel closes).
async fn terminated(states: &mut DialogStates) {
    loop {
        match states.recv().await {
            Some(DialogState::Terminated(_, _)) | None => return,
            Some(_) => {}
        }
    }
}

/// Ends an answered leg with BYE.
async fn hang_up(dialog: &InviteDialog) {
    if let Err(e) = dialog.bye().await {
        tracing::warn!(error = %e, dialog = %dialog.id(), "BYE failed");
    }
}

/// A header value on one line: a header cannot carry CR or LF.
fn header_text(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(1024)
        .collect()
}

/// The outcome of a call whose INVITE got the final response `code`: 486 and 600 are `busy`;
/// 408, 480 and 487 (the CANCEL of a ring timeout) are `no_answer`; 404, 484 and 604 are
/// `invalid_number` (final: no recall); every other failure is `failed`.
pub fn outcome_of(code: u16) -> Outcome {
    match code {
        200..=299 => Outcome::Answered,
        486 | 600 => Outcome::Busy,
        408 | 480 | 487 => Outcome::NoAnswer,
        404 | 484 | 604 => Outcome::InvalidNumber,
        _ => Outcome::Failed,
    }
}

/// For a listen address with port 0: a port free for UDP and TCP (and TLS on the next port,
/// with `tls`), as the listeners share its number.
fn any_port(ip: IpAddr, tls: bool) -> Result<SocketAddr, std::io::Error> {
    for _ in 0..100 {
        let port = std::net::UdpSocket::bind((ip, 0))?.local_addr()?.port();
        let free = |port: u16| std::net::TcpListener::bind((ip, port)).is_ok();
        if free(port) && (!tls || port.checked_add(1).is_some_and(free)) {
            return Ok(SocketAddr::new(ip, port));
        }
    }
    Err(std::io::Error::other(format!(
        "no port of {ip} is free for both UDP and TCP"
    )))
}

/// Fails if `at` cannot be listened on (TCP): the stack binds its listeners in a task of its
/// own, where a port already taken would only be logged.
fn check_free(at: SocketAddr) -> Result<(), std::io::Error> {
    std::net::TcpListener::bind(at)
        .map(drop)
        .map_err(|e| std::io::Error::new(e.kind(), format!("TCP {at}: {e}")))
}

/// The address peers reach a listener bound to `ip` at, for Contact and SDP: `ip` itself, or
/// for an unspecified address (`0.0.0.0`, `::`) the address of the interface of the default
/// route (a UDP socket "connected" to a documentation address sends nothing). Behind NAT,
/// `--sip-public-address` says better.
fn reachable_ip(ip: IpAddr) -> IpAddr {
    if !ip.is_unspecified() {
        return ip;
    }
    let probe: SocketAddr = if ip.is_ipv6() {
        "[2001:db8::1]:9".parse().expect("an address")
    } else {
        "192.0.2.1:9".parse().expect("an address")
    };
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|socket| {
            socket.connect(probe)?;
            socket.local_addr()
        })
        .map(|addr| addr.ip())
        .unwrap_or(ip)
}

pub struct SipDriver {
    dialogs: Arc<DialogLayer>,
    /// The host Contact and SDP name.
    advertised: IpAddr,
    local: SocketAddr,
    /// Where SIP over TLS is taken, if this server has a certificate.
    tls_port: Option<u16>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    rtp_ports: RangeInclusive<u16>,
    next_rtp: AtomicU16,
    ring_timeout: Duration,
    recordings: PathBuf,
    /// The calls under way, waited for by [`SipDriver::drain`].
    calls: TaskTracker,
}

impl SipDriver {
    /// Binds the SIP listener and starts the user agent; it stops with `shutdown`.
    pub async fn start(
        config: SipConfig,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<Arc<Self>, std::io::Error> {
        // The stack lives as long as the process: calls under way keep their dialogs.
        let shutdown = CancellationToken::new();
        let io = |e: rsipstack::Error| std::io::Error::other(e.to_string());
        let transport = TransportLayer::new(shutdown.child_token());
        let listen = match config.listen.port() {
            0 => any_port(config.listen.ip(), config.tls_identity.is_some())?,
            _ => config.listen,
        };
        let external = config
            .public_address
            .map(|ip| SocketAddr::new(ip, listen.port()));
        let udp = UdpConnection::create_connection(listen, external, Some(shutdown.child_token()))
            .await
            .map_err(io)?;
        let local = udp.get_addr().get_socketaddr().map_err(io)?;
        transport.add_transport(udp.into());
        // TCP on the UDP port, as SIP servers do: a `tcp` trunk's peer sends in-dialog requests
        // to the Contact, on a connection of its own.
        let tcp_at = SocketAddr::new(config.listen.ip(), local.port());
        check_free(tcp_at)?;
        let external_at = |port: u16| config.public_address.map(|ip| SocketAddr::new(ip, port));
        let tcp = TcpListenerConnection::new(tcp_at, external_at(local.port()))
            .await
            .map_err(io)?;
        transport.add_transport(tcp.into());
        // TLS connections to `tls` trunks' proxies are made on demand, verified against these.
        let client = TlsConfig {
            ca_certs: Some(config.tls_roots.clone()),
            ..TlsConfig::default()
        };
        transport.set_tls_config(client.clone());
        let tls_port = match &config.tls_identity {
            None => None,
            Some((cert, key)) => {
                let port = local
                    .port()
                    .checked_add(1)
                    .ok_or_else(|| std::io::Error::other("no port after the SIP port for TLS"))?;
                let at = SocketAddr::new(config.listen.ip(), port);
                check_free(at)?;
                let server = TlsConfig {
                    cert: Some(cert.clone()),
                    key: Some(key.clone()),
                    ..client
                };
                let tls = TlsListenerConnection::new(at, external_at(port), server)
                    .await
                    .map_err(io)?;
                transport.add_transport(tls.into());
                Some(port)
            }
        };
        let endpoint = EndpointBuilder::new()
            .with_cancel_token(shutdown.child_token())
            .with_transport_layer(transport)
            .with_user_agent(concat!("ringback/", env!("CARGO_PKG_VERSION")))
            .build();
        let mut incoming = endpoint.incoming_transactions().map_err(io)?;
        let dialogs = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        tokio::spawn(async move { endpoint.serve().await });
        // In-dialog requests (a BYE from the customer) go to their dialog; anything else is
        // refused.
        let layer = dialogs.clone();
        tokio::spawn(async move {
            while let Some(mut tx) = incoming.recv().await {
                match layer.match_dialog(&tx) {
                    Some(mut dialog) => {
                        tokio::spawn(async move {
                            if let Err(e) = dialog.handle(&mut tx).await {
                                tracing::debug!(error = %e, "an in-dialog request failed");
                            }
                        });
                    }
                    None => {
                        let _ = tx.reply(StatusCode::CallTransactionDoesNotExist).await;
                    }
                }
            }
        });
        let advertised = config
            .public_address
            .unwrap_or_else(|| reachable_ip(local.ip()));
        tracing::info!(%local, %advertised, ?tls_port, "SIP user agent listening (udp, tcp)");
        let lost_call_grace = config.lost_call_grace;
        let driver = Arc::new(Self {
            dialogs,
            advertised,
            local,
            tls_port,
            store,
            clock,
            next_rtp: AtomicU16::new(*config.rtp_ports.start()),
            rtp_ports: config.rtp_ports,
            ring_timeout: config.ring_timeout,
            recordings: config.recordings,
            calls: TaskTracker::new(),
        });
        tokio::spawn(sweep_lost_calls(Arc::downgrade(&driver), lost_call_grace));
        Ok(driver)
    }

    /// Waits, up to `timeout`, for the calls under way to end and their outcomes to be
    /// recorded (a stopping server lets live calls finish). True if they all did.
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.calls.close();
        let live = self.calls.len();
        if live > 0 {
            tracing::info!(
                calls = live,
                "waiting for live calls to end before stopping"
            );
        }
        tokio::time::timeout(timeout, self.calls.wait())
            .await
            .is_ok()
    }

    /// A UDP socket for the call's audio on the next free port of the range.
    async fn rtp_socket(&self) -> Option<UdpSocket> {
        let (start, end) = (*self.rtp_ports.start(), *self.rtp_ports.end());
        let span = u32::from(end - start) + 1;
        for _ in 0..span.min(200) {
            let n = self.next_rtp.fetch_add(2, Ordering::Relaxed);
            let port = start + ((u32::from(n.wrapping_sub(start)) % span) as u16 & !1);
            if let Ok(socket) = UdpSocket::bind((self.local.ip(), port)).await {
                return Some(socket);
            }
        }
        None
    }

    /// An SDP offer of audio on `rtp_port` in the G.711 `payload_types` (PCMU 0, PCMA 8).
    fn offer(&self, rtp_port: u16, session: u64, payload_types: &[u8]) -> String {
        let family = if self.advertised.is_ipv6() {
            "IP6"
        } else {
            "IP4"
        };
        let ip = self.advertised;
        let types: Vec<String> = payload_types.iter().map(u8::to_string).collect();
        let maps: String = payload_types
            .iter()
            .map(|t| match t {
                8 => "a=rtpmap:8 PCMA/8000\r\n",
                _ => "a=rtpmap:0 PCMU/8000\r\n",
            })
            .collect();
        format!(
            "v=0\r\no=ringback {session} {session} IN {family} {ip}\r\ns=ringback\r\n\
             c=IN {family} {ip}\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP {}\r\n\
             {maps}a=sendrecv\r\n",
            types.join(" ")
        )
    }

    /// The INVITE of a call, or why it cannot be made.
    async fn invite(
        &self,
        order: &CallOrder<'_>,
        sip: &SipSettings,
        rtp_port: u16,
    ) -> Result<InviteOption, String> {
        // UDP from the listener; TCP and TLS as a connection to the proxy that carries the
        // whole dialog (the peer's BYE comes back on it).
        let (transport, param) = match sip.transport {
            SipTransport::Udp => (None, ""),
            SipTransport::Tcp => (Some(Transport::Tcp), ";transport=tcp"),
            SipTransport::Tls => (Some(Transport::Tls), ";transport=tls"),
        };
        let proxy = tokio::net::lookup_host((sip.proxy.bare_host(), sip.port()))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("the proxy {} does not resolve", sip.proxy))?;
        let destination = match transport {
            // The proxy's name is the TLS server name its certificate must carry: the stack
            // resolves it again rather than being handed the address.
            Some(Transport::Tls) => {
                let named = format!("{}:{}", sip.proxy.host, sip.port());
                let at = HostWithPort::try_from(named.as_str())
                    .map_err(|e| format!("the proxy {named} is not a SIP host: {e}"))?;
                SipAddr::new(Transport::Tls, at)
            }
            Some(transport) => SipAddr::new(transport, SipAddr::from(proxy).addr),
            None => SipAddr::from(proxy),
        };
        let cb = &order.claimed.callback;
        let from_user = cb
            .caller_id
            .as_ref()
            .or(sip.caller_id.as_ref())
            .map(|p| p.as_str().to_owned())
            .or_else(|| sip.username.clone())
            .unwrap_or_else(|| "ringback".to_owned());
        let from_host = sip
            .from_domain
            .clone()
            .unwrap_or_else(|| sip.proxy.host.clone());
        let uri = |text: String| -> Result<Uri, String> {
            Uri::try_from(text.as_str()).map_err(|e| format!("{text} is not a SIP URI: {e}"))
        };
        let callee = uri(format!("sip:{}@{}{param}", cb.phone.as_str(), sip.proxy))?;
        let caller = uri(format!("sip:{from_user}@{from_host}"))?;
        // Without a certificate there is no TLS listener: the peer must send in-dialog
        // requests on the connection the INVITE came on.
        let contact_port = match sip.transport {
            SipTransport::Tls => self.tls_port.unwrap_or(self.local.port()),
            SipTransport::Udp | SipTransport::Tcp => self.local.port(),
        };
        let contact = uri(format!(
            "sip:ringback@{}{param}",
            SocketAddr::new(self.advertised, contact_port)
        ))?;
        let session = u64::from(rtp_port) << 32 | u64::from(order.claimed.callback.attempt);
        Ok(InviteOption {
            caller,
            callee,
            contact,
            destination: Some(destination),
            content_type: Some("application/sdp".to_owned()),
            offer: Some(self.offer(rtp_port, session, &[0, 8]).into_bytes()),
            credential: sip.username.as_ref().map(|user| Credential {
                username: user.clone(),
                password: sip
                    .password
                    .as_ref()
                    .map(|p| p.expose().to_owned())
                    .unwrap_or_default(),
                realm: None,
                auth_username: None,
            }),
            headers: Some(vec![
                Header::Other("X-Ringback-Callback-Id".into(), cb.id.to_string()),
                Header::Other(
                    "X-Ringback-Attempt".into(),
                    order.claimed.callback.attempt.to_string(),
                ),
            ]),
            ..Default::default()
        })
    }

    /// The INVITE of the leg an answered customer is connected to: straight to the URI's host
    /// (no proxy), From the customer's number, with the call's context in `X-Ringback-*`
    /// headers a bot or softphone can read.
    async fn other_leg(
        &self,
        order: &CallOrder<'_>,
        connection: &Connection,
    ) -> Result<OtherLeg, String> {
        let uri = &connection.uri;
        let describe = match &connection.party {
            Party::Ai => format!("the AI agent {uri}"),
            Party::Agent(agent) => format!("agent {agent} ({uri})"),
        };
        let port = uri.host.port.unwrap_or(5060);
        let target = tokio::net::lookup_host((uri.host.bare_host(), port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| format!("{describe}: the host does not resolve"))?;
        let rtp = self
            .rtp_socket()
            .await
            .ok_or_else(|| "no free RTP port in --rtp-ports".to_owned())?;
        let rtp_port = rtp
            .local_addr()
            .map_err(|e| format!("the RTP socket has no address: {e}"))?
            .port();
        let parse = |text: &str| -> Result<Uri, String> {
            Uri::try_from(text).map_err(|e| format!("{text} is not a SIP URI: {e}"))
        };
        let cb = &order.claimed.callback;
        let local = SocketAddr::new(self.advertised, self.local.port());
        let mut headers = vec![
            Header::Other("X-Ringback-Callback-Id".into(), cb.id.to_string()),
            Header::Other("X-Ringback-Attempt".into(), cb.attempt.to_string()),
            Header::Other("X-Ringback-Phone".into(), cb.phone.as_str().to_owned()),
            Header::Other("X-Ringback-Timezone".into(), cb.timezone.name().to_owned()),
        ];
        let optional = [
            ("X-Ringback-Contact-Name", cb.contact_name.clone()),
            (
                "X-Ringback-Contact-Id",
                cb.contact_id.as_ref().map(ToString::to_string),
            ),
            ("X-Ringback-Initial-Message", cb.initial_message.clone()),
            ("X-Ringback-Interaction-Id", cb.interaction_id.clone()),
            (
                "X-Ringback-Metadata",
                cb.metadata
                    .as_ref()
                    .and_then(|m| serde_json::to_string(m).ok()),
            ),
            (
                "X-Ringback-Agent-Id",
                match &connection.party {
                    Party::Agent(agent) => Some(agent.to_string()),
                    Party::Ai => None,
                },
            ),
        ];
        headers.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| Some(Header::Other(name.into(), header_text(&value?)))),
        );
        Ok(OtherLeg {
            invite: InviteOption {
                caller: parse(&format!("sip:{}@{local}", cb.phone.as_str()))?,
                callee: parse(uri.as_str())?,
                contact: parse(&format!("sip:ringback@{local}"))?,
                destination: Some(SipAddr::from(target)),
                content_type: Some("application/sdp".to_owned()),
                headers: Some(headers),
                ..Default::default()
            },
            rtp,
            rtp_port,
            describe,
            first: connection.first,
        })
    }

    /// Sends `invite` and waits, up to `ring_timeout`, for its final response: the answered
    /// dialog and its media, or how the call ended.
    async fn ring(
        &self,
        invite: InviteOption,
        ring_timeout: Duration,
        leg: &str,
    ) -> Result<(InviteDialog, MediaTarget, u16, DialogStates), CallEnd> {
        // A connection (TCP, TLS) is made first, so that a refused connection or an untrusted
        // certificate ends the call saying so; the stack would retry it quietly until the
        // ring timeout.
        if let Some(to) = invite
            .destination
            .as_ref()
            .filter(|to| matches!(to.r#type, Some(Transport::Tcp | Transport::Tls)))
        {
            let transport = &self.dialogs.endpoint.transport_layer;
            let why = match tokio::time::timeout(ring_timeout, transport.lookup(to, None)).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("none in {} s", ring_timeout.as_secs())),
            };
            if let Some(why) = why {
                return Err(CallEnd::failed_with(
                    Outcome::Failed,
                    None,
                    format!("{leg}no connection to {to}: {why}"),
                ));
            }
        }
        let (states, state_rx) = self.dialogs.new_dialog_state_channel();
        let ringing = tokio::time::timeout(ring_timeout, self.dialogs.do_invite(invite, states));
        let (dialog, response) = match ringing.await {
            // Dropping the INVITE sends CANCEL (once the call rings).
            Err(_) => {
                return Err(CallEnd::failed_with(
                    Outcome::NoAnswer,
                    None,
                    format!("{leg}no answer in {} s (CANCEL)", ring_timeout.as_secs()),
                ));
            }
            Ok(Err(e)) => {
                return Err(CallEnd::failed_with(
                    Outcome::Failed,
                    None,
                    format!("{leg}the INVITE failed: {e}"),
                ));
            }
            Ok(Ok(answer)) => answer,
        };
        let Some(response) = response else {
            return Err(CallEnd::failed_with(
                Outcome::Failed,
                None,
                format!("{leg}no answer to the INVITE"),
            ));
        };
        let code = response.status_code.code();
        if !(200..300).contains(&code) {
            return Err(CallEnd::failed_with(
                outcome_of(code),
                Some(code),
                format!("{leg}{}", response.status_code.text()),
            ));
        }
        match answered_media(&String::from_utf8_lossy(&response.body)) {
            Ok(media) => Ok((dialog, media, code, state_rx)),
            Err(why) => {
                hang_up(&dialog).await;
                Err(CallEnd {
                    outcome: Outcome::Failed,
                    sip_code: Some(code),
                    reason: format!("{leg}{why}"),
                    duration_seconds: Some(0),
                    recording: None,
                    answered_by: None,
                })
            }
        }
    }

    /// Runs a call from its INVITE to its end. Usually the customer's leg first, then, once
    /// the customer answers, the leg they are connected to (`connect`); a preview call rings
    /// the agent who accepted it first and the customer once the agent answers. The two are
    /// bridged until either hangs up or the duration cap.
    async fn run(&self, call: Call) -> CallEnd {
        if call.connect.as_ref().is_some_and(|c| c.first) {
            return self.run_agent_first(call).await;
        }
        let Call {
            invite,
            ring_timeout,
            max_duration,
            rtp,
            connect,
            recording,
            amd,
            voicemail,
        } = call;
        let (customer, customer_media, code, mut customer_rx) =
            match self.ring(invite, ring_timeout, "").await {
                Ok(answered) => answered,
                Err(end) => return end,
            };
        let mut answered = Answered::now(code);
        if amd != Amd::Off {
            // Who answered decides whether anybody is connected at all.
            let mut talker = Talker::new(customer_media);
            let screened = screen(&rtp, customer_media, &mut customer_rx, &mut talker).await;
            answered.answered_by = Some(screened.answered_by.as_str());
            match (screened.answered_by, amd) {
                (_, _) if screened.hung_up => {
                    return answered.end(
                        Outcome::Answered,
                        "the customer hung up during answering-machine detection".to_owned(),
                    );
                }
                (AnsweredBy::Machine, Amd::Drop) => {
                    return self
                        .leave_message(
                            &customer,
                            &rtp,
                            customer_media,
                            &mut customer_rx,
                            &mut talker,
                            voicemail.as_deref().map(Vec::as_slice),
                            &answered,
                            screened.reason,
                        )
                        .await;
                }
                (AnsweredBy::Machine, _) => {
                    hang_up(&customer).await;
                    return answered.end(
                        Outcome::Voicemail,
                        format!("an answering machine answered ({})", screened.reason),
                    );
                }
                _ => {}
            }
        }
        let cap = tokio::time::sleep(max_duration);
        tokio::pin!(cap);
        let Some(connect) = connect else {
            // Nobody to connect: the call lasts until the customer hangs up or the cap.
            let hung_up_by_us = tokio::select! {
                _ = &mut cap => true,
                _ = terminated(&mut customer_rx) => false,
            };
            if hung_up_by_us {
                hang_up(&customer).await;
            }
            return answered.end(Outcome::Answered, "OK".to_owned());
        };
        // The other leg is offered the customer's codec only: the relay does not transcode.
        let other_invite = connect.with_offer(self.offer(
            connect.rtp_port,
            u64::from(connect.rtp_port) << 32,
            &[customer_media.payload_type],
        ));
        let leg = format!("{}: ", connect.describe);
        let other = tokio::select! {
            rung = self.ring(other_invite, self.ring_timeout, &leg) => rung,
            _ = &mut cap => Err(CallEnd::failed_with(Outcome::Failed, None, format!("{leg}not answered before the duration cap"))),
            // The customer hung up while the other leg rang: dropping its INVITE cancels it.
            _ = terminated(&mut customer_rx) => {
                return answered.end(Outcome::Answered, format!("{leg}the customer hung up before the connection"));
            }
        };
        let (other_dialog, other_media, _, other_rx) = match other {
            Ok(answered) => answered,
            Err(end) => {
                // The customer answered and nobody took the call: it failed, and the recall
                // policy decides what comes next.
                hang_up(&customer).await;
                return CallEnd {
                    sip_code: end.sip_code,
                    ..answered.end(Outcome::Failed, end.reason)
                };
            }
        };
        let customer = Leg {
            dialog: customer,
            media: customer_media,
            states: customer_rx,
            rtp,
        };
        let other = Leg {
            dialog: other_dialog,
            media: other_media,
            states: other_rx,
            rtp: connect.rtp,
        };
        self.bridge(customer, other, cap, &answered, &leg, recording)
            .await
    }

    /// A preview call: the agent who accepted it is rung first, offered PCMU and PCMA; once
    /// they answer, the customer is rung, offered the agent's codec, and the two are bridged.
    /// An agent who does not answer fails the attempt without the customer being called.
    async fn run_agent_first(&self, call: Call) -> CallEnd {
        let Call {
            invite,
            ring_timeout,
            max_duration,
            rtp,
            connect,
            recording,
            ..
        } = call;
        let Some(connect) = connect else {
            return CallEnd::failed_with(Outcome::Failed, None, "no agent to ring".to_owned());
        };
        let leg = format!("{}: ", connect.describe);
        let agent_invite = connect.with_offer(self.offer(
            connect.rtp_port,
            u64::from(connect.rtp_port) << 32,
            &[0, 8],
        ));
        let (agent, agent_media, _, mut agent_rx) =
            match self.ring(agent_invite, self.ring_timeout, &leg).await {
                Ok(answered) => answered,
                Err(end) => {
                    return CallEnd {
                        outcome: Outcome::Failed,
                        ..end
                    };
                }
            };
        let mut invite = invite;
        let rtp_port = rtp.local_addr().map(|a| a.port()).unwrap_or_default();
        invite.offer = Some(
            self.offer(
                rtp_port,
                u64::from(rtp_port) << 32 | 1,
                &[agent_media.payload_type],
            )
            .into_bytes(),
        );
        let rung = tokio::select! {
            rung = self.ring(invite, ring_timeout, "") => rung,
            // The agent gave up while the customer rang: dropping the INVITE cancels it.
            _ = terminated(&mut agent_rx) => Err(CallEnd::failed_with(
                Outcome::Failed,
                None,
                format!("{leg}the agent hung up before the customer answered"),
            )),
        };
        let (customer, customer_media, code, customer_rx) = match rung {
            Ok(answered) => answered,
            Err(end) => {
                hang_up(&agent).await;
                return end;
            }
        };
        let answered = Answered::now(code);
        let cap = tokio::time::sleep(max_duration);
        tokio::pin!(cap);
        let customer = Leg {
            dialog: customer,
            media: customer_media,
            states: customer_rx,
            rtp,
        };
        let other = Leg {
            dialog: agent,
            media: agent_media,
            states: agent_rx,
            rtp: connect.rtp,
        };
        self.bridge(customer, other, cap, &answered, &leg, recording)
            .await
    }

    /// `amd: drop` on a machine: waits for the end of the greeting's beep (or the silence
    /// after it, or gives up), plays `message` and hangs up: `voicemail_left`. Without a
    /// message, or if the machine hangs up first, the call ends as `voicemail`.
    #[allow(clippy::too_many_arguments)]
    async fn leave_message(
        &self,
        customer: &InviteDialog,
        rtp: &UdpSocket,
        media: MediaTarget,
        states: &mut DialogStates,
        talker: &mut Talker,
        message: Option<&[i16]>,
        answered: &Answered,
        why: &'static str,
    ) -> CallEnd {
        let Some(message) = message else {
            hang_up(customer).await;
            return answered.end(
                Outcome::Voicemail,
                format!(
                    "an answering machine answered ({why}); no voicemail_audio to leave on its \
                     campaign's playbook"
                ),
            );
        };
        let config = BeepConfig::default();
        let until = tokio::time::Instant::now() + config.give_up + Duration::from_secs(1);
        let mut beep = BeepDetector::new(config);
        let mut hung_up = false;
        let mut buf = vec![0u8; 2048];
        let mut cue = None;
        while let Some(samples) =
            customer_audio(rtp, media, states, until, &mut hung_up, &mut buf, talker).await
        {
            if let Some(found) = beep.push(&samples) {
                cue = Some(found);
                break;
            }
        }
        if hung_up {
            return answered.end(
                Outcome::Voicemail,
                format!("an answering machine answered ({why}) and hung up before its beep"),
            );
        }
        let cue = match cue {
            Some(Cue::Beep { .. }) => "after the beep",
            Some(Cue::SilenceAfterSpeech { .. }) => "after the greeting (no beep heard)",
            _ => "after waiting for a beep that never came",
        };
        if !play(rtp, talker, message, states).await {
            return answered.end(
                Outcome::Voicemail,
                format!("an answering machine answered ({why}) and hung up during the message"),
            );
        }
        hang_up(customer).await;
        answered.end(
            Outcome::VoicemailLeft,
            format!("an answering machine answered ({why}); the message was left {cue}"),
        )
    }

    /// Relays the media of two answered legs until either hangs up, the cap, or broken
    /// media; then hangs up what is left and finishes the recording.
    async fn bridge(
        &self,
        customer: Leg,
        other: Leg,
        mut cap: std::pin::Pin<&mut tokio::time::Sleep>,
        answered: &Answered,
        leg: &str,
        recording: Option<(PathBuf, String)>,
    ) -> CallEnd {
        let Leg {
            dialog: customer,
            media: customer_media,
            states: mut customer_rx,
            rtp,
        } = customer;
        let Leg {
            dialog: other_dialog,
            media: other_media,
            states: mut other_rx,
            rtp: other_rtp,
        } = other;
        let stop = CancellationToken::new();
        let relay = Relay::new(customer_media, other_media, tokio::time::Instant::now());
        let tap = recording.as_ref().and_then(|(path, _)| {
            let made = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .map_err(|e| e.to_string())
                .and_then(|()| Recorder::create(path).map_err(|e| e.to_string()));
            match made {
                Ok(recorder) => Some(Tap {
                    recorder,
                    failed: None,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, path = %path.display(), "the call cannot be recorded");
                    None
                }
            }
        });
        let mut media = tokio::spawn(rtp::pump(
            Arc::new(rtp),
            Arc::new(other_rtp),
            relay,
            tap,
            stop.clone(),
        ));
        let mut finished_tap = None;
        enum Ended {
            Cap,
            Customer,
            Other,
            Media(String),
        }
        let ended = tokio::select! {
            _ = &mut cap => Ended::Cap,
            _ = terminated(&mut customer_rx) => Ended::Customer,
            _ = terminated(&mut other_rx) => Ended::Other,
            relayed = &mut media => match relayed {
                Ok((Err(reason), tap)) => {
                    finished_tap = Some(tap);
                    Ended::Media(reason)
                }
                _ => Ended::Media("the media relay stopped".to_owned()),
            },
        };
        stop.cancel();
        let (relayed, tap) = match finished_tap {
            Some(tap) => (None, tap),
            None => match media.await {
                Ok((relayed, tap)) => (relayed.ok(), tap),
                Err(_) => (None, None),
            },
        };
        let recorded = match (tap, recording) {
            (Some(tap), Some((_, name))) if tap.failed.is_none() => {
                match tokio::task::spawn_blocking(move || tap.recorder.finish()).await {
                    Ok(Ok(_)) => Some(name),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "finishing a call's recording failed");
                        None
                    }
                    Err(_) => None,
                }
            }
            _ => None,
        };
        if let Some(relay) = &relayed {
            let (c, o) = (relay.counts(Side::Customer), relay.counts(Side::Other));
            tracing::debug!(
                customer_packets = c.relayed,
                other_packets = o.relayed,
                dropped = c.from_strangers + o.from_strangers + c.not_rtp + o.not_rtp,
                "call media relayed"
            );
        }
        let end = match ended {
            Ended::Cap => {
                tokio::join!(hang_up(&customer), hang_up(&other_dialog));
                answered.end(
                    Outcome::Answered,
                    format!("{leg}connected; ended at the duration cap"),
                )
            }
            Ended::Customer => {
                hang_up(&other_dialog).await;
                answered.end(
                    Outcome::Answered,
                    format!("{leg}connected; the customer hung up"),
                )
            }
            Ended::Other => {
                hang_up(&customer).await;
                answered.end(
                    Outcome::Answered,
                    format!("{leg}connected; hung up by the far side"),
                )
            }
            Ended::Media(reason) => {
                tokio::join!(hang_up(&customer), hang_up(&other_dialog));
                answered.end(Outcome::Failed, reason)
            }
        };
        CallEnd {
            recording: recorded,
            ..end
        }
    }

    /// Records how a call ended. The dispatch's acceptance is written in batches and may not
    /// be stored yet when a call ends at once (a busy line): the outcome waits for it.
    async fn record(
        &self,
        account: &crate::domain::AccountId,
        id: &crate::domain::CallbackId,
        end: &CallEnd,
    ) {
        let report = OutcomeReport {
            outcome: end.outcome,
            duration_seconds: end.duration_seconds,
            notes: None,
            sip_code: end.sip_code,
            sip_reason: Some(end.reason.clone()),
            recording: end.recording.clone(),
            answered_by: end.answered_by,
            disposition: None,
        };
        for wait in [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000] {
            match self
                .store
                .record_outcome(account, id, &report, self.clock.now(), &Actor::System)
                .await
            {
                Ok(_) => return,
                Err(ChangeError::InvalidState(_)) => {
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
                Err(e) => {
                    tracing::warn!(callback_id = %id, error = %e, "recording a call's outcome failed");
                    tokio::time::sleep(Duration::from_millis(wait)).await;
                }
            }
        }
        tracing::error!(callback_id = %id, outcome = end.outcome.as_str(), "a call's outcome could not be recorded");
    }
}

/// What answering-machine detection made of an answered call.
struct Screened {
    answered_by: AnsweredBy,
    reason: &'static str,
    /// The customer hung up before a verdict.
    hung_up: bool,
}

/// Ringback's own audio to the customer while it screens a call and leaves a message: one
/// RTP stream (its SSRC, sequence and timestamp), a packet every 20 ms, silence unless a
/// message plays, so the far end (and any NAT or carrier media timeout) sees a live call.
struct Talker {
    to: std::net::SocketAddr,
    codec: Codec,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    tick: tokio::time::Interval,
    silence: Vec<u8>,
    started: bool,
}

impl Talker {
    fn new(media: MediaTarget) -> Self {
        let codec = Codec::from_payload_type(media.payload_type).unwrap_or(Codec::Pcmu);
        let mut silence = Vec::with_capacity(160);
        codec.encode(&[0i16; 160], &mut silence);
        Self {
            to: media.addr,
            codec,
            ssrc: rand::random(),
            seq: rand::random(),
            timestamp: rand::random(),
            tick: tokio::time::interval(Duration::from_millis(20)),
            silence,
            started: false,
        }
    }

    /// Sends one 20 ms packet of `payload` (already encoded).
    async fn send(&mut self, rtp: &UdpSocket, payload: &[u8], samples: u32) {
        let mut packet = Vec::with_capacity(12 + payload.len());
        packet.push(0x80);
        // The first packet of the stream carries the marker bit.
        packet.push(self.codec.payload_type() | if self.started { 0 } else { 0x80 });
        packet.extend(self.seq.to_be_bytes());
        packet.extend(self.timestamp.to_be_bytes());
        packet.extend(self.ssrc.to_be_bytes());
        packet.extend(payload);
        if let Err(e) = rtp.send_to(&packet, self.to).await {
            tracing::debug!(error = %e, to = %self.to, "RTP send failed");
        }
        self.started = true;
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
    }

    async fn send_silence(&mut self, rtp: &UdpSocket) {
        let silence = std::mem::take(&mut self.silence);
        self.send(rtp, &silence, 160).await;
        self.silence = silence;
    }
}

/// The next audio the customer sends on `rtp` (from the address their answer named), decoded,
/// or `None` once `until` passes or the customer hangs up (`hung_up` is then set). Meanwhile
/// `talker` sends silence.
async fn customer_audio(
    rtp: &UdpSocket,
    media: MediaTarget,
    states: &mut DialogStates,
    until: tokio::time::Instant,
    hung_up: &mut bool,
    buf: &mut [u8],
    talker: &mut Talker,
) -> Option<Vec<i16>> {
    loop {
        let (len, source) = tokio::select! {
            received = rtp.recv_from(buf) => match received {
                Ok(got) => got,
                Err(_) => continue,
            },
            _ = talker.tick.tick() => {
                talker.send_silence(rtp).await;
                continue;
            }
            _ = tokio::time::sleep_until(until) => return None,
            _ = terminated(states) => {
                *hung_up = true;
                return None;
            }
        };
        let packet = &buf[..len];
        if source.ip() != media.addr.ip() || len < 12 || packet[0] >> 6 != 2 {
            continue;
        }
        let (Some(codec), Some(audio)) = (
            Codec::from_payload_type(packet[1] & 0x7f),
            rtp::payload(packet),
        ) else {
            continue;
        };
        let mut samples = Vec::with_capacity(audio.len());
        codec.decode(audio, &mut samples);
        return Some(samples);
    }
}

/// Runs the answering-machine detector on the customer's first seconds of audio.
async fn screen(
    rtp: &UdpSocket,
    media: MediaTarget,
    states: &mut DialogStates,
    talker: &mut Talker,
) -> Screened {
    let config = AmdConfig::default();
    // The detector decides within its analysis time of audio; a second more for the network.
    let until = tokio::time::Instant::now() + config.total_analysis_time + Duration::from_secs(1);
    let mut detector = Detector::new(config);
    let mut hung_up = false;
    let mut buf = vec![0u8; 2048];
    while let Some(samples) =
        customer_audio(rtp, media, states, until, &mut hung_up, &mut buf, talker).await
    {
        if let Some(verdict) = detector.push(&samples) {
            return Screened {
                answered_by: verdict.answered_by,
                reason: verdict.reason,
                hung_up: false,
            };
        }
    }
    Screened {
        answered_by: AnsweredBy::Unknown,
        reason: if hung_up { "hung_up" } else { "no_audio" },
        hung_up,
    }
}

/// Plays `samples` to the customer through `talker`, a 20 ms packet every 20 ms; stops early
/// if the far end hangs up. True if it all went out.
async fn play(
    rtp: &UdpSocket,
    talker: &mut Talker,
    samples: &[i16],
    states: &mut DialogStates,
) -> bool {
    let mut payload = Vec::with_capacity(160);
    for frame in samples.chunks(160) {
        tokio::select! {
            _ = talker.tick.tick() => {}
            _ = terminated(states) => return false,
        }
        payload.clear();
        talker.codec.encode(frame, &mut payload);
        talker.send(rtp, &payload, frame.len() as u32).await;
    }
    true
}

/// Ends the `sip` calls whose node died with them (any node's: every node sweeps), every
/// 30 s (or the grace, if shorter), while the driver lives. Such a call was accepted and never ended; once past the
/// latest instant it could still be live, it ends `failed` with `node_lost`, and the recall
/// policy decides. Nobody dials it again: a call's number is never dialled twice by one
/// attempt.
async fn sweep_lost_calls(driver: std::sync::Weak<SipDriver>, grace: Duration) {
    let period = grace.clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut every = tokio::time::interval(period);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(driver) = driver.upgrade() else {
            return;
        };
        let now = driver.clock.now();
        let lost = match driver
            .store
            .lost_calls("sip", driver.ring_timeout, grace, now, 500)
            .await
        {
            Ok(lost) => lost,
            Err(e) => {
                tracing::warn!(error = %e, "looking for lost calls failed");
                continue;
            }
        };
        for (account, id) in lost {
            let report = OutcomeReport {
                outcome: Outcome::Failed,
                duration_seconds: None,
                notes: None,
                sip_code: None,
                sip_reason: Some(
                    "node_lost: the node placing this call stopped before its end was known"
                        .to_owned(),
                ),
                recording: None,
                answered_by: None,
                disposition: None,
            };
            match driver
                .store
                .record_outcome(&account, &id, &report, now, &Actor::System)
                .await
            {
                Ok(_) => {
                    tracing::warn!(callback_id = %id, "a call whose node vanished ended as node_lost")
                }
                // Ended meanwhile (its node was alive after all, or another node swept it).
                Err(ChangeError::InvalidState(_) | ChangeError::NotFound) => {}
                Err(e) => {
                    tracing::warn!(callback_id = %id, error = %e, "ending a lost call failed")
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl Driver for Arc<SipDriver> {
    async fn place(&self, order: &CallOrder<'_>) -> Placement {
        let Some(TrunkSettings::Sip(sip)) = order.trunk.map(|t| &t.settings) else {
            return Placement::Unreachable {
                reason: "the call's trunk is not a sip trunk".to_owned(),
            };
        };
        let cb = &order.claimed.callback;
        if order.claimed.resend {
            // An earlier claim of this attempt may have sent its INVITE before its node
            // stopped: one attempt never dials the number twice. The attempt ends `failed`
            // (`node_lost`) and the callback's recall policy decides what comes next.
            let end = CallEnd {
                outcome: Outcome::Failed,
                sip_code: None,
                reason: "node_lost: the node placing this call stopped before its end was known"
                    .to_owned(),
                duration_seconds: None,
                recording: None,
                answered_by: None,
            };
            let (account, id, driver) = (cb.account_id.clone(), cb.id.clone(), self.clone());
            self.calls
                .spawn(async move { driver.record(&account, &id, &end).await });
            return Placement::Accepted {
                status: None,
                provider_call_id: None,
            };
        }
        let Some(rtp) = self.rtp_socket().await else {
            return Placement::Unreachable {
                reason: "no free RTP port in --rtp-ports".to_owned(),
            };
        };
        let rtp_port = match rtp.local_addr() {
            Ok(addr) => addr.port(),
            Err(e) => {
                return Placement::Unreachable {
                    reason: format!("the RTP socket has no address: {e}"),
                };
            }
        };
        let invite = match self.invite(order, sip, rtp_port).await {
            Ok(invite) => invite,
            Err(reason) => {
                return Placement::Refused {
                    status: None,
                    reason,
                };
            }
        };
        let connect = match &order.connect {
            None => None,
            Some(connection) => match self.other_leg(order, connection).await {
                Ok(leg) => Some(leg),
                Err(reason) => {
                    return Placement::Refused {
                        status: None,
                        reason,
                    };
                }
            },
        };
        let (account, id) = (cb.account_id.clone(), cb.id.clone());
        let call = Call {
            invite,
            ring_timeout: cb
                .ring_timeout_seconds
                .map_or(self.ring_timeout, |s| Duration::from_secs(u64::from(s))),
            max_duration: Duration::from_secs(u64::from(cb.max_duration_seconds.max(1))),
            rtp,
            connect,
            amd: cb.amd,
            voicemail: order.voicemail.clone(),
            recording: cb.recording_enabled.then(|| {
                let name = format!(
                    "{}/{}.wav",
                    cb.account_id,
                    Attempt::call_id(&cb.id, cb.attempt)
                );
                (self.recordings.join(&name), name)
            }),
        };
        let driver = self.clone();
        self.calls.spawn(async move {
            let end = driver.run(call).await;
            tracing::info!(callback_id = %id, outcome = end.outcome.as_str(), code = ?end.sip_code, reason = %end.reason, "call ended");
            driver.record(&account, &id, &end).await;
        });
        Placement::Accepted {
            status: None,
            provider_call_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_address_is_advertised_as_it_is() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(reachable_ip(loopback), loopback);
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(reachable_ip(v6), v6);
    }

    #[test]
    fn final_responses_map_to_outcomes() {
        for (code, outcome) in [
            (200, Outcome::Answered),
            (486, Outcome::Busy),
            (600, Outcome::Busy),
            (408, Outcome::NoAnswer),
            (480, Outcome::NoAnswer),
            (487, Outcome::NoAnswer),
            (404, Outcome::InvalidNumber),
            (484, Outcome::InvalidNumber),
            (604, Outcome::InvalidNumber),
            (503, Outcome::Failed),
            (403, Outcome::Failed),
        ] {
            assert_eq!(outcome_of(code), outcome, "{code}");
        }
    }
}
