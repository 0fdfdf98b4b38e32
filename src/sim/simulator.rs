//! The discrete-event simulator: many [`Overlay`]s, one virtual clock.
//!
//! Each step pops the earliest event (a message arriving, a timer coming
//! due, a connection failing), feeds it to the node it concerns and turns
//! that node's outputs into new events. Nothing reads a clock or a global
//! RNG, and ties are broken by scheduling order, so a seed replays exactly.

use std::collections::{BTreeSet, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::metrics::Metrics;
use super::network::NetworkConfig;
use crate::node_id::NodeId;
use crate::proto::{Config, Event, Input, Output, Overlay, Timer};
use crate::time::Time;
use crate::timer_queue::TimerQueue;
use crate::wire::{Message, PeerInfo};

/// Port every simulated node "listens" on; only the address shape matters.
const SIM_PORT: u16 = 7946;

/// What sits on the agenda.
enum SimEvent {
    /// A message reaches `to` (its `to_life`-th incarnation).
    Arrive {
        from: u32,
        to: u32,
        to_life: u32,
        msg: Message,
    },
    Timer {
        node: u32,
        life: u32,
        timer: Timer,
    },
    /// `node` learns that its connection to `peer` failed.
    PeerFailed {
        node: u32,
        life: u32,
        peer: NodeId,
    },
    /// A partition has lasted long enough to break what crosses it.
    PartitionTimeout {
        epoch: u32,
    },
}

struct SimNode {
    info: PeerInfo,
    overlay: Option<Overlay>,
    /// Bumped by every crash, leave and restart: events meant for an
    /// earlier life are dropped, as a new process has new connections and
    /// no old timers.
    life: u32,
    /// Peers this node has an open connection with (symmetric).
    connections: Vec<u32>,
}

struct Partition {
    side: Vec<u8>,
    epoch: u32,
    /// Once true, connections across the cut have broken.
    timed_out: bool,
}

/// Many protocol instances on one virtual network.
pub struct Simulator {
    now: Time,
    seed: u64,
    rng: ChaCha8Rng,
    config: Config,
    net: NetworkConfig,
    nodes: Vec<SimNode>,
    index: HashMap<NodeId, u32>,
    queue: TimerQueue<SimEvent>,
    partition: Option<Partition>,
    partition_epoch: u32,
    /// Messages waiting for a partition to heal.
    held: Vec<(u32, u32, Message)>,
    metrics: Metrics,
    scratch: Vec<Output>,
    steps: u64,
}

impl Simulator {
    /// `nodes` nodes, all down until [`Simulator::start`]. Ids are drawn from
    /// the seed; addresses are 10.x.y.z, one per node.
    pub fn new(nodes: usize, config: Config, net: NetworkConfig, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut index = HashMap::with_capacity(nodes);
        let mut sim_nodes = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let id = loop {
                let id = NodeId(rng.random());
                if !index.contains_key(&id) {
                    break id;
                }
            };
            index.insert(id, i as u32);
            let [_, b, c, d] = (i as u32 + 1).to_be_bytes();
            let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, b, c, d), SIM_PORT));
            sim_nodes.push(SimNode {
                info: PeerInfo { id, addr },
                overlay: None,
                life: 0,
                connections: Vec::new(),
            });
        }
        Simulator {
            now: Time::ZERO,
            seed,
            rng,
            config,
            net,
            nodes: sim_nodes,
            index,
            queue: TimerQueue::default(),
            partition: None,
            partition_epoch: 0,
            held: Vec::new(),
            metrics: Metrics::new(nodes),
            scratch: Vec::new(),
            steps: 0,
        }
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Events processed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The simulator's own RNG, for scenarios to draw from (so a scenario's
    /// choices replay with the seed too).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn info(&self, node: usize) -> PeerInfo {
        self.nodes[node].info
    }

    pub fn index_of(&self, id: NodeId) -> Option<usize> {
        self.index.get(&id).map(|&i| i as usize)
    }

    pub fn is_live(&self, node: usize) -> bool {
        self.nodes[node].overlay.is_some()
    }

    pub fn live_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.overlay.is_some()).count()
    }

    pub fn live_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.is_live(i)).collect()
    }

    pub fn overlay(&self, node: usize) -> Option<&Overlay> {
        self.nodes[node].overlay.as_ref()
    }

    /// The one-way latency of the link between nodes `a` and `b`.
    pub fn link_latency(&self, a: usize, b: usize) -> Duration {
        self.net.latency.of_link(self.seed, a as u32, b as u32)
    }

    /// A snapshot of which nodes are live, for reliability figures.
    pub fn live_mask(&self) -> Vec<bool> {
        self.nodes.iter().map(|n| n.overlay.is_some()).collect()
    }

    /// Starts `node` with a fresh overlay that joins through `contacts`
    /// (none for the first node). Also how a crashed node restarts.
    pub fn start(&mut self, node: usize, contacts: &[usize]) {
        if self.is_live(node) {
            return;
        }
        tracing::trace!(t = ?self.now, node, ?contacts, "start");
        let seed = self.rng.random();
        let n = &mut self.nodes[node];
        n.life += 1;
        n.overlay = Some(Overlay::new(n.info, self.config.clone(), seed));
        if n.life > 1 {
            self.metrics.forget_node(node);
        }
        let contacts = contacts.iter().map(|&c| self.nodes[c].info).collect();
        self.feed(node, Input::Join(contacts));
    }

    /// The process dies: its state is gone and its neighbours notice after
    /// the crash-detection delay.
    pub fn crash(&mut self, node: usize) {
        if self.nodes[node].overlay.take().is_none() {
            return;
        }
        tracing::trace!(t = ?self.now, node, "crash");
        self.nodes[node].life += 1;
        let dead = self.nodes[node].info.id;
        let at = self.now + self.net.crash_detection;
        for peer in std::mem::take(&mut self.nodes[node].connections) {
            let p = &mut self.nodes[peer as usize];
            p.connections.retain(|&c| c as usize != node);
            self.queue.schedule(
                at,
                SimEvent::PeerFailed {
                    node: peer,
                    life: p.life,
                    peer: dead,
                },
            );
        }
    }

    /// The node leaves gracefully: it sends its DISCONNECTs, then stops.
    pub fn leave(&mut self, node: usize) {
        if !self.is_live(node) {
            return;
        }
        tracing::trace!(t = ?self.now, node, "leave");
        self.feed(node, Input::Leave);
        self.nodes[node].overlay = None;
        self.nodes[node].life += 1;
        for peer in std::mem::take(&mut self.nodes[node].connections) {
            self.nodes[peer as usize]
                .connections
                .retain(|&c| c as usize != node);
        }
    }

    /// Originates a broadcast at `node`; returns its index in the metrics.
    pub fn broadcast(&mut self, node: usize, payload: Bytes) -> Option<usize> {
        let now = self.now;
        let mut out = std::mem::take(&mut self.scratch);
        let overlay = self.nodes[node].overlay.as_mut()?;
        let id = overlay.broadcast(now, payload, &mut out);
        let record = self.metrics.on_broadcast(id, node, now);
        self.apply(node as u32, &mut out);
        self.scratch = out;
        Some(record)
    }

    /// Cuts the network: nodes with different `side` values cannot reach
    /// each other until [`Simulator::heal`].
    pub fn partition(&mut self, side: Vec<u8>) {
        self.heal();
        tracing::trace!(t = ?self.now, ?side, "partition");
        self.partition_epoch += 1;
        let epoch = self.partition_epoch;
        self.partition = Some(Partition {
            side,
            epoch,
            timed_out: false,
        });
        self.queue.schedule(
            self.now + self.net.partition_timeout,
            SimEvent::PartitionTimeout { epoch },
        );
    }

    /// Ends the partition; what waited on surviving connections goes through.
    pub fn heal(&mut self) {
        if self.partition.take().is_none() {
            return;
        }
        tracing::trace!(t = ?self.now, "heal");
        for (from, to, msg) in std::mem::take(&mut self.held) {
            self.transmit(from, to, msg);
        }
    }

    pub fn is_partitioned(&self) -> bool {
        self.partition.is_some()
    }

    /// The side of every node while the network is cut.
    pub fn partition_sides(&self) -> Option<&[u8]> {
        self.partition.as_ref().map(|p| p.side.as_slice())
    }

    /// The time of the next event, if any.
    pub fn next_event_time(&self) -> Option<Time> {
        self.queue.next_due()
    }

    /// Processes every event due up to `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Time) {
        while self.step(until) {}
        self.now = self.now.max(until);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Processes the next event if it is due by `until`; false when none is.
    pub fn step(&mut self, until: Time) -> bool {
        match self.queue.next_due() {
            Some(at) if at <= until => {}
            _ => return false,
        }
        let Some((at, event)) = self.queue.pop() else {
            return false;
        };
        self.now = at;
        self.steps += 1;
        match event {
            SimEvent::Arrive {
                from,
                to,
                to_life,
                msg,
            } => {
                let n = &self.nodes[to as usize];
                if n.life == to_life && n.overlay.is_some() {
                    tracing::trace!(t = ?at, from, to, msg = ?msg, "arrive");
                    let from = self.nodes[from as usize].info;
                    self.feed(to as usize, Input::Message { from, msg });
                }
            }
            SimEvent::Timer { node, life, timer } => {
                if self.nodes[node as usize].life == life {
                    self.feed(node as usize, Input::TimerFired(timer));
                }
            }
            SimEvent::PeerFailed { node, life, peer } => {
                // A connection opened since (to the peer's next life, or
                // after a heal) supersedes the one that failed.
                let reconnected = self
                    .index
                    .get(&peer)
                    .is_some_and(|p| self.nodes[node as usize].connections.contains(p));
                if self.nodes[node as usize].life == life && !reconnected {
                    tracing::trace!(t = ?at, node, ?peer, "peer failed");
                    self.feed(node as usize, Input::PeerFailed(peer));
                }
            }
            SimEvent::PartitionTimeout { epoch } => self.partition_timed_out(epoch),
        }
        true
    }

    fn feed(&mut self, node: usize, input: Input) {
        let now = self.now;
        let mut out = std::mem::take(&mut self.scratch);
        if let Some(overlay) = self.nodes[node].overlay.as_mut() {
            overlay.handle(now, input, &mut out);
        }
        self.apply(node as u32, &mut out);
        self.scratch = out;
    }

    /// Turns one node's outputs into events.
    fn apply(&mut self, node: u32, out: &mut Vec<Output>) {
        for output in out.drain(..) {
            match output {
                Output::Send { to, msg } => self.send(node, to, msg),
                Output::Disconnect { peer } => {
                    tracing::trace!(t = ?self.now, node, ?peer, "disconnect");
                    if let Some(&p) = self.index.get(&peer) {
                        self.disconnect(node, p);
                    }
                }
                Output::Schedule { at, timer } => {
                    let life = self.nodes[node as usize].life;
                    self.queue
                        .schedule(at.max(self.now), SimEvent::Timer { node, life, timer });
                }
                Output::Event(Event::Delivered { id, hops, .. }) => {
                    self.metrics.on_delivered(node as usize, id, hops, self.now);
                }
                Output::Event(Event::NeighborUp(_) | Event::NeighborDown { .. }) => {}
            }
        }
    }

    fn send(&mut self, from: u32, to: PeerInfo, msg: Message) {
        self.metrics.on_send(&msg);
        let life = self.nodes[from as usize].life;
        let Some(&to) = self.index.get(&to.id) else {
            // Nobody answers at that address: the connect fails.
            let at = self.now + self.net.crash_detection;
            self.queue.schedule(
                at,
                SimEvent::PeerFailed {
                    node: from,
                    life,
                    peer: to.id,
                },
            );
            return;
        };
        if to == from {
            return;
        }
        if !self.is_live(to as usize) {
            // Connection refused or reset: noticed after about one round trip.
            let rtt = self.net.latency.of_link(self.seed, from, to) * 2;
            let peer = self.nodes[to as usize].info.id;
            self.queue.schedule(
                self.now + rtt,
                SimEvent::PeerFailed {
                    node: from,
                    life,
                    peer,
                },
            );
            return;
        }
        if let Some(p) = &self.partition
            && p.side[from as usize] != p.side[to as usize]
        {
            let connected = self.nodes[from as usize].connections.contains(&to);
            if p.timed_out || !connected {
                // A new connection across the cut cannot open.
                let at = self.now + self.net.partition_timeout;
                let peer = self.nodes[to as usize].info.id;
                self.queue.schedule(
                    at,
                    SimEvent::PeerFailed {
                        node: from,
                        life,
                        peer,
                    },
                );
            } else {
                // TCP keeps retransmitting until the heal or the timeout.
                self.held.push((from, to, msg));
            }
            return;
        }
        self.transmit(from, to, msg);
    }

    fn transmit(&mut self, from: u32, to: u32, msg: Message) {
        if !self.is_live(to as usize) {
            return;
        }
        if self.net.loss > 0.0 && self.rng.random::<f64>() < self.net.loss {
            return;
        }
        self.connect(from, to);
        let at = self.now + self.net.latency.of_link(self.seed, from, to);
        let to_life = self.nodes[to as usize].life;
        self.queue.schedule(
            at,
            SimEvent::Arrive {
                from,
                to,
                to_life,
                msg,
            },
        );
    }

    fn connect(&mut self, a: u32, b: u32) {
        if !self.nodes[a as usize].connections.contains(&b) {
            self.nodes[a as usize].connections.push(b);
            self.nodes[b as usize].connections.push(a);
        }
    }

    fn disconnect(&mut self, a: u32, b: u32) {
        self.nodes[a as usize].connections.retain(|&c| c != b);
        self.nodes[b as usize].connections.retain(|&c| c != a);
    }

    /// The keepalive ran out: every connection across the cut breaks at
    /// both ends, including ones closed locally whose last messages were
    /// still waiting, and what waited on them is lost.
    fn partition_timed_out(&mut self, epoch: u32) {
        let Some(p) = self.partition.as_mut().filter(|p| p.epoch == epoch) else {
            return;
        };
        p.timed_out = true;
        let side = p.side.clone();
        let mut broken: BTreeSet<(u32, u32)> = self
            .held
            .drain(..)
            .map(|(a, b, _)| (a.min(b), a.max(b)))
            .collect();
        for (a, n) in self.nodes.iter().enumerate() {
            for &b in &n.connections {
                if side[b as usize] != side[a] {
                    broken.insert((b.min(a as u32), b.max(a as u32)));
                }
            }
        }
        for (a, b) in broken {
            self.disconnect(a, b);
            for (node, peer) in [(a, b), (b, a)] {
                let life = self.nodes[node as usize].life;
                let peer = self.nodes[peer as usize].info.id;
                self.queue
                    .schedule(self.now, SimEvent::PeerFailed { node, life, peer });
            }
        }
    }

    /// Pending events (for tests and progress logs).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }
}
