//! One replica's overlay: HyParView underneath, Plumtree (or the flood
//! baseline) on top, with the observers attached to this node kept out of
//! both. What reaches an observer is the replica core's to decide, once it
//! has admitted it: a delivery here is unchecked.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::flood::{self, Flood};
use super::hyparview::{self, DownReason, HyParView};
use super::plumtree::{self, Plumtree};
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::plumtree::MessageId;
use crate::wire::{self, Message, PeerInfo};

/// Which broadcast algorithm runs over the active view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BroadcastMode {
    #[default]
    Plumtree,
    /// Gnutella-style flooding: the benchmarks' baseline only.
    Flood,
}

/// Every knob of the protocol core, with the papers' defaults.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub hyparview: super::hyparview::Config,
    pub plumtree: super::plumtree::Config,
    pub broadcast: BroadcastMode,
}

/// What the caller feeds the machine.
#[derive(Clone, Debug)]
pub enum Input {
    /// Join the overlay through these contacts (empty for the first node).
    /// They are also the known addresses used to re-join when every view
    /// has emptied.
    Join(Vec<PeerInfo>),
    /// A message from a peer, as the transport authenticated it.
    Message { from: PeerInfo, msg: Message },
    /// The connection to this peer was lost, or could not be opened.
    PeerFailed(NodeId),
    /// A timer the machine asked for has come due.
    TimerFired(Timer),
    /// An observer attached to this node: kept out of every view, and
    /// nothing it sends enters the overlay (its writes reach the replica
    /// core as requests, to be admitted).
    ObserverUp(PeerInfo),
    /// The observer went away.
    ObserverDown(NodeId),
    /// Leave gracefully: DISCONNECT every neighbour.
    Leave,
}

/// What the machine asks of the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to`, opening a connection if none is open.
    Send { to: PeerInfo, msg: Message },
    /// Close the connection to `peer` once what was queued for it is sent.
    Disconnect { peer: NodeId },
    /// Feed `Input::TimerFired(timer)` back at `at` (or later).
    Schedule { at: Time, timer: Timer },
    /// Something the layers above want to know.
    Event(Event),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    NeighborUp(PeerInfo),
    NeighborDown {
        peer: NodeId,
        reason: DownReason,
    },
    /// A broadcast reached this node for the first time, from neighbour
    /// `from` (the origin itself when this node broadcast it). `hops`
    /// counts links from the origin (a direct neighbour of the origin is 1).
    Delivered {
        id: MessageId,
        from: NodeId,
        hops: u16,
        payload: Bytes,
    },
}

/// A wake-up the machine asked for. Opaque to drivers: they store it and
/// feed it back; a stale timer is ignored by the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    Membership(super::hyparview::Timer),
    Broadcast(super::plumtree::Timer),
}

impl From<hyparview::Event> for Event {
    fn from(event: hyparview::Event) -> Self {
        match event {
            hyparview::Event::NeighborUp(peer) => Event::NeighborUp(peer),
            hyparview::Event::NeighborDown { peer, reason } => Event::NeighborDown { peer, reason },
        }
    }
}

impl From<hyparview::Output> for Output {
    fn from(output: hyparview::Output) -> Self {
        match output {
            hyparview::Output::Send { to, msg } => Output::Send {
                to,
                msg: Message::Membership(msg),
            },
            hyparview::Output::Disconnect { peer } => Output::Disconnect { peer },
            hyparview::Output::Schedule { at, timer } => Output::Schedule {
                at,
                timer: Timer::Membership(timer),
            },
            hyparview::Output::Event(event) => Output::Event(event.into()),
        }
    }
}

impl From<plumtree::Output> for Output {
    fn from(output: plumtree::Output) -> Self {
        match output {
            plumtree::Output::Send { to, msg } => Output::Send {
                to,
                msg: Message::Broadcast(msg),
            },
            plumtree::Output::Schedule { at, timer } => Output::Schedule {
                at,
                timer: Timer::Broadcast(timer),
            },
            plumtree::Output::Delivered {
                id,
                from,
                hops,
                payload,
            } => Output::Event(Event::Delivered {
                id,
                from,
                hops,
                payload,
            }),
        }
    }
}

impl From<flood::Output> for Output {
    fn from(output: flood::Output) -> Self {
        match output {
            flood::Output::Send { to, msg } => Output::Send {
                to,
                msg: Message::Flood(msg),
            },
            flood::Output::Delivered {
                id,
                from,
                hops,
                payload,
            } => Output::Event(Event::Delivered {
                id,
                from,
                hops,
                payload,
            }),
        }
    }
}

/// One replica's protocol state: HyParView underneath, the chosen
/// broadcast on top, and the observers attached to this node (outside
/// both).
#[derive(Debug)]
pub struct Overlay {
    me: PeerInfo,
    mode: BroadcastMode,
    membership: HyParView,
    plumtree: Plumtree,
    flood: Flood,
    /// Observers attached here: outside every view, never a source of
    /// overlay messages.
    observers: BTreeMap<NodeId, PeerInfo>,
    /// The membership layer's outputs, before they become ours.
    membership_out: Vec<hyparview::Output>,
    /// The broadcast layer's outputs, before they become ours.
    plumtree_out: Vec<plumtree::Output>,
    /// The next sequence number for our own broadcasts. It starts at a
    /// random point and never falls behind the clock, so a restarted node
    /// does not reuse ids its peers still remember as seen.
    next_seq: u64,
}

impl Overlay {
    /// `seed` seeds the machine's own RNG: the same seed and inputs give the
    /// same outputs.
    pub fn new(me: PeerInfo, config: Config, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_5e90_0000_0000);
        Overlay {
            me,
            mode: config.broadcast,
            membership: HyParView::new(me, config.hyparview, seed),
            plumtree: Plumtree::new(me.id, config.plumtree),
            flood: Flood::new(me.id),
            observers: BTreeMap::new(),
            membership_out: Vec::new(),
            plumtree_out: Vec::new(),
            next_seq: u64::from(rng.random::<u32>()),
        }
    }

    pub fn me(&self) -> PeerInfo {
        self.me
    }

    pub fn id(&self) -> NodeId {
        self.me.id
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Time, input: Input, out: &mut Vec<Output>) {
        let start = out.len();
        match input {
            Input::Join(contacts) => self.membership(out, |m, o| m.join(now, contacts, o)),
            // An observer relays nothing and speaks to the overlay not at
            // all: a broadcast of its would skip the node's admission.
            Input::Message { from, .. } if self.observers.contains_key(&from.id) => {}
            Input::Message { from, msg } => self.on_message(now, from, msg, out),
            Input::PeerFailed(id) => self.membership(out, |m, o| m.peer_failed(now, id, o)),
            Input::TimerFired(Timer::Membership(timer)) => {
                self.membership(out, |m, o| m.timer_fired(now, timer, o))
            }
            Input::TimerFired(Timer::Broadcast(timer)) => {
                self.broadcast_layer(out, |p, o| p.timer_fired(now, timer, o))
            }
            Input::ObserverUp(peer) => {
                if peer.id != self.me.id && !self.membership.is_active(peer.id) {
                    self.membership.observer_up(peer.id);
                    self.observers.insert(peer.id, peer);
                }
            }
            Input::ObserverDown(id) => {
                if self.observers.remove(&id).is_some() {
                    self.membership.observer_down(id);
                }
            }
            Input::Leave => self.membership(out, |m, o| m.leave(o)),
        }
        self.follow_up(now, start, out);
    }

    /// Runs one call into the membership layer and appends what it asked
    /// for to `out`, in order.
    fn membership(
        &mut self,
        out: &mut Vec<Output>,
        call: impl FnOnce(&mut HyParView, &mut Vec<hyparview::Output>),
    ) {
        let mut own = std::mem::take(&mut self.membership_out);
        call(&mut self.membership, &mut own);
        out.extend(own.drain(..).map(Output::from));
        self.membership_out = own;
    }

    /// Runs one call into the broadcast layer and appends what it asked
    /// for to `out`, in order.
    fn broadcast_layer<R>(
        &mut self,
        out: &mut Vec<Output>,
        call: impl FnOnce(&mut Plumtree, &mut Vec<plumtree::Output>) -> R,
    ) -> R {
        let mut own = std::mem::take(&mut self.plumtree_out);
        let result = call(&mut self.plumtree, &mut own);
        out.extend(own.drain(..).map(Output::from));
        self.plumtree_out = own;
        result
    }

    /// Originates a broadcast of `payload` to every node; returns its id.
    /// The origin does not get a `Delivered` event for its own message.
    pub fn broadcast(&mut self, now: Time, payload: Bytes, out: &mut Vec<Output>) -> MessageId {
        let seq = self.next_seq.max(now.as_micros());
        self.next_seq = seq.wrapping_add(1);
        let id = MessageId {
            origin: self.me.id,
            seq,
        };
        match self.mode {
            BroadcastMode::Plumtree => {
                self.broadcast_layer(out, |p, o| p.originate(now, id, 0, payload.clone(), o));
            }
            BroadcastMode::Flood => {
                let neighbors = self.active_view();
                let mut own = Vec::new();
                self.flood
                    .originate(id, 0, payload.clone(), &neighbors, &mut own);
                out.extend(own.into_iter().map(Output::from));
            }
        }
        id
    }

    /// The HyParView active view (the open, symmetric links).
    pub fn active_view(&self) -> Vec<PeerInfo> {
        self.membership.active().values().copied().collect()
    }

    /// The HyParView passive view (known, unconnected peers).
    pub fn passive_view(&self) -> Vec<PeerInfo> {
        self.membership.passive().values().copied().collect()
    }

    /// The peers the membership layer will reach out to on its own (see
    /// [`HyParView::would_contact`]); only tests ask.
    #[cfg(test)]
    pub fn would_contact(&self) -> std::collections::BTreeSet<NodeId> {
        self.membership.would_contact()
    }

    /// Failed peers HyParView still probes (see [`HyParView::lost_peers`]).
    pub fn lost_peers(&self) -> usize {
        self.membership.lost_peers()
    }

    /// Plumtree's neighbours (every broadcast reaches them, in full or
    /// announced).
    pub fn broadcast_peers(&self) -> Vec<NodeId> {
        self.plumtree.neighbours()
    }

    /// Plumtree's eager peers in `origin`'s tree.
    pub fn eager_peers(&self, origin: NodeId) -> Vec<NodeId> {
        self.plumtree.eager_peers(origin)
    }

    /// Announced message ids Plumtree refused to await (its bounds on
    /// missing messages).
    pub fn announcements_refused(&self) -> u64 {
        self.plumtree.announcements_refused()
    }

    /// Plumtree's lazy peers in `origin`'s tree (IHAVE only).
    pub fn lazy_peers(&self, origin: NodeId) -> Vec<NodeId> {
        self.plumtree.lazy_peers(origin)
    }

    /// The observers attached to this node.
    pub fn observers(&self) -> Vec<PeerInfo> {
        self.observers.values().copied().collect()
    }

    fn on_message(&mut self, now: Time, from: PeerInfo, msg: Message, out: &mut Vec<Output>) {
        match msg {
            // The transport consumes the preamble.
            Message::Hello(_) => {}
            Message::Membership(msg) => {
                self.membership(out, |m, o| m.handle_message(now, from, msg, o))
            }
            Message::Broadcast(msg) => {
                let pushes = matches!(
                    msg,
                    wire::plumtree::Message::Gossip { .. }
                        | wire::plumtree::Message::IHave { .. }
                        | wire::plumtree::Message::Batch { .. }
                );
                if pushes && !self.membership.is_active(from.id) {
                    // Only a neighbour pushes to us: this peer still holds a
                    // link we no longer have (we restarted, or its DISCONNECT
                    // was lost). Tell it, or the link stays one-sided.
                    self.membership(out, |m, o| m.close_stale(from, o));
                }
                self.broadcast_layer(out, |p, o| p.handle_message(now, from, msg, o));
            }
            Message::Flood(msg) => {
                let neighbors = self.active_view();
                let mut own = Vec::new();
                self.flood.handle_message(from, msg, &neighbors, &mut own);
                out.extend(own.into_iter().map(Output::from));
            }
            // Anti-entropy belongs to the state layer, observer traffic to
            // the node and keepalives to the link table; the driver routes
            // them there.
            Message::Sync(_) | Message::Observer(_) | Message::Keepalive => {}
        }
    }

    /// Keeps the broadcast layer's peers in step with the active view, and
    /// notes whom a delivery proves alive.
    fn follow_up(&mut self, now: Time, start: usize, out: &mut Vec<Output>) {
        let mut i = start;
        while i < out.len() {
            if let Output::Event(event) = &out[i] {
                match event {
                    Event::NeighborUp(peer) => {
                        let peer = *peer;
                        self.broadcast_layer(out, |p, o| p.neighbor_up(now, peer, o));
                    }
                    Event::NeighborDown { peer, .. } => {
                        let peer = *peer;
                        self.broadcast_layer(out, |p, o| p.neighbor_down(peer, o));
                    }
                    Event::Delivered { id, .. } => self.membership.heard_from(id.origin),
                }
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::test_net::{TestNet, peer};
    use super::*;

    fn ids(n: u64) -> Vec<u64> {
        (1..=n).collect()
    }

    #[test]
    fn a_broadcast_reaches_every_node_once() {
        let mut net = TestNet::mesh(&ids(20), &Config::default());
        net.check_views();
        net.check_symmetric();
        let id = net.broadcast(3, b"hello");
        net.run_for(Duration::from_secs(2));
        for n in ids(20) {
            let expected = usize::from(n != 3);
            assert_eq!(net.delivered(n, id), expected, "node {n}");
        }
    }

    #[test]
    fn after_the_first_broadcast_the_tree_carries_no_duplicates() {
        let mut net = TestNet::mesh(&ids(30), &Config::default());
        net.broadcast(1, b"warm-up");
        net.run_for(Duration::from_secs(2));
        let before = net.count_kind("gossip");
        let id = net.broadcast(1, b"measured");
        net.run_for(Duration::from_secs(2));
        let gossip = net.count_kind("gossip") - before;
        assert!(ids(30).iter().skip(1).all(|&n| net.delivered(n, id) == 1));
        assert_eq!(
            gossip, 29,
            "payload messages for one broadcast over 30 nodes"
        );
        net.check_views();
    }

    #[test]
    fn flood_mode_reaches_every_node_with_every_link() {
        let config = Config {
            broadcast: BroadcastMode::Flood,
            ..Config::default()
        };
        let mut net = TestNet::mesh(&ids(15), &config);
        let id = net.broadcast(2, b"flood");
        net.run_for(Duration::from_secs(2));
        assert!(
            ids(15)
                .iter()
                .filter(|&&n| n != 2)
                .all(|&n| net.delivered(n, id) == 1)
        );
        assert!(
            net.count_kind("flood") > 14,
            "flooding sends more than a tree would"
        );
        assert_eq!(net.count_kind("ihave"), 0);
    }

    #[test]
    fn observers_stay_outside_the_overlay_both_ways() {
        let mut net = TestNet::mesh(&ids(10), &Config::default());
        let observer = peer(100);
        net.observers.insert(observer.id);
        net.input(4, Input::ObserverUp(observer));
        let id = net.broadcast(7, b"state");
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.delivered(4, id), 1);
        // What reaches an observer is the replica core's to decide, once
        // it has admitted it: the overlay pushes it nothing.
        let inbox = net.inbox.get(&observer.id).cloned().unwrap_or_default();
        assert!(inbox.is_empty(), "{inbox:?}");

        // A broadcast the observer sends its node enters nowhere: its
        // writes reach the node's core as requests, to be admitted.
        let write = MessageId {
            origin: observer.id,
            seq: 1,
        };
        let msg = Message::Broadcast(wire::plumtree::Message::Gossip {
            id: write,
            round: 0,
            payload: Bytes::from_static(b"target"),
        });
        net.input(
            4,
            Input::Message {
                from: observer,
                msg,
            },
        );
        net.run_for(Duration::from_secs(1));
        assert!(ids(10).iter().all(|&n| net.delivered(n, write) == 0));
        for n in ids(10) {
            let o = net.node(n);
            assert!(
                o.active_view()
                    .iter()
                    .chain(o.passive_view().iter())
                    .all(|p| p.id != observer.id)
            );
        }
    }

    #[test]
    fn broadcasts_survive_crashes() {
        let mut net = TestNet::mesh(&ids(40), &Config::default());
        net.broadcast(1, b"warm-up");
        net.run_for(Duration::from_secs(2));
        for n in [5, 9, 13, 17, 21, 25, 29, 33] {
            net.crash(n);
        }
        net.run_for(Duration::from_secs(1));
        let id = net.broadcast(2, b"after");
        net.run_for(Duration::from_secs(3));
        let live: Vec<u64> = net.nodes.keys().map(|n| n.0).filter(|&n| n != 2).collect();
        let missed: Vec<u64> = live
            .iter()
            .copied()
            .filter(|&n| net.delivered(n, id) != 1)
            .collect();
        assert!(missed.is_empty(), "missed by {missed:?}");
        net.check_views();
        net.check_symmetric();
    }

    #[test]
    fn the_same_seed_gives_the_same_outputs() {
        let run = || {
            let mut net = TestNet::mesh(&ids(12), &Config::default());
            net.broadcast(5, b"x");
            net.run_for(Duration::from_secs(30));
            net.sent
        };
        assert_eq!(run(), run());
    }
}

/// Figures at scale through the unit-test network; the simulator measures
/// them properly. Run with `cargo test --lib proto::overlay::scale -- --ignored --nocapture`.
#[cfg(test)]
mod scale {
    use std::time::Duration;

    use super::super::test_net::TestNet;
    use super::*;

    fn measure(net: &mut TestNet, senders: &[u64]) -> (f64, u16, u64) {
        let before = net.count_kind("gossip");
        let start = net.events.len();
        let mut ids = Vec::new();
        for &s in senders {
            ids.push(net.broadcast(s, b"m"));
            net.run_for(Duration::from_millis(200));
        }
        net.run_for(Duration::from_secs(5));
        let m = (net.count_kind("gossip") - before) as f64;
        let mut delivered = 0usize;
        let mut ldh = 0u16;
        for (_, e) in &net.events[start..] {
            if let Event::Delivered { hops, .. } = e {
                delivered += 1;
                ldh = ldh.max(*hops);
            }
        }
        let n = net.nodes.len();
        let expected = ids.len() * (n - 1);
        let rmr = m / delivered as f64 - 1.0;
        (rmr, ldh, (expected - delivered) as u64)
    }

    fn run(n: u64, random: bool, config: Config) {
        let ids: Vec<u64> = (1..=n).collect();
        let mut net = TestNet::new();
        net.latency = "10..50".parse().expect("a latency range");
        net.build(&ids, &config);
        net.run_for(Duration::from_secs(30));
        let pick = |k: u64| if random { 1 + (k * 7_777 + 13) % n } else { 1 };
        let warm = measure(&mut net, &[pick(0)]);
        println!(
            "n={n} random={random} warm-up: rmr={:.3} ldh={} missed={}",
            warm.0, warm.1, warm.2
        );
        let (ihave, graft, prune) = (
            net.count_kind("ihave"),
            net.count_kind("graft"),
            net.count_kind("prune"),
        );
        let senders: Vec<u64> = (1..=40).map(pick).collect();
        let steady = measure(&mut net, &senders);
        println!(
            "n={n} random={random} steady: rmr={:.4} ldh={} missed={}",
            steady.0, steady.1, steady.2
        );
        let repair: usize = net
            .sent
            .iter()
            .filter(|(_, _, m)| {
                matches!(
                    m,
                    Message::Broadcast(wire::plumtree::Message::Graft { resend: true, .. })
                )
            })
            .count();
        println!(
            "steady: ihave={} graft={} (with id, all time: {repair}) prune={}",
            net.count_kind("ihave") - ihave,
            net.count_kind("graft") - graft,
            net.count_kind("prune") - prune
        );
    }

    fn config() -> Config {
        let mut config = Config::default();
        if let Ok(ms) = std::env::var("GRAFT_MS") {
            config.plumtree.graft_timeout = Duration::from_millis(ms.parse().unwrap_or(250));
        }
        if let Ok(t) = std::env::var("OPT") {
            config.plumtree.optimization_threshold = t.parse().ok();
        }
        config
    }

    #[test]
    #[ignore]
    fn single_sender_1000() {
        run(1000, false, config());
    }

    #[test]
    #[ignore]
    fn single_sender_100() {
        run(100, false, config());
    }

    #[test]
    #[ignore]
    fn random_senders_100() {
        run(100, true, config());
    }
}

#[cfg(test)]
mod properties {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::super::test_net::{TestNet, peer};
    use super::*;

    #[derive(Clone, Debug)]
    enum Step {
        Join(u64, u64),
        Crash(u64),
        Leave(u64),
        Broadcast(u64),
        Wait(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1..13u64, 1..13u64).prop_map(|(a, b)| Step::Join(a, b)),
            (1..13u64).prop_map(Step::Crash),
            (1..13u64).prop_map(Step::Leave),
            (1..13u64).prop_map(Step::Broadcast),
            (1..30_000u64).prop_map(Step::Wait),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever happens, no node is in its own views, the views are
        /// disjoint and bounded, the broadcast peers are the active view,
        /// and no broadcast is delivered twice to a node.
        #[test]
        fn views_stay_sound_and_deliveries_unique(
            steps in proptest::collection::vec(step(), 1..40),
            lossy in any::<bool>(),
        ) {
            check(steps, lossy)?;
        }
    }

    fn check(steps: Vec<Step>, lossy: bool) -> Result<(), TestCaseError> {
        let mut net = TestNet::new();
        net.latency = "1..40".parse().expect("a latency range");
        if lossy {
            net.drop_if = Some(Box::new(|a, b, m| {
                (a.0 * 31 + b.0 * 17 + m.kind().len() as u64) % 11 == 0
            }));
        }
        for id in 1..13 {
            net.add(id, Config::default());
        }
        net.input(1, Input::Join(vec![]));
        for id in 2..13 {
            net.input(id, Input::Join(vec![peer(1)]));
        }
        let mut ids = Vec::new();
        // A crashed node that joins again is a new incarnation that
        // remembers nothing: at-most-once holds per incarnation.
        let mut restarted = BTreeSet::new();
        let mut left = BTreeSet::new();
        for s in steps {
            match s {
                Step::Join(a, b) => {
                    if !net.nodes.contains_key(&NodeId(a)) {
                        restarted.insert(a);
                        net.add(a, Config::default());
                    }
                    left.remove(&NodeId(a));
                    net.input(a, Input::Join(vec![peer(b)]));
                }
                Step::Crash(a) => {
                    left.remove(&NodeId(a));
                    net.crash(a);
                }
                Step::Leave(a) => {
                    if net.nodes.contains_key(&NodeId(a)) {
                        left.insert(NodeId(a));
                    }
                    net.input(a, Input::Leave);
                }
                Step::Broadcast(a) => {
                    if net.nodes.contains_key(&NodeId(a)) {
                        ids.push(net.broadcast(a, b"x"));
                    }
                }
                Step::Wait(ms) => net.run_for(Duration::from_millis(ms)),
            }
            net.run_for(Duration::from_millis(5));
            net.check_views();
        }
        for n in net.nodes.keys().filter(|n| !restarted.contains(&n.0)) {
            for id in &ids {
                prop_assert!(net.delivered(n.0, *id) <= 1);
            }
        }
        if !lossy {
            // Once quiet, every link is known at both ends; groups of
            // members one of which would contact the other have merged;
            // and a broadcast reaches every member of its group. Quiet
            // lasts long enough for every lost peer that is alive to be
            // probed a few times (the probes of one lost for 45 minutes
            // are under a minute apart), the slowest way two groups find
            // each other.
            net.run_for(Duration::from_secs(45 * 60));
            net.check_symmetric();
            let members: BTreeSet<NodeId> = net
                .nodes
                .keys()
                .filter(|n| !left.contains(n))
                .copied()
                .collect();
            let groups = net.components(&members);
            for (i, group) in groups.iter().enumerate() {
                for other in groups.iter().skip(i + 1) {
                    for n in group {
                        let reaches = net.nodes[n].would_contact();
                        prop_assert!(
                            reaches.is_disjoint(other),
                            "{:?} would contact {:?} but the groups {:?} and {:?} never merged",
                            n,
                            reaches.intersection(other).collect::<Vec<_>>(),
                            group,
                            other
                        );
                    }
                }
                let origin = *group.first().expect("groups are not empty");
                let id = net.broadcast(origin.0, b"quiet");
                net.run_for(Duration::from_secs(5));
                let missed: Vec<NodeId> = group
                    .iter()
                    .copied()
                    .filter(|n| *n != origin && net.delivered(n.0, id) == 0)
                    .collect();
                prop_assert!(missed.is_empty(), "missed by {:?}", missed);
            }
        }
        Ok(())
    }

    /// Found by CI: a restarted node that starts a new overlay of its own
    /// while an old neighbour still probes its address.
    #[test]
    fn a_restarted_node_alone_is_found_by_a_prober() {
        use Step::*;
        let steps = vec![
            Wait(322),
            Crash(9),
            Crash(5),
            Wait(5590),
            Wait(27162),
            Leave(4),
            Join(1, 1),
            Wait(24612),
            Leave(6),
            Crash(10),
            Crash(1),
            Wait(16615),
            Join(4, 1),
            Wait(21669),
            Leave(2),
            Join(9, 9),
        ];
        check(steps, false).unwrap();
    }
}
