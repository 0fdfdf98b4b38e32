//! HyParView membership (Leitão, Pereira, Rodrigues, DSN 2007).
//!
//! A small symmetric *active view* of open links carries the broadcasts; a
//! larger *passive view* of known but unconnected peers is the reserve the
//! active view is refilled from when a neighbour fails (§4.3), and it is kept
//! fresh by periodic random-walk shuffles (§4.4).
//!
//! Departures from the paper, each for a bug seen in other implementations:
//! - A peer enters the active view of the node that *asked* only once its
//!   NEIGHBOR reply arrives; the node that *answers* adds the asker when it
//!   accepts. The JOIN contact and the last hop of a FORWARDJOIN go through
//!   the same handshake, so a link is never half-open by design.
//! - Every neighbour-down event carries its [`DownReason`], so an eviction is
//!   never mistaken for a failure (which would make the evicted node re-join
//!   and evict someone else, forever).
//! - A node whose views have both emptied re-joins through the contacts it
//!   was started with, with exponential backoff, so a partition that heals
//!   leaves no permanent island. While the active view has room, the node
//!   keeps trying passive peers on every shuffle tick.
//! - A neighbour whose link failed is not forgotten (§4.3 drops it from both
//!   views): it is probed with a JOIN every few seconds, then ever more
//!   rarely as the loss ages, whether or not the active view has refilled.
//!   During a cut each side refills its active view from its own side and
//!   would otherwise never look out again; the first probe through after
//!   the heal merges the two halves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::PeerInfo;
use crate::wire::hyparview::{Message, Priority};

/// HyParView's knobs. Defaults are the paper's (§5, "Experimental setup")
/// except where a field says otherwise.
#[derive(Clone, Debug)]
pub struct Config {
    /// Active view size (paper: fanout + 1 = 5). The broadcast layer's
    /// fanout is this size minus one.
    pub active_size: usize,
    /// Passive view size (paper: 30). Large enough that half the network
    /// can crash and a node still finds a live passive peer.
    pub passive_size: usize,
    /// Active random walk length: FORWARDJOIN's initial TTL (paper: 6).
    pub arwl: u8,
    /// Passive random walk length: the TTL at which a FORWARDJOIN adds the
    /// joiner to the passive view (paper: 3).
    pub prwl: u8,
    /// Hops a SHUFFLE walks before it is answered (paper: 6, as ARWL).
    pub shuffle_ttl: u8,
    /// Active-view peers sent in a SHUFFLE (paper: 3).
    pub shuffle_active: usize,
    /// Passive-view peers sent in a SHUFFLE (paper: 4).
    pub shuffle_passive: usize,
    /// Time between two shuffles (paper: a "cycle"; here 10 s). Each period
    /// is jittered by ±10 % so nodes do not shuffle in lockstep.
    pub shuffle_period: Duration,
    /// How long a NEIGHBOR request may go unanswered before the peer is
    /// treated as unreachable (the transport normally reports the failure
    /// first; this covers a lost message).
    pub neighbor_timeout: Duration,
    /// First delay before re-joining through the contacts once both views
    /// are empty; doubles on every attempt up to `rejoin_backoff_max`.
    pub rejoin_backoff: Duration,
    /// Longest delay between two re-join attempts.
    pub rejoin_backoff_max: Duration,
    /// A node that knows fewer peers than this (active and passive views
    /// together) on a shuffle tick re-joins through a contact outside its
    /// active view. A healthy overlay fills the passive view within a few
    /// shuffles; a handful of nodes whose full active views point only at
    /// each other (an island left by a join storm or a partition) never
    /// does, and nothing else would ever link them back. The default, 6
    /// (one more than the active view), never fires in an overlay small
    /// enough for every node to be a neighbour of every other.
    pub rejoin_below: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            active_size: 5,
            passive_size: 30,
            arwl: 6,
            prwl: 3,
            shuffle_ttl: 6,
            shuffle_active: 3,
            shuffle_passive: 4,
            shuffle_period: Duration::from_secs(10),
            neighbor_timeout: Duration::from_secs(5),
            rejoin_backoff: Duration::from_millis(500),
            rejoin_backoff_max: Duration::from_secs(60),
            rejoin_below: 6,
        }
    }
}

/// What the membership layer asks of its caller, the overlay (which wraps
/// it into its own [`super::Output`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to`, opening a connection if none is open.
    Send {
        to: PeerInfo,
        msg: Message,
    },
    /// Close the connection to `peer` once what was queued for it is sent.
    Disconnect {
        peer: NodeId,
    },
    /// Feed `timer` back at `at` (or later).
    Schedule {
        at: Time,
        timer: Timer,
    },
    Event(Event),
}

/// A change to the active view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    NeighborUp(PeerInfo),
    NeighborDown { peer: NodeId, reason: DownReason },
}

/// Why a neighbour left the active view. The runtime must not treat an
/// eviction like a failure, or a node falls into a join/evict churn loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// The peer sent DISCONNECT (it left, or made room for another).
    ClosedByPeer,
    /// The connection broke.
    Failed,
    /// We dropped it to make room for a new neighbour.
    Evicted,
    /// We are leaving.
    Left,
}

/// HyParView's wake-ups. A timer that is no longer relevant when it fires is
/// ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Periodic passive-view shuffle and active-view top-up (§4.4).
    Shuffle,
    /// Retry joining through the contacts (both views are empty).
    Rejoin,
    /// A NEIGHBOR request to this peer may have been lost.
    NeighborTimeout(NodeId),
    /// Lost peers are due to be probed.
    ProbeLost,
}

/// A NEIGHBOR request this node sent and is waiting on.
#[derive(Clone, Copy, Debug)]
struct Pending {
    sent_at: Time,
}

/// A peer whose connection failed, remembered so the overlay can re-merge
/// when the failure was a partition rather than a crash.
#[derive(Clone, Copy, Debug)]
struct Lost {
    peer: PeerInfo,
    /// When its link failed: the probes thin out with the loss's age.
    since: Time,
    next_probe: Time,
}

/// The shortest wait between two probes of one lost peer. A probe is one
/// dial (one TCP connect, or an ARP query on the office's segment, when
/// the peer is gone), so every node probing each of its lost peers this
/// often costs the office next to nothing, and the two sides of a healed
/// cut find each other within this time: the first probe to get through
/// merges them. It is above the dial's own timeout (the handshake's 5 s),
/// so a probe is not stacked on the dial of the one before.
pub const PROBE_MIN: Duration = Duration::from_secs(6);
/// A lost peer is probed again after this share of the time it has been
/// lost (never sooner than [`PROBE_MIN`], never later than [`PROBE_MAX`]):
/// a cut is found healed within about 1/60 of its length, a switch
/// rebooted for 3 minutes within seconds, a night-long outage within
/// minutes, and a Pi that is gone for good costs a dial every few minutes
/// rather than one every few seconds for ever.
pub const PROBE_SHARE: u32 = 60;
/// The longest wait between two probes of one lost peer.
pub const PROBE_MAX: Duration = Duration::from_secs(5 * 60);
/// A peer lost this long is forgotten: it was decommissioned or re-imaged
/// (a new key, a new id). A partition longer than this heals through the
/// contacts and the passive views, as a node that restarts does.
pub const FORGET_LOST_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Probes sent on one wake-up. The lost peers are at most the passive
/// view's size; with their probes spread by jitter, a node never opens
/// more than this many dials at once for them.
pub const MAX_PROBES_AT_ONCE: usize = 4;

/// The wait before the next probe of a peer lost for `age`.
fn probe_interval(age: Duration) -> Duration {
    (age / PROBE_SHARE).clamp(PROBE_MIN, PROBE_MAX)
}

/// One replica's membership state.
#[derive(Debug)]
pub struct HyParView {
    me: PeerInfo,
    config: Config,
    rng: ChaCha8Rng,
    active: BTreeMap<NodeId, PeerInfo>,
    passive: BTreeMap<NodeId, PeerInfo>,
    /// NEIGHBOR requests in flight; they count against the active view's
    /// room so a node never asks more peers than it has slots for.
    pending: BTreeMap<NodeId, Pending>,
    /// Passive peers that refused or failed a NEIGHBOR request since the
    /// last shuffle tick: not asked again until then, so a node among full
    /// peers does not spin on refusals.
    refused: BTreeSet<NodeId>,
    /// Low-priority NEIGHBOR requests this node may still send before the
    /// next shuffle tick. Losing a neighbour opens a full budget (ask peer
    /// after peer until one has room: that is how the overlay heals); a
    /// shuffle tick opens one request per free slot. Without it, a node
    /// whose last slot stays free among full peers (a healthy overlay
    /// with an odd number of link ends always has one) asked its whole
    /// passive view, 30 requests and 30 refusals, every shuffle period.
    refill_budget: usize,
    /// Observers attached to this node: never placed in a view.
    excluded: BTreeSet<NodeId>,
    /// The addresses this node was started with, for re-joining.
    contacts: Vec<PeerInfo>,
    /// Peers whose connection failed. HyParView (§4.3) drops them from
    /// both views, which is right for a crash but leaves two halves of a
    /// healed partition knowing nobody across the cut, and a node whose
    /// active view refilled on its own side never looks out again. Each
    /// is probed with a JOIN (a dead one just fails again; a live one
    /// takes us in and advertises us) on its own schedule
    /// ([`probe_interval`]), whether or not the active view is full.
    lost: BTreeMap<NodeId, Lost>,
    /// When the earliest [`Timer::ProbeLost`] scheduled will fire.
    probe_at: Option<Time>,
    /// The peers this node sent in its last shuffle sample (as origin or as
    /// a walk's end): the first to go when the partner's peers need room
    /// (§4.4).
    last_shuffle: Vec<NodeId>,
    /// A walk this node started has not been answered yet: only then does
    /// an answer-wanted sample get ours in return.
    shuffle_pending: bool,
    shuffle_armed: bool,
    rejoin_armed: bool,
    rejoin_delay: Duration,
    /// Set by `Leave`: the node ignores the overlay until it joins again.
    left: bool,
}

impl HyParView {
    pub fn new(me: PeerInfo, config: Config, seed: u64) -> Self {
        let rejoin_delay = config.rejoin_backoff;
        HyParView {
            me,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            active: BTreeMap::new(),
            passive: BTreeMap::new(),
            pending: BTreeMap::new(),
            refused: BTreeSet::new(),
            refill_budget: 0,
            excluded: BTreeSet::new(),
            contacts: Vec::new(),
            lost: BTreeMap::new(),
            probe_at: None,
            last_shuffle: Vec::new(),
            shuffle_pending: false,
            shuffle_armed: false,
            rejoin_armed: false,
            rejoin_delay,
            left: false,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn active(&self) -> &BTreeMap<NodeId, PeerInfo> {
        &self.active
    }

    pub fn passive(&self) -> &BTreeMap<NodeId, PeerInfo> {
        &self.passive
    }

    /// The peers this node will reach out to on its own as things stand:
    /// its neighbours and the lost peers it probes always; its passive
    /// peers while the active view has room (§4.3); its contacts while it
    /// knows fewer than `rejoin_below` peers (the way out of a small
    /// island). A healthy node does not go looking for its contacts, so two
    /// groups merge only if one of them would contact the other; tests use
    /// this to tell islands the protocol must heal from groups that cannot
    /// know of each other.
    #[cfg(test)]
    pub fn would_contact(&self) -> BTreeSet<NodeId> {
        let mut ids: BTreeSet<NodeId> = self
            .active
            .keys()
            .chain(self.lost.keys())
            .copied()
            .collect();
        if self.active.len() < self.config.active_size {
            ids.extend(self.passive.keys().copied());
        }
        if self.active.len() + self.passive.len() < self.config.rejoin_below {
            ids.extend(self.contacts.iter().map(|c| c.id));
        }
        ids
    }

    pub fn is_active(&self, id: NodeId) -> bool {
        self.active.contains_key(&id)
    }

    /// How many failed peers are still to be probed: while any is, the
    /// node may still reach across a healed partition and reshape views.
    pub fn lost_peers(&self) -> usize {
        self.lost.len()
    }

    /// Starts (or restarts) membership through `contacts`; an empty list
    /// makes this the first node of a new overlay.
    pub fn join(&mut self, now: Time, contacts: Vec<PeerInfo>, out: &mut Vec<Output>) {
        self.left = false;
        self.contacts = contacts
            .into_iter()
            .filter(|c| c.id != self.me.id)
            .collect();
        self.contacts.sort();
        self.contacts.dedup();
        self.rejoin_delay = self.config.rejoin_backoff;
        if !self.shuffle_armed {
            // The first shuffle lands anywhere in one period, so nodes
            // started together spread their shuffles out.
            let first = self
                .config
                .shuffle_period
                .mul_f64(self.rng.random_range(0.5..1.5));
            self.schedule(now + first, Timer::Shuffle, out);
            self.shuffle_armed = true;
        }
        self.send_join(now, out);
    }

    /// Marks `id` as an observer: never placed in a view, its membership
    /// messages ignored.
    pub fn observer_up(&mut self, id: NodeId) {
        self.excluded.insert(id);
        self.passive.remove(&id);
    }

    pub fn observer_down(&mut self, id: NodeId) {
        self.excluded.remove(&id);
    }

    /// Leaves gracefully: every neighbour is told this node is gone for good.
    pub fn leave(&mut self, out: &mut Vec<Output>) {
        for (id, peer) in std::mem::take(&mut self.active) {
            send(out, peer, Message::Disconnect { alive: false });
            out.push(Output::Disconnect { peer: id });
            out.push(Output::Event(Event::NeighborDown {
                peer: id,
                reason: DownReason::Left,
            }));
        }
        // Gone for good: a later join starts again from its contacts, so
        // peers lost before the leave are forgotten with the views (their
        // probes stop while the node is away, and nothing would restart them).
        self.passive.clear();
        self.pending.clear();
        self.refused.clear();
        self.lost.clear();
        self.probe_at = None;
        self.left = true;
    }

    /// Tells `peer` that we hold no link to it, unless we are about to
    /// (a NEIGHBOR request to it is in flight).
    pub fn close_stale(&mut self, peer: PeerInfo, out: &mut Vec<Output>) {
        if self.left || self.pending.contains_key(&peer.id) || self.excluded.contains(&peer.id) {
            return;
        }
        send(out, peer, Message::Disconnect { alive: true });
        out.push(Output::Disconnect { peer: peer.id });
    }

    pub fn handle_message(
        &mut self,
        now: Time,
        from: PeerInfo,
        msg: Message,
        out: &mut Vec<Output>,
    ) {
        if from.id == self.me.id || self.excluded.contains(&from.id) {
            return;
        }
        self.lost.remove(&from.id);
        if self.left {
            // A peer that links to us after we left (its request, its
            // acceptance or a JOIN we sent crossed our DISCONNECT, and it
            // now shuffles with us) must learn we are gone, or it keeps a
            // link to nobody in its active view.
            if !matches!(msg, Message::Disconnect { .. }) {
                send(out, from, Message::Disconnect { alive: false });
                out.push(Output::Disconnect { peer: from.id });
            }
            return;
        }
        let walks = matches!(msg, Message::Shuffle { .. } | Message::ForwardJoin { .. });
        if walks && !self.active.contains_key(&from.id) {
            // Walks only travel along links: the sender holds one we lack.
            self.close_stale(from, out);
        }
        match msg {
            Message::Join { node } => self.on_join(now, from, node, out),
            Message::ForwardJoin { node, ttl } => self.on_forward_join(now, from, node, ttl, out),
            Message::Neighbor { priority } => self.on_neighbor(from, priority, out),
            Message::NeighborReply { accepted } => self.on_neighbor_reply(now, from, accepted, out),
            Message::Disconnect { alive } => self.on_disconnect(now, from, alive, out),
            Message::Shuffle { origin, ttl } => self.on_shuffle(from, origin, ttl, out),
            Message::ShuffleReply { nodes, answer } => {
                self.on_shuffle_reply(from, nodes, answer, out)
            }
        }
    }

    /// A broadcast that `origin` started has just been delivered here: it
    /// is alive and its side of the overlay reaches ours, so if it was lost
    /// it needs no JOIN probe (a probe is accepted at high priority, evicts
    /// a neighbour and starts walks: churn for nothing in a healthy office).
    pub fn heard_from(&mut self, origin: NodeId) {
        self.lost.remove(&origin);
    }

    /// The transport lost the connection to `id` or could not open it.
    pub fn peer_failed(&mut self, now: Time, id: NodeId, out: &mut Vec<Output>) {
        if self.left {
            return;
        }
        let known = self
            .active
            .get(&id)
            .or_else(|| self.passive.get(&id))
            .copied();
        if self.active.remove(&id).is_some() {
            out.push(Output::Event(Event::NeighborDown {
                peer: id,
                reason: DownReason::Failed,
            }));
            self.refill_budget = self.config.passive_size;
        }
        self.remember_lost(now, id, known, out);
        // An unreachable peer is no use in the passive view either (§4.3).
        self.passive.remove(&id);
        self.pending.remove(&id);
        self.refused.remove(&id);
        self.fill_active(now, out);
    }

    pub fn timer_fired(&mut self, now: Time, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::Shuffle => {
                self.shuffle_armed = false;
                if self.left {
                    return;
                }
                let jitter = self.rng.random_range(0.9..1.1);
                self.schedule(
                    now + self.config.shuffle_period.mul_f64(jitter),
                    Timer::Shuffle,
                    out,
                );
                self.shuffle_armed = true;
                self.refused.clear();
                self.shuffle(out);
                let free = self
                    .config
                    .active_size
                    .saturating_sub(self.active.len() + self.pending.len());
                self.refill_budget = self.refill_budget.max(free);
                self.fill_active(now, out);
                if self.active.len() + self.passive.len() < self.config.rejoin_below {
                    self.join_outside(out);
                }
            }
            Timer::ProbeLost => {
                if self.probe_at.is_some_and(|at| at <= now) {
                    self.probe_at = None;
                }
                if !self.left {
                    self.probe_lost(now, out);
                }
            }
            Timer::Rejoin => {
                self.rejoin_armed = false;
                if self.left || !self.active.is_empty() || !self.pending.is_empty() {
                    return;
                }
                if self.passive.is_empty() {
                    self.send_join(now, out);
                } else {
                    self.fill_active(now, out);
                }
                self.rejoin_delay = (self.rejoin_delay * 2).min(self.config.rejoin_backoff_max);
                self.arm_rejoin(now, out);
            }
            Timer::NeighborTimeout(id) => {
                let expired = self
                    .pending
                    .get(&id)
                    .is_some_and(|p| p.sent_at + self.config.neighbor_timeout <= now);
                if expired {
                    self.pending.remove(&id);
                    self.refused.insert(id);
                    // Only the reply may have been lost: if the peer did
                    // accept, it must not keep a link we gave up on.
                    if let Some(peer) = self.passive.get(&id).copied() {
                        send(out, peer, Message::Disconnect { alive: true });
                        out.push(Output::Disconnect { peer: id });
                    }
                    self.fill_active(now, out);
                }
            }
        }
    }

    /// Remembers a failed peer for probing; a failed probe of one already
    /// lost changes nothing (its next probe is already set).
    fn remember_lost(
        &mut self,
        now: Time,
        id: NodeId,
        known: Option<PeerInfo>,
        out: &mut Vec<Output>,
    ) {
        if self.lost.contains_key(&id) {
            return;
        }
        let Some(peer) = known else {
            return;
        };
        if self.lost.len() >= self.config.passive_size
            && let Some(oldest) = self
                .lost
                .values()
                .min_by_key(|l| (l.next_probe, l.peer.id))
                .map(|l| l.peer.id)
        {
            self.lost.remove(&oldest);
        }
        let next_probe = now + self.jittered(PROBE_MIN);
        self.lost.insert(
            id,
            Lost {
                peer,
                since: now,
                next_probe,
            },
        );
        self.arm_probe(now, out);
    }

    /// Sends JOIN to the lost peers whose probe is due, most overdue
    /// first, forgets those lost for [`FORGET_LOST_AFTER`], and sets the
    /// next wake-up.
    fn probe_lost(&mut self, now: Time, out: &mut Vec<Output>) {
        self.lost
            .retain(|_, l| now.saturating_since(l.since) < FORGET_LOST_AFTER);
        let mut due: Vec<(Time, NodeId)> = self
            .lost
            .values()
            .filter(|l| l.next_probe <= now && !self.active.contains_key(&l.peer.id))
            .map(|l| (l.next_probe, l.peer.id))
            .collect();
        due.sort_unstable();
        for (_, id) in due.into_iter().take(MAX_PROBES_AT_ONCE) {
            let Some(lost) = self.lost.get(&id).copied() else {
                continue;
            };
            let wait = self.jittered(probe_interval(now.saturating_since(lost.since)));
            if let Some(l) = self.lost.get_mut(&id) {
                l.next_probe = now + wait;
            }
            send(out, lost.peer, Message::Join { node: self.me });
        }
        self.arm_probe(now, out);
    }

    /// Schedules [`Timer::ProbeLost`] for the earliest probe due, unless
    /// one is already set to fire by then. Probes left over past
    /// [`MAX_PROBES_AT_ONCE`] wait a second.
    fn arm_probe(&mut self, now: Time, out: &mut Vec<Output>) {
        let Some(next) = self.lost.values().map(|l| l.next_probe).min() else {
            return;
        };
        let at = next.max(now + Duration::from_secs(1));
        if self.probe_at.is_some_and(|armed| armed <= at) {
            return;
        }
        self.probe_at = Some(at);
        self.schedule(at, Timer::ProbeLost, out);
    }

    /// `wait` spread by ±10 %, so the nodes that lost the same peers at
    /// the same moment do not probe in lockstep.
    fn jittered(&mut self, wait: Duration) -> Duration {
        wait.mul_f64(self.rng.random_range(0.9..1.1))
    }

    fn send_join(&mut self, now: Time, out: &mut Vec<Output>) {
        if let Some(contact) = self.contacts.choose(&mut self.rng).copied() {
            send(out, contact, Message::Join { node: self.me });
            self.arm_rejoin(now, out);
        }
    }

    /// Sends JOIN to a random contact that is not already a neighbour: the
    /// way back from an island.
    fn join_outside(&mut self, out: &mut Vec<Output>) {
        let outside: Vec<PeerInfo> = self
            .contacts
            .iter()
            .filter(|c| !self.active.contains_key(&c.id))
            .copied()
            .collect();
        if let Some(contact) = outside.choose(&mut self.rng).copied() {
            send(out, contact, Message::Join { node: self.me });
        }
    }

    fn arm_rejoin(&mut self, now: Time, out: &mut Vec<Output>) {
        if !self.rejoin_armed && !self.contacts.is_empty() {
            self.schedule(now + self.rejoin_delay, Timer::Rejoin, out);
            self.rejoin_armed = true;
        }
    }

    /// §4.2: the contact opens a link to the joiner (through the NEIGHBOR
    /// handshake) and advertises it with a random walk from every other
    /// neighbour.
    fn on_join(&mut self, now: Time, from: PeerInfo, node: PeerInfo, out: &mut Vec<Output>) {
        // The transport authenticated `from`; a JOIN for someone else is
        // not trusted.
        if node.id != from.id || self.active.contains_key(&node.id) {
            return;
        }
        for peer in self.active.values() {
            send(
                out,
                *peer,
                Message::ForwardJoin {
                    node,
                    ttl: self.config.arwl,
                },
            );
        }
        self.request_neighbor(now, node, Priority::High, out);
    }

    /// §4.2: continue the walk, or end it by linking to the joiner.
    fn on_forward_join(
        &mut self,
        now: Time,
        from: PeerInfo,
        node: PeerInfo,
        ttl: u8,
        out: &mut Vec<Output>,
    ) {
        if node.id == self.me.id || self.excluded.contains(&node.id) {
            return;
        }
        if ttl == 0 || self.active.len() <= 1 {
            if !self.active.contains_key(&node.id) && !self.pending.contains_key(&node.id) {
                self.request_neighbor(now, node, Priority::Low, out);
            }
            return;
        }
        if ttl == self.config.prwl {
            self.add_passive(node);
        }
        let next = self.random_active_except(&[from.id, node.id]);
        match next {
            Some(next) => send(out, next, Message::ForwardJoin { node, ttl: ttl - 1 }),
            None => {
                if !self.active.contains_key(&node.id) && !self.pending.contains_key(&node.id) {
                    self.request_neighbor(now, node, Priority::Low, out);
                }
            }
        }
    }

    /// §4.3: a high-priority request is always accepted (the asker has no
    /// neighbour at all); a low-priority one only if there is room.
    fn on_neighbor(&mut self, from: PeerInfo, priority: Priority, out: &mut Vec<Output>) {
        let accept = self.active.contains_key(&from.id)
            || priority == Priority::High
            || self.active.len() < self.config.active_size;
        if accept {
            self.add_active(from, out);
        } else {
            self.add_passive(from);
        }
        send(out, from, Message::NeighborReply { accepted: accept });
    }

    fn on_neighbor_reply(
        &mut self,
        now: Time,
        from: PeerInfo,
        accepted: bool,
        out: &mut Vec<Output>,
    ) {
        let was_pending = self.pending.remove(&from.id).is_some();
        if accepted {
            if self.active.contains_key(&from.id) {
                return;
            }
            if was_pending {
                self.add_active(from, out);
            } else {
                // We gave up on this request, but the peer already linked
                // to us: close its half rather than leave it dangling.
                send(out, from, Message::Disconnect { alive: true });
                out.push(Output::Disconnect { peer: from.id });
                self.add_passive(from);
            }
        } else {
            self.refused.insert(from.id);
            self.add_passive(from);
            self.fill_active(now, out);
        }
    }

    fn on_disconnect(&mut self, now: Time, from: PeerInfo, alive: bool, out: &mut Vec<Output>) {
        self.pending.remove(&from.id);
        if self.active.remove(&from.id).is_some() {
            out.push(Output::Event(Event::NeighborDown {
                peer: from.id,
                reason: DownReason::ClosedByPeer,
            }));
            self.refill_budget = self.config.passive_size;
        }
        if alive {
            self.add_passive(from);
            // It just made room for someone else: asking it back at once
            // would be refused or would evict that newcomer.
            self.refused.insert(from.id);
        } else {
            self.passive.remove(&from.id);
        }
        self.fill_active(now, out);
    }

    /// §4.4: forward the walk, or end it by sending this node's sample
    /// straight to its origin, which answers with its own.
    fn on_shuffle(&mut self, from: PeerInfo, origin: PeerInfo, ttl: u8, out: &mut Vec<Output>) {
        if origin.id == self.me.id {
            return;
        }
        let ttl = ttl.saturating_sub(1);
        if ttl > 0
            && self.active.len() > 1
            && let Some(next) = self.random_active_except(&[from.id, origin.id])
        {
            send(out, next, Message::Shuffle { origin, ttl });
            return;
        }
        // The answer is a full sample whatever the origin knows: a node
        // that knows few peers (it joined late) needs more, not fewer.
        let full_sample = self.config.shuffle_active + self.config.shuffle_passive;
        let mut reply: Vec<PeerInfo> = self.passive.values().copied().collect();
        reply.shuffle(&mut self.rng);
        reply.truncate(full_sample);
        self.last_shuffle = reply.iter().map(|p| p.id).collect();
        send(
            out,
            origin,
            Message::ShuffleReply {
                nodes: reply,
                answer: true,
            },
        );
        self.integrate([origin], &[]);
    }

    /// Keeps the partner's sample; the walk's origin answers with its own.
    fn on_shuffle_reply(
        &mut self,
        from: PeerInfo,
        nodes: Vec<PeerInfo>,
        answer: bool,
        out: &mut Vec<Output>,
    ) {
        if answer && std::mem::take(&mut self.shuffle_pending) {
            let sample = self.sample(&[from.id]);
            self.last_shuffle = sample.iter().map(|p| p.id).collect();
            send(
                out,
                from,
                Message::ShuffleReply {
                    nodes: sample,
                    answer: false,
                },
            );
        }
        let sent = std::mem::take(&mut self.last_shuffle);
        self.integrate(nodes, &sent);
    }

    /// Starts a shuffle walk from a random neighbour (§4.4).
    fn shuffle(&mut self, out: &mut Vec<Output>) {
        let Some(target) = self.random_active_except(&[]) else {
            return;
        };
        self.shuffle_pending = true;
        send(
            out,
            target,
            Message::Shuffle {
                origin: self.me,
                ttl: self.config.shuffle_ttl,
            },
        );
    }

    /// This node's shuffle sample (§4.4): itself, `shuffle_active`
    /// neighbours and `shuffle_passive` passive peers, none of them in
    /// `except`.
    fn sample(&mut self, except: &[NodeId]) -> Vec<PeerInfo> {
        let mut active: Vec<PeerInfo> = self
            .active
            .values()
            .filter(|p| !except.contains(&p.id))
            .copied()
            .collect();
        active.shuffle(&mut self.rng);
        active.truncate(self.config.shuffle_active);
        let mut passive: Vec<PeerInfo> = self
            .passive
            .values()
            .filter(|p| !except.contains(&p.id))
            .copied()
            .collect();
        passive.shuffle(&mut self.rng);
        passive.truncate(self.config.shuffle_passive);
        let mut nodes = vec![self.me];
        nodes.extend(active);
        nodes.extend(passive);
        nodes
    }

    /// Adds shuffled peers to the passive view, making room by dropping
    /// first the peers this node sent away in the same exchange.
    fn integrate(&mut self, nodes: impl IntoIterator<Item = PeerInfo>, sent: &[NodeId]) {
        let mut sent = sent
            .iter()
            .copied()
            .filter(|id| self.passive.contains_key(id))
            .collect::<Vec<_>>();
        for node in nodes {
            if node.id == self.me.id
                || self.excluded.contains(&node.id)
                || self.active.contains_key(&node.id)
                || self.passive.contains_key(&node.id)
            {
                continue;
            }
            if self.passive.len() >= self.config.passive_size {
                match sent.pop() {
                    Some(id) => {
                        self.passive.remove(&id);
                    }
                    None => self.drop_random_passive(),
                }
            }
            self.passive.insert(node.id, node);
        }
    }

    /// Asks passive peers to fill the free active slots (§4.3): with high
    /// priority when this node has no neighbour at all, low otherwise.
    fn fill_active(&mut self, now: Time, out: &mut Vec<Output>) {
        if self.left {
            return;
        }
        while self.active.len() + self.pending.len() < self.config.active_size {
            let high = self.active.is_empty() && self.pending.is_empty();
            // A refusal was an answer to a low-priority request; a node
            // with no neighbour asks at high priority, which cannot be
            // refused, so it may ask the same peers again at once rather
            // than sit alone until the next shuffle forgets the refusals.
            let candidates: Vec<PeerInfo> = self
                .passive
                .values()
                .filter(|p| {
                    !self.pending.contains_key(&p.id) && (high || !self.refused.contains(&p.id))
                })
                .copied()
                .collect();
            if !high && self.refill_budget == 0 {
                break;
            }
            let Some(peer) = candidates.choose(&mut self.rng).copied() else {
                break;
            };
            if !high {
                self.refill_budget -= 1;
            }
            let priority = if high { Priority::High } else { Priority::Low };
            self.request_neighbor(now, peer, priority, out);
        }
        if self.active.is_empty() && self.pending.is_empty() {
            // Nobody left to ask: re-join through the contacts, backing off.
            self.arm_rejoin(now, out);
        } else if !self.active.is_empty() {
            self.rejoin_delay = self.config.rejoin_backoff;
        }
    }

    fn request_neighbor(
        &mut self,
        now: Time,
        peer: PeerInfo,
        priority: Priority,
        out: &mut Vec<Output>,
    ) {
        self.pending.insert(peer.id, Pending { sent_at: now });
        send(out, peer, Message::Neighbor { priority });
        self.schedule(
            now + self.config.neighbor_timeout,
            Timer::NeighborTimeout(peer.id),
            out,
        );
    }

    /// Puts `peer` in the active view, evicting a random neighbour if full.
    fn add_active(&mut self, peer: PeerInfo, out: &mut Vec<Output>) {
        if peer.id == self.me.id || self.active.contains_key(&peer.id) {
            return;
        }
        if self.active.len() >= self.config.active_size
            && let Some(victim) = self.random_active_except(&[])
        {
            self.active.remove(&victim.id);
            // Our other neighbours go with the eviction, as a shuffle
            // answer, so the victim asks them for its free slot next. It
            // only knows peers near us: when several joins arrive at once
            // (every Pi booting after a power cut), the link we drop may
            // be the victim's only way to the rest, and then its passive
            // view holds nobody outside its own branch. Measured on 60
            // seeds of 25 nodes joining 5 ms apart over 100 ms links: the
            // overlay was split for 36 and 56 s on two seeds without the
            // hints, never with them.
            let hints: Vec<PeerInfo> = self.active.values().copied().collect();
            send(
                out,
                victim,
                Message::ShuffleReply {
                    nodes: hints,
                    answer: false,
                },
            );
            send(out, victim, Message::Disconnect { alive: true });
            out.push(Output::Disconnect { peer: victim.id });
            out.push(Output::Event(Event::NeighborDown {
                peer: victim.id,
                reason: DownReason::Evicted,
            }));
            self.add_passive(victim);
        }
        self.passive.remove(&peer.id);
        self.pending.remove(&peer.id);
        self.refused.remove(&peer.id);
        self.lost.remove(&peer.id);
        self.active.insert(peer.id, peer);
        out.push(Output::Event(Event::NeighborUp(peer)));
    }

    fn add_passive(&mut self, peer: PeerInfo) {
        if peer.id == self.me.id
            || self.excluded.contains(&peer.id)
            || self.active.contains_key(&peer.id)
            || self.passive.contains_key(&peer.id)
        {
            return;
        }
        if self.passive.len() >= self.config.passive_size {
            self.drop_random_passive();
        }
        self.passive.insert(peer.id, peer);
    }

    fn drop_random_passive(&mut self) {
        // Never drop a peer we are waiting on: its reply would find no entry.
        let candidates: Vec<NodeId> = self
            .passive
            .keys()
            .filter(|id| !self.pending.contains_key(id))
            .copied()
            .collect();
        if let Some(id) = candidates.choose(&mut self.rng) {
            self.passive.remove(id);
        }
    }

    fn random_active_except(&mut self, except: &[NodeId]) -> Option<PeerInfo> {
        let candidates: Vec<PeerInfo> = self
            .active
            .values()
            .filter(|p| !except.contains(&p.id))
            .copied()
            .collect();
        candidates.choose(&mut self.rng).copied()
    }

    fn schedule(&self, at: Time, timer: Timer, out: &mut Vec<Output>) {
        out.push(Output::Schedule { at, timer });
    }
}

fn send(out: &mut Vec<Output>, to: PeerInfo, msg: Message) {
    out.push(Output::Send { to, msg });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::test_net::peer;

    fn node(id: u64) -> HyParView {
        HyParView::new(peer(id), Config::default(), id)
    }

    fn sent(out: &[Output]) -> Vec<(NodeId, Message)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { to, msg } => Some((to.id, msg.clone())),
                _ => None,
            })
            .collect()
    }

    fn events(out: &[Output]) -> Vec<Event> {
        out.iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn timers(out: &[Output]) -> Vec<(Time, Timer)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Schedule { at, timer } => Some((*at, timer.clone())),
                _ => None,
            })
            .collect()
    }

    /// `from` answers a NEIGHBOR request of `hv`; what `hv` does next.
    fn answer(hv: &mut HyParView, from: u64, accepted: bool) -> Vec<Output> {
        let mut out = Vec::new();
        hv.handle_message(
            Time::ZERO,
            peer(from),
            Message::NeighborReply { accepted },
            &mut out,
        );
        out
    }

    /// Makes `peers` neighbours of `hv` through accepted high-priority requests.
    fn with_active(hv: &mut HyParView, peers: &[u64]) {
        let mut out = Vec::new();
        for &p in peers {
            hv.handle_message(
                Time::ZERO,
                peer(p),
                Message::Neighbor {
                    priority: Priority::High,
                },
                &mut out,
            );
        }
    }

    #[test]
    fn join_asks_one_contact_and_arms_the_shuffle() {
        let mut a = node(1);
        let mut out = Vec::new();
        a.join(Time::ZERO, vec![peer(2)], &mut out);
        assert_eq!(
            sent(&out),
            vec![(NodeId(2), Message::Join { node: peer(1) })]
        );
        let t = timers(&out);
        assert!(t.iter().any(|(_, t)| *t == Timer::Shuffle));
        assert!(t.iter().any(|(_, t)| *t == Timer::Rejoin));
        assert!(
            a.active().is_empty(),
            "the contact is a neighbour only once it links back"
        );
    }

    #[test]
    fn the_contact_links_back_through_the_handshake_and_advertises_the_joiner() {
        let mut c = node(1);
        with_active(&mut c, &[2, 3]);
        let mut out = Vec::new();
        c.handle_message(
            Time::ZERO,
            peer(9),
            Message::Join { node: peer(9) },
            &mut out,
        );
        let msgs = sent(&out);
        assert!(msgs.contains(&(
            NodeId(9),
            Message::Neighbor {
                priority: Priority::High
            }
        )));
        assert!(msgs.contains(&(
            NodeId(2),
            Message::ForwardJoin {
                node: peer(9),
                ttl: 6
            }
        )));
        assert!(msgs.contains(&(
            NodeId(3),
            Message::ForwardJoin {
                node: peer(9),
                ttl: 6
            }
        )));
        assert!(!c.is_active(NodeId(9)), "not before the NEIGHBOR reply");

        let mut out = Vec::new();
        c.handle_message(
            Time::ZERO,
            peer(9),
            Message::NeighborReply { accepted: true },
            &mut out,
        );
        assert!(c.is_active(NodeId(9)));
        assert_eq!(events(&out), vec![Event::NeighborUp(peer(9))]);
    }

    #[test]
    fn a_join_for_someone_else_is_ignored() {
        let mut c = node(1);
        let mut out = Vec::new();
        c.handle_message(
            Time::ZERO,
            peer(2),
            Message::Join { node: peer(3) },
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn forward_join_adds_to_passive_at_prwl_and_links_at_the_end_of_the_walk() {
        let mut p = node(1);
        with_active(&mut p, &[2, 3, 4]);
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(2),
            Message::ForwardJoin {
                node: peer(9),
                ttl: 3,
            },
            &mut out,
        );
        assert!(p.passive().contains_key(&NodeId(9)));
        let msgs = sent(&out);
        assert_eq!(msgs.len(), 1);
        assert!(
            matches!(msgs[0], (to, Message::ForwardJoin { ttl: 2, .. }) if to == NodeId(3) || to == NodeId(4))
        );

        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(2),
            Message::ForwardJoin {
                node: peer(8),
                ttl: 0,
            },
            &mut out,
        );
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(8),
                Message::Neighbor {
                    priority: Priority::Low
                }
            )]
        );
    }

    #[test]
    fn low_priority_is_refused_when_full_and_high_priority_evicts() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3, 4, 5, 6]);
        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(7),
            Message::Neighbor {
                priority: Priority::Low,
            },
            &mut out,
        );
        assert_eq!(
            sent(&out),
            vec![(NodeId(7), Message::NeighborReply { accepted: false })]
        );
        assert!(!n.is_active(NodeId(7)) && n.passive().contains_key(&NodeId(7)));

        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(8),
            Message::Neighbor {
                priority: Priority::High,
            },
            &mut out,
        );
        assert!(n.is_active(NodeId(8)));
        assert_eq!(n.active().len(), 5);
        let evicted: Vec<Event> = events(&out)
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::NeighborDown {
                        reason: DownReason::Evicted,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(evicted.len(), 1);
        let Event::NeighborDown { peer: victim, .. } = evicted[0] else {
            unreachable!()
        };
        assert!(sent(&out).contains(&(victim, Message::Disconnect { alive: true })));
        assert!(
            n.passive().contains_key(&victim),
            "an evicted peer is alive: keep it in reserve"
        );
        assert!(out.contains(&Output::Disconnect { peer: victim }));
    }

    #[test]
    fn a_refusal_moves_on_to_the_next_passive_peer() {
        let mut n = node(1);
        with_active(&mut n, &[2]);
        n.add_passive(peer(10));
        n.add_passive(peer(11));
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        assert_eq!(
            events(&out),
            vec![Event::NeighborDown {
                peer: NodeId(2),
                reason: DownReason::Failed
            }]
        );
        let asked = sent(&out);
        // Empty active view: the first request is high priority.
        assert!(asked.iter().any(|(_, m)| *m
            == Message::Neighbor {
                priority: Priority::High
            }));
        assert_eq!(
            asked.len(),
            2,
            "both passive peers are asked for the free slots"
        );
        let out = answer(&mut n, 10, false);
        assert!(
            sent(&out).is_empty(),
            "no one left to ask until the next shuffle tick"
        );
        answer(&mut n, 11, true);
        assert!(n.is_active(NodeId(11)));
        assert!(n.passive().contains_key(&NodeId(10)));
    }

    #[test]
    fn a_node_left_alone_asks_peers_that_refused_it_again_at_high_priority() {
        let mut n = node(1);
        with_active(&mut n, &[2]);
        n.add_passive(peer(10));
        // Peer 10 (full) refused a low-priority request for a free slot.
        answer(&mut n, 10, false);
        // Then the last neighbour fails (a mass crash): waiting for the
        // next shuffle tick to forget the refusal would leave this node
        // out of every broadcast until then.
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(10),
                Message::Neighbor {
                    priority: Priority::High
                }
            )]
        );
    }

    #[test]
    fn a_free_slot_among_full_peers_costs_one_request_per_shuffle_tick() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3, 4, 5]);
        for p in 10..40 {
            n.add_passive(peer(p));
        }
        for tick in 0..3 {
            let mut out = Vec::new();
            n.timer_fired(Time::ZERO, Timer::Shuffle, &mut out);
            let asked: Vec<(NodeId, Message)> = sent(&out)
                .into_iter()
                .filter(|(_, m)| matches!(m, Message::Neighbor { .. }))
                .collect();
            assert_eq!(asked.len(), 1, "tick {tick}: one free slot, one request");
            let out = answer(&mut n, asked[0].0.0, false);
            assert!(
                sent(&out).is_empty(),
                "tick {tick}: a refusal waits for the next tick"
            );
        }
        // Losing a neighbour is different: ask peer after peer.
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        let mut asking = sent(&out);
        assert_eq!(asking.len(), 2, "two free slots now");
        for _ in 0..5 {
            let (refuser, _) = asking.remove(0);
            let next = sent(&answer(&mut n, refuser.0, false));
            assert_eq!(next.len(), 1, "a refusal moves on to the next peer");
            asking.extend(next);
        }
    }

    #[test]
    fn an_evicted_neighbour_is_told_who_else_to_ask() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3, 4, 5, 6]);
        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(7),
            Message::Neighbor {
                priority: Priority::High,
            },
            &mut out,
        );
        let sent = sent(&out);
        let Some((victim, Message::ShuffleReply { nodes, .. })) = sent.first().cloned() else {
            panic!("no hints before the DISCONNECT: {sent:?}");
        };
        assert_eq!(sent[1], (victim, Message::Disconnect { alive: true }));
        let mut hinted: Vec<u64> = nodes.iter().map(|p| p.id.0).collect();
        hinted.sort();
        let mut kept: Vec<u64> = [2, 3, 4, 5, 6]
            .into_iter()
            .filter(|p| *p != victim.0)
            .collect();
        kept.sort();
        assert_eq!(hinted, kept, "the evictor's other neighbours");
    }

    #[test]
    fn disconnect_is_reported_as_closed_by_peer_and_refilled_from_passive() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3]);
        n.add_passive(peer(10));
        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(2),
            Message::Disconnect { alive: true },
            &mut out,
        );
        assert_eq!(
            events(&out),
            vec![Event::NeighborDown {
                peer: NodeId(2),
                reason: DownReason::ClosedByPeer
            }]
        );
        assert!(n.passive().contains_key(&NodeId(2)));
        let asked = sent(&out);
        assert_eq!(
            asked,
            vec![(
                NodeId(10),
                Message::Neighbor {
                    priority: Priority::Low
                }
            )]
        );
    }

    #[test]
    fn a_leaving_peer_is_forgotten() {
        let mut n = node(1);
        with_active(&mut n, &[2]);
        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(2),
            Message::Disconnect { alive: false },
            &mut out,
        );
        assert!(n.active().is_empty() && n.passive().is_empty());
    }

    #[test]
    fn leave_tells_every_neighbour() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3]);
        let mut out = Vec::new();
        n.leave(&mut out);
        assert_eq!(
            sent(&out),
            vec![
                (NodeId(2), Message::Disconnect { alive: false }),
                (NodeId(3), Message::Disconnect { alive: false })
            ]
        );
        assert!(events(&out).iter().all(|e| matches!(
            e,
            Event::NeighborDown {
                reason: DownReason::Left,
                ..
            }
        )));
        assert!(n.active().is_empty());
    }

    #[test]
    fn shuffle_walks_light_and_the_ends_swap_samples_directly() {
        let mut a = node(1);
        with_active(&mut a, &[2, 3]);
        for p in 10..15 {
            a.add_passive(peer(p));
        }
        let mut out = Vec::new();
        a.timer_fired(Time::ZERO, Timer::Shuffle, &mut out);
        let msgs = sent(&out);
        let (to, Message::Shuffle { origin, ttl }) = msgs[0].clone() else {
            panic!("expected a shuffle, got {msgs:?}")
        };
        assert_eq!((origin, ttl), (peer(1), 6));

        // A node with only the sender as neighbour ends the walk: it keeps
        // the origin and sends its own sample straight to it.
        let mut b = node(to.0);
        with_active(&mut b, &[1]);
        b.add_passive(peer(20));
        let mut out = Vec::new();
        b.handle_message(
            Time::ZERO,
            peer(1),
            Message::Shuffle { origin, ttl },
            &mut out,
        );
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(1),
                Message::ShuffleReply {
                    nodes: vec![peer(20)],
                    answer: true,
                }
            )]
        );
        assert!(b.passive().contains_key(&NodeId(1)) || b.is_active(NodeId(1)));

        // The origin keeps it and answers with itself, up to 3 neighbours
        // and 4 passive peers, never the partner.
        let mut out = Vec::new();
        let partner = peer(to.0);
        a.handle_message(
            Time::ZERO,
            partner,
            Message::ShuffleReply {
                nodes: vec![peer(20)],
                answer: true,
            },
            &mut out,
        );
        assert!(a.passive().contains_key(&NodeId(20)));
        let msgs = sent(&out);
        let [
            (
                back_to,
                Message::ShuffleReply {
                    nodes,
                    answer: false,
                },
            ),
        ] = msgs.as_slice()
        else {
            panic!("expected one sample back, got {msgs:?}")
        };
        assert_eq!(*back_to, partner.id);
        assert!(nodes.contains(&peer(1)) && nodes.len() <= 1 + 3 + 4);
        assert!(nodes.iter().all(|p| p.id != partner.id));

        // The partner keeps that sample and answers nothing more.
        let mut out = Vec::new();
        let sample = nodes.clone();
        b.handle_message(
            Time::ZERO,
            peer(1),
            Message::ShuffleReply {
                nodes: sample.clone(),
                answer: false,
            },
            &mut out,
        );
        assert!(sent(&out).is_empty());
        for p in sample.iter().filter(|p| p.id != b.me.id) {
            assert!(b.passive().contains_key(&p.id) || b.is_active(p.id));
        }
        // An answer nobody asked for gets no sample back.
        let mut out = Vec::new();
        a.handle_message(
            Time::ZERO,
            partner,
            Message::ShuffleReply {
                nodes: vec![],
                answer: true,
            },
            &mut out,
        );
        assert!(sent(&out).is_empty());
    }

    #[test]
    fn shuffles_never_overflow_the_passive_view() {
        let mut a = node(1);
        with_active(&mut a, &[2]);
        let many: Vec<PeerInfo> = (100..160).map(peer).collect();
        let mut out = Vec::new();
        a.handle_message(
            Time::ZERO,
            peer(2),
            Message::ShuffleReply {
                nodes: many,
                answer: false,
            },
            &mut out,
        );
        assert_eq!(a.passive().len(), 30);
    }

    #[test]
    fn an_isolated_node_rejoins_with_growing_backoff() {
        let mut a = node(1);
        let mut out = Vec::new();
        a.join(Time::ZERO, vec![peer(2)], &mut out);
        // The contact is down.
        let mut out = Vec::new();
        a.peer_failed(Time::ZERO, NodeId(2), &mut out);
        let mut now = Time::ZERO;
        let mut last_gap = Duration::ZERO;
        for _ in 0..4 {
            let next = timers(&out).into_iter().find(|(_, t)| *t == Timer::Rejoin);
            let (at, _) = next
                .or_else(|| Some((now + a.rejoin_delay, Timer::Rejoin)))
                .expect("rejoin");
            let gap = at - now;
            assert!(gap >= last_gap, "backoff never shrinks");
            last_gap = gap;
            now = at;
            out.clear();
            a.timer_fired(now, Timer::Rejoin, &mut out);
            assert_eq!(
                sent(&out),
                vec![(NodeId(2), Message::Join { node: peer(1) })]
            );
        }
        assert!(last_gap > Config::default().rejoin_backoff);
    }

    /// Runs `n`'s probe wake-ups from `from` to `to` (virtual time, as
    /// the node's timer queue would), failing every probe's dial at once;
    /// the times JOINs went to `target`.
    fn probes_until(n: &mut HyParView, first: Vec<Output>, to: Time, target: NodeId) -> Vec<Time> {
        let mut queue: Vec<Time> = timers(&first)
            .into_iter()
            .filter(|(_, t)| *t == Timer::ProbeLost)
            .map(|(at, _)| at)
            .collect();
        let mut joins = Vec::new();
        while let Some(i) = (0..queue.len()).min_by_key(|&i| queue[i]) {
            let now = queue.swap_remove(i);
            if now > to {
                break;
            }
            let mut out = Vec::new();
            n.timer_fired(now, Timer::ProbeLost, &mut out);
            for (peer, msg) in sent(&out) {
                if matches!(msg, Message::Join { .. }) {
                    if peer == target {
                        joins.push(now);
                    }
                    n.peer_failed(now, peer, &mut out);
                }
            }
            queue.extend(
                timers(&out)
                    .into_iter()
                    .filter(|(_, t)| *t == Timer::ProbeLost)
                    .map(|(at, _)| at),
            );
        }
        joins
    }

    #[test]
    fn a_failed_neighbour_is_probed_every_few_seconds_whatever_the_active_view() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3, 4, 5, 6]);
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        // The active view refills from its own side: full again.
        with_active(&mut n, &[7]);
        assert_eq!(n.active.len(), Config::default().active_size);
        assert!(!n.active.contains_key(&NodeId(2)) && !n.passive.contains_key(&NodeId(2)));
        // A cut of three minutes: probed all along, never more than
        // PROBE_MIN (and its jitter) apart, so a heal is found within it.
        let three_minutes = Time::ZERO + Duration::from_secs(180);
        let joins = probes_until(&mut n, out, three_minutes, NodeId(2));
        assert!(joins[0] <= Time::ZERO + PROBE_MIN.mul_f64(1.1));
        let widest = joins
            .windows(2)
            .map(|w| w[1].saturating_since(w[0]))
            .max()
            .unwrap();
        assert!(
            widest <= PROBE_MIN.mul_f64(1.1) + Duration::from_secs(1),
            "{widest:?}"
        );
        assert!(joins.len() >= 25, "{} probes in 3 minutes", joins.len());
        // Once it answers (the partition healed), it is no longer lost.
        with_active(&mut n, &[2]);
        assert!(!n.lost.contains_key(&NodeId(2)));
    }

    #[test]
    fn a_long_lost_peer_is_probed_ever_more_rarely_then_forgotten() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3]);
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        let day = Time::ZERO + FORGET_LOST_AFTER + PROBE_MAX * 2;
        let joins = probes_until(&mut n, out, day, NodeId(2));
        // After two hours the gaps are a sixtieth of the loss's age...
        let two_hours = Time::ZERO + Duration::from_secs(7200);
        let gap_at_two_hours = joins
            .windows(2)
            .find(|w| w[0] >= two_hours)
            .map(|w| w[1].saturating_since(w[0]))
            .unwrap();
        assert!(
            gap_at_two_hours >= Duration::from_secs(100),
            "{gap_at_two_hours:?}"
        );
        assert!(gap_at_two_hours <= PROBE_MAX.mul_f64(1.1));
        // ...a day costs a few hundred dials, and then it is forgotten.
        assert!(joins.len() < 600, "{} probes in a day", joins.len());
        assert!(joins.last().unwrap().saturating_since(Time::ZERO) <= FORGET_LOST_AFTER);
        assert!(!n.lost.contains_key(&NodeId(2)));
    }

    #[test]
    fn a_lost_peer_heard_from_through_the_overlay_is_not_probed() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3]);
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        n.heard_from(NodeId(2));
        let joins = probes_until(&mut n, out, Time::ZERO + Duration::from_secs(60), NodeId(2));
        assert!(joins.is_empty());
    }

    #[test]
    fn a_node_that_leaves_forgets_its_lost_peers() {
        let mut n = node(1);
        with_active(&mut n, &[2, 3]);
        let mut out = Vec::new();
        n.peer_failed(Time::ZERO, NodeId(2), &mut out);
        n.leave(&mut out);
        // Its probe fires while it is away and must not leave a lost peer
        // that no timer will ever probe again once it joins.
        let mut out = Vec::new();
        n.timer_fired(Time::ZERO + PROBE_MAX, Timer::ProbeLost, &mut out);
        n.join(Time::ZERO + PROBE_MAX, vec![peer(3)], &mut out);
        assert_eq!(n.lost_peers(), 0);
    }

    #[test]
    fn an_unanswered_neighbor_request_times_out() {
        let mut n = node(1);
        n.add_passive(peer(10));
        n.add_passive(peer(11));
        let mut out = Vec::new();
        n.request_neighbor(Time::ZERO, peer(10), Priority::High, &mut out);
        let at = Time::ZERO + Config::default().neighbor_timeout;
        assert!(timers(&out).contains(&(at, Timer::NeighborTimeout(NodeId(10)))));
        let mut out = Vec::new();
        n.timer_fired(at, Timer::NeighborTimeout(NodeId(10)), &mut out);
        assert!(!n.pending.contains_key(&NodeId(10)));
        assert!(sent(&out).iter().any(|(to, _)| *to == NodeId(11)));
    }

    #[test]
    fn observers_are_never_in_a_view() {
        let mut n = node(1);
        n.observer_up(NodeId(50));
        let mut out = Vec::new();
        n.handle_message(
            Time::ZERO,
            peer(50),
            Message::Neighbor {
                priority: Priority::High,
            },
            &mut out,
        );
        n.handle_message(
            Time::ZERO,
            peer(2),
            Message::ShuffleReply {
                nodes: vec![peer(50)],
                answer: false,
            },
            &mut out,
        );
        assert!(!n.is_active(NodeId(50)) && !n.passive().contains_key(&NodeId(50)));
    }

    #[test]
    fn a_node_in_a_small_island_rejoins_through_an_outside_contact() {
        let mut n = node(1);
        let mut out = Vec::new();
        n.join(Time::ZERO, vec![peer(2), peer(9)], &mut out);
        with_active(&mut n, &[2, 3, 4, 5, 6]);
        let mut out = Vec::new();
        n.timer_fired(Time::from_millis(10_000), Timer::Shuffle, &mut out);
        assert!(sent(&out).contains(&(NodeId(9), Message::Join { node: peer(1) })));
        // Knowing enough peers, it stays put.
        for p in 10..20 {
            n.add_passive(peer(p));
        }
        let mut out = Vec::new();
        n.timer_fired(Time::from_millis(20_000), Timer::Shuffle, &mut out);
        assert!(
            !sent(&out)
                .iter()
                .any(|(_, m)| matches!(m, Message::Join { .. }))
        );
    }

    #[test]
    fn a_walk_from_a_non_neighbour_closes_its_stale_link() {
        let mut n = node(1);
        with_active(&mut n, &[2]);
        let mut out = Vec::new();
        let walk = Message::Shuffle {
            origin: peer(7),
            ttl: 3,
        };
        n.handle_message(Time::ZERO, peer(5), walk, &mut out);
        assert!(sent(&out).contains(&(NodeId(5), Message::Disconnect { alive: true })));
    }
}
