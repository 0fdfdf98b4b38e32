//! A tiny in-memory network for the protocol's unit tests: virtual time on
//! the one [`TimerQueue`], the simulator's per-link [`Latency`], crashes
//! reported to the peers that had a link to the dead node (as TCP would),
//! no sockets and no sleeps. Unlike [`crate::sim::Simulator`] it keeps every
//! message and event for the tests to inspect, and can drop chosen messages.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;

use super::{Config, Event, Input, Output, Overlay};
use crate::node_id::NodeId;
use crate::sim::network::Latency;
use crate::time::Time;
use crate::timer_queue::TimerQueue;
use crate::wire::plumtree::MessageId;
use crate::wire::{Message, PeerInfo};

pub fn peer(id: u64) -> PeerInfo {
    PeerInfo {
        id: NodeId(id),
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 1000 + id as u16)),
    }
}

type Filter = Box<dyn Fn(NodeId, NodeId, &Message) -> bool>;

pub struct TestNet {
    pub now: Time,
    pub nodes: BTreeMap<NodeId, Overlay>,
    /// Each link's one-way latency (drawn once per link for a range).
    pub latency: Latency,
    queue: TimerQueue<(NodeId, Input)>,
    /// Every message sent: (from, to, message).
    pub sent: Vec<(NodeId, NodeId, Message)>,
    /// Every event emitted: (node, event).
    pub events: Vec<(NodeId, Event)>,
    /// Messages sent to ids that are not nodes (observers).
    pub inbox: BTreeMap<NodeId, Vec<Message>>,
    pub observers: BTreeSet<NodeId>,
    /// Messages for which this returns true are dropped in flight.
    pub drop_if: Option<Filter>,
}

impl TestNet {
    pub fn new() -> Self {
        TestNet {
            now: Time::ZERO,
            nodes: BTreeMap::new(),
            latency: Latency::Fixed(Duration::from_millis(10)),
            queue: TimerQueue::default(),
            sent: Vec::new(),
            events: Vec::new(),
            inbox: BTreeMap::new(),
            observers: BTreeSet::new(),
            drop_if: None,
        }
    }

    pub fn add(&mut self, id: u64, config: Config) -> PeerInfo {
        let p = peer(id);
        self.nodes.insert(p.id, Overlay::new(p, config, id));
        p
    }

    pub fn node(&self, id: u64) -> &Overlay {
        &self.nodes[&NodeId(id)]
    }

    pub fn input(&mut self, id: u64, input: Input) {
        self.apply(NodeId(id), input);
    }

    pub fn broadcast(&mut self, id: u64, payload: &'static [u8]) -> MessageId {
        let mut out = Vec::new();
        let node = self.nodes.get_mut(&NodeId(id)).expect("node exists");
        let mid = node.broadcast(self.now, Bytes::from_static(payload), &mut out);
        self.process(NodeId(id), out);
        mid
    }

    /// Builds an overlay of `ids` joining one after the other through the
    /// first, then lets it settle.
    pub fn mesh(ids: &[u64], config: &Config) -> Self {
        let mut net = TestNet::new();
        net.build(ids, config);
        net.run_for(Duration::from_secs(1));
        net
    }

    /// Adds `ids` and joins them one after the other.
    pub fn build(&mut self, ids: &[u64], config: &Config) {
        let net = self;
        for &id in ids {
            net.add(id, config.clone());
        }
        net.input(ids[0], Input::Join(vec![]));
        for (i, &id) in ids.iter().enumerate().skip(1) {
            // Join through an earlier node, spread deterministically.
            let contact = ids[(id as usize).wrapping_mul(7919) % i];
            net.input(id, Input::Join(vec![peer(contact)]));
            net.run_for(Duration::from_millis(50));
        }
    }

    /// Removes a node at once; its neighbours see the links break.
    pub fn crash(&mut self, id: u64) {
        let id = NodeId(id);
        self.nodes.remove(&id);
        let holders: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, o)| o.active_view().iter().any(|p| p.id == id))
            .map(|(n, _)| *n)
            .collect();
        for n in holders {
            let at = self.now + self.link_latency(n, id);
            self.enqueue(at, n, Input::PeerFailed(id));
        }
    }

    pub fn delivered(&self, node: u64, id: MessageId) -> usize {
        self.events
            .iter()
            .filter(|(n, e)| {
                *n == NodeId(node) && matches!(e, Event::Delivered { id: d, .. } if *d == id)
            })
            .count()
    }

    pub fn count_kind(&self, kind: &str) -> usize {
        self.sent
            .iter()
            .filter(|(_, _, m)| m.kind() == kind)
            .count()
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some((at, (node, input))) = self.queue.pop_due(until) {
            self.now = at;
            self.apply(node, input);
        }
        self.now = until;
    }

    fn apply(&mut self, node: NodeId, input: Input) {
        let mut out = Vec::new();
        let Some(overlay) = self.nodes.get_mut(&node) else {
            return;
        };
        overlay.handle(self.now, input, &mut out);
        self.process(node, out);
    }

    fn enqueue(&mut self, at: Time, node: NodeId, input: Input) {
        self.queue.schedule(at, (node, input));
    }

    fn process(&mut self, from: NodeId, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, msg } => {
                    self.sent.push((from, to.id, msg.clone()));
                    if self.drop_if.as_ref().is_some_and(|f| f(from, to.id, &msg)) {
                        continue;
                    }
                    let at = self.now + self.link_latency(from, to.id);
                    if self.observers.contains(&to.id) {
                        self.inbox.entry(to.id).or_default().push(msg);
                    } else if self.nodes.contains_key(&to.id) {
                        let me = self.nodes[&from].me();
                        self.enqueue(at, to.id, Input::Message { from: me, msg });
                    } else {
                        self.enqueue(at, from, Input::PeerFailed(to.id));
                    }
                }
                Output::Disconnect { .. } => {}
                Output::Schedule { at, timer } => self.enqueue(at, from, Input::TimerFired(timer)),
                Output::Event(e) => self.events.push((from, e)),
            }
        }
    }

    /// Test node ids are small, so their low half names the link.
    fn link_latency(&self, a: NodeId, b: NodeId) -> Duration {
        self.latency.of_link(0, a.0 as u32, b.0 as u32)
    }

    /// Checks the membership invariants on every node.
    pub fn check_views(&self) {
        for (id, o) in &self.nodes {
            let active: BTreeSet<NodeId> = o.active_view().iter().map(|p| p.id).collect();
            let passive: BTreeSet<NodeId> = o.passive_view().iter().map(|p| p.id).collect();
            assert!(!active.contains(id), "{id:?} in its own active view");
            assert!(!passive.contains(id), "{id:?} in its own passive view");
            assert!(
                active.is_disjoint(&passive),
                "{id:?}: active and passive overlap"
            );
            assert!(active.len() <= 5 && passive.len() <= 30);
            let broadcast: BTreeSet<NodeId> = o.broadcast_peers().into_iter().collect();
            assert_eq!(
                broadcast, active,
                "{id:?}: broadcast peers differ from the active view"
            );
            for origin in self.nodes.keys() {
                let eager: BTreeSet<NodeId> = o.eager_peers(*origin).into_iter().collect();
                let lazy: BTreeSet<NodeId> = o.lazy_peers(*origin).into_iter().collect();
                assert!(eager.is_disjoint(&lazy));
                let both: BTreeSet<NodeId> = eager.union(&lazy).copied().collect();
                assert_eq!(both, active, "{id:?}: {origin:?}'s tree is not the view");
            }
        }
    }

    /// Active views are symmetric among live nodes.
    pub fn check_symmetric(&self) {
        for (id, o) in &self.nodes {
            for p in o.active_view() {
                if let Some(other) = self.nodes.get(&p.id) {
                    assert!(
                        other.active_view().iter().any(|q| q.id == *id),
                        "{id:?} has {:?} but not the reverse",
                        p.id
                    );
                }
            }
        }
    }

    /// Splits `members` into the connected components of the active-view
    /// graph, each sorted, in order of their smallest id.
    pub fn components(&self, members: &BTreeSet<NodeId>) -> Vec<BTreeSet<NodeId>> {
        let mut seen = BTreeSet::new();
        let mut groups = Vec::new();
        for &start in members {
            if !seen.insert(start) {
                continue;
            }
            let mut group = BTreeSet::from([start]);
            let mut todo = vec![start];
            while let Some(n) = todo.pop() {
                for p in self.nodes[&n].active_view() {
                    if members.contains(&p.id) && seen.insert(p.id) {
                        group.insert(p.id);
                        todo.push(p.id);
                    }
                }
            }
            groups.push(group);
        }
        groups
    }
}
