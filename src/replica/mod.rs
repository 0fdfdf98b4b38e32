//! The replica core: one node's whole behaviour as one sans-IO machine.
//!
//! It owns the overlay (HyParView + Plumtree), anti-entropy, the office
//! state and its writer, the observers attached here (Watch leases, clock
//! reports, write requests and their answers), bootstrap, the link policy,
//! admission and the persistence decisions. The caller feeds it [`Input`]s
//! with the current time and drains [`Output`]s; timers are its own and
//! polled ([`Replica::poll_timeout`]). The tokio driver (`node::runtime`)
//! and the simulator run this same type, so everything a peer can observe
//! is decided here and tested in virtual time (DESIGN.md, "The replica
//! core").

pub mod admission;
pub mod authorship;
pub mod awaiting_keys;
pub mod bootstrap;
pub mod histogram;
pub mod history_requests;
pub mod links;
pub mod liveness;
pub mod local_write;
pub mod metrics;
pub mod persistence;
pub mod relayed_clocks;
pub mod route;
pub mod watch;

#[cfg(test)]
mod forget_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

pub use admission::{Admission, Holding, Rejection, Route, check_target};
pub use links::{LinkId, Links};
pub use local_write::LocalWrite;
pub use metrics::Metrics;
pub use persistence::{PendingAck, PersistJob, Persistence};

use self::authorship::Trust;
use self::bootstrap::{Bootstrap, Step};
use self::links::{Link, LinkAction};
use self::relayed_clocks::RelayedClocks;
use self::watch::{Report, Watchers};
use crate::config::TargetsSection;
use crate::crdt::anti_entropy::{self, AntiEntropy};
use crate::crdt::{
    Delta, Dot, FailedSensor, Interface, NodeInfo, OfficeState, TargetKey, TargetValue, Writer,
};
use crate::node_id::NodeId;
use crate::proto::{self, Overlay};
use crate::time::Time;
use crate::timer_queue::TimerQueue;
use crate::wire::payload::Payload;
use crate::wire::{self, Message, PeerInfo, Role};

/// A `Node` entry re-announcement (neighbours changed) waits this long, so
/// churn costs one delta, not one per event.
pub const ANNOUNCE_DELAY: Duration = Duration::from_secs(2);
/// How often tombstones past their grace period are collected.
pub const TOMBSTONE_SWEEP: Duration = Duration::from_secs(3600);
/// Refused observer dots remembered; the oldest are forgotten first (a
/// copy of a long-refused write is then only dropped as old).
pub const MAX_VOIDED: usize = 1024;

/// Everything a replica needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    pub me: PeerInfo,
    pub info: NodeInfo,
    pub seeds: Vec<SocketAddr>,
    /// Peers from the last run (the snapshot's).
    pub remembered: Vec<PeerInfo>,
    pub overlay: proto::Config,
    pub anti_entropy: anti_entropy::Config,
    pub targets: TargetsSection,
    /// Seeds the machines' RNGs: the same seed and inputs, the same outputs.
    pub seed: u64,
    /// The dot bound already durable (dots below it may be used).
    pub reserved_dots: u64,
    pub tombstone_grace: Duration,
    /// Own dots of an earlier run this replica no longer knows, announced
    /// after its first write ([`Payload::Skipped`]).
    pub skipped: Option<(u64, u64)>,
    /// Who may write targets and the heating program, and who is revoked.
    pub trust: Trust,
}

/// What the driver feeds the core.
#[derive(Clone, Debug)]
pub enum Input {
    /// Begin: join, announce, arm the timers.
    Start,
    /// A connection came up; the handshake proved `peer.id` and its role.
    LinkUp {
        peer: PeerInfo,
        role: Role,
        outbound: bool,
        link: LinkId,
    },
    LinkDown {
        link: LinkId,
    },
    Frame {
        link: LinkId,
        msg: Message,
    },
    /// A dial to `addr` failed (after its retries).
    DialFailed {
        addr: SocketAddr,
    },
    /// Time has advanced: fire the timers due.
    Tick,
    /// A change from this node's own devices.
    Local(LocalWrite),
    /// The machine's network interfaces changed.
    Interfaces(Vec<Interface>),
    /// The keyring was reloaded: the fingerprints of the cluster keys this
    /// replica now accepts, its primary first.
    ClusterKeys(Vec<crate::key_fingerprint::KeyFingerprint>),
    /// The operators list and the revoked replicas were reloaded: changes
    /// are checked against them from now on.
    Trust(Trust),
    /// A [`PersistJob`] landed, or failed with this reason.
    Persisted {
        token: u64,
        result: Result<(), String>,
    },
    /// Leave gracefully: DISCONNECT every neighbour, write a snapshot.
    Leave,
}

/// What the core asks of the driver.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    Send {
        link: LinkId,
        msg: Message,
    },
    /// Open a connection to `addr`; a seed is retried with backoff, any
    /// other dial is tried once.
    Dial {
        addr: SocketAddr,
        seed: bool,
    },
    Close {
        link: LinkId,
    },
    /// Write this durably, off the event loop, and answer `Persisted`.
    Persist(PersistJob),
    /// The winning target of every `(zone, quantity)` changed: the
    /// thermostats' input.
    Targets(BTreeMap<TargetKey, TargetValue>),
    /// An operator forgot this node: it has stopped writing and left the
    /// overlay, and stays quiet until it is re-imaged.
    Retired,
    /// Something the zones' heating programs are made of (a target, a
    /// schedule, a preset, an override) may have changed: the devices
    /// re-read them from [`Replica::state`].
    Programs,
}

/// The core's wake-ups.
#[derive(Debug)]
enum Timer {
    Overlay(proto::Timer),
    AntiEntropy(anti_entropy::Timer),
    Announce,
    /// Keepalives and silent links of the active view.
    Liveness,
    WatchRenew,
    ClockReport,
    Sweep,
    Snapshot,
    PersistRetry,
    /// A peer's change to the kept part is due for its commit.
    KeptCommit,
    Tombstones,
}

/// Counters a person or a benchmark reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rejected: BTreeMap<&'static str, u64>,
    pub watches_refused: u64,
    /// Announced broadcast ids not awaited: past Plumtree's bounds on
    /// missing messages.
    pub announcements_refused: u64,
    pub pending_dropped: u64,
    pub dials_refused: u64,
    pub writes_without_dot: u64,
    pub commits: u64,
    pub commit_failures: u64,
    /// Broadcasts, anti-entropy received, commit latency, convergence lag.
    pub metrics: Metrics,
    /// Anti-entropy rounds' messages, bytes sent and keys repaired.
    pub anti_entropy: anti_entropy::Stats,
}

/// One replica.
pub struct Replica {
    config: Config,
    overlay: Overlay,
    anti_entropy: AntiEntropy,
    state: OfficeState,
    writer: Writer,
    timers: TimerQueue<Timer>,
    links: Links,
    bootstrap: Bootstrap,
    watchers: Watchers,
    /// What this node relays to its observers, for the next to attach.
    relayed: RelayedClocks,
    admission: Admission,
    persistence: Persistence,
    info: NodeInfo,
    announce_armed: bool,
    renew_armed: bool,
    published: BTreeMap<TargetKey, TargetValue>,
    retired: bool,
    leaving: bool,
    writes_without_dot: u64,
    metrics: Metrics,
    /// Dots of observer writes refused here or announced refused, so a
    /// later copy of one is answered as refused, never *stored*.
    voided: std::collections::BTreeSet<Dot>,
    /// This node's own history, for observers that ask for it.
    history: Option<crate::history::SharedHistory>,
    history_budget: history_requests::HistoryBudget,
    /// The time and wall clock of the input being handled.
    now: Time,
    wall_ms: u64,
    out: Vec<Output>,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("me", &self.config.me)
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// A replica over a state and writer restored from disk (or new).
    pub fn new(config: Config, state: OfficeState, writer: Writer) -> Self {
        let overlay = Overlay::new(config.me, config.overlay.clone(), config.seed);
        let anti_entropy =
            AntiEntropy::new(config.anti_entropy.clone(), config.seed.rotate_left(17));
        let mut admission =
            Admission::new(config.me.id, config.targets.clone(), config.trust.clone());
        admission.learn(state.registers());
        if let Some(key) = writer.key() {
            admission.learn_own_key(key.public());
        }
        Replica {
            overlay,
            anti_entropy,
            state,
            writer,
            timers: TimerQueue::default(),
            links: Links::default(),
            bootstrap: Bootstrap::default(),
            watchers: Watchers::default(),
            relayed: RelayedClocks::default(),
            admission,
            persistence: Persistence::new(config.reserved_dots),
            info: config.info.clone(),
            announce_armed: false,
            renew_armed: false,
            published: BTreeMap::new(),
            retired: false,
            leaving: false,
            writes_without_dot: 0,
            metrics: Metrics::default(),
            voided: std::collections::BTreeSet::new(),
            history: None,
            history_budget: history_requests::HistoryBudget::default(),
            now: Time::ZERO,
            wall_ms: 0,
            out: Vec::new(),
            config,
        }
    }

    pub fn id(&self) -> NodeId {
        self.config.me.id
    }

    pub fn me(&self) -> PeerInfo {
        self.config.me
    }

    pub fn state(&self) -> &OfficeState {
        &self.state
    }

    pub fn writer(&self) -> &Writer {
        &self.writer
    }

    pub fn overlay(&self) -> &Overlay {
        &self.overlay
    }

    pub fn anti_entropy(&self) -> &AntiEntropy {
        &self.anti_entropy
    }

    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn links(&self) -> &Links {
        &self.links
    }

    pub fn is_retired(&self) -> bool {
        self.retired
    }

    /// Whether nothing waits for the disk (a clean stop may end).
    pub fn persistence_idle(&self) -> bool {
        self.persistence.idle()
    }

    pub fn stats(&self) -> Stats {
        let l = self.links.stats();
        Stats {
            rejected: self.admission.rejected().clone(),
            watches_refused: self.watchers.refused(),
            announcements_refused: self.overlay.announcements_refused(),
            pending_dropped: l.pending_dropped,
            dials_refused: l.dials_refused,
            writes_without_dot: self.writes_without_dot,
            commits: self.persistence.commits(),
            commit_failures: self.persistence.failures(),
            metrics: self.metrics.clone(),
            anti_entropy: self.anti_entropy.stats(),
        }
    }

    /// When the core next wants a [`Input::Tick`].
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next_due()
    }

    /// Feeds one input at `now` (monotonic) and `wall_ms` (the wall clock,
    /// for time stamps and the admission of future writes); appends the
    /// outputs to `out`.
    pub fn handle(&mut self, now: Time, wall_ms: u64, input: Input, out: &mut Vec<Output>) {
        self.now = now;
        self.wall_ms = wall_ms;
        match input {
            Input::Start => self.start(),
            Input::LinkUp {
                peer,
                role,
                outbound,
                link,
            } => self.link_up(peer, role, outbound, link),
            Input::LinkDown { link } => self.link_down(link),
            Input::Frame { link, msg } => self.frame(link, msg),
            Input::DialFailed { addr } => self.dial_failed(addr),
            Input::Tick => self.tick(),
            Input::Local(write) => self.local(write),
            Input::Interfaces(interfaces) => {
                if interfaces != self.info.interfaces {
                    tracing::info!("network interfaces changed; re-announcing");
                    self.info.interfaces = interfaces;
                    self.announce();
                }
            }
            Input::Trust(trust) => {
                tracing::info!(
                    operators = trust.operators.len(),
                    revoked = trust.revoked.len(),
                    "who may write reloaded"
                );
                self.admission.set_trust(trust);
            }
            Input::ClusterKeys(keys) => {
                if keys != self.info.cluster_keys {
                    tracing::info!("cluster keys changed; re-announcing");
                    self.info.cluster_keys = keys;
                    self.announce();
                }
            }
            Input::Persisted { token, result } => self.persisted(token, result),
            Input::Leave => self.leave(),
        }
        self.admit_awaiting();
        self.persist();
        out.append(&mut self.out);
    }

    // ---- start and stop ------------------------------------------------

    fn start(&mut self) {
        if self.check_retired() {
            return;
        }
        self.announce();
        self.publish_targets();
        let step = self.bootstrap.start(
            self.config.me.addr,
            &self.config.seeds,
            &self.config.remembered,
        );
        self.bootstrap_step(step);
        let now = self.now;
        self.timers.schedule(now + links::IDLE_LINK, Timer::Sweep);
        self.timers
            .schedule(now + liveness::KEEPALIVE_AFTER, Timer::Liveness);
        self.timers
            .schedule(now + persistence::SNAPSHOT_EVERY, Timer::Snapshot);
        self.timers
            .schedule(now + TOMBSTONE_SWEEP, Timer::Tombstones);
    }

    fn leave(&mut self) {
        tracing::info!("leaving the overlay");
        self.leaving = true;
        self.overlay_input(proto::Input::Leave);
        self.persistence.want_snapshot(true);
    }

    fn bootstrap_step(&mut self, step: Step) {
        match step {
            Step::Join(contacts) => self.overlay_input(proto::Input::Join(contacts)),
            Step::Dial(seeds) => {
                for addr in seeds {
                    self.out.push(Output::Dial { addr, seed: true });
                }
            }
            Step::Wait => {}
        }
    }

    // ---- links ---------------------------------------------------------

    fn link_up(&mut self, peer: PeerInfo, role: Role, outbound: bool, id: LinkId) {
        if self.retired {
            self.out.push(Output::Close { link: id });
            return;
        }
        let mut actions = Vec::new();
        let link = Link {
            peer,
            id,
            outbound,
            role,
            last_active: self.now,
            last_sent: self.now,
            last_heard: self.now,
        };
        let accepted = self.links.up(self.id(), self.now, link, &mut actions);
        self.link_actions(actions);
        if accepted == links::Accepted::Duplicate {
            return;
        }
        match role {
            Role::Observer => self.observer_up(peer),
            Role::Node => {
                let report = self.watchers.link_up(self.now, peer.id);
                self.report(report);
                if outbound {
                    let alone = self.overlay.active_view().is_empty();
                    let step = self.bootstrap.reached(peer, alone);
                    self.bootstrap_step(step);
                }
            }
        }
    }

    fn link_down(&mut self, id: LinkId) {
        let Some(link) = self.links.down(id) else {
            return;
        };
        self.link_lost(link);
    }

    /// A link is gone, closed by the transport or found silent.
    fn link_lost(&mut self, link: Link) {
        let peer = link.peer.id;
        tracing::debug!(%peer, "link down");
        self.watchers.link_lost(peer);
        self.relayed.remove(peer);
        match link.role {
            Role::Observer => self.observer_down(peer),
            Role::Node if !self.overlay.active_view().iter().any(|p| p.id == peer) => {
                // TCP (with the silence of [`liveness`]) is the failure
                // detector of the active view only (HyParView §4.3). A link outside it (a shuffle reply, a
                // seed dial, a refused NEIGHBOR) that the peer closed,
                // typically because it was idle, says nothing about the
                // peer's health; taken as a failure it would drop the peer
                // from the passive view and have it probed with JOIN, which
                // reshapes active views: churn in an office where nothing
                // happens. A NEIGHBOR request in flight on it times out.
                tracing::debug!(%peer, "a link outside the active view closed");
            }
            Role::Node => self.overlay_input(proto::Input::PeerFailed(peer)),
        }
    }

    fn dial_failed(&mut self, addr: SocketAddr) {
        let ended = self.watchers.unreachable(addr);
        if ended > 0 {
            tracing::debug!(%addr, ended, "Watch leases through an unreachable node ended");
        }
        let step = self.bootstrap.failed(addr);
        self.bootstrap_step(step);
        match self.links.dial_failed(addr) {
            Some(links::DialFailure::Unreachable(peer)) => {
                tracing::debug!(%addr, "dial failed");
                self.watchers.link_lost(peer);
                self.overlay_input(proto::Input::PeerFailed(peer));
            }
            Some(links::DialFailure::Stale(peer)) => {
                tracing::debug!(%addr, %peer, "a dial failed, but the peer was heard from since it began");
            }
            None => {}
        }
    }

    fn link_actions(&mut self, actions: Vec<LinkAction>) {
        for action in actions {
            self.out.push(match action {
                LinkAction::Send { link, msg } => Output::Send { link, msg },
                LinkAction::Dial { addr } => Output::Dial { addr, seed: false },
                LinkAction::Close { link } => Output::Close { link },
            });
        }
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        let mut actions = Vec::new();
        self.links.send(self.now, to, msg, &mut actions);
        self.link_actions(actions);
    }

    fn send_or_dial(&mut self, to: PeerInfo, msg: Message) {
        let mut actions = Vec::new();
        self.links.send_or_dial(self.now, to, msg, &mut actions);
        self.link_actions(actions);
    }

    // ---- frames --------------------------------------------------------

    fn frame(&mut self, id: LinkId, msg: Message) {
        let Some(peer) = self.links.peer_of(id) else {
            return;
        };
        if self.retired {
            return;
        }
        if msg == Message::Keepalive {
            self.links.heard(peer, self.now);
            return;
        }
        self.links.touch(peer, self.now);
        let Some(link) = self.links.get(peer) else {
            return;
        };
        let (role, info) = (link.role, link.peer);
        match (role, msg) {
            (_, Message::Sync(msg)) => {
                let size = postcard::ser_flavors::Size::default();
                let len = postcard::serialize_with_flavor(&Message::Sync(msg.clone()), size);
                self.metrics.anti_entropy_received(len.unwrap_or(0));
                self.anti_entropy_input(anti_entropy::Input::Message { from: peer, msg });
            }
            (
                Role::Observer,
                Message::Observer(wire::observer::Message::Write { request, delta }),
            ) => {
                self.observer_write(peer, request, delta);
            }
            (
                Role::Observer,
                Message::Observer(wire::observer::Message::HistoryRequest {
                    request,
                    node,
                    since_ms,
                }),
            ) => self.history_request(peer, request, node, since_ms),
            (
                Role::Node,
                msg @ Message::Observer(wire::observer::Message::History { observer, node, .. }),
            ) => self.history_answer(peer, node, observer, msg),
            (Role::Node, Message::Observer(wire::observer::Message::ClockReport(bytes))) => {
                self.relay_report(peer, bytes);
            }
            (
                Role::Node,
                msg @ (Message::Membership(_) | Message::Broadcast(_) | Message::Flood(_)),
            ) => self.overlay_input(proto::Input::Message { from: info, msg }),
            (role, msg) => {
                tracing::debug!(%peer, ?role, kind = msg.kind(), "ignoring a message not meant for this role");
            }
        }
    }

    // ---- the machines --------------------------------------------------

    fn overlay_input(&mut self, input: proto::Input) {
        let mut out = Vec::new();
        self.overlay.handle(self.now, input, &mut out);
        self.drive_overlay(out);
    }

    fn drive_overlay(&mut self, out: Vec<proto::Output>) {
        for output in out {
            match output {
                proto::Output::Send { to, msg } => self.send_or_dial(to, msg),
                proto::Output::Disconnect { peer } => {
                    let mut actions = Vec::new();
                    self.links.close(peer, &mut actions);
                    self.link_actions(actions);
                }
                proto::Output::Schedule { at, timer } => {
                    self.timers.schedule(at, Timer::Overlay(timer));
                }
                proto::Output::Event(event) => self.overlay_event(event),
            }
        }
    }

    fn overlay_event(&mut self, event: proto::Event) {
        match event {
            proto::Event::NeighborUp(peer) => {
                tracing::debug!(peer = %peer.id, addr = %peer.addr, "neighbour up");
                self.anti_entropy_input(anti_entropy::Input::NeighborUp(peer.id));
                self.arm_announce();
            }
            proto::Event::NeighborDown { peer, reason } => {
                tracing::debug!(%peer, ?reason, "neighbour down");
                self.anti_entropy_input(anti_entropy::Input::NeighborDown(peer));
                self.arm_announce();
            }
            proto::Event::Delivered {
                id,
                from,
                hops,
                payload,
            } => {
                // One line per first delivery: with every node's line for a
                // broadcast, its path and each hop's time can be rebuilt
                // (`docs/benchmarks.md`, "Where the time goes").
                tracing::debug!(
                    target: "officemesh::delivery",
                    origin = %id.origin,
                    seq = id.seq,
                    %from,
                    hops,
                    "delivered"
                );
                self.links.heard_of(id.origin);
                self.delivered(id.origin, from, payload)
            }
        }
    }

    fn anti_entropy_input(&mut self, input: anti_entropy::Input) {
        let mut out = Vec::new();
        let observers = self.links.observers();
        let (now, wall_ms) = (self.now, self.wall_ms);
        let mut gate = AntiEntropyGate {
            admission: &mut self.admission,
            metrics: &mut self.metrics,
            observers: &observers,
            now,
            wall_ms,
            my_counter: self.writer.last_counter(),
            kept: false,
            admitted: Vec::new(),
        };
        self.anti_entropy
            .handle_admitted(now, &mut self.state, input, &mut gate, &mut out);
        let kept = gate.kept;
        for delta in std::mem::take(&mut gate.admitted) {
            self.tell_observers_delta(&delta);
        }
        if kept {
            self.kept_changed();
            self.out.push(Output::Programs);
        }
        for output in out {
            match output {
                anti_entropy::Output::Send { to, msg } => {
                    if let wire::sync::Message::Summary { reply: false, .. } = msg {
                        self.metrics.anti_entropy_round();
                    }
                    self.send(to, Message::Sync(msg));
                }
                anti_entropy::Output::Schedule { at, timer } => {
                    self.timers.schedule(at, Timer::AntiEntropy(timer));
                }
                anti_entropy::Output::Event(anti_entropy::Event::Repaired { from, keys }) => {
                    tracing::debug!(peer = %from, keys, "anti-entropy repaired");
                    self.state_changed(false);
                }
                anti_entropy::Output::Event(anti_entropy::Event::Malformed { from, error }) => {
                    tracing::warn!(peer = %from, %error, "malformed anti-entropy message");
                }
            }
        }
    }

    /// A broadcast reached this node for the first time, relayed by `from`.
    fn delivered(&mut self, origin: NodeId, from: NodeId, encoded: Bytes) {
        let payload = Payload::decode(&encoded);
        match &payload {
            // A delta is counted by what it writes, once decoded below.
            Ok(Payload::Delta(_)) => {}
            Ok(other) => self
                .metrics
                .broadcast_received(metrics::payload_kind(other)),
            Err(_) => self.metrics.broadcast_received("undecodable"),
        }
        match payload {
            Ok(Payload::Delta(bytes)) => match Delta::decode(&bytes) {
                Ok(mut delta) => {
                    self.metrics.broadcast_received(metrics::delta_kind(&delta));
                    let dropped = self.admission.filter(
                        self.now,
                        self.wall_ms,
                        origin,
                        Route::Broadcast,
                        &mut delta,
                        Holding {
                            state: &self.state,
                            my_counter: self.writer.last_counter(),
                        },
                    );
                    if self.admission.awaited_proof() {
                        // The relay admitted it, so it holds the proofs:
                        // its anti-entropy answer brings them first, and
                        // the write with them, rather than a periodic
                        // round seconds later (one neighbour every
                        // period, an epidemic's slow tail).
                        self.anti_entropy_input(anti_entropy::Input::Exchange(from));
                    }
                    if self.state.apply(&delta) {
                        if let Some(newest) = delta.0.timestamps().max() {
                            let route = metrics::Route::Broadcast;
                            self.metrics.arrived(route, newest.wall_ms, self.wall_ms);
                        }
                        // Whole as it came when nothing was held back.
                        if dropped == 0 {
                            self.tell_observers(encoded);
                        } else {
                            self.tell_observers_delta(&delta);
                        }
                        self.state_changed(persistence::touches_kept(&delta));
                    }
                }
                Err(error) => {
                    self.metrics.broadcast_received("undecodable");
                    self.admission.refuse_all(
                        self.now,
                        origin,
                        Route::Broadcast,
                        1,
                        &Rejection::Undecodable(error.to_string()),
                    );
                }
            },
            Ok(Payload::Watch {
                until_ms_from_now,
                via,
            }) => {
                let lease = Duration::from_millis(u64::from(until_ms_from_now));
                match self.watchers.extend(self.now, origin, lease, via) {
                    Ok(report) => self.report(report),
                    Err(why) => tracing::debug!(%origin, %why, "Watch refused"),
                }
            }
            Ok(Payload::ClockReport { node, .. }) => {
                tracing::debug!(%origin, %node, "ignoring a broadcast clock report");
            }
            Ok(Payload::HistoryRequest {
                via,
                observer,
                request,
                node,
                since_ms,
            }) => self.history_request_delivered(via, observer, request, node, since_ms),
            Ok(Payload::Skipped { from, to }) => {
                if self
                    .admission
                    .skipped_notice(self.now, origin, from, to, &self.state)
                    .is_ok()
                {
                    self.state.void_range(origin, from, to);
                    self.state_changed(false);
                }
            }
            Ok(Payload::Refused {
                observer,
                key,
                proofs,
            }) => {
                if self
                    .admission
                    .refusal_notice(self.now, origin, observer, key, &proofs, &self.state)
                    .is_ok()
                {
                    self.void(observer, proofs.iter().map(|p| p.dot));
                    self.tell_observers(encoded);
                }
            }
            Err(error) => {
                self.admission.refuse_all(
                    self.now,
                    origin,
                    Route::Broadcast,
                    1,
                    &Rejection::Undecodable(error.to_string()),
                );
            }
        }
    }

    /// Checks again the writes that waited for their authors' keys, now
    /// that this input may have brought them (an entry carries its node's
    /// key). A change checked here can bring keys for the next ones, so a
    /// few passes run; what still waits is looked at after the next input.
    fn admit_awaiting(&mut self) {
        const PASSES: usize = 4;
        for _ in 0..PASSES {
            let ready = self.admission.checkable(self.now);
            if ready.is_empty() {
                return;
            }
            for awaiting in ready {
                let mut delta = awaiting.delta;
                self.admission.filter(
                    self.now,
                    self.wall_ms,
                    awaiting.from,
                    awaiting.route,
                    &mut delta,
                    Holding {
                        state: &self.state,
                        my_counter: self.writer.last_counter(),
                    },
                );
                if self.state.apply(&delta) {
                    self.tell_observers_delta(&delta);
                    self.state_changed(persistence::touches_kept(&delta));
                }
            }
        }
    }

    fn broadcast(&mut self, payload: &Payload) {
        match payload.encode() {
            Ok(bytes) => {
                self.metrics.broadcast_sent(metrics::payload_kind(payload));
                // A write or a refusal this node made or admitted is news
                // to its observers; the rest (leases, notices, requests)
                // is the nodes' business.
                if matches!(payload, Payload::Delta(_) | Payload::Refused { .. }) {
                    self.tell_observers(bytes.clone());
                }
                self.broadcast_bytes(bytes);
            }
            Err(error) => tracing::error!(%error, "cannot encode a payload"),
        }
    }

    fn broadcast_bytes(&mut self, bytes: Bytes) {
        let mut out = Vec::new();
        self.overlay.broadcast(self.now, bytes, &mut out);
        self.drive_overlay(out);
    }

    // ---- timers --------------------------------------------------------

    fn tick(&mut self) {
        let now = self.now;
        while let Some((_, timer)) = self.timers.pop_due(now) {
            match timer {
                Timer::Overlay(timer) => self.overlay_input(proto::Input::TimerFired(timer)),
                Timer::AntiEntropy(timer) => {
                    self.anti_entropy_input(anti_entropy::Input::TimerFired(timer));
                }
                Timer::Announce => {
                    self.announce_armed = false;
                    self.announce();
                }
                Timer::WatchRenew => {
                    self.renew_armed = false;
                    if !self.links.observers().is_empty() {
                        self.start_watch();
                    } else if self.watched_here() {
                        // Keep looking until the lease lapses, then let
                        // the relay cache go.
                        self.renew_armed = true;
                        self.timers
                            .schedule(now + watch::WATCH_RENEW, Timer::WatchRenew);
                    } else {
                        self.relayed.clear();
                    }
                }
                Timer::ClockReport => {
                    let report = self.watchers.due(now);
                    self.report(report);
                }
                Timer::Liveness => self.liveness(),
                Timer::Sweep => {
                    let active: Vec<NodeId> =
                        self.overlay.active_view().iter().map(|p| p.id).collect();
                    let mut actions = Vec::new();
                    self.links.sweep(now, &active, &mut actions);
                    self.link_actions(actions);
                    self.timers.schedule(now + links::IDLE_LINK, Timer::Sweep);
                }
                Timer::Snapshot => {
                    self.persistence.want_snapshot(false);
                    self.timers
                        .schedule(now + persistence::SNAPSHOT_EVERY, Timer::Snapshot);
                }
                Timer::PersistRetry => self.persistence.resume(),
                // The commit itself is made after this input, as after every one.
                Timer::KeptCommit => {
                    if let Some(due) = self.persistence.kept_wake(self.now) {
                        self.timers.schedule(due, Timer::KeptCommit);
                    }
                }
                Timer::Tombstones => {
                    let collected = self
                        .state
                        .collect_tombstones(self.wall_ms, self.config.tombstone_grace);
                    if collected > 0 {
                        tracing::info!(collected, "tombstones past their grace period collected");
                        self.kept_changed();
                    }
                    self.timers
                        .schedule(now + TOMBSTONE_SWEEP, Timer::Tombstones);
                }
            }
        }
    }

    /// Keepalives on the quiet links of the active view, and the silent
    /// ones failed ([`liveness`]). The next wake-up is when the first link
    /// next needs one or the other; a link that comes up later needs
    /// nothing for [`liveness::KEEPALIVE_AFTER`], so a wake-up at most that
    /// far off is always set.
    fn liveness(&mut self) {
        let now = self.now;
        if self.leaving || self.retired {
            return;
        }
        let active: Vec<NodeId> = self.overlay.active_view().iter().map(|p| p.id).collect();
        let mut actions = Vec::new();
        let (failed, next) = self.links.liveness(now, &active, &mut actions);
        self.link_actions(actions);
        for link in failed {
            self.link_lost(link);
        }
        let latest = now + liveness::KEEPALIVE_AFTER;
        let at = next.map_or(latest, |t| {
            t.clamp(now + Duration::from_millis(100), latest)
        });
        self.timers.schedule(at, Timer::Liveness);
    }

    // ---- the state -----------------------------------------------------

    /// After the state changed: persistence, targets, clock reports, and
    /// whether this node was forgotten.
    fn state_changed(&mut self, kept: bool) {
        if kept {
            self.kept_changed();
            self.out.push(Output::Programs);
        } else {
            self.persistence.other_changed();
        }
        self.publish_targets();
        let report = self.watchers.changed(self.now);
        self.report(report);
        self.check_retired();
    }

    fn publish_targets(&mut self) {
        let winners: BTreeMap<TargetKey, TargetValue> = self
            .state
            .targets()
            .filter_map(|(k, r)| r.winner().map(|(_, s)| (k.clone(), s.value.clone())))
            .collect();
        if winners != self.published {
            self.published = winners.clone();
            self.out.push(Output::Targets(winners));
        }
    }

    /// A node an operator forgot stops: its own entry is a tombstone here.
    fn check_retired(&mut self) -> bool {
        if self.retired {
            return true;
        }
        let me = self.id();
        let forgotten = self
            .state
            .registers
            .nodes
            .get(&me)
            .is_some_and(|r| r.is_empty());
        if forgotten {
            tracing::error!(
                "an operator forgot this node: it stops writing and leaves the overlay; \
                 re-image it (a new data directory) to bring it back"
            );
            self.retired = true;
            self.overlay_input(proto::Input::Leave);
            let open: Vec<NodeId> = self.links.iter().map(|l| l.peer.id).collect();
            let mut actions = Vec::new();
            for peer in open {
                self.links.close(peer, &mut actions);
            }
            self.link_actions(actions);
            self.out.push(Output::Retired);
        }
        forgotten
    }

    fn arm_announce(&mut self) {
        if !self.announce_armed {
            self.announce_armed = true;
            self.timers
                .schedule(self.now + ANNOUNCE_DELAY, Timer::Announce);
        }
    }

    /// Writes this node's `Node` entry if it differs from the stored one.
    fn announce(&mut self) {
        let mut neighbours: Vec<NodeId> = self.overlay.active_view().iter().map(|p| p.id).collect();
        neighbours.sort();
        self.info.neighbours = neighbours;
        let current = self
            .state
            .node(self.id())
            .and_then(|r| r.winner().map(|(_, s)| s.value.clone()));
        if current.as_ref() == Some(&self.info) {
            return;
        }
        let info = self.info.clone();
        self.local_write(move |state, writer, wall| state.announce_node(writer, wall, info).delta);
    }

    /// One write by this replica: a durably reserved dot, the write, then
    /// the broadcast. Returns whether it was made.
    fn local_write(
        &mut self,
        write: impl FnOnce(&mut OfficeState, &mut Writer, u64) -> Delta,
    ) -> bool {
        if self.retired || self.leaving {
            return false;
        }
        if !self.persistence.dot_available(self.writer.last_counter()) {
            self.writes_without_dot += 1;
            tracing::warn!(
                "no durably reserved dot yet (the disk is slow or failing); write dropped"
            );
            return false;
        }
        let delta = write(&mut self.state, &mut self.writer, self.wall_ms);
        self.admission.learn(&delta.0);
        // Counted when made: a kept write leaves once it is on disk.
        self.metrics.broadcast_sent(metrics::delta_kind(&delta));
        let kept = persistence::touches_kept(&delta);
        self.state_changed(kept);
        let payload = match delta
            .encode()
            .map(|b| Payload::Delta(Bytes::from(b)).encode())
        {
            Ok(Ok(payload)) => payload,
            Ok(Err(error)) => {
                tracing::error!(%error, "cannot encode a payload");
                return true;
            }
            Err(error) => {
                tracing::error!(%error, "cannot encode a delta");
                return true;
            }
        };
        if kept {
            self.persistence.broadcast_after_commit(payload);
        } else {
            self.tell_observers(payload.clone());
            self.broadcast_bytes(payload);
        }
        if let Some((from, to)) = self.config.skipped.take() {
            self.broadcast(&Payload::Skipped { from, to });
        }
        true
    }

    fn local(&mut self, write: LocalWrite) {
        match write {
            LocalWrite::Reading { sensor, reading } => {
                self.local_write(|state, writer, wall| {
                    state.publish_reading(writer, wall, sensor, reading).delta
                });
            }
            LocalWrite::Actuator { actuator, output } => {
                self.local_write(|state, writer, wall| {
                    state.set_actuator(writer, wall, actuator, output).delta
                });
            }
            LocalWrite::FailedSensors(failed) => self.set_failed_sensors(failed),
            LocalWrite::Target {
                zone,
                quantity,
                value,
                set_by,
            } => {
                if let Err(reason) = check_target(&self.config.targets, quantity, value) {
                    tracing::warn!(%zone, %reason, "local target refused");
                    return;
                }
                let target = TargetValue {
                    value,
                    unit: quantity.default_unit(),
                    set_by,
                };
                self.local_write(|state, writer, wall| {
                    state
                        .set_target(writer, wall, TargetKey::new(zone, quantity), target)
                        .delta
                });
            }
        }
    }

    fn set_failed_sensors(&mut self, failed: Vec<FailedSensor>) {
        if failed != self.info.failed_sensors {
            self.info.failed_sensors = failed;
            self.announce();
        }
    }

    // ---- persistence ---------------------------------------------------

    /// The kept part changed, with no promise waiting on this copy.
    fn kept_changed(&mut self) {
        if let Some(due) = self.persistence.kept_changed(self.now) {
            self.timers.schedule(due, Timer::KeptCommit);
        }
    }

    fn persist(&mut self) {
        // Encoded only when a job is due: this runs after every input.
        let writer = || postcard::to_stdvec(&self.writer).unwrap_or_default();
        let peers = || {
            let mut peers = self.overlay.active_view();
            peers.extend(self.overlay.passive_view());
            postcard::to_stdvec(&peers).unwrap_or_default()
        };
        if let Some(job) = self.persistence.next_job(
            self.now,
            &self.state,
            writer,
            peers,
            self.writer.last_counter(),
        ) {
            self.metrics.commit_started(job.token, self.now);
            self.out.push(Output::Persist(job));
        }
    }

    fn persisted(&mut self, token: u64, result: Result<(), String>) {
        self.metrics.commit_answered(token, self.now);
        let landed = self.persistence.landed(token, result);
        for payload in landed.release {
            // This node's own writes, held until on disk.
            self.tell_observers(payload.clone());
            self.broadcast_bytes(payload);
        }
        if let Some(error) = &landed.error {
            tracing::error!(%error, "could not write to the data directory; retrying");
            self.timers
                .schedule(self.now + persistence::RETRY_AFTER, Timer::PersistRetry);
        }
        for ack in landed.acks {
            let reply = match &landed.error {
                None => wire::observer::Message::Stored {
                    request: ack.request,
                },
                Some(error) => wire::observer::Message::NotStored {
                    request: ack.request,
                    reason: error.clone(),
                    sent_to: ack.sent_to,
                },
            };
            self.send(ack.observer, Message::Observer(reply));
        }
    }

    // ---- observers -----------------------------------------------------

    fn observer_up(&mut self, peer: PeerInfo) {
        tracing::info!(observer = %peer.id, "observer attached");
        self.overlay_input(proto::Input::ObserverUp(peer));
        self.anti_entropy_input(anti_entropy::Input::NeighborUp(peer.id));
        // Already watched through here: the vectors the other observers
        // were told, so this one need not wait for every node's next
        // change (nor every node resend its whole vector).
        // A lease already running here is only renewed below, which
        // reports nothing: this node's own vector is sent whole at once,
        // so the observer sees this node alive whatever the cache holds.
        let me = self.id();
        let own = self.watched_here().then(|| Payload::ClockReport {
            node: me,
            full: true,
            entries: self.state.version_vector().iter().collect(),
        });
        let relayed = self.relayed.clocks().filter(|(node, _)| *node != me);
        let known: Vec<Payload> = own
            .into_iter()
            .chain(relayed.map(|(node, entries)| Payload::ClockReport {
                node,
                full: true,
                entries: entries.to_vec(),
            }))
            .collect();
        for payload in known {
            match payload.encode() {
                Ok(bytes) => self.send(
                    peer.id,
                    Message::Observer(wire::observer::Message::ClockReport(bytes)),
                ),
                Err(error) => tracing::error!(%error, "cannot encode a clock report"),
            }
        }
        self.start_watch();
    }

    fn observer_down(&mut self, id: NodeId) {
        tracing::info!(observer = %id, "observer detached");
        self.overlay_input(proto::Input::ObserverDown(id));
        self.anti_entropy_input(anti_entropy::Input::NeighborDown(id));
        self.forget_relayed_unless_watched();
    }

    /// Passes an encoded payload this node has admitted (or made) on to
    /// the observers attached here. Nothing else reaches them as state: an
    /// overlay delivery is unchecked until the admission has seen it.
    fn tell_observers(&mut self, payload: Bytes) {
        let observers = self.links.observers();
        if observers.is_empty() {
            return;
        }
        let msg = Message::Observer(wire::observer::Message::Admitted(payload));
        for observer in observers {
            self.send(observer, msg.clone());
        }
    }

    /// [`Replica::tell_observers`] for a delta admitted in part, or by a
    /// route that carries no payload of its own.
    fn tell_observers_delta(&mut self, delta: &Delta) {
        if delta.is_empty() || self.links.observers().is_empty() {
            return;
        }
        match delta
            .encode()
            .map(|b| Payload::Delta(Bytes::from(b)).encode())
        {
            Ok(Ok(payload)) => self.tell_observers(payload),
            Ok(Err(error)) => tracing::error!(%error, "cannot encode a payload"),
            Err(error) => tracing::error!(%error, "cannot encode a delta"),
        }
    }

    /// Whether the other nodes are reporting to this one: while its own
    /// lease runs they send only what changed, so the relay cache must
    /// hold what they sent before, for an observer that attaches later.
    fn watched_here(&self) -> bool {
        self.watchers.watched_through(self.now, self.id())
    }

    /// Nobody attached and the lease lapsed: the next lease asks every
    /// node for its whole vector again, so nothing need be kept.
    fn forget_relayed_unless_watched(&mut self) {
        if self.links.observers().is_empty() && !self.watched_here() {
            self.relayed.clear();
        }
    }

    /// Another node's clock report, for the observers watching here. Only
    /// a node's own report is believed (its link proves who it is); it is
    /// kept for observers that attach later and passed on as it came.
    fn relay_report(&mut self, from: NodeId, bytes: Bytes) {
        // Passed on only when it comes over that node's own link, from a
        // node this replica knows, so no peer can speak for another
        // node's progress or invent one.
        let report = match Payload::decode(&bytes) {
            Ok(Payload::ClockReport {
                node,
                full,
                entries,
            }) if node == from && self.state.node(from).is_some() => Some((full, entries)),
            _ => None,
        };
        let Some((full, entries)) = report else {
            self.admission.refuse_all(
                self.now,
                from,
                Route::ClockReport,
                1,
                &Rejection::ForeignReport { from },
            );
            return;
        };
        let observers = self.links.observers();
        if observers.is_empty() && !self.watched_here() {
            self.forget_relayed_unless_watched();
            return;
        }
        self.relayed.record(from, full, &entries);
        let msg = Message::Observer(wire::observer::Message::ClockReport(bytes));
        for observer in observers {
            self.send(observer, msg.clone());
        }
    }

    /// Broadcasts a Watch lease naming this node and takes it locally, and
    /// renews it later while an observer is attached.
    fn start_watch(&mut self) {
        let via = self.config.me;
        self.broadcast(&Payload::Watch {
            until_ms_from_now: watch::WATCH_LEASE.as_millis() as u32,
            via,
        });
        match self
            .watchers
            .extend(self.now, via.id, watch::WATCH_LEASE, via)
        {
            Ok(report) => self.report(report),
            Err(why) => tracing::warn!(%why, "cannot watch through this node"),
        }
        if !self.renew_armed {
            self.renew_armed = true;
            self.timers
                .schedule(self.now + watch::WATCH_RENEW, Timer::WatchRenew);
        }
    }

    fn report(&mut self, report: Report) {
        match report {
            Report::None => return,
            Report::At(at) => {
                self.timers.schedule(at, Timer::ClockReport);
                return;
            }
            Report::Now => {}
        }
        let vv: BTreeMap<NodeId, u64> = self.state.version_vector().iter().collect();
        let sent = self.watchers.entries(self.now, vv);
        if let Report::At(at) = self.watchers.follow_up(self.now) {
            self.timers.schedule(at, Timer::ClockReport);
        }
        let Some((full, entries)) = sent else {
            return;
        };
        let node = self.id();
        if !self.links.observers().is_empty() || self.watched_here() {
            self.relayed.record(node, full, &entries);
        }
        let bytes = match (Payload::ClockReport {
            node,
            full,
            entries,
        })
        .encode()
        {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, "cannot encode a clock report");
                return;
            }
        };
        let msg = Message::Observer(wire::observer::Message::ClockReport(bytes));
        for via in self.watchers.vias(self.now) {
            if via.id == node {
                for observer in self.links.observers() {
                    self.send(observer, msg.clone());
                }
            } else {
                self.send_or_dial(via, msg.clone());
            }
        }
    }

    /// An observer's write: admitted, joined, broadcast, committed, then
    /// answered. The broadcast may leave before the commit: the dot is the
    /// observer's (it persisted its counter before writing), so a crash
    /// here cannot reuse it, and an observer that gets no answer resends
    /// the same delta elsewhere (joining it twice is a no-op). Only the
    /// answer waits for the disk, and says what happened there.
    fn observer_write(&mut self, observer: NodeId, request: u64, bytes: Bytes) {
        let delta = match Delta::decode(&bytes) {
            Ok(d) => d,
            Err(error) => {
                let why = Rejection::Undecodable(error.to_string());
                self.admission
                    .refuse_all(self.now, observer, Route::ObserverWrite, 1, &why);
                self.reject(observer, request, why, None);
                return;
            }
        };
        if let Err(why) = self.admission.observer_write(
            self.now,
            self.wall_ms,
            observer,
            &delta,
            &self.state,
            self.writer.last_counter(),
        ) {
            self.reject(observer, request, why, Some(&delta));
            return;
        }
        let mut refused_before = false;
        delta.0.for_each_register(|_, dots| {
            for d in dots {
                refused_before |= self.voided.contains(&d);
            }
        });
        if refused_before {
            self.admission.refuse_all(
                self.now,
                observer,
                Route::ObserverWrite,
                1,
                &Rejection::RefusedBefore,
            );
            self.reject(observer, request, Rejection::RefusedBefore, None);
            return;
        }
        let changed = self.state.apply(&delta);
        let sent_to = self.overlay.active_view().len() as u32;
        if changed {
            self.broadcast(&Payload::Delta(bytes));
            self.state_changed(true);
        }
        self.persistence.ack_after_commit(PendingAck {
            observer,
            request,
            sent_to,
        });
    }

    /// Refuses an observer's write. Its dots are marked as seen here, so a
    /// copy of the refused write arriving by any other route is dropped as
    /// old, and the observer's later writes are not stuck behind a gap in
    /// every version vector.
    /// Marks refused writes' dots as seen (never those already seen: a
    /// dot this replica holds stays), and remembers them so a copy that
    /// arrives later as a write request is answered as refused.
    fn void(&mut self, observer: NodeId, dots: impl Iterator<Item = Dot>) {
        let fresh: Vec<Dot> = dots
            .filter(|d| d.replica == observer && !self.state.covers(*d))
            .collect();
        for d in &fresh {
            if self.voided.len() >= MAX_VOIDED {
                self.voided.pop_first();
            }
            self.voided.insert(*d);
        }
        self.state.void(fresh.into_iter());
    }

    fn reject(&mut self, observer: NodeId, request: u64, why: Rejection, delta: Option<&Delta>) {
        tracing::warn!(%observer, request, reason = %why, "observer write refused");
        if let Some(delta) = delta {
            // The observer's own signatures prove these writes exist, so
            // every replica can mark them seen without taking this node's
            // word for it.
            let mut key = None;
            let mut proofs: Vec<crate::crdt::WriteProof> = Vec::new();
            for (proof, signer) in delta.0.signed_writes() {
                if proof.dot.replica == observer && !self.state.covers(proof.dot) {
                    key = key.or(signer);
                    proofs.push(proof);
                }
            }
            proofs.sort_by_key(|p| p.dot);
            proofs.dedup_by_key(|p| p.dot);
            proofs.truncate(admission::MAX_REFUSED_DOTS);
            if !proofs.is_empty() {
                self.admission.refused_here(observer, key, &proofs);
                self.void(observer, proofs.iter().map(|p| p.dot));
                self.broadcast(&Payload::Refused {
                    observer,
                    key,
                    proofs,
                });
            }
        }
        let reply = wire::observer::Message::Rejected {
            request,
            reason: why.to_string(),
        };
        self.send(observer, Message::Observer(reply));
    }
}

/// The node's checks around an anti-entropy exchange.
struct AntiEntropyGate<'a> {
    admission: &'a mut Admission,
    metrics: &'a mut Metrics,
    observers: &'a [NodeId],
    now: Time,
    wall_ms: u64,
    my_counter: u64,
    /// Whether an admitted answer touched what the node keeps on disk.
    kept: bool,
    /// What the answers brought that passed admission, for the observers
    /// attached here (collected only while there are some).
    admitted: Vec<Delta>,
}

impl anti_entropy::Gate for AntiEntropyGate<'_> {
    fn admit(
        &mut self,
        from: NodeId,
        state: &OfficeState,
        arrival: anti_entropy::Arrival<'_>,
    ) -> usize {
        let admission = &mut *self.admission;
        let delta = arrival.delta;
        if self.observers.contains(&from) {
            // An observer's own changes reach a node only as write
            // requests, checked and answered; its anti-entropy answers
            // would carry writes the node refused.
            let n = delta.len();
            if n > 0 {
                admission.refuse_all(
                    self.now,
                    from,
                    Route::AntiEntropy,
                    n,
                    &Rejection::ObserverSync,
                );
            }
            *delta = Delta::default();
            *arrival.seen = None;
            return n;
        }
        admission.accept_proofs(self.now, from, arrival.proofs);
        let dropped = admission.filter(
            self.now,
            self.wall_ms,
            from,
            Route::AntiEntropy,
            delta,
            Holding {
                state,
                my_counter: self.my_counter,
            },
        );
        if let Some(seen) = arrival.seen.as_mut() {
            admission.clip_seen(seen, self.my_counter);
        }
        self.kept |= persistence::touches_kept(delta);
        if !self.observers.is_empty() && !delta.is_empty() {
            self.admitted.push(delta.clone());
        }
        if let Some(newest) = delta.0.timestamps().max() {
            let route = metrics::Route::AntiEntropy;
            self.metrics.arrived(route, newest.wall_ms, self.wall_ms);
        }
        dropped
    }

    fn proof(&self, replica: NodeId) -> Option<crate::crdt::WriteProof> {
        self.admission.authorship().proof(replica).copied()
    }
}
