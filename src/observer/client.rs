//! The observer client: attaches to one node as a passive peer, keeps a
//! replica of the office state (what that node admitted: its anti-entropy
//! and the changes it passes on once admitted) and the latest clock
//! reports, and submits
//! operators' writes: targets, schedules, presets and overrides
//! (DESIGN.md, "Membership and broadcast": observers).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::identity::{ObserverIdentity, ObserverIdentityError};
use crate::crdt::anti_entropy::{self, AntiEntropy};
use crate::crdt::{
    Delta, Dot, OfficeState, OverrideValue, PresetKey, PresetValue, Quantity, Schedule, TargetKey,
    TargetValue, Writer,
};
use crate::net::{Endpoint, Keyring, NetEvent, PeerHandle, limits};
use crate::node_id::NodeId;
use crate::replica::authorship::Trust;
use crate::time::Time;
use crate::wire::payload::Payload;
use crate::wire::{self, Message, PeerInfo, Role, sync};

/// A node whose last clock report is older than this is unreachable (full
/// reports come every 10 s while watched).
pub const LIVE_WITHIN: Duration = Duration::from_secs(15);
/// After attaching, how long every node gets to send its first report
/// before the ones that did not count as unreachable.
pub const FIRST_REPORTS: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ObserverError {
    #[error(transparent)]
    Identity(#[from] ObserverIdentityError),
    #[error("no node answered at {tried}: {last}")]
    NoNode { tried: String, last: String },
    #[error("could not encode the write: {0}")]
    Encode(String),
    #[error("not attached to any node")]
    Detached,
    #[error("node {0} is not in this replica's office state")]
    UnknownNode(NodeId),
    #[error("the write changed nothing")]
    NothingWritten,
}

/// What changed, as [`Observer::next_update`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// The first full sync from the attached node is in.
    Synced,
    /// The office state changed.
    State,
    /// A node's clock report arrived.
    Clock(NodeId),
    /// A write was committed by the attached node.
    Stored { request: u64, by: NodeId },
    /// A write was refused; it was not applied anywhere, and this
    /// observer's replica no longer shows it.
    Rejected { request: u64, reason: String },
    /// The node admitted the write and sent it on to `sent_to` neighbours
    /// but could not make it durable (disk full, I/O error): it may still
    /// spread, it is not refused.
    NotStored {
        request: u64,
        reason: String,
        sent_to: u32,
    },
    /// A node's history, answering [`Observer::request_history`].
    History {
        request: u64,
        node: NodeId,
        answer: wire::observer::HistoryAnswer,
    },
    /// The attached node went away; the next call tries to attach to
    /// another known node (the TUI shows "reconnecting" meanwhile).
    Lost { node: NodeId, reason: String },
    /// Attached to another node after losing the previous one.
    Attached(PeerInfo),
    /// The attached node went away and no other answered (yet).
    Detached,
}

/// A node's last clock report.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    pub vector: BTreeMap<NodeId, u64>,
    pub at: Option<Instant>,
}

/// One write sent to the attached node, awaiting its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Submitted {
    pub request: u64,
    /// The write's newest dot: a version vector covering it covers the
    /// whole write.
    pub dot: Dot,
}

pub struct Observer {
    identity: ObserverIdentity,
    endpoint: Endpoint,
    events_tx: mpsc::Sender<NetEvent>,
    events_rx: mpsc::Receiver<NetEvent>,
    link: Option<PeerHandle>,
    /// Every address worth trying, in preference order.
    candidates: Vec<SocketAddr>,
    epoch: Instant,
    attached_at: Instant,
    state: OfficeState,
    anti_entropy: AntiEntropy,
    ae_timer: Option<(Time, anti_entropy::Timer)>,
    clocks: BTreeMap<NodeId, Clock>,
    synced: bool,
    writer: Option<Writer>,
    /// Named in the operators list of this observer's config.
    listed: bool,
    next_request: u64,
    /// Writes awaiting an answer, with what they carry (resent on failover).
    pending_writes: BTreeMap<u64, Bytes>,
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("id", &self.id())
            .field("attached", &self.attached())
            .finish_non_exhaustive()
    }
}

impl Observer {
    /// Connects to the first of `addrs` that answers.
    pub async fn connect(
        identity: ObserverIdentity,
        cluster_key: impl Into<Keyring>,
        addrs: Vec<SocketAddr>,
    ) -> Result<Observer, ObserverError> {
        let endpoint = Endpoint::new(identity.keypair.clone(), cluster_key, Role::Observer);
        let (events_tx, events_rx) = mpsc::channel(limits::EVENT_QUEUE_LEN);
        let mut observer = Observer {
            identity,
            endpoint,
            events_tx,
            events_rx,
            link: None,
            candidates: addrs,
            epoch: Instant::now(),
            attached_at: Instant::now(),
            state: OfficeState::new(),
            anti_entropy: AntiEntropy::new(anti_entropy::Config::default(), rand::random()),
            ae_timer: None,
            clocks: BTreeMap::new(),
            synced: false,
            writer: None,
            next_request: 1,
            pending_writes: BTreeMap::new(),
            listed: false,
        };
        observer.attach().await?;
        Ok(observer)
    }

    pub fn id(&self) -> NodeId {
        self.endpoint.node_id()
    }

    /// Tells the observer whether the operators list names it: every
    /// replica then knows its key, and its writes leave it out (32 bytes
    /// less per write); otherwise each write carries it.
    pub fn set_listed(&mut self, trust: &Trust) {
        let listed = trust.operators.contains_key(&self.id());
        if listed != self.listed {
            self.listed = listed;
            self.writer = None;
        }
    }

    /// The node this observer is attached to.
    pub fn attached(&self) -> Option<PeerInfo> {
        self.link.as_ref().map(PeerHandle::peer)
    }

    pub fn state(&self) -> &OfficeState {
        &self.state
    }

    pub fn clocks(&self) -> &BTreeMap<NodeId, Clock> {
        &self.clocks
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    fn now(&self) -> Time {
        Time::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// Tries every candidate address in turn; then the addresses nodes
    /// announced (their interfaces, on the port of the first candidate).
    async fn attach(&mut self) -> Result<(), ObserverError> {
        let mut tried = Vec::new();
        let mut last = String::from("no address to try");
        for addr in self.all_candidates() {
            tried.push(addr.to_string());
            match self.endpoint.connect(addr).await {
                Ok(conn) if conn.role() == Role::Node => {
                    let peer = conn.peer();
                    let handle = conn.spawn(self.events_tx.clone());
                    tracing::info!(node = %peer.id, %addr, "attached");
                    self.link = Some(handle);
                    self.attached_at = Instant::now();
                    self.on_attached(peer.id);
                    return Ok(());
                }
                Ok(_) => last = format!("{addr} is an observer, not a node"),
                Err(e) => last = e.to_string(),
            }
        }
        Err(ObserverError::NoNode {
            tried: tried.join(", "),
            last,
        })
    }

    fn all_candidates(&self) -> Vec<SocketAddr> {
        let mut out = self.candidates.clone();
        if let Some(port) = self.candidates.first().map(SocketAddr::port) {
            for (_, register) in self.state.nodes() {
                for (_, sibling) in register.siblings() {
                    for iface in &sibling.value.interfaces {
                        for ip in &iface.ipv4 {
                            out.push(SocketAddr::new((*ip).into(), port));
                        }
                    }
                }
            }
        }
        let mut seen = BTreeSet::new();
        out.retain(|a| seen.insert(*a));
        out
    }

    fn on_attached(&mut self, node: NodeId) {
        let now = self.now();
        let mut out = Vec::new();
        self.anti_entropy.handle(
            now,
            &mut self.state,
            anti_entropy::Input::NeighborUp(node),
            &mut out,
        );
        self.drive_anti_entropy(out);
        let writes: Vec<(u64, Bytes)> = self
            .pending_writes
            .iter()
            .map(|(r, d)| (*r, d.clone()))
            .collect();
        for (request, delta) in writes {
            self.send(&Message::Observer(wire::observer::Message::Write {
                request,
                delta,
            }));
        }
    }

    fn send(&self, msg: &Message) {
        if let Some(link) = &self.link
            && let Err(error) = link.send(msg)
        {
            tracing::debug!(%error, "send to the attached node failed");
        }
    }

    fn drive_anti_entropy(&mut self, out: Vec<anti_entropy::Output>) {
        for output in out {
            match output {
                anti_entropy::Output::Send { msg, .. } => self.send(&Message::Sync(msg)),
                anti_entropy::Output::Schedule { at, timer } => self.ae_timer = Some((at, timer)),
                anti_entropy::Output::Event(_) => {}
            }
        }
    }

    /// Waits for the next change. Reattaches on loss, returning
    /// [`Update::Attached`] or, when no node answers, [`Update::Detached`]
    /// (call again to retry).
    pub async fn next_update(&mut self) -> Update {
        loop {
            if self.link.is_none() {
                return match self.attach().await {
                    Ok(()) => match self.attached() {
                        Some(peer) => Update::Attached(peer),
                        None => Update::Detached,
                    },
                    Err(error) => {
                        tracing::warn!(%error, "no node to attach to");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        Update::Detached
                    }
                };
            }
            let due = self
                .ae_timer
                .map(|(at, _)| self.epoch + Duration::from_micros(at.as_micros()));
            let sleep = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = self.events_rx.recv() => {
                    let Some(event) = event else { continue };
                    if let Some(update) = self.on_net(event) {
                        return update;
                    }
                }
                () = sleep => {
                    if let Some((_, timer)) = self.ae_timer.take() {
                        let mut out = Vec::new();
                        let now = self.now();
                        self.anti_entropy.handle(now, &mut self.state, anti_entropy::Input::TimerFired(timer), &mut out);
                        self.drive_anti_entropy(out);
                    }
                }
            }
        }
    }

    fn on_net(&mut self, event: NetEvent) -> Option<Update> {
        let current = self.link.as_ref().map(|l| (l.id(), l.conn_id()));
        match event {
            NetEvent::Frame {
                peer, conn, msg, ..
            } if current == Some((peer, conn)) => self.on_message(peer, msg),
            NetEvent::Closed { peer, conn, reason } if current == Some((peer, conn)) => {
                tracing::warn!(node = %peer, %reason, "lost the attached node");
                // Try the others first: a node shutting down may still
                // accept a connection for a moment.
                if let Some(lost) = self.link.take().map(|l| l.peer().addr)
                    && let Some(pos) = self.candidates.iter().position(|a| *a == lost)
                {
                    let addr = self.candidates.remove(pos);
                    self.candidates.push(addr);
                }
                let mut out = Vec::new();
                let now = self.now();
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::NeighborDown(peer),
                    &mut out,
                );
                self.ae_timer = None;
                self.clocks.remove(&peer);
                Some(Update::Lost {
                    node: peer,
                    reason: reason.to_string(),
                })
            }
            _ => None,
        }
    }

    fn on_message(&mut self, from: NodeId, msg: Message) -> Option<Update> {
        match msg {
            Message::Sync(msg) => {
                let last_answer = matches!(msg, sync::Message::Answer { last: true, .. });
                let before = self.state.version_vector().clone();
                let mut out = Vec::new();
                let now = self.now();
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::Message { from, msg },
                    &mut out,
                );
                self.drive_anti_entropy(out);
                if last_answer && !self.synced {
                    self.synced = true;
                    if let Err(error) = self.resume_writer() {
                        // Reading goes on; the next write reports it.
                        tracing::error!(%error, "cannot resume this observer's dots");
                    }
                    return Some(Update::Synced);
                }
                (before != *self.state.version_vector()).then_some(Update::State)
            }
            Message::Observer(
                wire::observer::Message::Admitted(payload)
                | wire::observer::Message::ClockReport(payload),
            ) => self.on_payload(&payload),
            Message::Observer(wire::observer::Message::Stored { request }) => {
                self.settle(request, true);
                Some(Update::Stored { request, by: from })
            }
            Message::Observer(wire::observer::Message::Rejected { request, reason }) => {
                self.settle(request, false);
                Some(Update::Rejected { request, reason })
            }
            Message::Observer(wire::observer::Message::NotStored {
                request,
                reason,
                sent_to,
            }) => {
                self.settle(request, true);
                Some(Update::NotStored {
                    request,
                    reason,
                    sent_to,
                })
            }
            Message::Observer(wire::observer::Message::History {
                request,
                observer,
                node,
                mut answer,
            }) if observer == self.id() => {
                // Peer input: never keep more than a whole history.
                answer.points.truncate(wire::observer::MAX_HISTORY_POINTS);
                Some(Update::History {
                    request,
                    node,
                    answer,
                })
            }
            _ => None,
        }
    }

    /// Asks for `node`'s history from `since_ms` on (Unix ms); the answer
    /// comes as [`Update::History`] with the returned request number, or
    /// not at all if the node is unreachable (ask again later).
    pub fn request_history(&mut self, node: NodeId, since_ms: i64) -> Result<u64, ObserverError> {
        if self.link.is_none() {
            return Err(ObserverError::Detached);
        }
        self.next_request += 1;
        let request = self.next_request;
        self.send(&Message::Observer(
            wire::observer::Message::HistoryRequest {
                request,
                node,
                since_ms,
            },
        ));
        Ok(request)
    }

    /// A write was answered. An admitted write joins this replica (it was
    /// held back until then, so a refused value is never shown); a refused
    /// one has its dots marked as seen, so this observer's later writes are
    /// not stuck behind a gap in its version vector.
    fn settle(&mut self, request: u64, admitted: bool) {
        let Some(bytes) = self.pending_writes.remove(&request) else {
            return;
        };
        let Ok(delta) = Delta::decode(&bytes) else {
            return;
        };
        if admitted {
            self.state.apply(&delta);
        } else {
            let me = self.id();
            self.state.void_own_dots(&delta, me);
        }
    }

    fn on_payload(&mut self, payload: &[u8]) -> Option<Update> {
        match Payload::decode(payload) {
            Ok(Payload::Delta(bytes)) => {
                // The attached node sends only what its admission let in
                // (signatures, write rights, the clock bound, ranges), the
                // same node whose anti-entropy this replica joins unchecked:
                // checking again here, against this machine's clock, would
                // only make the two routes disagree when the clocks do.
                let delta = Delta::decode(&bytes).ok()?;
                self.state.apply(&delta).then_some(Update::State)
            }
            Ok(Payload::ClockReport {
                node,
                full,
                entries,
            }) => {
                let clock = self.clocks.entry(node).or_default();
                if full {
                    clock.vector.clear();
                }
                for (replica, counter) in entries {
                    let slot = clock.vector.entry(replica).or_default();
                    *slot = (*slot).max(counter);
                }
                clock.at = Some(Instant::now());
                Some(Update::Clock(node))
            }
            Ok(Payload::Refused {
                observer, proofs, ..
            }) => {
                // The node refused these writes: every replica marks their
                // dots seen, and so does this one, to stay equal.
                let dots = proofs
                    .iter()
                    .map(|p| p.dot)
                    .filter(|d| d.replica == observer);
                self.state.void(dots);
                Some(Update::State)
            }
            Ok(
                Payload::Watch { .. } | Payload::Skipped { .. } | Payload::HistoryRequest { .. },
            )
            | Err(_) => None,
        }
    }

    /// Resumes the writer after this observer's last recorded dot (and
    /// any later one of ours the synced state holds). An unreadable
    /// counter is an error, never a restart from 0: a reused dot would be
    /// dropped as already seen by every replica that has the first.
    fn resume_writer(&mut self) -> Result<(), ObserverIdentityError> {
        let last = self.identity.last_counter()?;
        let id = self.id();
        let mut writer = Writer::resume(id, last, Default::default(), &self.state);
        if !self.listed {
            writer = writer.carry_key();
        }
        writer.set_key(self.identity.keypair.write_key());
        self.writer = Some(writer);
        Ok(())
    }

    /// Waits until `done` holds or `deadline` passes; whether it held.
    pub async fn wait_until(
        &mut self,
        deadline: Instant,
        mut done: impl FnMut(&Observer) -> bool,
    ) -> bool {
        loop {
            if done(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.next_update()).await {
                Ok(_) => {}
                Err(_) => return done(self),
            }
        }
    }

    /// Makes a target write with this observer's replica id and a fresh,
    /// durably recorded dot, and sends it to the attached node. Call after
    /// [`Update::Synced`], so the write covers the siblings it replaces.
    pub fn write_target(
        &mut self,
        zone: &str,
        quantity: Quantity,
        value: f32,
        set_by: String,
    ) -> Result<Submitted, ObserverError> {
        let target = TargetValue {
            value,
            unit: quantity.default_unit(),
            set_by,
        };
        let key = TargetKey::new(zone, quantity);
        self.write_with(|state, writer, wall_ms| {
            state.set_target(writer, wall_ms, key, target).delta
        })
    }

    /// Writes a zone's schedule (an empty one clears it), like a target.
    pub fn write_schedule(
        &mut self,
        zone: &str,
        schedule: Schedule,
    ) -> Result<Submitted, ObserverError> {
        let zone = zone.to_string();
        self.write_with(|state, writer, wall_ms| {
            state.set_schedule(writer, wall_ms, zone, schedule).delta
        })
    }

    /// Writes what a preset means in a zone.
    pub fn write_preset(
        &mut self,
        key: PresetKey,
        value: PresetValue,
    ) -> Result<Submitted, ObserverError> {
        self.write_with(|state, writer, wall_ms| {
            state.set_preset(writer, wall_ms, key, value).delta
        })
    }

    /// Writes (or, with `celsius: None`, clears) a zone's override.
    pub fn write_override(
        &mut self,
        zone: &str,
        value: OverrideValue,
    ) -> Result<Submitted, ObserverError> {
        let zone = zone.to_string();
        self.write_with(|state, writer, wall_ms| {
            state.set_override(writer, wall_ms, zone, value).delta
        })
    }

    /// The calendar time writes are stamped with, Unix ms (an override's
    /// expiry is computed from it).
    pub fn wall_ms() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// Forgets a decommissioned node: a tombstone for its entry and every
    /// sensor and actuator of it this replica knows, sent to the attached
    /// node like any write. Once it spreads the node is gone from every
    /// replica, and the node itself, if it still runs, stops. Call after
    /// [`Update::Synced`], so the tombstone covers what the node wrote.
    pub fn forget_node(&mut self, node: NodeId) -> Result<Submitted, ObserverError> {
        if self.state.node(node).is_none() {
            return Err(ObserverError::UnknownNode(node));
        }
        self.write_with(|state, writer, wall_ms| state.forget_node(writer, wall_ms, node))
    }

    /// Makes one write with this observer's replica id and sends it to the
    /// attached node; `make` writes on a copy of the state. The dots it
    /// takes are durably recorded before the write leaves, so none is ever
    /// reused; the write joins this replica only once the node admits it.
    ///
    /// The public writes are [`Observer::write_target`], the heating
    /// writes and [`Observer::forget_node`]; this is open so tests can send what a
    /// faulty observer could and check that nodes refuse it.
    #[doc(hidden)]
    pub fn write_with(
        &mut self,
        make: impl FnOnce(&mut OfficeState, &mut Writer, u64) -> Delta,
    ) -> Result<Submitted, ObserverError> {
        if self.link.is_none() {
            return Err(ObserverError::Detached);
        }
        if self.writer.is_none() {
            self.resume_writer()?;
        }
        let Some(mut writer) = self.writer.clone() else {
            return Err(ObserverError::Detached);
        };
        let before = writer.last_counter();
        let wall_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let delta = make(&mut self.state.clone(), &mut writer, wall_ms);
        let last = writer.last_counter();
        if last == before {
            return Err(ObserverError::NothingWritten);
        }
        let bytes = delta
            .encode()
            .map_err(|e| ObserverError::Encode(e.to_string()))?;
        self.identity.record_counter(last)?;
        self.writer = Some(writer);
        let request = self.next_request;
        self.next_request += 1;
        let delta = Bytes::from(bytes);
        self.pending_writes.insert(request, delta.clone());
        self.send(&Message::Observer(wire::observer::Message::Write {
            request,
            delta,
        }));
        Ok(Submitted {
            request,
            dot: Dot::new(self.id(), last),
        })
    }

    /// Nodes this replica knows whose last report is recent. A report for
    /// a node with no `Node` entry here counts for nothing: it cannot make
    /// a write look converged, or keep one from it.
    pub fn live_nodes(&self) -> BTreeSet<NodeId> {
        self.clocks
            .iter()
            .filter(|(id, _)| self.state.node(**id).is_some())
            .filter(|(_, c)| c.at.is_some_and(|at| at.elapsed() < LIVE_WITHIN))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether every node with a `Node` entry has reported, or the first
    /// reports have had their time.
    pub fn reports_settled(&self) -> bool {
        let all_reported = self
            .state
            .nodes()
            .all(|(id, _)| self.clocks.contains_key(&id));
        (all_reported && self.state.nodes().count() > 0)
            || self.attached_at.elapsed() >= FIRST_REPORTS
    }

    /// *converged k/N*: how many of the N live nodes report a version
    /// vector covering `dot`.
    pub fn coverage(&self, dot: Dot) -> (usize, usize) {
        let live = self.live_nodes();
        let k = live
            .iter()
            .filter(|id| {
                self.clocks[id]
                    .vector
                    .get(&dot.replica)
                    .is_some_and(|&c| c >= dot.counter)
            })
            .count();
        (k, live.len())
    }
}
