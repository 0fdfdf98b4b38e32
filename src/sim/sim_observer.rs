//! An observer as the simulator plays it: attached to one node, holding a
//! replica of the office fed by that node's anti-entropy and the changes
//! it passes on once admitted,
//! writing targets with its own dots, joining a write only once its node
//! admits it, and following the nodes' clock reports — the protocol the
//! TUI's observer speaks, without sockets.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::crdt::anti_entropy::{self, AntiEntropy};
use crate::crdt::{
    Delta, Dot, OfficeState, Quantity, TargetKey, TargetValue, Unit, WriteKey, Writer,
};
use crate::node_id::NodeId;
use crate::replica::LinkId;
use crate::time::Time;
use crate::wire::payload::Payload;
use crate::wire::{Message, PeerInfo, observer};

/// The clock reports an observer received, counted: what watching an
/// office costs it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportTally {
    pub reports: u64,
    /// Of which whole vectors.
    pub whole: u64,
    /// Vector entries, over every report.
    pub entries: u64,
    /// Encoded report payloads, in bytes.
    pub bytes: u64,
}

/// A write this observer made and what became of it.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteRecord {
    pub key: TargetKey,
    pub dot: Dot,
    pub value: f32,
}

pub struct SimObserver {
    peer: PeerInfo,
    link: Option<LinkId>,
    attached_to: Option<usize>,
    state: OfficeState,
    anti_entropy: AntiEntropy,
    writer: Writer,
    next_request: u64,
    /// Writes awaiting their answer; a heating-program write has no
    /// target record.
    pending: BTreeMap<u64, (Bytes, Option<WriteRecord>)>,
    /// Writes answered *stored*.
    pub stored: Vec<WriteRecord>,
    /// Writes refused by the node.
    pub refused: Vec<WriteRecord>,
    /// The last clock report of every node.
    pub clocks: BTreeMap<NodeId, BTreeMap<NodeId, u64>>,
    /// Every clock report received so far.
    pub reports: ReportTally,
    /// History answers received: (request, node, answer).
    pub histories: Vec<(u64, NodeId, observer::HistoryAnswer)>,
    /// Heating-program writes answered *stored*, by request.
    pub programs_stored: Vec<u64>,
}

impl SimObserver {
    pub fn new(key: WriteKey, addr: SocketAddr) -> Self {
        let id = key.id();
        SimObserver {
            peer: PeerInfo { id, addr },
            link: None,
            attached_to: None,
            state: OfficeState::new(),
            anti_entropy: AntiEntropy::new(anti_entropy::Config::default(), id.0),
            writer: Writer::signing(key).carry_key(),
            next_request: 1,
            pending: BTreeMap::new(),
            stored: Vec::new(),
            refused: Vec::new(),
            clocks: BTreeMap::new(),
            reports: ReportTally::default(),
            histories: Vec::new(),
            programs_stored: Vec::new(),
        }
    }

    pub fn peer(&self) -> PeerInfo {
        self.peer
    }

    /// Observers never crash in the simulation.
    pub fn life(&self) -> u32 {
        1
    }

    pub fn state(&self) -> &OfficeState {
        &self.state
    }

    pub fn attached_to(&self) -> Option<usize> {
        self.link.and(self.attached_to)
    }

    pub fn attaching(&mut self, node: usize) {
        self.attached_to = Some(node);
    }

    /// Writes awaiting their node's answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Attached: sync, and resend what is unanswered (joining a write twice
    /// is a no-op, so a resend after failover is safe).
    pub fn up(&mut self, now: Time, peer: PeerInfo, link: LinkId) -> Vec<(LinkId, Message)> {
        self.link = Some(link);
        let mut out = Vec::new();
        self.anti_entropy.handle(
            now,
            &mut self.state,
            anti_entropy::Input::NeighborUp(peer.id),
            &mut out,
        );
        let mut sends = self.sync_sends(link, out);
        for (request, (delta, _)) in &self.pending {
            sends.push((
                link,
                Message::Observer(observer::Message::Write {
                    request: *request,
                    delta: delta.clone(),
                }),
            ));
        }
        sends
    }

    /// The link went down; true when it was the attachment (re-attach).
    pub fn down(&mut self, link: LinkId) -> bool {
        if self.link != Some(link) {
            return false;
        }
        self.link = None;
        true
    }

    pub fn frame(&mut self, now: Time, link: LinkId, msg: Message) -> Vec<(LinkId, Message)> {
        if self.link != Some(link) {
            return Vec::new();
        }
        match msg {
            Message::Sync(msg) => {
                let mut out = Vec::new();
                // Whom the message is from only matters for the replies.
                let from = NodeId(0);
                self.anti_entropy.handle(
                    now,
                    &mut self.state,
                    anti_entropy::Input::Message { from, msg },
                    &mut out,
                );
                return self.sync_sends(link, out);
            }
            Message::Observer(observer::Message::Admitted(payload)) => self.payload(&payload),
            Message::Observer(observer::Message::ClockReport(payload)) => {
                self.reports.bytes += payload.len() as u64;
                self.payload(&payload);
            }
            Message::Observer(observer::Message::Stored { request }) => {
                if let Some((bytes, record)) = self.pending.remove(&request) {
                    if let Ok(delta) = Delta::decode(&bytes) {
                        self.state.apply(&delta);
                    }
                    match record {
                        Some(record) => self.stored.push(record),
                        None => self.programs_stored.push(request),
                    }
                }
            }
            Message::Observer(observer::Message::History {
                request,
                observer,
                node,
                answer,
            }) if observer == self.peer.id => {
                self.histories.push((request, node, answer));
            }
            Message::Observer(observer::Message::NotStored { request, .. }) => {
                if let Some((bytes, _)) = self.pending.remove(&request)
                    && let Ok(delta) = Delta::decode(&bytes)
                {
                    self.state.apply(&delta);
                }
            }
            Message::Observer(observer::Message::Rejected { request, .. }) => {
                if let Some((bytes, record)) = self.pending.remove(&request) {
                    if let Ok(delta) = Delta::decode(&bytes) {
                        let me = self.peer.id;
                        self.state.void_own_dots(&delta, me);
                    }
                    self.refused.extend(record);
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn sync_sends(&self, link: LinkId, out: Vec<anti_entropy::Output>) -> Vec<(LinkId, Message)> {
        out.into_iter()
            .filter_map(|o| match o {
                anti_entropy::Output::Send { msg, .. } => Some((link, Message::Sync(msg))),
                _ => None,
            })
            .collect()
    }

    fn payload(&mut self, bytes: &[u8]) {
        match Payload::decode(bytes) {
            Ok(Payload::Delta(d)) => {
                if let Ok(delta) = Delta::decode(&d) {
                    self.state.apply(&delta);
                }
            }
            Ok(Payload::ClockReport {
                node,
                full,
                entries,
            }) => {
                self.reports.reports += 1;
                self.reports.whole += u64::from(full);
                self.reports.entries += entries.len() as u64;
                let clock = self.clocks.entry(node).or_default();
                if full {
                    clock.clear();
                }
                for (replica, counter) in entries {
                    let slot = clock.entry(replica).or_default();
                    *slot = (*slot).max(counter);
                }
            }
            Ok(Payload::Refused { proofs, .. }) => {
                self.state.void(proofs.iter().map(|p| p.dot));
            }
            _ => {}
        }
    }

    /// A target write made on a copy of the replica and sent to the node.
    pub fn write_target(
        &mut self,
        zone: &str,
        value: f32,
        wall_ms: u64,
    ) -> Option<(LinkId, Message, u64)> {
        let link = self.link?;
        let key = TargetKey::new(zone, Quantity::Temperature);
        let target = TargetValue {
            value,
            unit: Unit::Celsius,
            set_by: format!("op-{}", self.peer.id),
        };
        let write = self
            .state
            .clone()
            .set_target(&mut self.writer, wall_ms, key.clone(), target);
        let bytes = Bytes::from(write.delta.encode().ok()?);
        let request = self.next_request;
        self.next_request += 1;
        self.pending.insert(
            request,
            (
                bytes.clone(),
                Some(WriteRecord {
                    key,
                    dot: write.dot,
                    value,
                }),
            ),
        );
        let msg = Message::Observer(observer::Message::Write {
            request,
            delta: bytes,
        });
        Some((link, msg, request))
    }

    /// A heating-program write (schedule, preset, override) made by `f` on
    /// a copy of the replica and sent to the node, like a target.
    pub fn write_program(
        &mut self,
        wall_ms: u64,
        f: impl FnOnce(&mut OfficeState, &mut Writer, u64) -> crate::crdt::Write,
    ) -> Option<(LinkId, Message, u64)> {
        let link = self.link?;
        let write = f(&mut self.state.clone(), &mut self.writer, wall_ms);
        let bytes = Bytes::from(write.delta.encode().ok()?);
        let request = self.next_request;
        self.next_request += 1;
        self.pending.insert(request, (bytes.clone(), None));
        let msg = Message::Observer(observer::Message::Write {
            request,
            delta: bytes,
        });
        Some((link, msg, request))
    }

    /// Asks the attached node for `node`'s history.
    pub fn request_history(
        &mut self,
        node: NodeId,
        since_ms: i64,
    ) -> Option<(LinkId, Message, u64)> {
        let link = self.link?;
        let request = self.next_request;
        self.next_request += 1;
        let msg = Message::Observer(observer::Message::HistoryRequest {
            request,
            node,
            since_ms,
        });
        Some((link, msg, request))
    }
}
