//! The simulator of shipped nodes: many [`Replica`] cores — the machine
//! `officemesh node` runs — and attached observers on one virtual network,
//! with connections, a disk per node, crashes and partitions.
//!
//! Where the protocol simulator ([`super::Simulator`]) feeds overlay
//! messages between `proto` machines, this one plays the driver's part for
//! every node: it opens connections when a core dials, delivers frames on
//! them, breaks them on a crash or a partition, lands a core's disk jobs
//! after a disk delay (a crash before that loses the job, as a power cut
//! does), and restarts a crashed node from what its disk holds, through the
//! same restore code the node runs. Nothing reads a clock or a global RNG:
//! a seed replays exactly.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::network::NetworkConfig;
use super::sim_observer::SimObserver;
use crate::config::TargetsSection;
use crate::crdt::{NodeInfo, WriteKey, anti_entropy};
use crate::node_id::NodeId;
use crate::proto;
use crate::replica::authorship::Trust;
use crate::replica::persistence::{KEPT_KEY, PEERS_KEY, STATE_KEY, WRITER_KEY, restore};
use crate::replica::{self, Input, LinkId, LocalWrite, Output, Replica};
use crate::time::Time;
use crate::timer_queue::TimerQueue;
use crate::wire::{Message, PeerInfo, Role};

const PORT: u16 = 7946;
/// How long a commit takes on a simulated SD card.
pub const DISK_DELAY: Duration = Duration::from_millis(5);

/// One endpoint of the network: a node (index below the node count) or an
/// observer (the rest).
pub type Endpoint = usize;

enum Event {
    Arrive {
        to: Endpoint,
        life: u32,
        link: LinkId,
        msg: Message,
    },
    LinkUp {
        at: Endpoint,
        life: u32,
        peer: PeerInfo,
        role: Role,
        outbound: bool,
        link: LinkId,
    },
    LinkDown {
        at: Endpoint,
        life: u32,
        link: LinkId,
    },
    DialFailed {
        at: Endpoint,
        life: u32,
        addr: SocketAddr,
    },
    Landed {
        node: usize,
        life: u32,
        job: replica::PersistJob,
    },
    Wake {
        node: usize,
        life: u32,
    },
    PartitionTimeout {
        epoch: u32,
    },
}

/// One end of a connection: who owns it, and the other end.
#[derive(Clone, Copy, Debug)]
struct End {
    owner: Endpoint,
    peer: Endpoint,
    peer_link: LinkId,
}

/// What a node's disk holds.
#[derive(Clone, Debug, Default)]
struct Disk {
    entries: BTreeMap<&'static [u8], Vec<u8>>,
    dot_bound: u64,
}

struct MeshNode {
    info: NodeInfo,
    peer: PeerInfo,
    /// Its identity, as a Pi's key file holds it.
    key: WriteKey,
    replica: Option<Replica>,
    disk: Disk,
    life: u32,
    wake: Option<Time>,
    seeds: Vec<SocketAddr>,
    bytes_sent: u64,
    /// The node's own history (its file, kept across lives).
    history: Option<crate::history::SharedHistory>,
}

/// Per-run knobs for the nodes.
#[derive(Clone, Debug)]
pub struct MeshConfig {
    pub overlay: proto::Config,
    pub anti_entropy: anti_entropy::Config,
    pub targets: TargetsSection,
    pub tombstone_grace: Duration,
    /// The operators list every node is configured with.
    pub trust: Trust,
    /// The office's wall clock at virtual time zero (Unix ms).
    pub wall_epoch_ms: u64,
}

impl MeshConfig {
    /// A node's shipped defaults, the office's wall clock reading
    /// `wall_epoch_ms` at virtual time zero.
    pub fn shipped(wall_epoch_ms: u64) -> Self {
        MeshConfig {
            overlay: proto::Config::default(),
            anti_entropy: anti_entropy::Config::default(),
            targets: TargetsSection::default(),
            tombstone_grace: crate::crdt::DEFAULT_TOMBSTONE_GRACE,
            trust: Trust::default(),
            wall_epoch_ms,
        }
    }
}

/// The `Node` entries of `count` freshly started nodes, `describe(i)`
/// giving node `i`'s name and zone.
pub fn node_infos(count: usize, describe: impl Fn(usize) -> (String, String)) -> Vec<NodeInfo> {
    (0..count)
        .map(|i| {
            let (name, zone) = describe(i);
            NodeInfo {
                name,
                zone,
                role: Role::Node,
                version: env!("CARGO_PKG_VERSION").to_string(),
                interfaces: Vec::new(),
                failed_sensors: Vec::new(),
                neighbours: Vec::new(),
                cluster_keys: Vec::new(),
            }
        })
        .collect()
}

/// Shipped nodes and observers on one virtual network.
pub struct Mesh {
    now: Time,
    seed: u64,
    rng: ChaCha8Rng,
    net: NetworkConfig,
    config: MeshConfig,
    nodes: Vec<MeshNode>,
    observers: Vec<SimObserver>,
    by_addr: HashMap<SocketAddr, Endpoint>,
    ends: HashMap<LinkId, End>,
    next_link: u64,
    queue: TimerQueue<Event>,
    /// Side of every endpoint while the network is cut.
    partition: Option<Vec<u8>>,
    partition_epoch: u32,
    /// Frames sent across the cut, waiting for the heal (TCP retransmits),
    /// with when each was sent.
    held: Vec<(LinkId, Message, Time)>,
    /// Connections across a healed cut whose held frames wait for TCP's
    /// next retransmission, and when it comes: what is sent on them meanwhile
    /// queues behind (one TCP stream stays in order).
    stalled: HashMap<LinkId, Time>,
    steps: u64,
    out: Vec<Output>,
}

impl Mesh {
    /// `infos.len()` nodes (all down until started) and `observers`
    /// observers (detached until [`Mesh::attach`]).
    pub fn new(
        infos: Vec<NodeInfo>,
        observers: usize,
        config: MeshConfig,
        net: NetworkConfig,
        seed: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut by_addr = HashMap::new();
        let mut used = std::collections::HashSet::new();
        let mut fresh_key = |rng: &mut ChaCha8Rng| loop {
            let key = WriteKey::from_seed(rng.random());
            if used.insert(key.id()) {
                break key;
            }
        };
        let addr = |i: usize| {
            let [_, b, c, d] = (i as u32 + 1).to_be_bytes();
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, b, c, d), PORT))
        };
        let mut nodes = Vec::with_capacity(infos.len());
        for (i, info) in infos.into_iter().enumerate() {
            let key = fresh_key(&mut rng);
            let peer = PeerInfo {
                id: key.id(),
                addr: addr(i),
            };
            by_addr.insert(peer.addr, i);
            nodes.push(MeshNode {
                key,
                info,
                peer,
                replica: None,
                disk: Disk::default(),
                life: 0,
                wake: None,
                seeds: Vec::new(),
                bytes_sent: 0,
                history: None,
            });
        }
        let count = nodes.len();
        let observers = (0..observers)
            .map(|o| SimObserver::new(fresh_key(&mut rng), addr(count + o)))
            .collect();
        Mesh {
            now: Time::ZERO,
            seed,
            rng,
            net,
            config,
            nodes,
            observers,
            by_addr,
            ends: HashMap::new(),
            next_link: 1,
            queue: TimerQueue::default(),
            partition: None,
            partition_epoch: 0,
            held: Vec::new(),
            stalled: HashMap::new(),
            steps: 0,
            out: Vec::new(),
        }
    }

    pub fn now(&self) -> Time {
        self.now
    }

    pub fn wall_ms(&self) -> u64 {
        self.config.wall_epoch_ms + self.now.as_millis()
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn replica(&self, node: usize) -> Option<&Replica> {
        self.nodes[node].replica.as_ref()
    }

    pub fn is_live(&self, node: usize) -> bool {
        self.nodes[node].replica.is_some()
    }

    pub fn live_nodes(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&n| self.is_live(n)).collect()
    }

    pub fn index_of(&self, id: NodeId) -> Option<usize> {
        self.nodes.iter().position(|n| n.peer.id == id)
    }

    pub fn observer(&self, o: usize) -> &SimObserver {
        &self.observers[o]
    }

    pub fn observers(&self) -> usize {
        self.observers.len()
    }

    /// Bytes every node's links carried, over every life.
    pub fn bytes_sent(&self) -> u64 {
        self.nodes.iter().map(|n| n.bytes_sent).sum()
    }

    /// Starts (or restarts) `node` from its disk, joining through `seeds`.
    pub fn start(&mut self, node: usize, seeds: &[usize]) {
        if self.is_live(node) {
            return;
        }
        let seeds: Vec<SocketAddr> = seeds.iter().map(|&s| self.nodes[s].peer.addr).collect();
        let n = &mut self.nodes[node];
        n.seeds = seeds;
        n.life += 1;
        n.wake = None;
        let disk = &n.disk;
        let first_dot = disk.dot_bound.max(1);
        let get = |k: &[u8]| disk.entries.get(k).map(Vec::as_slice);
        let restored = match restore(
            n.peer.id,
            get(STATE_KEY),
            get(KEPT_KEY),
            get(WRITER_KEY),
            first_dot,
        ) {
            Ok(r) => r,
            Err(error) => {
                tracing::error!(node, %error, "cannot restore a simulated node");
                return;
            }
        };
        let (state, mut writer, skipped) = (restored.state, restored.writer, restored.skipped);
        writer.set_key(n.key.clone());
        let remembered: Vec<PeerInfo> = get(PEERS_KEY)
            .and_then(|b| postcard::from_bytes(b).ok())
            .unwrap_or_default();
        // The store reserves this run's first block before the node runs.
        let reserved_dots = writer
            .last_counter()
            .saturating_add(1)
            .saturating_add(replica::persistence::DOT_BLOCK);
        n.disk.dot_bound = reserved_dots;
        let config = replica::Config {
            me: n.peer,
            info: n.info.clone(),
            seeds: n.seeds.clone(),
            remembered,
            overlay: self.config.overlay.clone(),
            anti_entropy: self.config.anti_entropy.clone(),
            targets: self.config.targets.clone(),
            seed: self.rng.random(),
            reserved_dots,
            tombstone_grace: self.config.tombstone_grace,
            skipped,
            trust: self.config.trust.clone(),
        };
        let mut replica = Replica::new(config, state, writer);
        if let Some(history) = &n.history {
            replica.set_history(history.clone());
        }
        n.replica = Some(replica);
        self.feed(node, Input::Start);
    }

    /// The process dies: unlanded disk jobs are lost, peers see the links
    /// break after the detection delay.
    pub fn crash(&mut self, node: usize) {
        if self.nodes[node].replica.take().is_none() {
            return;
        }
        self.nodes[node].life += 1;
        self.break_links(node, self.net.crash_detection);
    }

    /// A clean stop: the core leaves, its last snapshot lands, then it stops.
    pub fn stop(&mut self, node: usize) {
        if !self.is_live(node) {
            return;
        }
        self.feed(node, Input::Leave);
        self.run_for(DISK_DELAY * 2);
        self.crash(node);
    }

    /// A change from `node`'s devices.
    pub fn local(&mut self, node: usize, write: LocalWrite) {
        if self.is_live(node) {
            self.feed(node, Input::Local(write));
        }
    }

    /// Cuts the network: endpoints on different sides cannot reach each
    /// other until [`Mesh::heal`]. Connections across the cut stall (what
    /// is sent waits, as TCP retransmits it) until the partition timeout
    /// breaks them; new connections across it cannot open.
    pub fn partition(&mut self, side: Vec<u8>) {
        self.heal();
        self.partition = Some(side);
        self.partition_epoch += 1;
        let epoch = self.partition_epoch;
        self.queue.schedule(
            self.now + self.net.partition_timeout,
            Event::PartitionTimeout { epoch },
        );
    }

    /// Ends the partition; what waited on surviving connections goes
    /// through, at once or (with [`NetworkConfig::retransmit_backoff`]) at
    /// TCP's next retransmission: its timer doubled from the first frame
    /// held, so it comes about as long after the heal as that frame had
    /// waited, [`super::network::RETRANSMIT_MAX`] at most.
    pub fn heal(&mut self) {
        if self.partition.take().is_none() {
            return;
        }
        self.stalled.clear();
        for (link, msg, sent) in std::mem::take(&mut self.held) {
            if self.net.retransmit_backoff && !self.stalled.contains_key(&link) {
                let wait = self
                    .now
                    .saturating_since(sent)
                    .min(super::network::RETRANSMIT_MAX);
                self.stalled.insert(link, self.now + wait);
            }
            self.send(link, msg);
        }
    }

    /// The keepalive ran out: every connection across the cut breaks at
    /// both ends, and what waited on it is lost.
    fn partition_timed_out(&mut self, epoch: u32) {
        if epoch != self.partition_epoch || self.partition.is_none() {
            return;
        }
        self.held.clear();
        let mut cut: Vec<LinkId> = self
            .ends
            .iter()
            .filter(|(_, e)| self.across(e.owner, e.peer))
            .map(|(l, _)| *l)
            .collect();
        cut.sort_unstable();
        for link in cut {
            if let Some(end) = self.ends.remove(&link) {
                let life = self.life(end.owner);
                self.queue.schedule(
                    self.now,
                    Event::LinkDown {
                        at: end.owner,
                        life,
                        link,
                    },
                );
            }
        }
    }

    fn across(&self, a: Endpoint, b: Endpoint) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|side| side.get(a) != side.get(b))
    }

    fn life(&self, e: Endpoint) -> u32 {
        if e < self.nodes.len() {
            self.nodes[e].life
        } else {
            self.observers[e - self.nodes.len()].life()
        }
    }

    fn live(&self, e: Endpoint) -> bool {
        if e < self.nodes.len() {
            self.is_live(e)
        } else {
            true
        }
    }

    fn latency(&self, a: Endpoint, b: Endpoint) -> Duration {
        self.net.latency.of_link(self.seed, a as u32, b as u32)
    }

    fn break_links(&mut self, e: Endpoint, after: Duration) {
        let mut mine: Vec<LinkId> = self
            .ends
            .iter()
            .filter(|(_, end)| end.owner == e)
            .map(|(l, _)| *l)
            .collect();
        // In link order, not the map's: the same seed replays the same run.
        mine.sort_unstable();
        for link in mine {
            if let Some(end) = self.ends.remove(&link)
                && self.ends.remove(&end.peer_link).is_some()
            {
                let life = self.life(end.peer);
                self.queue.schedule(
                    self.now + after,
                    Event::LinkDown {
                        at: end.peer,
                        life,
                        link: end.peer_link,
                    },
                );
            }
        }
    }

    /// Opens a connection from `from` to whoever listens at `addr`.
    fn dial(&mut self, from: Endpoint, role: Role, addr: SocketAddr) {
        let life = self.life(from);
        let target = self.by_addr.get(&addr).copied();
        let Some(to) = target.filter(|&t| self.live(t) && !self.across(from, t)) else {
            let after = if target.is_some_and(|t| self.across(from, t)) {
                self.net.dial_timeout.unwrap_or(self.net.partition_timeout)
            } else {
                self.net.crash_detection
            };
            self.queue.schedule(
                self.now + after,
                Event::DialFailed {
                    at: from,
                    life,
                    addr,
                },
            );
            return;
        };
        let (a, b) = (LinkId(self.next_link), LinkId(self.next_link + 1));
        self.next_link += 2;
        self.ends.insert(
            a,
            End {
                owner: from,
                peer: to,
                peer_link: b,
            },
        );
        self.ends.insert(
            b,
            End {
                owner: to,
                peer: from,
                peer_link: a,
            },
        );
        let one_way = self.latency(from, to);
        let from_peer = self.peer_info(from);
        let to_peer = self.peer_info(to);
        let to_life = self.life(to);
        // The handshake: the listener sees it after one way, the dialler
        // after the round trip.
        self.queue.schedule(
            self.now + one_way,
            Event::LinkUp {
                at: to,
                life: to_life,
                peer: from_peer,
                role,
                outbound: false,
                link: b,
            },
        );
        self.queue.schedule(
            self.now + one_way * 2,
            Event::LinkUp {
                at: from,
                life,
                peer: to_peer,
                role: Role::Node,
                outbound: true,
                link: a,
            },
        );
    }

    fn peer_info(&self, e: Endpoint) -> PeerInfo {
        if e < self.nodes.len() {
            self.nodes[e].peer
        } else {
            self.observers[e - self.nodes.len()].peer()
        }
    }

    /// Sends on `link` (owned by `from`).
    fn send(&mut self, link: LinkId, msg: Message) {
        let Some(end) = self.ends.get(&link).copied() else {
            return;
        };
        if end.owner < self.nodes.len() {
            let len = crate::wire::encode_message(&msg).map_or(0, |b| b.len()) as u64;
            self.nodes[end.owner].bytes_sent += len;
        }
        if self.across(end.owner, end.peer) {
            self.held.push((link, msg, self.now));
            return;
        }
        let mut at = self.now + self.latency(end.owner, end.peer);
        if let Some(&resume) = self.stalled.get(&link) {
            at = at.max(resume);
        }
        let life = self.life(end.peer);
        self.queue.schedule(
            at,
            Event::Arrive {
                to: end.peer,
                life,
                link: end.peer_link,
                msg,
            },
        );
    }

    fn close(&mut self, link: LinkId) {
        let Some(end) = self.ends.remove(&link) else {
            return;
        };
        if self.ends.remove(&end.peer_link).is_some() {
            let life = self.life(end.peer);
            let at = self.now + self.latency(end.owner, end.peer);
            self.queue.schedule(
                at,
                Event::LinkDown {
                    at: end.peer,
                    life,
                    link: end.peer_link,
                },
            );
        }
    }

    /// Feeds one input to a live node and carries out its outputs.
    fn feed(&mut self, node: usize, input: Input) {
        // What a node logs is told apart by its index
        // (`RUST_LOG=officemesh::replica=debug`).
        let _node = tracing::debug_span!("node", n = node).entered();
        let (now, wall) = (self.now, self.wall_ms());
        let mut out = std::mem::take(&mut self.out);
        let Some(replica) = self.nodes[node].replica.as_mut() else {
            return;
        };
        replica.handle(now, wall, input, &mut out);
        let due = replica.poll_timeout();
        for output in out.drain(..) {
            match output {
                Output::Send { link, msg } => self.send(link, msg),
                Output::Dial { addr, .. } => self.dial(node, Role::Node, addr),
                Output::Close { link } => self.close(link),
                Output::Persist(job) => {
                    let life = self.nodes[node].life;
                    self.queue
                        .schedule(now + DISK_DELAY, Event::Landed { node, life, job });
                }
                Output::Targets(_) | Output::Retired | Output::Programs => {}
            }
        }
        self.out = out;
        if let Some(due) = due {
            let n = &mut self.nodes[node];
            if n.wake.is_none_or(|w| due < w || w < now) {
                n.wake = Some(due);
                let life = n.life;
                self.queue
                    .schedule(due.max(now), Event::Wake { node, life });
            }
        }
    }

    /// Attaches observer `o` to `node` (dials it as an observer).
    pub fn attach(&mut self, o: usize, node: usize) {
        let from = self.nodes.len() + o;
        let addr = self.nodes[node].peer.addr;
        self.observers[o].attaching(node);
        self.dial(from, Role::Observer, addr);
    }

    /// Gives `node` a history to answer observers from (as its devices
    /// would record it), for this life and the next.
    pub fn set_history(&mut self, node: usize, history: crate::history::SharedHistory) {
        let n = &mut self.nodes[node];
        if let Some(replica) = &mut n.replica {
            replica.set_history(history.clone());
        }
        n.history = Some(history);
    }

    /// Observer `o` writes a schedule, preset or override made by `f`;
    /// returns its request number.
    pub fn observer_write_program(
        &mut self,
        o: usize,
        f: impl FnOnce(
            &mut crate::crdt::OfficeState,
            &mut crate::crdt::Writer,
            u64,
        ) -> crate::crdt::Write,
    ) -> Option<u64> {
        let wall = self.wall_ms();
        let (link, msg, request) = self.observers[o].write_program(wall, f)?;
        self.send(link, msg);
        Some(request)
    }

    /// Observer `o` asks its node for `node`'s history.
    pub fn observer_history(&mut self, o: usize, node: NodeId, since_ms: i64) -> Option<u64> {
        let (link, msg, request) = self.observers[o].request_history(node, since_ms)?;
        self.send(link, msg);
        Some(request)
    }

    /// Observer `o` writes a target; returns its request number.
    pub fn observer_write(&mut self, o: usize, zone: &str, value: f32) -> Option<u64> {
        let wall = self.wall_ms();
        let (link, msg, request) = self.observers[o].write_target(zone, value, wall)?;
        self.send(link, msg);
        Some(request)
    }

    fn observer_event(&mut self, o: usize, event: ObserverEvent) {
        let now = self.now;
        let sends = match event {
            ObserverEvent::Up { peer, link } => self.observers[o].up(now, peer, link),
            ObserverEvent::Down { link } => {
                if self.observers[o].down(link) {
                    // Re-attach to a live node on its side after a moment.
                    let live: Vec<usize> = self
                        .live_nodes()
                        .into_iter()
                        .filter(|&n| !self.across(self.nodes.len() + o, n))
                        .collect();
                    if !live.is_empty() {
                        let pick = live[self.rng.random_range(0..live.len())];
                        self.attach(o, pick);
                    }
                }
                Vec::new()
            }
            ObserverEvent::Frame { link, msg } => self.observers[o].frame(now, link, msg),
            ObserverEvent::DialFailed => {
                let live = self.live_nodes();
                if !live.is_empty() {
                    let pick = live[self.rng.random_range(0..live.len())];
                    self.attach(o, pick);
                }
                Vec::new()
            }
        };
        for (link, msg) in sends {
            self.send(link, msg);
        }
    }

    /// Processes every event due up to `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Time) {
        while let Some(at) = self.queue.next_due() {
            if at > until {
                break;
            }
            let Some((at, event)) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.steps += 1;
            self.step(event);
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    fn step(&mut self, event: Event) {
        let nodes = self.nodes.len();
        match event {
            Event::Arrive {
                to,
                life,
                link,
                msg,
            } if self.life(to) == life => {
                if to < nodes {
                    self.feed(to, Input::Frame { link, msg });
                } else {
                    self.observer_event(to - nodes, ObserverEvent::Frame { link, msg });
                }
            }
            Event::LinkUp {
                at,
                life,
                peer,
                role,
                outbound,
                link,
            } if self.life(at) == life => {
                if !self.ends.contains_key(&link) {
                    return;
                }
                if at < nodes {
                    self.feed(
                        at,
                        Input::LinkUp {
                            peer,
                            role,
                            outbound,
                            link,
                        },
                    );
                } else {
                    self.observer_event(at - nodes, ObserverEvent::Up { peer, link });
                }
            }
            Event::LinkDown { at, life, link } if self.life(at) == life => {
                self.ends.remove(&link);
                if at < nodes {
                    self.feed(at, Input::LinkDown { link });
                } else {
                    self.observer_event(at - nodes, ObserverEvent::Down { link });
                }
            }
            Event::DialFailed { at, life, addr } if self.life(at) == life => {
                if at < nodes {
                    self.feed(at, Input::DialFailed { addr });
                } else {
                    self.observer_event(at - nodes, ObserverEvent::DialFailed);
                }
            }
            Event::Landed { node, life, job } if self.nodes[node].life == life => {
                let disk = &mut self.nodes[node].disk;
                for (k, v) in &job.puts {
                    disk.entries.insert(k, v.clone());
                }
                if let Some(bound) = job.dot_bound {
                    disk.dot_bound = disk.dot_bound.max(bound);
                }
                self.feed(
                    node,
                    Input::Persisted {
                        token: job.token,
                        result: Ok(()),
                    },
                );
            }
            Event::Wake { node, life } if self.nodes[node].life == life => {
                let n = &mut self.nodes[node];
                if n.wake.is_some_and(|w| w <= self.now) {
                    n.wake = None;
                }
                self.feed(node, Input::Tick);
            }
            Event::PartitionTimeout { epoch } => self.partition_timed_out(epoch),
            _ => {}
        }
    }
}

enum ObserverEvent {
    Up { peer: PeerInfo, link: LinkId },
    Down { link: LinkId },
    Frame { link: LinkId, msg: Message },
    DialFailed,
}
