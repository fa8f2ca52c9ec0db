//! The media of a bridged call: Ringback relays RTP between the customer's leg and the other
//! leg (an agent, a voice-AI bot). [`Relay`] is the relay's logic, fed packets and told where
//! to send them (no sockets, testable alone); [`pump`] runs it over the two legs' UDP sockets.
//!
//! Each leg's peer is where its SDP answer says ([`MediaTarget`]). A packet from anywhere else
//! is dropped, never relayed, so nobody on the path can inject audio into a call; a peer behind
//! NAT that sends from the answered address but another port is latched onto (symmetric RTP).
//! A call whose peer sends nothing while only strangers do ends `failed`: [`Relay::check`].

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::{net::UdpSocket, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::media::{g711::Codec, wav::Recorder};

/// Where a leg's audio goes, and in which codec, read off its SDP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaTarget {
    pub addr: SocketAddr,
    /// PCMU (0) or PCMA (8).
    pub payload_type: u8,
}

/// The audio stream of an SDP answer, if Ringback can speak it: the connection address (media
/// level, else session level), the port of `m=audio` and the first of its payload types that is
/// G.711 (PCMU 0, PCMA 8); otherwise why not.
pub fn answered_media(sdp: &str) -> Result<MediaTarget, String> {
    let mut session_ip: Option<IpAddr> = None;
    let mut media: Option<(u16, Vec<String>)> = None;
    let mut media_ip: Option<IpAddr> = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            if media.is_some() {
                // The first audio stream is the one used; later streams are not read.
                break;
            }
            if let Some(audio) = rest.strip_prefix("audio ") {
                let mut fields = audio.split_whitespace();
                let port = fields
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                    .ok_or_else(|| format!("the answer's audio stream has no port: m={rest}"))?;
                let _proto = fields.next();
                media = Some((port, fields.map(str::to_owned).collect()));
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = connection_ip(rest).ok_or_else(|| {
                format!("the answer's connection line is not understood: c={rest}")
            })?;
            if media.is_some() {
                media_ip = Some(ip);
            } else {
                session_ip = Some(ip);
            }
        }
    }
    let (port, types) =
        media.ok_or_else(|| "the answer has no audio stream (m=audio)".to_owned())?;
    let payload_type = types
        .iter()
        .filter_map(|t| t.parse::<u8>().ok())
        .find(|t| matches!(t, 0 | 8))
        .ok_or_else(|| {
            format!(
                "no common codec: the answer offers payload types {} where Ringback offers \
                 PCMU (0) and PCMA (8)",
                types.join(" ")
            )
        })?;
    let ip = media_ip
        .or(session_ip)
        .ok_or_else(|| "the answer has no connection address (c=)".to_owned())?;
    if port == 0 {
        return Err("the answer rejected the audio stream (port 0)".to_owned());
    }
    Ok(MediaTarget {
        addr: SocketAddr::new(ip, port),
        payload_type,
    })
}

/// The address of a `c=` line's value (`IN IP4 192.0.2.1`, `IN IP6 ::1`).
fn connection_ip(value: &str) -> Option<IpAddr> {
    let mut fields = value.split_whitespace();
    let (_net, _family, address) = (fields.next()?, fields.next()?, fields.next()?);
    // A multicast address may carry a TTL (`/127`).
    address.split('/').next()?.parse().ok()
}

/// One side of a bridged call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Customer,
    Other,
}

impl Side {
    fn index(self) -> usize {
        match self {
            Side::Customer => 0,
            Side::Other => 1,
        }
    }

    fn far(self) -> Side {
        match self {
            Side::Customer => Side::Other,
            Side::Other => Side::Customer,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Customer => "customer",
            Side::Other => "other",
        }
    }
}

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Send it, unchanged, to this address from the far side's socket.
    To(SocketAddr),
    Drop(Dropped),
}

/// Why a packet was not relayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not RTP (too short, not version 2).
    NotRtp,
    /// From an address the leg's SDP did not name.
    UnexpectedSource,
    /// A payload type the call did not agree on.
    UnexpectedPayload,
}

#[derive(Debug, Clone, Default)]
struct LegState {
    /// Where the SDP said the peer is, then where it was latched.
    remote: Option<SocketAddr>,
    payload_type: u8,
    latched: bool,
    relayed: u64,
    first_at: Option<Instant>,
    strangers: u64,
    last_stranger: Option<SocketAddr>,
    garbage: u64,
}

/// What a relay saw on one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SideCounts {
    pub relayed: u64,
    pub from_strangers: u64,
    pub not_rtp: u64,
}

/// The relay of one call, fed each packet a leg's socket receives.
#[derive(Debug)]
pub struct Relay {
    legs: [LegState; 2],
    bridged_at: Instant,
}

/// How long a leg may send nothing valid, while strangers send, before the call is failed.
pub const SILENT_PEER: Duration = Duration::from_secs(10);

impl Relay {
    /// A relay between the customer's media and the other leg's, bridged at `now`.
    pub fn new(customer: MediaTarget, other: MediaTarget, now: Instant) -> Self {
        let leg = |t: MediaTarget| LegState {
            remote: Some(t.addr),
            payload_type: t.payload_type,
            ..LegState::default()
        };
        Self {
            legs: [leg(customer), leg(other)],
            bridged_at: now,
        }
    }

    /// Decides what to do with `packet`, received from `source` on `side`'s socket at `now`.
    pub fn receive(
        &mut self,
        side: Side,
        source: SocketAddr,
        packet: &[u8],
        now: Instant,
    ) -> Forward {
        let leg = &mut self.legs[side.index()];
        if packet.len() < 12 || packet[0] >> 6 != 2 {
            leg.garbage += 1;
            return Forward::Drop(Dropped::NotRtp);
        }
        let expected = leg.remote;
        let known = match expected {
            Some(addr) if addr == source => true,
            // Symmetric RTP: a peer behind NAT sends from another port of the answered address;
            // the first such packet fixes where its audio goes too.
            Some(addr) if addr.ip() == source.ip() && !leg.latched => {
                leg.remote = Some(source);
                true
            }
            _ => false,
        };
        if !known {
            leg.strangers += 1;
            leg.last_stranger = Some(source);
            return Forward::Drop(Dropped::UnexpectedSource);
        }
        leg.latched = true;
        let payload_type = packet[1] & 0x7f;
        // The agreed codec, comfort noise (13) and dynamic types (telephone-event) pass.
        if payload_type != leg.payload_type && payload_type != 13 && payload_type < 96 {
            return Forward::Drop(Dropped::UnexpectedPayload);
        }
        leg.relayed += 1;
        leg.first_at.get_or_insert(now);
        match self.legs[side.far().index()].remote {
            Some(to) => Forward::To(to),
            None => Forward::Drop(Dropped::UnexpectedSource),
        }
    }

    /// Whether the call's media is broken at `now`: a side whose peer sent nothing valid for
    /// [`SILENT_PEER`] after the bridge while packets came from another address. `Some(reason)`
    /// ends the call `failed`.
    pub fn check(&self, now: Instant) -> Option<String> {
        if now.duration_since(self.bridged_at) < SILENT_PEER {
            return None;
        }
        [Side::Customer, Side::Other].into_iter().find_map(|side| {
            let leg = &self.legs[side.index()];
            (leg.relayed == 0 && leg.strangers > 0).then(|| {
                format!(
                    "rtp_unexpected_source: the {} leg's audio came from {} instead of {} \
                     (dropped {} packets)",
                    side.as_str(),
                    leg.last_stranger
                        .map_or_else(String::new, |a| a.to_string()),
                    leg.remote.map_or_else(String::new, |a| a.to_string()),
                    leg.strangers
                )
            })
        })
    }

    pub fn counts(&self, side: Side) -> SideCounts {
        let leg = &self.legs[side.index()];
        SideCounts {
            relayed: leg.relayed,
            from_strangers: leg.strangers,
            not_rtp: leg.garbage,
        }
    }
}

/// The audio of an RTP packet: what follows the header, its CSRCs and extension, without
/// padding; `None` if the packet is shorter than its header says.
pub fn payload(packet: &[u8]) -> Option<&[u8]> {
    if packet.len() < 12 {
        return None;
    }
    let csrcs = usize::from(packet[0] & 0x0f);
    let mut start = 12 + 4 * csrcs;
    if packet[0] & 0x10 != 0 {
        let words = packet.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = packet.len();
    if packet[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*packet.last()?))?;
    }
    packet.get(start..end)
}

/// The recording of a bridged call: each relayed packet's audio, decoded, on its side's
/// channel.
pub struct Tap {
    pub recorder: Recorder,
    /// The first write error; the recording stops, the call goes on.
    pub failed: Option<String>,
}

impl Tap {
    fn record(&mut self, side: Side, packet: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let Some(codec) = Codec::from_payload_type(packet[1] & 0x7f) else {
            return; // comfort noise, telephone events
        };
        let Some(audio) = payload(packet) else {
            return;
        };
        let mut samples = Vec::with_capacity(audio.len());
        codec.decode(audio, &mut samples);
        let written = match side {
            Side::Customer => self.recorder.push_customer(&samples),
            Side::Other => self.recorder.push_other(&samples),
        };
        if let Err(e) = written {
            tracing::warn!(error = %e, "writing a call's recording failed; it stops here");
            self.failed = Some(e.to_string());
        }
    }
}

/// Relays RTP between the two legs' sockets until `stop`, or until the media is broken
/// (then `Err(reason)`), recording what it relays into `tap`.
pub async fn pump(
    customer: Arc<UdpSocket>,
    other: Arc<UdpSocket>,
    mut relay: Relay,
    mut tap: Option<Tap>,
    stop: CancellationToken,
) -> (Result<Relay, String>, Option<Tap>) {
    let mut from_customer = vec![0u8; 2048];
    let mut from_other = vec![0u8; 2048];
    let mut checks = tokio::time::interval(Duration::from_secs(1));
    loop {
        let (side, len, source) = tokio::select! {
            _ = stop.cancelled() => return (Ok(relay), tap),
            _ = checks.tick() => {
                if let Some(reason) = relay.check(Instant::now()) {
                    return (Err(reason), tap);
                }
                continue;
            }
            received = customer.recv_from(&mut from_customer) => match received {
                Ok((len, source)) => (Side::Customer, len, source),
                Err(e) => { tracing::debug!(error = %e, "RTP receive failed"); continue; }
            },
            received = other.recv_from(&mut from_other) => match received {
                Ok((len, source)) => (Side::Other, len, source),
                Err(e) => { tracing::debug!(error = %e, "RTP receive failed"); continue; }
            },
        };
        let (packet, out) = match side {
            Side::Customer => (&from_customer[..len], &other),
            Side::Other => (&from_other[..len], &customer),
        };
        if let Forward::To(to) = relay.receive(side, source, packet, Instant::now()) {
            if let Err(e) = out.send_to(packet, to).await {
                tracing::debug!(error = %e, %to, "RTP send failed");
            }
            if let Some(tap) = &mut tap {
                tap.record(side, packet);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(payload_type: u8) -> Vec<u8> {
        let mut p = vec![0x80, payload_type, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        p.extend([0xffu8; 160]);
        p
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn relay(now: Instant) -> Relay {
        Relay::new(
            MediaTarget {
                addr: addr("10.0.0.1:4000"),
                payload_type: 0,
            },
            MediaTarget {
                addr: addr("10.0.0.2:5000"),
                payload_type: 0,
            },
            now,
        )
    }

    #[test]
    fn an_answer_names_where_and_how_audio_goes() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
        assert_eq!(
            answered_media(sdp),
            Ok(MediaTarget {
                addr: addr("192.0.2.10:4000"),
                payload_type: 8
            })
        );
        // A media-level address wins over the session's.
        let sdp = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.11\r\n";
        assert_eq!(answered_media(sdp).unwrap().addr, addr("192.0.2.11:4000"));
        let v6 = "v=0\r\nc=IN IP6 ::1\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(answered_media(v6).unwrap().addr, addr("[::1]:4000"));
    }

    #[test]
    fn an_answer_ringback_cannot_speak_is_refused_with_the_reason() {
        let no_codec = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 4000 RTP/AVP 18 101\r\n";
        assert!(
            answered_media(no_codec)
                .unwrap_err()
                .starts_with("no common codec")
        );
        assert!(answered_media("v=0\r\n").unwrap_err().contains("no audio"));
        assert!(answered_media("").is_err());
        let no_address = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert!(
            answered_media(no_address)
                .unwrap_err()
                .contains("connection address")
        );
        let rejected = "v=0\r\nc=IN IP4 192.0.2.10\r\nm=audio 0 RTP/AVP 0\r\n";
        assert!(answered_media(rejected).unwrap_err().contains("port 0"));
        let garbage = "v=0\r\nc=IN IP4 not-an-address\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert!(
            answered_media(garbage)
                .unwrap_err()
                .contains("connection line")
        );
    }

    #[test]
    fn the_payload_follows_the_header_csrcs_and_extension() {
        let plain = rtp(0);
        assert_eq!(payload(&plain).unwrap().len(), 160);
        // Two CSRCs, an extension of one word, and 3 bytes of padding.
        let mut p = vec![0xb2, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        p.extend([0u8; 8]); // CSRCs
        p.extend([0xbe, 0xde, 0, 1, 1, 2, 3, 4]); // extension header and its word
        p.extend([9u8; 5]);
        p.extend([0, 0, 3]);
        assert_eq!(payload(&p), Some(&[9u8; 5][..]));
        // A header that claims more than the packet holds.
        let mut short = vec![0x8f, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        short.extend([0u8; 4]);
        assert_eq!(payload(&short), None);
        assert_eq!(payload(&[0x80, 0]), None);
    }

    #[test]
    fn audio_crosses_to_the_far_side() {
        let now = Instant::now();
        let mut r = relay(now);
        assert_eq!(
            r.receive(Side::Customer, addr("10.0.0.1:4000"), &rtp(0), now),
            Forward::To(addr("10.0.0.2:5000"))
        );
        assert_eq!(
            r.receive(Side::Other, addr("10.0.0.2:5000"), &rtp(0), now),
            Forward::To(addr("10.0.0.1:4000"))
        );
        // Comfort noise and telephone events pass; another static codec does not.
        assert!(matches!(
            r.receive(Side::Other, addr("10.0.0.2:5000"), &rtp(13), now),
            Forward::To(_)
        ));
        assert!(matches!(
            r.receive(Side::Other, addr("10.0.0.2:5000"), &rtp(101), now),
            Forward::To(_)
        ));
        assert_eq!(
            r.receive(Side::Other, addr("10.0.0.2:5000"), &rtp(18), now),
            Forward::Drop(Dropped::UnexpectedPayload)
        );
        assert_eq!(r.counts(Side::Customer).relayed, 1);
        assert_eq!(r.counts(Side::Other).relayed, 3);
    }

    #[test]
    fn strangers_and_garbage_are_dropped() {
        let now = Instant::now();
        let mut r = relay(now);
        assert_eq!(
            r.receive(Side::Customer, addr("10.9.9.9:4000"), &rtp(0), now),
            Forward::Drop(Dropped::UnexpectedSource)
        );
        assert_eq!(
            r.receive(Side::Customer, addr("10.0.0.1:4000"), b"hello", now),
            Forward::Drop(Dropped::NotRtp)
        );
        let mut v1 = rtp(0);
        v1[0] = 0x40;
        assert_eq!(
            r.receive(Side::Customer, addr("10.0.0.1:4000"), &v1, now),
            Forward::Drop(Dropped::NotRtp)
        );
        let counts = r.counts(Side::Customer);
        assert_eq!(
            (counts.relayed, counts.from_strangers, counts.not_rtp),
            (0, 1, 2)
        );
    }

    #[test]
    fn a_peer_behind_nat_is_latched_once() {
        let now = Instant::now();
        let mut r = relay(now);
        // The other leg answered 10.0.0.2:5000 but sends from port 6000: latched.
        assert!(matches!(
            r.receive(Side::Other, addr("10.0.0.2:6000"), &rtp(0), now),
            Forward::To(_)
        ));
        // The customer's audio now goes to the latched port.
        assert_eq!(
            r.receive(Side::Customer, addr("10.0.0.1:4000"), &rtp(0), now),
            Forward::To(addr("10.0.0.2:6000"))
        );
        // Once latched, another port of the same host is a stranger.
        assert_eq!(
            r.receive(Side::Other, addr("10.0.0.2:7000"), &rtp(0), now),
            Forward::Drop(Dropped::UnexpectedSource)
        );
    }

    #[test]
    fn a_call_whose_audio_comes_only_from_strangers_fails() {
        let now = Instant::now();
        let mut r = relay(now);
        r.receive(Side::Customer, addr("10.0.0.1:4000"), &rtp(0), now);
        r.receive(Side::Other, addr("10.6.6.6:5000"), &rtp(0), now);
        assert_eq!(
            r.check(now + Duration::from_secs(5)),
            None,
            "too early to judge"
        );
        let reason = r.check(now + SILENT_PEER).expect("the other leg is broken");
        assert!(reason.starts_with("rtp_unexpected_source"), "{reason}");
        assert!(
            reason.contains("10.6.6.6:5000") && reason.contains("other"),
            "{reason}"
        );
        // A leg that is merely silent (no packets at all) is not failed: hold, mute, VAD.
        let quiet = relay(now);
        assert_eq!(quiet.check(now + SILENT_PEER * 3), None);
    }
}
