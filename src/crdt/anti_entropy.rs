//! Anti-entropy: neighbours exchange causal contexts and send each other
//! only what the other lacks.
//!
//! Plumtree delivers every delta almost always; this repairs the rest (a
//! delta lost with a connection, a partition, a replica that was down or is
//! new). Sans-IO like the protocol core: [`AntiEntropy::handle`] takes the
//! time, the replica's [`OfficeState`] and one [`Input`], and pushes
//! [`Output`]s (messages to send, a timer to arm) into a vector.
//!
//! An exchange (Almeida et al., JPDC 2018, §6, with digests instead of
//! acknowledgement maps, since neighbours change all the time):
//! 1. send the neighbour a `Digest` (our causal context);
//! 2. the neighbour answers with every register whose writes the digest
//!    does not cover, in parts that each fit one frame, the last part also
//!    naming the dots it has seen that the digest lacked; and it sends its
//!    own digest back (`reply`), which we answer the same way.
//!
//! When a neighbour comes up the exchange starts at once: a new or
//! long-absent replica gets everything it lacks. Every [`Config::period`]
//! a round with one random neighbour opens with a `Summary` instead, the
//! 64-bit fingerprint of our whole causal context
//! ([`CausalContext::fingerprint`]): a neighbour whose fingerprint is the
//! same answers with its own summary and the round is over; one whose
//! fingerprint differs starts the exchange above. Converged replicas, the
//! usual case, then spend two tiny messages per round instead of two whole
//! causal contexts (about 600 bytes each with 50 replicas).
//!
//! Two replicas of a working office often differ only by the broadcasts
//! in flight between them (a reading written a few milliseconds ago), and
//! the exchange would send two whole digests to learn nothing Plumtree was
//! not already delivering. So a replica whose fingerprint differs from an
//! opening summary takes a second look [`Config::second_look`] later: it
//! answers with its own summary then, and only a difference that is still
//! there starts the exchange. Rounds also start a random fraction of the
//! period early or late ([`ROUND_SPREAD`]): a node's readings and its
//! rounds both count from its start, and in step every few rounds would
//! open on its own newest reading, still in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand::seq::IteratorRandom;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};

use super::actuator_state::ActuatorState;
use super::causal_context::CausalContext;
use super::codec::{self, CodecError};
use super::delta::Delta;
use super::key::{ActuatorKey, SensorKey, TargetKey};
use super::mv_register::MvRegister;
use super::node_info::NodeInfo;
use super::office_state::OfficeState;
use super::override_value::OverrideValue;
use super::preset::{PresetKey, PresetValue};
use super::reading::Reading;
use super::schedule::Schedule;
use super::signature::WriteProof;
use super::target_value::TargetValue;
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::{self, MAX_FRAME_LEN, sync};

/// Room left in a frame for the envelope around an answer body (enum tags,
/// round, part, flags, the body's length prefix).
const ENVELOPE_RESERVE: usize = 64;

/// The most a [`WriteProof`] takes in an answer: a dot (a 10-byte id and
/// a 10-byte counter at most), a 32-byte digest and a 64-byte signature.
const PROOF_LEN: usize = 10 + 10 + 32 + 64;

/// How far a round may start from one period after the last, as a
/// fraction of the period either way: enough that two timers of one node
/// started together (its rounds, its sensor readings) part within a few
/// rounds, little enough that the period is still what it says.
pub const ROUND_SPREAD: f64 = 0.2;

/// The anti-entropy knobs.
#[derive(Clone, Debug)]
pub struct Config {
    /// How often a round starts with one random neighbour.
    pub period: Duration,
    /// Out-of-order ranges a digest may carry. A digest that leaves some out
    /// only makes the peer resend what we hold; capping it keeps a digest
    /// for 100 replicas under 2 KiB whatever the gaps.
    pub max_digest_ranges: usize,
    /// The largest answer body: a frame less the envelope.
    pub max_body_len: usize,
    /// Shortest time between two [`Input::Exchange`]s with one neighbour;
    /// one asked for sooner is made when this has passed.
    pub exchange_gap: Duration,
    /// Most parts of registers in one answer (see [`MAX_ANSWER_PARTS`]).
    pub max_answer_parts: usize,
    /// How long a replica whose fingerprint differed from an opening
    /// summary waits before comparing again: long enough for the
    /// broadcasts in flight to land (tens of milliseconds on a LAN), short
    /// against the period, since a real gap is repaired that much later.
    pub second_look: Duration,
}

/// Most parts of registers one answer carries, whatever the digest lacks.
/// Every part is encoded before the first leaves, and a peer chooses its
/// digest: an empty one asks for the whole state, so without this bound
/// one digest could make a replica of a large office encode and queue
/// its whole state at once, and a few of them several copies. Four frames
/// hold a whole office of tens of nodes many times over; what a larger
/// gap leaves out goes in the next rounds, each of which finds the digest
/// still lacking it.
pub const MAX_ANSWER_PARTS: usize = 4;

impl Default for Config {
    fn default() -> Self {
        Config {
            period: Duration::from_secs(5),
            max_digest_ranges: 64,
            max_body_len: MAX_FRAME_LEN - ENVELOPE_RESERVE,
            exchange_gap: Duration::from_millis(500),
            max_answer_parts: MAX_ANSWER_PARTS,
            second_look: Duration::from_secs(1),
        }
    }
}

/// What the caller feeds the machine.
#[derive(Clone, Debug)]
pub enum Input {
    /// A neighbour came up (overlay `NeighborUp`, or the node an observer
    /// attached to): start a round with it at once.
    NeighborUp(NodeId),
    NeighborDown(NodeId),
    /// Exchange digests with this neighbour now, outside the periodic
    /// rounds: it holds something this replica needs at once (the proofs
    /// of a write it relayed). At most one per [`Config::exchange_gap`].
    Exchange(NodeId),
    /// An anti-entropy message from a peer.
    Message {
        from: NodeId,
        msg: sync::Message,
    },
    TimerFired(Timer),
}

/// What the machine asks of the caller.
#[derive(Debug)]
pub enum Output {
    Send {
        to: NodeId,
        msg: sync::Message,
    },
    /// Feed `Input::TimerFired(timer)` back at `at`.
    Schedule {
        at: Time,
        timer: Timer,
    },
    Event(Event),
}

#[derive(Debug)]
pub enum Event {
    /// An answer from `from` changed the state (persist it, redraw).
    Repaired { from: NodeId, keys: usize },
    /// A peer sent a body that does not decode; it is ignored.
    Malformed { from: NodeId, error: CodecError },
}

/// A wake-up the machine asked for; a stale one is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer(Wake);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// The periodic round.
    Round { generation: u64 },
    /// An exchange with this neighbour asked for within the gap.
    Exchange(NodeId),
    /// Compare fingerprints with this neighbour again.
    SecondLook(NodeId),
}

/// The last exchange asked of one neighbour outside the rounds.
#[derive(Clone, Copy, Debug)]
struct Exchange {
    at: Time,
    /// Another was asked for within the gap: it is made at its end.
    deferred: bool,
}

/// Counters for the simulator and the TUI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub summaries_sent: u64,
    pub digests_sent: u64,
    pub answers_sent: u64,
    /// Encoded size of every message sent, envelope included.
    pub bytes_sent: u64,
    pub keys_sent: u64,
    pub keys_received: u64,
    /// Registers too large for one frame, never sent.
    pub oversized_skipped: u64,
    /// Answers cut at [`Config::max_answer_parts`]: the rest goes in a
    /// later round.
    pub answers_cut: u64,
    /// Opening summaries that differed, looked at again later.
    pub second_looks: u64,
}

/// The body of an `Answer` part.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct AnswerBody {
    delta: Delta,
    /// Only in the last part: dots the answerer has seen that are neither
    /// in the digest nor live in its state (superseded or removed writes).
    seen: Option<CausalContext>,
    /// Only in the first part: for each replica the digest shows behind,
    /// the answerer's proof of that replica's highest write, so claims in
    /// the parts that follow can be checked after the write itself is gone.
    proofs: Vec<WriteProof>,
}

/// An [`AnswerBody`] as it is sent: the registers borrowed from the state
/// rather than copied (a copy of a register costs several times its
/// encoding). Encodes to the same bytes, field for field.
#[derive(Serialize)]
struct AnswerBodyRef<'a> {
    delta: RegistersRef<'a>,
    seen: Option<CausalContext>,
    proofs: Vec<WriteProof>,
}

/// [`Registers`] by reference, in its field order.
#[derive(Default, Serialize)]
struct RegistersRef<'a> {
    nodes: MapRef<'a, NodeId, MvRegister<NodeInfo>>,
    sensors: MapRef<'a, SensorKey, MvRegister<Reading>>,
    actuators: MapRef<'a, ActuatorKey, MvRegister<ActuatorState>>,
    targets: MapRef<'a, TargetKey, MvRegister<TargetValue>>,
    schedules: MapRef<'a, String, MvRegister<Schedule>>,
    presets: MapRef<'a, PresetKey, MvRegister<PresetValue>>,
    overrides: MapRef<'a, String, MvRegister<OverrideValue>>,
}

impl RegistersRef<'_> {
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn len(&self) -> usize {
        self.nodes.0.len()
            + self.sensors.0.len()
            + self.actuators.0.len()
            + self.targets.0.len()
            + self.schedules.0.len()
            + self.presets.0.len()
            + self.overrides.0.len()
    }
}

/// Entries of a `BTreeMap`, in its order, encoded as the map.
struct MapRef<'a, K, V>(Vec<(&'a K, &'a V)>);

impl<K, V> Default for MapRef<'_, K, V> {
    fn default() -> Self {
        MapRef(Vec::new())
    }
}

impl<K: Serialize, V: Serialize> Serialize for MapRef<'_, K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().copied())
    }
}

/// What one answer part brings, for a [`Gate`] to admit before the join.
pub struct Arrival<'a> {
    /// Registers: the gate drops those that may not enter.
    pub delta: &'a mut Delta,
    /// Dots the answerer vouches it has seen: the gate removes those it
    /// cannot accept.
    pub seen: &'a mut Option<CausalContext>,
    pub proofs: &'a [WriteProof],
}

/// The caller's checks around an exchange.
pub trait Gate {
    /// Admits what an answer part brings; returns how many registers were
    /// dropped. An answer with a dropped register has only those of its
    /// `seen` dots joined that name no value this replica holds: the
    /// others vouch for registers this replica refused.
    fn admit(&mut self, from: NodeId, state: &OfficeState, arrival: Arrival<'_>) -> usize;

    /// The proof of `replica`'s highest write known here, if any.
    fn proof(&self, replica: NodeId) -> Option<WriteProof>;
}

/// Admits everything and proves nothing: for tests of the exchange alone.
pub struct OpenGate;

impl Gate for OpenGate {
    fn admit(&mut self, _: NodeId, _: &OfficeState, _: Arrival<'_>) -> usize {
        0
    }

    fn proof(&self, _: NodeId) -> Option<WriteProof> {
        None
    }
}

/// Parts received so far of a peer's answer.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    round: u32,
    next_part: u16,
}

/// One replica's anti-entropy machine.
#[derive(Debug)]
pub struct AntiEntropy {
    config: Config,
    rng: ChaCha8Rng,
    neighbours: BTreeSet<NodeId>,
    generation: u64,
    armed: bool,
    next_round: u32,
    incoming: BTreeMap<NodeId, Incoming>,
    /// What each peer's last digest said it had seen.
    peer_contexts: BTreeMap<NodeId, CausalContext>,
    exchanges: BTreeMap<NodeId, Exchange>,
    /// Neighbours to compare fingerprints with again (at most one look
    /// each, so bounded by the neighbours).
    second_looks: BTreeSet<NodeId>,
    stats: Stats,
}

impl AntiEntropy {
    /// `seed` seeds the choice of neighbour for each round.
    pub fn new(config: Config, seed: u64) -> Self {
        AntiEntropy {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            neighbours: BTreeSet::new(),
            generation: 0,
            armed: false,
            next_round: 0,
            incoming: BTreeMap::new(),
            peer_contexts: BTreeMap::new(),
            exchanges: BTreeMap::new(),
            second_looks: BTreeSet::new(),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn neighbours(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.neighbours.iter().copied()
    }

    /// What `peer` had seen when it last sent us a digest (at most one
    /// anti-entropy period old while it is a neighbour). A digest may leave
    /// out-of-order dots out, so this never claims more than the peer has:
    /// safe for reporting a write as converged.
    pub fn peer_context(&self, peer: NodeId) -> Option<&CausalContext> {
        self.peer_contexts.get(&peer)
    }

    /// Every peer's last digest, in id order.
    pub fn peer_contexts(&self) -> impl Iterator<Item = (NodeId, &CausalContext)> {
        self.peer_contexts.iter().map(|(&p, c)| (p, c))
    }

    /// Feeds one input, joining every register an answer carries.
    pub fn handle(
        &mut self,
        now: Time,
        state: &mut OfficeState,
        input: Input,
        out: &mut Vec<Output>,
    ) {
        self.handle_admitted(now, state, input, &mut OpenGate, out);
    }

    /// Feeds one input; `gate` admits every answer's registers before the
    /// join and supplies the proofs answers carry.
    pub fn handle_admitted(
        &mut self,
        now: Time,
        state: &mut OfficeState,
        input: Input,
        gate: &mut dyn Gate,
        out: &mut Vec<Output>,
    ) {
        match input {
            Input::NeighborUp(peer) => {
                self.neighbours.insert(peer);
                self.send_digest(state, peer, false, out);
                if !self.armed {
                    self.arm(now, out);
                }
            }
            Input::NeighborDown(peer) => {
                self.neighbours.remove(&peer);
                self.incoming.remove(&peer);
                self.peer_contexts.remove(&peer);
                self.exchanges.remove(&peer);
                self.second_looks.remove(&peer);
            }
            Input::Exchange(peer) => self.exchange(now, state, peer, out),
            Input::TimerFired(Timer(Wake::Exchange(peer))) => {
                if self.exchanges.get(&peer).is_some_and(|e| e.deferred) {
                    self.exchanges.remove(&peer);
                    self.exchange(now, state, peer, out);
                }
            }
            Input::TimerFired(Timer(Wake::SecondLook(peer))) => {
                if self.second_looks.remove(&peer) && self.neighbours.contains(&peer) {
                    // As a reply: a peer that still differs starts the
                    // exchange rather than look again itself.
                    self.send_summary(state, peer, true, out);
                }
            }
            Input::TimerFired(Timer(Wake::Round { generation })) => {
                if generation != self.generation || !self.armed {
                    return;
                }
                self.armed = false;
                let Some(peer) = self.neighbours.iter().copied().choose(&mut self.rng) else {
                    return;
                };
                self.send_summary(state, peer, false, out);
                self.arm(now, out);
            }
            Input::Message { from, msg } => self.on_message(now, state, from, msg, gate, out),
        }
    }

    fn arm(&mut self, now: Time, out: &mut Vec<Output>) {
        self.generation += 1;
        self.armed = true;
        let spread = self
            .rng
            .random_range(1.0 - ROUND_SPREAD..=1.0 + ROUND_SPREAD);
        out.push(Output::Schedule {
            at: now + self.config.period.mul_f64(spread),
            timer: Timer(Wake::Round {
                generation: self.generation,
            }),
        });
    }

    /// Sends `peer` our digest now, or at the end of the gap since the
    /// last such exchange with it.
    fn exchange(&mut self, now: Time, state: &OfficeState, peer: NodeId, out: &mut Vec<Output>) {
        if !self.neighbours.contains(&peer) {
            return;
        }
        let gap = self.config.exchange_gap;
        match self.exchanges.get_mut(&peer) {
            Some(e) if now < e.at + gap => {
                if !e.deferred {
                    e.deferred = true;
                    out.push(Output::Schedule {
                        at: e.at + gap,
                        timer: Timer(Wake::Exchange(peer)),
                    });
                }
            }
            _ => {
                self.exchanges.insert(
                    peer,
                    Exchange {
                        at: now,
                        deferred: false,
                    },
                );
                self.send_digest(state, peer, false, out);
            }
        }
    }

    fn on_message(
        &mut self,
        now: Time,
        state: &mut OfficeState,
        from: NodeId,
        msg: sync::Message,
        gate: &mut dyn Gate,
        out: &mut Vec<Output>,
    ) {
        match msg {
            sync::Message::Summary { reply, hash } => {
                let Some(mine) = self.fingerprint(state) else {
                    // Cannot tell whether we agree: assume not.
                    self.send_digest(state, from, false, out);
                    return;
                };
                if hash == mine {
                    // Same fingerprint, same causal context: the peer has
                    // seen exactly what we have.
                    self.peer_contexts.insert(
                        from,
                        state.context().truncated(self.config.max_digest_ranges),
                    );
                    if !reply {
                        self.send_summary(state, from, true, out);
                    }
                } else if !reply && self.neighbours.contains(&from) {
                    // Perhaps only broadcasts in flight; look again once
                    // they have landed.
                    if self.second_looks.insert(from) {
                        self.stats.second_looks += 1;
                        out.push(Output::Schedule {
                            at: now + self.config.second_look,
                            timer: Timer(Wake::SecondLook(from)),
                        });
                    }
                } else {
                    // The peer's answer and its own digest follow.
                    self.send_digest(state, from, false, out);
                }
            }
            sync::Message::Digest { reply, body } => {
                let digest: CausalContext = match codec::decode("anti-entropy digest", &body) {
                    Ok(d) => d,
                    Err(error) => {
                        tracing::debug!(peer = %from, %error, "ignoring a malformed digest");
                        out.push(Output::Event(Event::Malformed { from, error }));
                        return;
                    }
                };
                if !reply {
                    self.send_digest(state, from, true, out);
                }
                self.answer(state, from, &digest, &*gate, out);
                self.peer_contexts.insert(from, digest);
            }
            sync::Message::Answer {
                round,
                part,
                last,
                body,
            } => {
                let body: AnswerBody = match codec::decode("anti-entropy answer", &body) {
                    Ok(b) => b,
                    Err(error) => {
                        tracing::debug!(peer = %from, %error, "ignoring a malformed answer");
                        self.incoming.remove(&from);
                        out.push(Output::Event(Event::Malformed { from, error }));
                        return;
                    }
                };
                // The `seen` dots may only be joined once every part before
                // them was joined: they vouch for registers sent in those parts.
                let in_sequence = match (part, self.incoming.get(&from)) {
                    (0, _) => true,
                    (p, Some(inc)) => inc.round == round && inc.next_part == p,
                    (_, None) => false,
                };
                if in_sequence && !last {
                    self.incoming.insert(
                        from,
                        Incoming {
                            round,
                            next_part: part.saturating_add(1),
                        },
                    );
                } else {
                    self.incoming.remove(&from);
                }
                let mut delta = body.delta;
                let mut seen = body.seen;
                let dropped = gate.admit(
                    from,
                    state,
                    Arrival {
                        delta: &mut delta,
                        seen: &mut seen,
                        proofs: &body.proofs,
                    },
                );
                let keys = delta.len();
                self.stats.keys_received += keys as u64;
                let mut changed = state.apply(&delta);
                if let (true, true, Some(seen)) = (last, in_sequence, &seen) {
                    // With a register refused, only the dots of writes this
                    // replica holds no value for are joined: a bare dot
                    // removes the value it names, and the write that
                    // replaced it is among those refused. The rest close
                    // the gaps that superseded and refused writes leave,
                    // now rather than at a later round that may find a
                    // register refused again.
                    let seen = if dropped == 0 {
                        seen.clone()
                    } else {
                        seen.difference(&state.registers().live_context())
                    };
                    changed |= !state.context().includes(&seen);
                    state.join_context(&seen);
                }
                if changed {
                    out.push(Output::Event(Event::Repaired { from, keys }));
                }
            }
        }
    }

    fn fingerprint(&self, state: &OfficeState) -> Option<[u8; 8]> {
        match state.context().fingerprint() {
            Ok(hash) => Some(hash),
            Err(error) => {
                tracing::warn!(%error, "cannot fingerprint the causal context");
                None
            }
        }
    }

    /// Opens a periodic round; falls back to a whole digest if the
    /// context cannot be fingerprinted.
    fn send_summary(
        &mut self,
        state: &OfficeState,
        to: NodeId,
        reply: bool,
        out: &mut Vec<Output>,
    ) {
        match self.fingerprint(state) {
            Some(hash) => {
                self.stats.summaries_sent += 1;
                self.send(to, sync::Message::Summary { reply, hash }, out);
            }
            None => self.send_digest(state, to, reply, out),
        }
    }

    fn send_digest(&mut self, state: &OfficeState, to: NodeId, reply: bool, out: &mut Vec<Output>) {
        let digest = state.context().truncated(self.config.max_digest_ranges);
        match codec::encode("anti-entropy digest", &digest) {
            Ok(body) => {
                self.stats.digests_sent += 1;
                self.send(
                    to,
                    sync::Message::Digest {
                        reply,
                        body: Bytes::from(body),
                    },
                    out,
                );
            }
            Err(error) => tracing::warn!(%error, "cannot encode a digest"),
        }
    }

    /// Sends `to` everything `digest` does not cover; nothing when it
    /// covers everything we hold.
    fn answer(
        &mut self,
        state: &OfficeState,
        to: NodeId,
        digest: &CausalContext,
        gate: &dyn Gate,
        out: &mut Vec<Output>,
    ) {
        let mut parts = Chunker::new(self.config.max_body_len, self.config.max_answer_parts);
        let registers = state.registers();
        parts.take_missing(&registers.nodes, digest, |r| &mut r.nodes);
        parts.take_missing(&registers.sensors, digest, |r| &mut r.sensors);
        parts.take_missing(&registers.actuators, digest, |r| &mut r.actuators);
        parts.take_missing(&registers.targets, digest, |r| &mut r.targets);
        parts.take_missing(&registers.schedules, digest, |r| &mut r.schedules);
        parts.take_missing(&registers.presets, digest, |r| &mut r.presets);
        parts.take_missing(&registers.overrides, digest, |r| &mut r.overrides);
        self.stats.oversized_skipped += parts.skipped;
        if parts.cut {
            self.stats.answers_cut += 1;
        }
        let live = registers.live_context();
        let mut seen = state.context().difference(digest).difference(&live);
        let mut bodies = parts.finish();
        if bodies.is_empty() && seen.is_empty() {
            return;
        }
        self.stats.keys_sent += bodies.iter().map(|b| b.delta.len() as u64).sum::<u64>();
        // A replica none of whose writes is live here any more (a forgotten
        // node, once its tombstones were collected) has no register left
        // to carry its removal: its range goes along instead, so a peer
        // that still holds one of its values (it slept through the forget
        // and the grace period) drops it rather than keep it for good. Such
        // a peer always lacks something (the tombstones' own dots), so an
        // answer that is sent anyway is the one to carry it.
        for (replica, counter) in state.context().version_vector().iter() {
            if live.max_counter(replica) == 0 && digest.max_counter(replica) > 0 {
                seen.insert_range(replica, 1, counter);
            }
        }
        if !seen.is_empty() {
            attach_seen(&mut bodies, seen, self.config.max_body_len);
        }
        // Proofs go first, in a part of their own, so every part after it
        // can be checked against them.
        let proofs: Vec<WriteProof> = state
            .context()
            .version_vector()
            .iter()
            .filter(|&(replica, counter)| digest.max_counter(replica) < counter)
            .filter_map(|(replica, _)| gate.proof(replica))
            .filter(|p| p.dot.counter > digest.max_counter(p.dot.replica))
            .take(self.config.max_body_len / PROOF_LEN)
            .collect();
        if !proofs.is_empty() {
            bodies.insert(
                0,
                AnswerBodyRef {
                    delta: RegistersRef::default(),
                    seen: None,
                    proofs,
                },
            );
        }
        let round = self.next_round;
        self.next_round = self.next_round.wrapping_add(1);
        let count = bodies.len();
        for (i, body) in bodies.into_iter().enumerate() {
            let Ok(part) = u16::try_from(i) else {
                tracing::warn!(
                    parts = count,
                    "answer has too many parts; sending the first 65536"
                );
                break;
            };
            match codec::encode("anti-entropy answer", &body) {
                Ok(bytes) => {
                    self.stats.answers_sent += 1;
                    let msg = sync::Message::Answer {
                        round,
                        part,
                        last: i + 1 == count,
                        body: Bytes::from(bytes),
                    };
                    self.send(to, msg, out);
                }
                Err(error) => tracing::warn!(%error, "cannot encode an answer part"),
            }
        }
    }

    fn send(&mut self, to: NodeId, msg: sync::Message, out: &mut Vec<Output>) {
        let wrapped = wire::Message::Sync(msg);
        let len = wire::encode_message(&wrapped).map_or(0, |b| b.len());
        self.stats.bytes_sent += len as u64;
        let wire::Message::Sync(msg) = wrapped else {
            return;
        };
        out.push(Output::Send { to, msg });
    }
}

/// The body of an `Answer` part as a peer could send it, whatever it
/// holds: for the hostile-peer tests, which play a member crafting its
/// answers by hand. No replica sends one built this way.
#[doc(hidden)]
pub fn encode_answer_body(
    delta: Delta,
    seen: Option<CausalContext>,
    proofs: Vec<WriteProof>,
) -> Result<Vec<u8>, CodecError> {
    codec::encode(
        "anti-entropy answer",
        &AnswerBody {
            delta,
            seen,
            proofs,
        },
    )
}

/// Puts `seen` into the last body, or a body of its own when it does not
/// fit. A `seen` too large even for that is cut down: it only helps the
/// peer close gaps, the registers already went.
fn attach_seen(bodies: &mut Vec<AnswerBodyRef<'_>>, seen: CausalContext, max_body_len: usize) {
    let encoded_len =
        |b: &AnswerBodyRef<'_>| postcard::experimental::serialized_size(b).unwrap_or(usize::MAX);
    let mut seen = seen;
    let alone = AnswerBodyRef {
        delta: RegistersRef::default(),
        seen: Some(seen.clone()),
        proofs: Vec::new(),
    };
    if encoded_len(&alone) > max_body_len {
        seen = seen.truncated(0);
    }
    if let Some(last) = bodies.last_mut() {
        last.seen = Some(seen.clone());
        if encoded_len(last) <= max_body_len {
            return;
        }
        last.seen = None;
    }
    bodies.push(AnswerBodyRef {
        delta: RegistersRef::default(),
        seen: Some(seen),
        proofs: Vec::new(),
    });
}

/// Packs the registers a digest lacks into bodies that fit a frame, at
/// most `max_parts` of them.
struct Chunker<'a> {
    max_body_len: usize,
    max_parts: usize,
    current: RegistersRef<'a>,
    current_len: usize,
    done: Vec<RegistersRef<'a>>,
    skipped: u64,
    /// A register was left out because `max_parts` were full.
    cut: bool,
}

impl<'a> Chunker<'a> {
    /// A body's own overhead: four map lengths and the `seen` option.
    const BASE_LEN: usize = 4 * 5 + 1;

    fn new(max_body_len: usize, max_parts: usize) -> Self {
        Chunker {
            max_body_len,
            max_parts: max_parts.max(1),
            current: RegistersRef::default(),
            current_len: Self::BASE_LEN,
            done: Vec::new(),
            skipped: 0,
            cut: false,
        }
    }

    fn take_missing<K, V>(
        &mut self,
        map: &'a BTreeMap<K, MvRegister<V>>,
        digest: &CausalContext,
        place: impl for<'r> Fn(&'r mut RegistersRef<'a>) -> &'r mut MapRef<'a, K, MvRegister<V>>,
    ) where
        K: Ord + Serialize,
        V: Clone + Serialize,
    {
        for (key, register) in map {
            if self.cut {
                return;
            }
            if register.covered_by(digest) {
                continue;
            }
            let len =
                postcard::experimental::serialized_size(&(key, register)).unwrap_or(usize::MAX);
            if len.saturating_add(Self::BASE_LEN) > self.max_body_len {
                tracing::warn!(len, "a register is larger than a frame and cannot be sent");
                self.skipped += 1;
                continue;
            }
            if self.current_len + len > self.max_body_len {
                if self.done.len() + 1 >= self.max_parts {
                    self.cut = true;
                    return;
                }
                self.done.push(std::mem::take(&mut self.current));
                self.current_len = Self::BASE_LEN;
            }
            place(&mut self.current).0.push((key, register));
            self.current_len += len;
        }
    }

    fn finish(mut self) -> Vec<AnswerBodyRef<'a>> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
            .into_iter()
            .map(|r| AnswerBodyRef {
                delta: r,
                seen: None,
                proofs: Vec::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Quantity, Reading, SensorId, TargetKey, TargetValue, Unit, Writer};
    use proptest::prelude::*;

    const T0: u64 = 1_795_000_000_000;

    struct Replica {
        id: NodeId,
        ae: AntiEntropy,
        state: OfficeState,
        writer: Writer,
    }

    fn replica(id: u64, config: Config) -> Replica {
        let id = NodeId(id);
        Replica {
            id,
            ae: AntiEntropy::new(config, id.0),
            state: OfficeState::new(),
            writer: Writer::new(id),
        }
    }

    /// Message counts by kind, and the number of answer parts.
    #[derive(Default, Debug)]
    struct Traffic {
        summaries: usize,
        digests: usize,
        answers: usize,
    }

    /// Feeds `input` to replica `at`, then delivers every message sent
    /// until the network is quiet. A second look is taken at once, after
    /// what was in flight; other timers are dropped.
    fn drive(replicas: &mut [Replica], at: usize, input: Input) -> Traffic {
        let mut traffic = Traffic::default();
        let mut queue = vec![(at, input)];
        while let Some((i, input)) = queue.pop() {
            let mut out = Vec::new();
            let r = &mut replicas[i];
            r.ae.handle(Time::ZERO, &mut r.state, input, &mut out);
            let from = replicas[i].id;
            for o in out {
                match o {
                    Output::Send { to, msg } => {
                        match msg {
                            sync::Message::Summary { .. } => traffic.summaries += 1,
                            sync::Message::Digest { .. } => traffic.digests += 1,
                            sync::Message::Answer { .. } => traffic.answers += 1,
                        }
                        let j = replicas.iter().position(|r| r.id == to).unwrap();
                        queue.insert(0, (j, Input::Message { from, msg }));
                    }
                    Output::Schedule {
                        timer: timer @ Timer(Wake::SecondLook(_)),
                        ..
                    } => queue.insert(0, (i, Input::TimerFired(timer))),
                    _ => {}
                }
            }
        }
        traffic
    }

    /// Makes `peer` a neighbour of replica `at` without delivering the
    /// exchange that starts, and returns the round timer it armed.
    fn neighbour_quietly(r: &mut Replica, peer: NodeId) -> Timer {
        let mut out = Vec::new();
        r.ae.handle(Time::ZERO, &mut r.state, Input::NeighborUp(peer), &mut out);
        out.iter()
            .find_map(|o| match o {
                Output::Schedule { timer, .. } => Some(*timer),
                _ => None,
            })
            .unwrap()
    }

    fn reading(r: &mut Replica, index: u8, value: f32) -> Delta {
        let sensor = SensorId {
            quantity: Quantity::Temperature,
            index,
        };
        r.state
            .publish_reading(
                &mut r.writer,
                T0,
                sensor,
                Reading {
                    value,
                    unit: Unit::Celsius,
                },
            )
            .delta
    }

    fn set_target(r: &mut Replica, zone: &str, value: f32) -> Delta {
        let key = TargetKey::new(zone, Quantity::Temperature);
        let value = TargetValue {
            value,
            unit: Unit::Celsius,
            set_by: "t".to_string(),
        };
        r.state.set_target(&mut r.writer, T0, key, value).delta
    }

    #[test]
    fn a_round_between_converged_replicas_is_two_digests() {
        let mut rs = vec![replica(1, Config::default()), replica(2, Config::default())];
        let d = reading(&mut rs[0], 0, 20.0);
        rs[1].state.apply(&d);
        let traffic = drive(&mut rs, 0, Input::NeighborUp(NodeId(2)));
        assert_eq!((traffic.digests, traffic.answers), (2, 0));
        // Each side now knows what the other has seen.
        let dot = rs[0].writer.peek_dot();
        assert!(
            rs[0]
                .ae
                .peer_context(NodeId(2))
                .is_some_and(|c| !c.contains(dot))
        );
        let last = crate::crdt::Dot::new(NodeId(1), dot.counter - 1);
        assert!(
            rs[0]
                .ae
                .peer_context(NodeId(2))
                .is_some_and(|c| c.contains(last))
        );
        let stats = rs[0].ae.stats().bytes_sent + rs[1].ae.stats().bytes_sent;
        println!("steady-state round: 2 digests, {stats} bytes");
    }

    #[test]
    fn a_timer_round_between_converged_replicas_is_two_summaries() {
        let mut rs = vec![replica(1, Config::default()), replica(2, Config::default())];
        for i in 0..3u8 {
            let d = reading(&mut rs[0], i, 20.0);
            rs[1].state.apply(&d);
        }
        let timer = neighbour_quietly(&mut rs[0], NodeId(2));
        let before = rs[0].ae.stats().bytes_sent + rs[1].ae.stats().bytes_sent;
        let traffic = drive(&mut rs, 0, Input::TimerFired(timer));
        assert_eq!(
            (traffic.summaries, traffic.digests, traffic.answers),
            (2, 0, 0)
        );
        // Both learn that the other has seen everything they have.
        let last = crate::crdt::Dot::new(NodeId(1), rs[0].writer.peek_dot().counter - 1);
        for (r, peer) in [(&rs[0], NodeId(2)), (&rs[1], NodeId(1))] {
            assert!(r.ae.peer_context(peer).is_some_and(|c| c.contains(last)));
        }
        let bytes = rs[0].ae.stats().bytes_sent + rs[1].ae.stats().bytes_sent - before;
        println!("steady-state timer round: 2 summaries, {bytes} bytes");
    }

    #[test]
    fn a_timer_round_with_a_lagging_neighbour_repairs_both_sides() {
        let mut rs = vec![replica(1, Config::default()), replica(2, Config::default())];
        let timer = neighbour_quietly(&mut rs[0], NodeId(2));
        neighbour_quietly(&mut rs[1], NodeId(1));
        reading(&mut rs[0], 0, 1.0);
        set_target(&mut rs[1], "hall", 18.0);
        let traffic = drive(&mut rs, 0, Input::TimerFired(timer));
        // A summary, a second look that still differs, then the whole
        // exchange: two digests, an answer each.
        assert_eq!(
            (traffic.summaries, traffic.digests, traffic.answers),
            (2, 2, 2)
        );
        assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
        // A summary whose reply finds the peer changed meanwhile also
        // falls back to the exchange.
        let hash = rs[1].state.context().fingerprint().unwrap();
        set_target(&mut rs[1], "hall", 19.0);
        let reply = Input::Message {
            from: NodeId(2),
            msg: sync::Message::Summary { reply: true, hash },
        };
        let mut out = Vec::new();
        let r = &mut rs[0];
        r.ae.handle(Time::ZERO, &mut r.state, reply, &mut out);
        assert!(out.is_empty(), "the reply matched what replica 1 had");
        let stale = Input::Message {
            from: NodeId(2),
            msg: sync::Message::Summary {
                reply: true,
                hash: [0; 8],
            },
        };
        let traffic = drive(&mut rs, 0, stale);
        assert_eq!((traffic.digests, traffic.answers), (2, 1));
        assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
    }

    #[test]
    fn a_difference_that_was_only_in_flight_costs_no_digest() {
        let mut rs = vec![replica(1, Config::default()), replica(2, Config::default())];
        let timer = neighbour_quietly(&mut rs[0], NodeId(2));
        neighbour_quietly(&mut rs[1], NodeId(1));
        // Replica 1's newest reading is still on its way to replica 2
        // when 1's round opens.
        let in_flight = reading(&mut rs[0], 0, 21.5);
        let mut out = Vec::new();
        let r = &mut rs[0];
        r.ae.handle(Time::ZERO, &mut r.state, Input::TimerFired(timer), &mut out);
        let Some(summary) = out.into_iter().find_map(|o| match o {
            Output::Send { msg, .. } => Some(msg),
            _ => None,
        }) else {
            panic!("no summary");
        };
        let mut out = Vec::new();
        let r = &mut rs[1];
        let opening = Input::Message {
            from: NodeId(1),
            msg: summary,
        };
        r.ae.handle(Time::ZERO, &mut r.state, opening, &mut out);
        let look = Config::default().second_look;
        let [Output::Schedule { at, timer }] = out.as_slice() else {
            panic!("expected only a second look: {out:?}");
        };
        assert_eq!(*at, Time::ZERO + look);
        let timer = *timer;
        // The broadcast lands, then the second look finds nothing to do.
        rs[1].state.apply(&in_flight);
        let traffic = drive(&mut rs, 1, Input::TimerFired(timer));
        assert_eq!(
            (traffic.summaries, traffic.digests, traffic.answers),
            (1, 0, 0)
        );
        assert_eq!(rs[1].ae.stats().second_looks, 1);
        // Replica 1 learned that 2 has its reading.
        let dot = crate::crdt::Dot::new(NodeId(1), rs[0].writer.peek_dot().counter - 1);
        assert!(
            rs[0]
                .ae
                .peer_context(NodeId(2))
                .is_some_and(|c| c.contains(dot))
        );
        // A second look at a neighbour that left is not taken.
        let mut out = Vec::new();
        let r = &mut rs[1];
        let again = Input::Message {
            from: NodeId(1),
            msg: sync::Message::Summary {
                reply: false,
                hash: [0; 8],
            },
        };
        r.ae.handle(Time::ZERO, &mut r.state, again, &mut out);
        let Some(Output::Schedule { timer, .. }) = out.pop() else {
            panic!("no second look");
        };
        r.ae.handle(
            Time::ZERO,
            &mut r.state,
            Input::NeighborDown(NodeId(1)),
            &mut out,
        );
        out.clear();
        r.ae.handle(
            Time::ZERO + look,
            &mut r.state,
            Input::TimerFired(timer),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn rounds_start_within_the_spread_of_one_period() {
        let mut r = replica(1, Config::default());
        let mut timer = neighbour_quietly(&mut r, NodeId(2));
        let period = Config::default().period;
        let (lo, hi) = (
            period.mul_f64(1.0 - ROUND_SPREAD),
            period.mul_f64(1.0 + ROUND_SPREAD),
        );
        let mut now = Time::ZERO;
        let mut gaps = BTreeSet::new();
        for _ in 0..50 {
            let mut out = Vec::new();
            r.ae.handle(now, &mut r.state, Input::TimerFired(timer), &mut out);
            let (at, next) = out
                .iter()
                .find_map(|o| match o {
                    Output::Schedule { at, timer } => Some((*at, *timer)),
                    _ => None,
                })
                .unwrap();
            let gap = at.saturating_since(now);
            assert!(lo <= gap && gap <= hi, "{gap:?}");
            gaps.insert(gap);
            (now, timer) = (at, next);
        }
        assert!(gaps.len() > 40, "rounds drift apart from other timers");
    }

    #[test]
    fn a_new_replica_gets_everything_in_frame_sized_parts() {
        let config = Config {
            max_body_len: 600,
            max_answer_parts: 1_000,
            ..Config::default()
        };
        let mut rs = vec![replica(1, config.clone()), replica(2, config)];
        for i in 0..40u8 {
            reading(&mut rs[0], i, f32::from(i));
            set_target(&mut rs[0], &format!("zone-{i}"), 21.0);
        }
        let traffic = drive(&mut rs, 1, Input::NeighborUp(NodeId(1)));
        assert!(traffic.answers > 1, "{traffic:?}");
        assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
        // And the next round is quiet.
        let traffic = drive(&mut rs, 1, Input::NeighborUp(NodeId(1)));
        assert_eq!((traffic.digests, traffic.answers), (2, 0));
    }

    #[test]
    fn an_answer_stops_at_its_part_bound_and_later_rounds_bring_the_rest() {
        let config = Config {
            max_body_len: 600,
            max_answer_parts: 2,
            ..Config::default()
        };
        let mut rs = vec![replica(1, config.clone()), replica(2, config)];
        for i in 0..40u8 {
            reading(&mut rs[0], i, f32::from(i));
            set_target(&mut rs[0], &format!("zone-{i}"), 21.0);
        }
        let mut rounds = 0;
        loop {
            let before = rs[0].ae.stats().answers_sent;
            let traffic = drive(&mut rs, 1, Input::NeighborUp(NodeId(1)));
            if traffic.answers == 0 {
                break;
            }
            rounds += 1;
            // The proofs go in a part of their own, and the dots seen in
            // one more at most: never more than two parts of registers.
            let sent = rs[0].ae.stats().answers_sent - before;
            assert!(sent <= 2 + 2, "{sent} parts in one answer");
            assert!(rounds < 100, "the exchange never ends");
        }
        assert!(rounds > 1, "the state took {rounds} round(s)");
        assert!(rs[0].ae.stats().answers_cut >= 1);
        assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
    }

    #[test]
    fn a_borrowed_answer_body_encodes_as_the_owned_one() {
        let mut r = replica(1, Config::default());
        for i in 0..5u8 {
            reading(&mut r, i, f32::from(i));
            set_target(&mut r, &format!("zone-{i}"), 21.0);
        }
        let registers = r.state.registers();
        let mut parts = Chunker::new(usize::MAX / 2, 1);
        let empty = CausalContext::default();
        parts.take_missing(&registers.nodes, &empty, |r| &mut r.nodes);
        parts.take_missing(&registers.sensors, &empty, |r| &mut r.sensors);
        parts.take_missing(&registers.targets, &empty, |r| &mut r.targets);
        let mut bodies = parts.finish();
        assert_eq!(bodies.len(), 1);
        let seen = r.state.context().clone();
        bodies[0].seen = Some(seen.clone());
        let owned = AnswerBody {
            delta: Delta(registers.clone()),
            seen: Some(seen),
            proofs: Vec::new(),
        };
        assert_eq!(
            codec::encode("borrowed", &bodies[0]).unwrap(),
            codec::encode("owned", &owned).unwrap()
        );
    }

    #[test]
    fn a_round_repairs_both_sides_of_a_partition() {
        let mut rs = vec![replica(1, Config::default()), replica(2, Config::default())];
        let shared = set_target(&mut rs[0], "hall", 20.0);
        rs[1].state.apply(&shared);
        set_target(&mut rs[0], "hall", 22.0);
        set_target(&mut rs[1], "hall", 18.0);
        reading(&mut rs[0], 0, 1.0);
        reading(&mut rs[0], 0, 2.0);
        reading(&mut rs[1], 0, 3.0);
        let forget = {
            let r = &mut rs[1];
            r.state.forget_node(&mut r.writer, T0, NodeId(1))
        };
        assert_eq!(forget.len(), 0, "replica 2 knew no key of replica 1 yet");
        drive(&mut rs, 0, Input::NeighborUp(NodeId(2)));
        assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
        assert_eq!(
            rs[0]
                .state
                .target("hall", Quantity::Temperature)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(rs[0].state.context().cloud_ranges(), 0);
    }

    #[test]
    fn a_timer_round_picks_a_neighbour_and_rearms() {
        let mut r = replica(1, Config::default());
        let mut out = Vec::new();
        r.ae.handle(
            Time::ZERO,
            &mut r.state,
            Input::NeighborUp(NodeId(2)),
            &mut out,
        );
        let timer = out.iter().find_map(|o| match o {
            Output::Schedule { at, timer } => Some((*at, *timer)),
            _ => None,
        });
        let (at, timer) = timer.unwrap();
        let period = Config::default().period;
        let within_a_period = |from: Time, at: Time| {
            let gap = at.saturating_since(from);
            period.mul_f64(1.0 - ROUND_SPREAD) <= gap && gap <= period.mul_f64(1.0 + ROUND_SPREAD)
        };
        assert!(within_a_period(Time::ZERO, at), "{at:?}");
        out.clear();
        r.ae.handle(at, &mut r.state, Input::TimerFired(timer), &mut out);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::Send { to, .. } if *to == NodeId(2)))
        );
        assert!(
            out.iter().any(
                |o| matches!(o, Output::Schedule { at: next, .. } if within_a_period(at, *next))
            )
        );
        // A stale timer does nothing.
        out.clear();
        r.ae.handle(at, &mut r.state, Input::TimerFired(timer), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_exchange_asked_within_the_gap_is_made_at_its_end_once() {
        let mut r = replica(1, Config::default());
        neighbour_quietly(&mut r, NodeId(2));
        let gap = Config::default().exchange_gap;
        let digests = |out: &[Output]| {
            out.iter()
                .filter(|o| {
                    matches!(o, Output::Send { to, msg: sync::Message::Digest { reply: false, .. } }
                        if *to == NodeId(2))
                })
                .count()
        };
        let t0 = Time::from_millis(1_000);
        let mut out = Vec::new();
        r.ae.handle(t0, &mut r.state, Input::Exchange(NodeId(2)), &mut out);
        assert_eq!(digests(&out), 1, "the first exchange leaves at once");
        // Two more within the gap: nothing now, one wake-up at its end.
        out.clear();
        let soon = t0 + gap / 2;
        r.ae.handle(soon, &mut r.state, Input::Exchange(NodeId(2)), &mut out);
        r.ae.handle(soon, &mut r.state, Input::Exchange(NodeId(2)), &mut out);
        assert_eq!(digests(&out), 0);
        let wakes: Vec<(Time, Timer)> = out
            .iter()
            .filter_map(|o| match o {
                Output::Schedule { at, timer } => Some((*at, *timer)),
                _ => None,
            })
            .collect();
        assert_eq!(wakes.len(), 1);
        assert_eq!(wakes[0].0, t0 + gap);
        out.clear();
        r.ae.handle(
            t0 + gap,
            &mut r.state,
            Input::TimerFired(wakes[0].1),
            &mut out,
        );
        assert_eq!(digests(&out), 1, "the deferred exchange is made");
        // Not with a peer that is no neighbour, nor after it went.
        out.clear();
        r.ae.handle(
            t0 + gap * 4,
            &mut r.state,
            Input::Exchange(NodeId(3)),
            &mut out,
        );
        r.ae.handle(
            t0 + gap * 4,
            &mut r.state,
            Input::NeighborDown(NodeId(2)),
            &mut out,
        );
        r.ae.handle(
            t0 + gap * 4,
            &mut r.state,
            Input::Exchange(NodeId(2)),
            &mut out,
        );
        assert!(out.is_empty());
    }

    /// Refuses every target, admits the rest.
    struct NoTargets;

    impl Gate for NoTargets {
        fn admit(&mut self, _: NodeId, _: &OfficeState, arrival: Arrival<'_>) -> usize {
            let n = arrival.delta.0.targets.len();
            arrival.delta.0.targets.clear();
            n
        }

        fn proof(&self, _: NodeId) -> Option<WriteProof> {
            None
        }
    }

    #[test]
    fn an_answer_with_a_refused_register_closes_gaps_but_keeps_values() {
        let mut a = replica(1, Config::default());
        let mut b = replica(2, Config::default());
        // B holds A's first target; A replaces it, and publishes a reading
        // twice (the first is superseded: a dot only a context carries).
        let first = set_target(&mut a, "hall", 18.0);
        b.state.apply(&first);
        let held = crate::crdt::Dot::new(NodeId(1), 1);
        let replacing = set_target(&mut a, "hall", 19.0);
        reading(&mut a, 0, 20.0);
        let superseded = crate::crdt::Dot::new(NodeId(1), 3);
        reading(&mut a, 0, 21.0);
        // An answer carrying the replacing target, which B refuses, and
        // vouching for every dot A has seen and holds no value for, B's
        // held one included (a digest cut short may leave it out).
        let seen = a
            .state
            .context()
            .difference(&a.state.registers().live_context());
        let body = encode_answer_body(replacing, Some(seen), Vec::new()).unwrap();
        let msg = sync::Message::Answer {
            round: 0,
            part: 0,
            last: true,
            body: Bytes::from(body),
        };
        let mut out = Vec::new();
        b.ae.handle_admitted(
            Time::ZERO,
            &mut b.state,
            Input::Message {
                from: NodeId(1),
                msg,
            },
            &mut NoTargets,
            &mut out,
        );
        // The gap closes: the superseded reading is seen, not awaited...
        assert!(b.state.covers(superseded));
        // ...but the value B holds stays, and the refused write is still
        // missing, so the next round brings it.
        assert!(b.state.covers(held));
        let kept = b.state.target("hall", Quantity::Temperature).unwrap();
        assert_eq!(kept.winner().map(|(d, _)| d), Some(held));
        assert!(!b.state.covers(crate::crdt::Dot::new(NodeId(1), 2)));
    }

    #[test]
    fn malformed_bodies_are_reported_not_fatal() {
        let mut r = replica(1, Config::default());
        let mut out = Vec::new();
        let msg = sync::Message::Answer {
            round: 0,
            part: 0,
            last: true,
            body: Bytes::from_static(&[0xff; 9]),
        };
        r.ae.handle(
            Time::ZERO,
            &mut r.state,
            Input::Message {
                from: NodeId(2),
                msg,
            },
            &mut out,
        );
        assert!(matches!(
            out.as_slice(),
            [Output::Event(Event::Malformed { .. })]
        ));
        let msg = sync::Message::Digest {
            reply: false,
            body: Bytes::new(),
        };
        out.clear();
        r.ae.handle(
            Time::ZERO,
            &mut r.state,
            Input::Message {
                from: NodeId(2),
                msg,
            },
            &mut out,
        );
        assert!(matches!(
            out.as_slice(),
            [Output::Event(Event::Malformed { .. })]
        ));
    }

    #[test]
    fn a_digest_for_100_replicas_stays_under_2_kib() {
        let mut state = OfficeState::new();
        for i in 0..100u64 {
            let id = NodeId::from_public_key(&i.to_be_bytes());
            let mut w = Writer::new(id);
            // A year of writes: three readings every ten seconds.
            w.raise_counter(9_500_000);
            let sensor = SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            };
            state.apply(
                &OfficeState::new()
                    .publish_reading(
                        &mut w,
                        T0,
                        sensor,
                        Reading {
                            value: 1.0,
                            unit: Unit::Celsius,
                        },
                    )
                    .delta,
            );
            // Out-of-order dots beyond the digest's cap.
            for k in 0..3 {
                state
                    .context
                    .insert(crate::crdt::Dot::new(id, 9_500_010 + 2 * k));
            }
        }
        let digest = state
            .context()
            .truncated(Config::default().max_digest_ranges);
        let body = codec::encode("digest", &digest).unwrap();
        let msg = wire::Message::Sync(sync::Message::Digest {
            reply: false,
            body: Bytes::from(body),
        });
        let len = wire::encode_message(&msg).unwrap().len();
        println!("digest for 100 replicas (with 300 out-of-order dots, capped): {len} bytes");
        assert!(len < 2048, "{len}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever subset of deltas each replica got, one pass of rounds
        /// makes every replica equal to the join of all deltas, with a
        /// gap-free version vector.
        #[test]
        fn rounds_converge_to_the_join_of_everything(
            writes in proptest::collection::vec((0usize..3, 0u8..3, any::<bool>(), -50i8..50), 1..30),
            delivered in proptest::collection::vec(any::<bool>(), 90),
            body_len in 200usize..2_000,
        ) {
            let config = Config { max_body_len: body_len, ..Config::default() };
            let mut rs: Vec<Replica> = (1..=3).map(|i| replica(i, config.clone())).collect();
            let mut deltas = Vec::new();
            for (i, &(who, key, is_target, value)) in writes.iter().enumerate() {
                let d = if is_target {
                    set_target(&mut rs[who], &format!("z{key}"), f32::from(value))
                } else if value == 0 {
                    let victim = NodeId(1 + u64::from(key % 3));
                    let r = &mut rs[who];
                    r.state.forget_node(&mut r.writer, T0 + i as u64, victim)
                } else {
                    reading(&mut rs[who], key, f32::from(value))
                };
                for (j, r) in rs.iter_mut().enumerate() {
                    if delivered[(i * 3 + j) % delivered.len()] {
                        r.state.apply(&d);
                    }
                }
                deltas.push(d);
            }
            let mut everything = OfficeState::new();
            for d in &deltas {
                everything.apply(d);
            }
            for (a, b) in [(0, 1), (1, 2), (0, 2)] {
                let peer = rs[b].id;
                drive(&mut rs, a, Input::NeighborUp(peer));
            }
            for r in &rs {
                prop_assert_eq!(r.state.encode().unwrap(), rs[0].state.encode().unwrap());
            }
            prop_assert_eq!(&rs[0].state.registers, &everything.registers);
            prop_assert_eq!(rs[0].state.context().cloud_ranges(), 0);
            // Converged: the next round is two digests.
            let traffic = drive(&mut rs, 0, Input::NeighborUp(NodeId(2)));
            prop_assert_eq!((traffic.digests, traffic.answers), (2, 0));
        }

        /// A periodic round between two replicas that got any subsets of
        /// the same writes leaves them equal; between equal replicas it is
        /// two summaries and nothing else.
        #[test]
        fn a_summary_round_ends_equal_and_is_quiet_when_equal(
            writes in proptest::collection::vec((0usize..2, 0u8..3, any::<bool>(), -50i8..50), 0..20),
            delivered in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let mut rs: Vec<Replica> = (1..=2).map(|i| replica(i, Config::default())).collect();
            let timer = neighbour_quietly(&mut rs[0], NodeId(2));
            neighbour_quietly(&mut rs[1], NodeId(1));
            for (i, &(who, key, is_target, value)) in writes.iter().enumerate() {
                let d = if is_target {
                    set_target(&mut rs[who], &format!("z{key}"), f32::from(value))
                } else {
                    reading(&mut rs[who], key, f32::from(value))
                };
                let other = 1 - who;
                if delivered[(2 * i) % delivered.len()] {
                    rs[other].state.apply(&d);
                }
            }
            let equal_before = rs[0].state.context() == rs[1].state.context();
            let traffic = drive(&mut rs, 0, Input::TimerFired(timer));
            prop_assert_eq!(rs[0].state.encode().unwrap(), rs[1].state.encode().unwrap());
            if equal_before {
                prop_assert_eq!((traffic.summaries, traffic.digests, traffic.answers), (2, 0, 0));
            } else {
                // The opening summary, the second look, the exchange.
                prop_assert_eq!((traffic.summaries, traffic.digests), (2, 2));
            }
            // Now equal: the next round is two summaries.
            let generation = rs[0].ae.generation;
            let traffic = drive(
                &mut rs,
                0,
                Input::TimerFired(Timer(Wake::Round { generation })),
            );
            prop_assert_eq!((traffic.summaries, traffic.digests, traffic.answers), (2, 0, 0));
        }
    }
}
