//! The signals the store raises after its commits: wake-ups for the scheduler, the webhook
//! fan-out and the router ([`DueSignal`]), for readers of agents' feeds ([`FeedSignals`]) and
//! for the authentication caches ([`CredentialsSignal`]), and how they are relayed to the other
//! nodes sharing the database.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::Duration,
};

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc};

/// Which of a node's sleepers a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// The scheduler (bridge dispatches).
    Due = 0,
    /// The webhook fan-out.
    Events = 1,
    /// The router (preview callbacks, offers, reminders).
    Routing = 2,
}

impl Channel {
    pub(crate) const ALL: [Channel; 3] = [Channel::Due, Channel::Events, Channel::Routing];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Channel::Due => "due",
            Channel::Events => "events",
            Channel::Routing => "routing",
        }
    }
}

/// A wake-up raised on this node, to be passed on to the other nodes sharing the database.
#[derive(Debug, Clone)]
pub(crate) enum Wake {
    At(Channel, Timestamp),
    Now(Channel),
    Agents(Vec<String>),
}

/// Wakes the scheduler when a callback becomes due earlier than it planned to look.
///
/// The store raises it on every write that sets a due time, so the API never talks to the
/// scheduler directly. On PostgreSQL every wake-up is also relayed to the other nodes, which
/// raise it locally (`*_local`) when it arrives. Several claimers of one node may share it:
/// waking any one of them is enough, since each reads the next due time after arming.
#[derive(Debug)]
pub struct DueSignal {
    sleeping_until_ms: AtomicI64,
    notify: Notify,
    relay: OnceLock<(Channel, mpsc::UnboundedSender<Wake>)>,
}

impl Default for DueSignal {
    fn default() -> Self {
        Self {
            sleeping_until_ms: AtomicI64::new(i64::MIN),
            notify: Notify::new(),
            relay: OnceLock::new(),
        }
    }
}

impl DueSignal {
    /// A callback is due at `due`: wake the sleeper if that is before its planned wake-up.
    pub fn announce(&self, due: Timestamp) {
        self.announce_local(due);
        if let Some((channel, relay)) = self.relay.get() {
            let _ = relay.send(Wake::At(*channel, due));
        }
    }

    /// [`announce`](Self::announce) on this node only.
    pub(crate) fn announce_local(&self, due: Timestamp) {
        if due.as_millisecond() < self.sleeping_until_ms.load(Ordering::Acquire) {
            self.notify.notify_one();
        }
    }

    /// From now on, pass every wake-up on to `relay` as well.
    pub(crate) fn relay_to(&self, channel: Channel, relay: mpsc::UnboundedSender<Wake>) {
        let _ = self.relay.set((channel, relay));
    }

    /// Marks the sleeper as about to sleep: any announcement from now on wakes it, even one made
    /// before it reaches [`sleep_until`](Self::sleep_until).
    pub fn arm(&self) {
        self.sleeping_until_ms.store(i64::MAX, Ordering::Release);
    }

    /// Wakes the sleeper whatever it planned (new work of any time).
    pub fn notify(&self) {
        self.notify_local();
        if let Some((channel, relay)) = self.relay.get() {
            let _ = relay.send(Wake::Now(*channel));
        }
    }

    /// [`notify`](Self::notify) on this node only.
    pub(crate) fn notify_local(&self) {
        if self.sleeping_until_ms.load(Ordering::Acquire) != i64::MIN {
            self.notify.notify_one();
        }
    }

    /// Sleeps until `until`, or until a due time before `covers_until` is announced (work the
    /// sleeper would not pick up at `until` otherwise).
    pub async fn sleep_until(&self, until: Timestamp, covers_until: Timestamp, now: Timestamp) {
        self.sleeping_until_ms
            .store(covers_until.as_millisecond(), Ordering::Release);
        let wait = until
            .duration_since(now)
            .try_into()
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = self.notify.notified() => {}
        }
        self.sleeping_until_ms.store(i64::MIN, Ordering::Release);
    }
}

/// Wakes the readers of agents' feeds: one channel per agent someone is reading, raised after
/// a commit that wrote to that agent's feed. Readers of other agents are not woken, so a
/// thousand open desktops cost nothing when one agent gets an offer.
#[derive(Debug, Default)]
pub struct FeedSignals {
    agents: std::sync::Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>,
    relay: OnceLock<mpsc::UnboundedSender<Wake>>,
}

impl FeedSignals {
    pub fn subscribe(&self, agent: &str) -> tokio::sync::watch::Receiver<u64> {
        let mut agents = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        agents
            .entry(agent.to_owned())
            .or_insert_with(|| tokio::sync::watch::Sender::new(0))
            .subscribe()
    }

    /// Wakes the readers of these agents' feeds, here and on the other nodes.
    pub fn raise<'a>(&self, agents: impl IntoIterator<Item = &'a str>) {
        match self.relay.get() {
            Some(relay) => {
                let agents: Vec<&str> = agents.into_iter().collect();
                self.raise_local(agents.iter().copied());
                if !agents.is_empty() {
                    let _ = relay.send(Wake::Agents(
                        agents.into_iter().map(str::to_owned).collect(),
                    ));
                }
            }
            None => self.raise_local(agents),
        }
    }

    /// From now on, pass every raise on to `relay` as well.
    pub(crate) fn relay_to(&self, relay: mpsc::UnboundedSender<Wake>) {
        let _ = self.relay.set(relay);
    }

    /// Wakes the readers of these agents' feeds on this node (and forgets agents nobody reads
    /// any more).
    pub(crate) fn raise_local<'a>(&self, agents: impl IntoIterator<Item = &'a str>) {
        let mut map = self.agents.lock().unwrap_or_else(|e| e.into_inner());
        for agent in agents {
            let Some(tx) = map.get(agent) else {
                continue;
            };
            if tx.receiver_count() == 0 {
                map.remove(agent);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }
}

/// Tells the authentication caches that credentials changed: an API key revoked or rotated, a
/// JWT key set, replaced or removed, anywhere.
///
/// The store raises it after committing such a change. Changes made elsewhere raise it too: on
/// PostgreSQL the changing transaction sends `NOTIFY ringback`, which every node (and so the
/// changes of other nodes and of `ringback keys revoke`) relays here; on SQLite the change bumps
/// a counter in the database, which a running server reads ten times a second, so a CLI
/// process's change reaches it within [`super::sqlite::CREDENTIALS_POLL`]. A cache keeps with each
/// entry the [`generation`](Self::generation) it read *before* looking the entry up, and
/// trusts the entry only while the generation is unchanged: a change committed during the
/// lookup leaves what it found stale.
#[derive(Debug, Default)]
pub struct CredentialsSignal {
    generation: AtomicU64,
    /// Changes made elsewhere may go unheard (PostgreSQL: the listening connection is down).
    deaf: AtomicBool,
}

impl CredentialsSignal {
    /// The current generation, or `None` while changes made elsewhere may go unheard, when
    /// nothing looked up may be kept or trusted.
    pub fn generation(&self) -> Option<u64> {
        // The generation first: a gap that starts after it was read raises it, so an entry
        // kept under it is stale however the two reads interleave with the gap.
        let generation = self.generation.load(Ordering::SeqCst);
        (!self.deaf.load(Ordering::SeqCst)).then_some(generation)
    }

    /// Credentials changed: whatever was cached about them is stale.
    pub fn raise(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Changes made elsewhere may go unheard from now on: cache nothing, trust nothing cached.
    pub(crate) fn lose_hearing(&self) {
        self.deaf.store(true, Ordering::SeqCst);
        self.raise();
    }

    /// Changes made elsewhere are heard again. What was cached before the gap stays stale:
    /// a change made during it was never heard.
    pub(crate) fn regain_hearing(&self) {
        self.raise();
        self.deaf.store(false, Ordering::SeqCst);
    }
}
