//! The node task: the one owner of the overlay, the office state, the
//! anti-entropy machine, the store and the writer. Connection tasks only
//! move frames; everything they learn arrives here as a [`NetEvent`], and
//! every decision is taken here, with no locks around protocol state.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::durable::Durable;
use super::local_write::LocalWrite;
use super::settings::{Settings, check_target};
use super::timers::TimerQueue;
use crate::crdt::anti_entropy::{self, AntiEntropy};
use crate::crdt::{Delta, FailedSensor, NodeInfo, OfficeState, TargetKey, TargetValue, Writer};
use crate::net::{Backoff, ConnId, Direction, Endpoint, NetEvent, PeerHandle};
use crate::node_id::NodeId;
use crate::proto::{self, Overlay};
use crate::store::Durability;
use crate::time::Time;
use crate::wire::payload::Payload;
use crate::wire::{self, Message, PeerInfo, Role};

/// How long one Watch lease lasts; renewed every [`WATCH_RENEW`] while an
/// observer is attached, so a lease outlives a lost renewal or two.
pub const WATCH_LEASE: Duration = Duration::from_secs(30);
/// How often the node an observer is attached to renews the Watch.
pub const WATCH_RENEW: Duration = Duration::from_secs(10);
/// While watched, a full clock report this often (so a newcomer observer
/// and a lost partial report are repaired).
pub const FULL_REPORT_EVERY: Duration = Duration::from_secs(10);
/// Full clock reports answering Watches are at least this far apart.
pub const MIN_FULL_REPORT_GAP: Duration = Duration::from_secs(1);
/// Clock reports are at most this often: the first change after a quiet
/// spell is reported at once (a write's convergence is seen without
/// delay), later changes within the window are coalesced into one report
/// at its end.
pub const REPORT_COALESCE: Duration = Duration::from_millis(50);
/// Remote deltas are persisted lazily, at most this long after arrival.
pub const FLUSH_DELAY: Duration = Duration::from_secs(1);
/// A `Node` entry re-announcement (neighbours changed) waits this long, so
/// churn costs one delta, not one per event.
pub const ANNOUNCE_DELAY: Duration = Duration::from_secs(2);
/// A connection outside the active view (a seed dial, a shuffle reply)
/// idle this long is closed.
pub const IDLE_LINK: Duration = Duration::from_secs(30);
/// Messages held for a peer while its connection is being opened.
pub const MAX_PENDING_PER_PEER: usize = 64;

/// Everything the node task wakes up for besides sockets.
#[derive(Debug)]
enum NodeTimer {
    Overlay(proto::Timer),
    AntiEntropy(anti_entropy::Timer),
    Flush,
    Announce,
    Interfaces,
    WatchRenew,
    ClockReport,
    FullReport,
    Sweep,
}

/// One open connection.
#[derive(Debug)]
struct Link {
    handle: PeerHandle,
    direction: Direction,
    role: Role,
    last_active: Time,
}

/// The handles the outside world holds on a running node.
#[derive(Debug)]
pub struct Channels {
    pub local_rx: mpsc::Receiver<LocalWrite>,
    pub targets_tx: watch::Sender<BTreeMap<TargetKey, TargetValue>>,
    pub shutdown_rx: watch::Receiver<bool>,
    /// Wall-clock µs when a write from elsewhere (a broadcast delta or an
    /// observer's write) last changed the state; the benchmark's exact
    /// convergence time.
    pub targets_changed_us: Arc<AtomicU64>,
    /// Loop ticks and a summary for the watchdog, `STATUS=` and metrics.
    pub health: super::health::HealthRecorder,
}

pub struct Runtime {
    settings: Settings,
    endpoint: Endpoint,
    me: PeerInfo,
    epoch: Instant,
    events_tx: mpsc::Sender<NetEvent>,
    events_rx: mpsc::Receiver<NetEvent>,
    channels: Channels,

    overlay: Overlay,
    anti_entropy: AntiEntropy,
    state: OfficeState,
    writer: Writer,
    durable: Durable,
    timers: TimerQueue<NodeTimer>,

    links: BTreeMap<NodeId, Link>,
    /// Messages for peers whose connection is being opened.
    pending: BTreeMap<NodeId, Vec<Message>>,
    /// Dials in flight, by address, for the peer we expect there.
    dialing: BTreeMap<SocketAddr, NodeId>,
    /// Seed addresses still being dialled (their ids are not known yet).
    seeds_dialing: BTreeSet<SocketAddr>,
    /// Seeds whose id the handshake told us: the overlay's contacts.
    contacts: Vec<PeerInfo>,

    info: NodeInfo,
    announce_armed: bool,
    dirty: bool,
    flush_armed: bool,

    /// The nodes observers watch through, with their leases: clock
    /// reports go straight to each of them while its lease lasts.
    watchers: BTreeMap<NodeId, (PeerInfo, Time)>,
    renew_armed: bool,
    report_armed: bool,
    full_armed: bool,
    last_full_at: Option<Time>,
    /// When the last clock report (full or partial) left.
    last_report_at: Option<Time>,
    last_report: BTreeMap<NodeId, u64>,
    published_targets: BTreeMap<TargetKey, TargetValue>,
    /// Observer writes joined and broadcast, awaiting their commit and
    /// *stored* answer.
    unacked: Vec<(NodeId, u64)>,
}

impl Runtime {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        settings: Settings,
        endpoint: Endpoint,
        listen: SocketAddr,
        events: (mpsc::Sender<NetEvent>, mpsc::Receiver<NetEvent>),
        channels: Channels,
        durable: Durable,
        state: OfficeState,
        writer: Writer,
    ) -> Self {
        let me = PeerInfo {
            id: endpoint.node_id(),
            addr: listen,
        };
        let seed: u64 = rand::rng().random();
        let info = NodeInfo {
            name: settings.name.clone(),
            zone: settings.zone.clone(),
            role: Role::Node,
            version: env!("CARGO_PKG_VERSION").to_string(),
            interfaces: settings.current_interfaces(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
        };
        Runtime {
            overlay: Overlay::new(me, settings.overlay_config(), seed),
            anti_entropy: AntiEntropy::new(settings.anti_entropy_config(), seed.rotate_left(17)),
            settings,
            endpoint,
            me,
            epoch: Instant::now(),
            events_tx: events.0,
            events_rx: events.1,
            channels,
            state,
            writer,
            durable,
            timers: TimerQueue::default(),
            links: BTreeMap::new(),
            pending: BTreeMap::new(),
            dialing: BTreeMap::new(),
            seeds_dialing: BTreeSet::new(),
            contacts: Vec::new(),
            info,
            announce_armed: false,
            dirty: false,
            flush_armed: false,
            watchers: BTreeMap::new(),
            renew_armed: false,
            report_armed: false,
            full_armed: false,
            last_full_at: None,
            last_report_at: None,
            last_report: BTreeMap::new(),
            published_targets: BTreeMap::new(),
            unacked: Vec::new(),
        }
    }

    fn now(&self) -> Time {
        Time::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn mark_targets_changed(&self) {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        self.channels
            .targets_changed_us
            .store(us, Ordering::Relaxed);
    }

    fn wall_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Runs until shutdown is signalled, then leaves gracefully.
    pub(super) async fn run(mut self) {
        let now = self.now();
        self.announce();
        self.publish_targets();
        self.start_joining(now);
        self.timers
            .schedule(now + self.settings.interface_poll, NodeTimer::Interfaces);
        self.timers.schedule(now + IDLE_LINK, NodeTimer::Sweep);
        loop {
            let due = self
                .timers
                .next_due()
                .map(|t| self.epoch + Duration::from_micros(t.as_micros()));
            let sleep = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.channels.shutdown_rx.changed() => {
                    if changed.is_err() || *self.channels.shutdown_rx.borrow() {
                        break;
                    }
                }
                Some(event) = self.events_rx.recv() => self.on_net(event),
                Some(write) = self.channels.local_rx.recv() => self.on_local(write),
                () = sleep => self.fire_timers(),
                () = self.channels.health.heartbeat() => {}
            }
            self.channels
                .health
                .record(&self.overlay, &self.state)
                .await;
            if !self.unacked.is_empty() {
                tokio::task::yield_now().await;
                self.commit_observer_writes();
            }
        }
        self.leave().await;
    }

    /// Keeps the current views for the next start.
    fn remember_peers(&mut self) {
        let mut peers = self.overlay.active_view();
        peers.extend(self.overlay.passive_view());
        if let Err(error) = self.durable.remember_peers(&peers) {
            tracing::warn!(%error, "could not remember the overlay's peers");
        }
    }

    /// Leave (DISCONNECT to every neighbour), flush the store, and give
    /// the connections a moment to write what is queued.
    async fn leave(&mut self) {
        tracing::info!("leaving the overlay");
        self.remember_peers();
        let mut out = Vec::new();
        self.overlay
            .handle(self.now(), proto::Input::Leave, &mut out);
        self.drive(out);
        if let Err(error) = self
            .durable
            .commit(&self.state, &self.writer, Durability::Immediate)
        {
            tracing::error!(%error, "could not flush the state on shutdown");
        }
        for link in self.links.values() {
            link.handle.close();
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && self.links.values().any(|l| !l.handle.is_closed()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::info!("state flushed; node stopped");
    }

    fn start_joining(&mut self, now: Time) {
        let remembered: Vec<PeerInfo> = self
            .durable
            .remembered_peers()
            .into_iter()
            .filter(|p| p.id != self.me.id)
            .collect();
        if self.settings.seeds.is_empty() && !remembered.is_empty() {
            tracing::info!(
                peers = remembered.len(),
                "re-joining through the peers of the last run"
            );
            let mut out = Vec::new();
            self.overlay
                .handle(now, proto::Input::Join(remembered), &mut out);
            self.drive(out);
            return;
        }
        if self.settings.seeds.is_empty() {
            let mut out = Vec::new();
            self.overlay
                .handle(now, proto::Input::Join(Vec::new()), &mut out);
            self.drive(out);
            return;
        }
        for seed in self.settings.seeds.clone() {
            if seed == self.me.addr {
                continue;
            }
            self.seeds_dialing.insert(seed);
            let backoff = Backoff::new(rand::rng().random());
            self.endpoint
                .spawn_connect(seed, Some(backoff), None, self.events_tx.clone());
        }
        if self.seeds_dialing.is_empty() {
            let mut out = Vec::new();
            self.overlay
                .handle(now, proto::Input::Join(Vec::new()), &mut out);
            self.drive(out);
        }
    }

    // ---- the network ------------------------------------------------------

    fn on_net(&mut self, event: NetEvent) {
        let now = self.now();
        match event {
            NetEvent::Connected {
                peer,
                role,
                direction,
                handle,
            } => self.on_connected(now, peer, role, direction, handle),
            NetEvent::Frame { peer, conn, msg } => self.on_frame(now, peer, conn, msg),
            NetEvent::Closed { peer, conn, reason } => {
                let current = self.links.get(&peer).map(|l| l.handle.conn_id());
                if current != Some(conn) {
                    return;
                }
                tracing::debug!(%peer, %reason, "link down");
                let Some(link) = self.links.remove(&peer) else {
                    return;
                };
                self.pending.remove(&peer);
                match link.role {
                    Role::Observer => self.observer_down(now, peer),
                    Role::Node if !self.overlay.active_view().iter().any(|p| p.id == peer) => {
                        // TCP is the failure detector of the active view
                        // only (HyParView §4.3). A link outside it (a
                        // shuffle reply, a seed dial, a refused NEIGHBOR)
                        // that the peer closed, typically because it was
                        // idle, says nothing about the peer's health. Taken
                        // as a failure it would drop the peer from the
                        // passive view and have it probed with JOIN, and
                        // every JOIN reshapes active views: churn, full
                        // anti-entropy exchanges and re-announcements in an
                        // office where nothing happens. A NEIGHBOR request
                        // still in flight on such a link times out instead.
                        tracing::debug!(%peer, "a link outside the active view closed");
                    }
                    Role::Node => {
                        let mut out = Vec::new();
                        self.overlay
                            .handle(now, proto::Input::PeerFailed(peer), &mut out);
                        self.drive(out);
                    }
                }
            }
            NetEvent::ConnectFailed { addr, error } => {
                if self.seeds_dialing.remove(&addr) {
                    tracing::warn!(%addr, %error, "seed unreachable");
                    if self.seeds_dialing.is_empty() && self.contacts.is_empty() {
                        let mut out = Vec::new();
                        self.overlay
                            .handle(now, proto::Input::Join(Vec::new()), &mut out);
                        self.drive(out);
                    }
                }
                if let Some(id) = self.dialing.remove(&addr) {
                    tracing::debug!(%addr, %error, "dial failed");
                    self.pending.remove(&id);
                    let mut out = Vec::new();
                    self.overlay
                        .handle(now, proto::Input::PeerFailed(id), &mut out);
                    self.drive(out);
                }
            }
        }
    }

    fn on_connected(
        &mut self,
        now: Time,
        peer: PeerInfo,
        role: Role,
        direction: Direction,
        handle: PeerHandle,
    ) {
        if direction == Direction::Outbound {
            self.dialing.remove(&peer.addr);
        }
        if let Some(existing) = self.links.get(&peer.id)
            && !existing.handle.is_closed()
            && existing.role == role
        {
            // Both ends dialled at once: keep the connection the smaller
            // id dialled, so both ends keep the same one.
            let dialer = |d: Direction| match d {
                Direction::Outbound => self.me.id,
                Direction::Inbound => peer.id,
            };
            let preferred = self.me.id.min(peer.id);
            if dialer(existing.direction) == preferred && dialer(direction) != preferred {
                handle.close();
                self.flush_pending(peer.id);
                return;
            }
            existing.handle.close();
        }
        self.links.insert(
            peer.id,
            Link {
                handle,
                direction,
                role,
                last_active: now,
            },
        );
        match role {
            Role::Observer => self.observer_up(now, peer),
            Role::Node => {
                if direction == Direction::Outbound && self.seeds_dialing.remove(&peer.addr) {
                    tracing::info!(seed = %peer.addr, id = %peer.id, "seed reached");
                    self.contacts.push(peer);
                    if self.overlay.active_view().is_empty() {
                        let mut out = Vec::new();
                        self.overlay.handle(
                            now,
                            proto::Input::Join(self.contacts.clone()),
                            &mut out,
                        );
                        self.drive(out);
                    }
                }
                self.flush_pending(peer.id);
            }
        }
    }

    fn flush_pending(&mut self, id: NodeId) {
        for msg in self.pending.remove(&id).unwrap_or_default() {
            self.send(id, &msg);
        }
    }

    fn on_frame(&mut self, now: Time, peer: NodeId, _conn: ConnId, msg: Message) {
        let Some(link) = self.links.get_mut(&peer) else {
            return;
        };
        link.last_active = now;
        let (role, info) = (link.role, link.handle.peer());
        match (role, msg) {
            (_, Message::Sync(msg)) => {
                let mut out = Vec::new();
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::Message { from: peer, msg },
                    &mut out,
                );
                self.drive_anti_entropy(out);
            }
            (
                Role::Observer,
                Message::Observer(wire::observer::Message::Write { request, delta }),
            ) => {
                self.on_observer_write(peer, request, delta);
            }
            (Role::Node, msg @ Message::Observer(wire::observer::Message::ClockReport(_))) => {
                // Another node's report for the observers watching
                // through this node.
                self.send_to_observers(&msg);
            }
            (
                Role::Node,
                msg @ (Message::Membership(_) | Message::Broadcast(_) | Message::Flood(_)),
            ) => {
                let mut out = Vec::new();
                self.overlay
                    .handle(now, proto::Input::Message { from: info, msg }, &mut out);
                self.drive(out);
            }
            (role, msg) => {
                tracing::debug!(%peer, ?role, kind = msg.kind(), "ignoring a message not meant for this role");
            }
        }
    }

    /// Sends to a connected peer, or holds the message and dials.
    fn send_or_dial(&mut self, to: PeerInfo, msg: Message) {
        if self.links.contains_key(&to.id) {
            self.send(to.id, &msg);
            return;
        }
        let queue = self.pending.entry(to.id).or_default();
        if queue.len() < MAX_PENDING_PER_PEER {
            queue.push(msg);
        }
        if !self.dialing.values().any(|id| *id == to.id) {
            self.dialing.insert(to.addr, to.id);
            self.endpoint
                .spawn_connect(to.addr, None, Some(1), self.events_tx.clone());
        }
    }

    fn send(&mut self, to: NodeId, msg: &Message) {
        let now = self.now();
        let Some(link) = self.links.get_mut(&to) else {
            return;
        };
        link.last_active = now;
        // Per-kind traffic for whoever studies it (README, "Node
        // benchmark"); the length is only computed when the target is on.
        tracing::trace!(
            target: "officemesh::sent",
            kind = msg.kind(),
            len = wire::encode_message(msg).map_or(0, |b| b.len()),
        );
        if let Err(error) = link.handle.send(msg) {
            tracing::debug!(peer = %to, %error, "send failed");
        }
    }

    // ---- the machines' outputs ---------------------------------------------

    fn drive(&mut self, out: Vec<proto::Output>) {
        for output in out {
            match output {
                proto::Output::Send { to, msg } => self.send_or_dial(to, msg),
                proto::Output::Disconnect { peer } => {
                    if let Some(link) = self.links.remove(&peer) {
                        link.handle.close();
                    }
                    self.pending.remove(&peer);
                }
                proto::Output::Schedule { at, timer } => {
                    self.timers.schedule(at, NodeTimer::Overlay(timer));
                }
                proto::Output::Event(event) => self.on_overlay_event(event),
            }
        }
    }

    fn on_overlay_event(&mut self, event: proto::Event) {
        let now = self.now();
        match event {
            proto::Event::NeighborUp(peer) => {
                tracing::debug!(peer = %peer.id, addr = %peer.addr, "neighbour up");
                let mut out = Vec::new();
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::NeighborUp(peer.id),
                    &mut out,
                );
                self.drive_anti_entropy(out);
                self.arm_announce(now);
                self.remember_peers();
            }
            proto::Event::NeighborDown { peer, reason } => {
                tracing::debug!(%peer, ?reason, "neighbour down");
                let mut out = Vec::new();
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::NeighborDown(peer),
                    &mut out,
                );
                self.drive_anti_entropy(out);
                self.arm_announce(now);
            }
            proto::Event::Delivered { from, payload, .. } => self.on_payload(now, from, &payload),
        }
    }

    fn drive_anti_entropy(&mut self, out: Vec<anti_entropy::Output>) {
        for output in out {
            match output {
                anti_entropy::Output::Send { to, msg } => self.send(to, &Message::Sync(msg)),
                anti_entropy::Output::Schedule { at, timer } => {
                    self.timers.schedule(at, NodeTimer::AntiEntropy(timer));
                }
                anti_entropy::Output::Event(anti_entropy::Event::Repaired { from, keys }) => {
                    tracing::debug!(peer = %from, keys, "anti-entropy repaired");
                    self.state_changed(Durability::Lazy);
                }
                anti_entropy::Output::Event(anti_entropy::Event::Malformed { from, error }) => {
                    tracing::warn!(peer = %from, %error, "malformed anti-entropy message");
                }
            }
        }
    }

    fn on_payload(&mut self, now: Time, from: NodeId, payload: &[u8]) {
        match Payload::decode(payload) {
            Ok(Payload::Delta(bytes)) => match Delta::decode(&bytes) {
                Ok(delta) => {
                    if self.state.apply(&delta) {
                        self.state_changed(Durability::Lazy);
                    }
                }
                Err(error) => tracing::warn!(origin = %from, %error, "undecodable delta"),
            },
            Ok(Payload::Watch {
                until_ms_from_now,
                via,
            }) => {
                let lease = Duration::from_millis(u64::from(until_ms_from_now));
                self.extend_watch(now, lease, via);
            }
            Ok(Payload::ClockReport { node, .. }) => {
                tracing::debug!(origin = %from, %node, "ignoring a broadcast clock report");
            }
            Err(error) => tracing::warn!(origin = %from, %error, "undecodable broadcast"),
        }
    }

    fn broadcast(&mut self, payload: &Payload) {
        let bytes = match payload.encode() {
            Ok(b) => b,
            Err(error) => {
                tracing::error!(%error, "cannot encode a payload");
                return;
            }
        };
        let mut out = Vec::new();
        self.overlay.broadcast(self.now(), bytes, &mut out);
        self.drive(out);
    }

    // ---- timers -------------------------------------------------------------

    fn fire_timers(&mut self) {
        let now = self.now();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                NodeTimer::Overlay(timer) => {
                    let mut out = Vec::new();
                    self.overlay
                        .handle(now, proto::Input::TimerFired(timer), &mut out);
                    self.drive(out);
                }
                NodeTimer::AntiEntropy(timer) => {
                    let mut out = Vec::new();
                    self.anti_entropy.handle(
                        now,
                        &mut self.state,
                        anti_entropy::Input::TimerFired(timer),
                        &mut out,
                    );
                    self.drive_anti_entropy(out);
                }
                NodeTimer::Flush => {
                    self.flush_armed = false;
                    if self.dirty {
                        self.dirty = false;
                        if let Err(error) =
                            self.durable
                                .commit(&self.state, &self.writer, Durability::Immediate)
                        {
                            tracing::error!(%error, "could not persist the state");
                        }
                    }
                }
                NodeTimer::Announce => {
                    self.announce_armed = false;
                    self.announce();
                }
                NodeTimer::Interfaces => {
                    let fresh = self.settings.current_interfaces();
                    if fresh != self.info.interfaces {
                        tracing::info!("network interfaces changed; re-announcing");
                        self.info.interfaces = fresh;
                        self.announce();
                    }
                    self.timers
                        .schedule(now + self.settings.interface_poll, NodeTimer::Interfaces);
                }
                NodeTimer::WatchRenew => {
                    self.renew_armed = false;
                    if self.has_observers() {
                        self.start_watch(now);
                    }
                }
                NodeTimer::ClockReport => {
                    self.report_armed = false;
                    if self.watching(now) {
                        self.report(false);
                    }
                }
                NodeTimer::FullReport => {
                    self.full_armed = false;
                    if self.watching(now) {
                        self.report(true);
                        self.full_armed = true;
                        self.timers
                            .schedule(now + FULL_REPORT_EVERY, NodeTimer::FullReport);
                    }
                }
                NodeTimer::Sweep => {
                    self.sweep(now);
                    super::heap::release_free_heap();
                    self.timers.schedule(now + IDLE_LINK, NodeTimer::Sweep);
                }
            }
        }
    }

    /// Closes node links outside the active view that have been idle: what
    /// is left of seed dials and shuffle replies.
    fn sweep(&mut self, now: Time) {
        let active: BTreeSet<NodeId> = self.overlay.active_view().iter().map(|p| p.id).collect();
        let idle: Vec<NodeId> = self
            .links
            .iter()
            .filter(|(id, l)| {
                l.role == Role::Node
                    && !active.contains(id)
                    && now.saturating_since(l.last_active) >= IDLE_LINK
            })
            .map(|(id, _)| *id)
            .collect();
        for id in idle {
            if let Some(link) = self.links.remove(&id) {
                tracing::debug!(peer = %id, "closing an idle link outside the active view");
                link.handle.close();
            }
        }
    }

    // ---- state, persistence and local writes -----------------------------------

    /// After the state changed: persist (now, or soon), publish targets,
    /// and schedule a clock report if someone watches.
    fn state_changed(&mut self, durability: Durability) {
        let now = self.now();
        match durability {
            Durability::Immediate => {
                self.dirty = false;
                if let Err(error) =
                    self.durable
                        .commit(&self.state, &self.writer, Durability::Immediate)
                {
                    tracing::error!(%error, "could not persist the state");
                }
            }
            Durability::Lazy => {
                self.dirty = true;
                if !self.flush_armed {
                    self.flush_armed = true;
                    self.timers.schedule(now + FLUSH_DELAY, NodeTimer::Flush);
                }
            }
        }
        self.after_change();
    }

    /// Publishes targets and schedules a clock report if someone watches.
    fn after_change(&mut self) {
        let now = self.now();
        self.publish_targets();
        if self.watching(now) && !self.report_armed {
            let next = self.last_report_at.map_or(now, |at| at + REPORT_COALESCE);
            if next <= now {
                self.report(false);
            } else {
                self.report_armed = true;
                self.timers.schedule(next, NodeTimer::ClockReport);
            }
        }
    }

    fn publish_targets(&mut self) {
        let winners: BTreeMap<TargetKey, TargetValue> = self
            .state
            .targets()
            .filter_map(|(k, r)| r.winner().map(|(_, s)| (k.clone(), s.value.clone())))
            .collect();
        if winners != self.published_targets {
            self.mark_targets_changed();
            self.published_targets = winners.clone();
            self.channels.targets_tx.send_replace(winners);
        }
    }

    fn arm_announce(&mut self, now: Time) {
        if !self.announce_armed {
            self.announce_armed = true;
            self.timers
                .schedule(now + ANNOUNCE_DELAY, NodeTimer::Announce);
        }
    }

    /// Writes this node's `Node` entry if it differs from the stored one.
    fn announce(&mut self) {
        let mut neighbours: Vec<NodeId> = self.overlay.active_view().iter().map(|p| p.id).collect();
        neighbours.sort();
        self.info.neighbours = neighbours;
        let current = self
            .state
            .node(self.me.id)
            .and_then(|r| r.winner().map(|(_, s)| s.value.clone()));
        if current.as_ref() == Some(&self.info) {
            return;
        }
        let info = self.info.clone();
        self.local_write(Durability::Lazy, move |state, writer, wall| {
            state.announce_node(writer, wall, info).delta
        });
    }

    /// One write by this replica: a fresh durable dot, the write, the
    /// commit (before anything leaves), then the broadcast.
    fn local_write(
        &mut self,
        durability: Durability,
        write: impl FnOnce(&mut OfficeState, &mut Writer, u64) -> Delta,
    ) -> bool {
        if let Err(error) = self.durable.take_dot(&mut self.writer) {
            tracing::error!(%error, "cannot reserve a dot; write dropped");
            return false;
        }
        let delta = write(&mut self.state, &mut self.writer, Self::wall_ms());
        self.state_changed(durability);
        match delta.encode() {
            Ok(bytes) => self.broadcast(&Payload::Delta(Bytes::from(bytes))),
            Err(error) => tracing::error!(%error, "cannot encode a delta"),
        }
        true
    }

    fn on_local(&mut self, write: LocalWrite) {
        match write {
            LocalWrite::Reading { sensor, reading } => {
                self.local_write(Durability::Lazy, |state, writer, wall| {
                    state.publish_reading(writer, wall, sensor, reading).delta
                });
            }
            LocalWrite::Actuator { actuator, output } => {
                self.local_write(Durability::Lazy, |state, writer, wall| {
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
                if let Err(reason) = check_target(&self.settings.targets, quantity, value) {
                    tracing::warn!(%zone, %reason, "local target refused");
                    return;
                }
                let target = TargetValue {
                    value,
                    unit: quantity.default_unit(),
                    set_by,
                };
                self.local_write(Durability::Immediate, |state, writer, wall| {
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

    // ---- observers --------------------------------------------------------------

    fn has_observers(&self) -> bool {
        self.links.values().any(|l| l.role == Role::Observer)
    }

    fn observer_up(&mut self, now: Time, peer: PeerInfo) {
        tracing::info!(observer = %peer.id, "observer attached");
        let mut out = Vec::new();
        self.overlay
            .handle(now, proto::Input::ObserverUp(peer), &mut out);
        self.drive(out);
        let mut out = Vec::new();
        self.anti_entropy.handle(
            now,
            &mut self.state,
            anti_entropy::Input::NeighborUp(peer.id),
            &mut out,
        );
        self.drive_anti_entropy(out);
        self.start_watch(now);
    }

    fn observer_down(&mut self, now: Time, id: NodeId) {
        tracing::info!(observer = %id, "observer detached");
        let mut out = Vec::new();
        self.overlay
            .handle(now, proto::Input::ObserverDown(id), &mut out);
        self.drive(out);
        let mut out = Vec::new();
        self.anti_entropy.handle(
            now,
            &mut self.state,
            anti_entropy::Input::NeighborDown(id),
            &mut out,
        );
        self.drive_anti_entropy(out);
    }

    /// Broadcasts a Watch lease and takes it locally, and renews it later
    /// while an observer is attached.
    fn start_watch(&mut self, now: Time) {
        let until_ms_from_now = WATCH_LEASE.as_millis() as u32;
        let via = self.me;
        self.broadcast(&Payload::Watch {
            until_ms_from_now,
            via,
        });
        self.extend_watch(now, WATCH_LEASE, via);
        if !self.renew_armed {
            self.renew_armed = true;
            self.timers
                .schedule(now + WATCH_RENEW, NodeTimer::WatchRenew);
        }
    }

    fn watching(&self, now: Time) -> bool {
        self.watchers.values().any(|(_, until)| *until > now)
    }

    /// A Watch arrived: on a new lease, report the whole vector at once.
    fn extend_watch(&mut self, now: Time, lease: Duration, via: PeerInfo) {
        let until = now + lease;
        let was = self.watchers.get(&via.id).is_some_and(|(_, u)| *u > now);
        let entry = self.watchers.entry(via.id).or_insert((via, until));
        entry.0 = via;
        entry.1 = entry.1.max(until);
        // A Watch may come from a newly attached observer: it needs every
        // node's whole vector, not only the next change.
        let recent = self
            .last_full_at
            .is_some_and(|at| now.saturating_since(at) < MIN_FULL_REPORT_GAP);
        if !was || !recent {
            self.report(true);
            self.last_full_at = Some(now);
        }
        if !self.full_armed {
            self.full_armed = true;
            self.timers
                .schedule(now + FULL_REPORT_EVERY, NodeTimer::FullReport);
        }
    }

    /// Broadcasts this node's version vector, whole or what changed.
    fn report(&mut self, full: bool) {
        let vv: BTreeMap<NodeId, u64> = self.state.version_vector().iter().collect();
        let entries: Vec<(NodeId, u64)> = if full {
            vv.iter().map(|(k, v)| (*k, *v)).collect()
        } else {
            vv.iter()
                .filter(|(k, v)| self.last_report.get(k) != Some(v))
                .map(|(k, v)| (*k, *v))
                .collect()
        };
        self.last_report = vv;
        if entries.is_empty() && !full {
            return;
        }
        let now = self.now();
        self.last_report_at = Some(now);
        let node = self.me.id;
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
        self.watchers.retain(|_, (_, until)| *until > now);
        let watchers: Vec<PeerInfo> = self.watchers.values().map(|(p, _)| *p).collect();
        let msg = Message::Observer(wire::observer::Message::ClockReport(bytes));
        for via in watchers {
            if via.id == self.me.id {
                self.send_to_observers(&msg);
            } else {
                self.send_or_dial(via, msg.clone());
            }
        }
    }

    /// Hands a message to every observer attached here.
    fn send_to_observers(&mut self, msg: &Message) {
        let observers: Vec<NodeId> = self
            .links
            .iter()
            .filter(|(_, l)| l.role == Role::Observer)
            .map(|(id, _)| *id)
            .collect();
        for id in observers {
            self.send(id, msg);
        }
    }

    /// An observer's write: validated and joined, broadcast, committed,
    /// then acknowledged. The broadcast may leave before the commit: the
    /// dot is the observer's (it persisted its counter before writing), so
    /// a crash here cannot reuse it, and an observer that gets no *stored*
    /// answer resends the same delta elsewhere (joining it twice is a
    /// no-op). Only the acknowledgement waits for the disk, so the fsync
    /// is not on the path to the other nodes.
    fn on_observer_write(&mut self, observer: NodeId, request: u64, bytes: Bytes) {
        match self.accept_write(observer, &bytes) {
            Ok(()) => {
                self.broadcast(&Payload::Delta(bytes));
                self.unacked.push((observer, request));
            }
            Err(reason) => {
                tracing::warn!(%observer, request, %reason, "observer write rejected");
                let reply = wire::observer::Message::Rejected { request, reason };
                self.send(observer, &Message::Observer(reply));
            }
        }
        self.after_change();
    }

    /// Commits the observer writes accepted since the last call and
    /// acknowledges them. Called after the node task has yielded once, so
    /// the connection tasks have written the broadcast before the fsync
    /// blocks this thread.
    fn commit_observer_writes(&mut self) {
        let unacked = std::mem::take(&mut self.unacked);
        let result = self
            .durable
            .commit(&self.state, &self.writer, Durability::Immediate);
        if result.is_ok() {
            self.dirty = false;
        }
        for (observer, request) in unacked {
            let reply = match &result {
                Ok(()) => wire::observer::Message::Stored { request },
                Err(e) => wire::observer::Message::Rejected {
                    request,
                    reason: format!("the node could not store it: {e}"),
                },
            };
            self.send(observer, &Message::Observer(reply));
        }
    }

    fn accept_write(&mut self, observer: NodeId, bytes: &[u8]) -> Result<(), String> {
        let delta = Delta::decode(bytes).map_err(|e| format!("undecodable delta: {e}"))?;
        let registers = &delta.0;
        if !registers.nodes.is_empty()
            || !registers.sensors.is_empty()
            || !registers.actuators.is_empty()
        {
            return Err("an observer may only write targets".into());
        }
        if registers.targets.is_empty() {
            return Err("the write is empty".into());
        }
        for (key, register) in &registers.targets {
            for (dot, sibling) in register.siblings() {
                if dot.replica != observer {
                    return Err(format!(
                        "the write carries a dot of replica {}, not the observer's",
                        dot.replica
                    ));
                }
                check_target(&self.settings.targets, key.quantity, sibling.value.value)?;
            }
        }
        self.state.apply(&delta);
        Ok(())
    }
}
