//! Who wrote each change, and whether they may: signatures, write rights
//! and bounded causal claims, checked before anything joins the state.
//!
//! Every replica holds the cluster key, so a change relayed by any peer
//! proves nothing about its author until its signature does. A change is
//! admitted when:
//! - every write in it is signed by the replica its dot names (the key
//!   comes with the write, from that replica's `Node` entry, or from the
//!   operators list);
//! - its author may write that key: a node only its own entry, readings
//!   and actuators; targets and the heating program only operators (when
//!   `[cluster] operators` lists any); forgetting a node only the node
//!   itself or an operator;
//! - its author is not revoked;
//! - every write it claims to replace is proven: a claim on another
//!   replica's counter reaches no further than that replica's own signed
//!   writes seen here (or a [`WriteProof`] of one that came with it). A
//!   claim on this replica's own counter reaches no further than its
//!   writer. So no message makes anyone's future writes look already
//!   seen, and a write that replaces another says so under its author's
//!   signature, for its own key only.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::crdt::signature::{self, ContentDigest, content_digest};
use crate::crdt::{
    Dot, Key, MvRegister, OverrideValue, PresetValue, PublicKey, Schedule, SignatureError,
    TargetValue, WriteProof,
};
use crate::node_id::NodeId;

/// Most signing keys a replica remembers. One per node and operator: an
/// office of fifty Pis and a few operators needs a hundred; past this new
/// authors are refused (as new keys are past `MAX_KEYS`).
pub const MAX_SIGNERS: usize = 4_096;

/// Why a write fails the authorship checks. Admission reports each as
/// the rejection of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unauthored {
    Signature {
        writer: NodeId,
        reason: SignatureError,
    },
    NotAuthorised {
        writer: NodeId,
        key: String,
    },
    Revoked {
        writer: NodeId,
    },
    UnprovenClaim {
        replica: NodeId,
        counter: u64,
        proven: u64,
    },
    Impersonation {
        writer: NodeId,
        claimed: String,
    },
}

/// An operator from `[cluster] operators`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub key: PublicKey,
}

/// Who may write what: the operators list and the revoked replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trust {
    /// Empty: any key holder may write targets and the heating program.
    pub operators: BTreeMap<NodeId, Operator>,
    /// Replicas whose new writes every replica refuses.
    pub revoked: BTreeSet<NodeId>,
}

impl Trust {
    /// May `writer` write targets, schedules, presets, overrides, and
    /// forget nodes?
    pub fn is_operator(&self, writer: NodeId) -> bool {
        self.operators.is_empty() || self.operators.contains_key(&writer)
    }

    /// The configured name of an operator.
    pub fn operator_name(&self, writer: NodeId) -> Option<&str> {
        self.operators.get(&writer).map(|o| o.name.as_str())
    }
}

/// The signing keys and the proven counters this replica knows.
#[derive(Debug, Default)]
pub struct Authorship {
    trust: Trust,
    keys: BTreeMap<NodeId, PublicKey>,
    /// The highest write of each replica whose signature checked here.
    proven: BTreeMap<NodeId, WriteProof>,
}

/// A value that names who set it (targets and the heating program).
pub trait Labelled {
    fn set_by(&self) -> &str;
}

impl Labelled for TargetValue {
    fn set_by(&self) -> &str {
        &self.set_by
    }
}

impl Labelled for Schedule {
    fn set_by(&self) -> &str {
        &self.set_by
    }
}

impl Labelled for PresetValue {
    fn set_by(&self) -> &str {
        &self.set_by
    }
}

impl Labelled for OverrideValue {
    fn set_by(&self) -> &str {
        &self.set_by
    }
}

/// One write of a register, as the checks see it.
struct WriteView<'a, V> {
    dot: Dot,
    value: Option<&'a V>,
    at: crate::crdt::Timestamp,
    seen: &'a crate::crdt::VersionVector,
    signature: Option<&'a signature::WriteSignature>,
    signer: Option<&'a PublicKey>,
}

impl Authorship {
    pub fn new(trust: Trust) -> Self {
        Authorship {
            trust,
            keys: BTreeMap::new(),
            proven: BTreeMap::new(),
        }
    }

    pub fn trust(&self) -> &Trust {
        &self.trust
    }

    /// Replaces the operators list and the revoked set (a reloaded config).
    pub fn set_trust(&mut self, trust: Trust) {
        self.trust = trust;
    }

    /// The highest counter of `replica` proven by its own signature.
    pub fn proven(&self, replica: NodeId) -> u64 {
        self.proven.get(&replica).map_or(0, |p| p.dot.counter)
    }

    /// The proof behind [`Authorship::proven`], to pass to a peer.
    pub fn proof(&self, replica: NodeId) -> Option<&WriteProof> {
        self.proven.get(&replica)
    }

    /// A signing key, if known.
    pub fn key(&self, replica: NodeId) -> Option<PublicKey> {
        self.trust
            .operators
            .get(&replica)
            .map(|o| o.key)
            .or_else(|| self.keys.get(&replica).copied())
    }

    /// Learns a key that maps to its replica.
    pub(crate) fn learn_key(&mut self, key: PublicKey) {
        if let Some(id) = key.node_id()
            && (self.keys.contains_key(&id) || self.keys.len() < MAX_SIGNERS)
        {
            self.keys.insert(id, key);
        }
    }

    /// Raises a replica's proven counter.
    fn learn_proof(&mut self, proof: WriteProof) {
        let replica = proof.dot.replica;
        if proof.dot.counter > self.proven(replica)
            && (self.proven.contains_key(&replica) || self.proven.len() < MAX_SIGNERS)
        {
            self.proven.insert(replica, proof);
        }
    }

    /// Takes proofs a peer sent along with registers; each must check
    /// against a known key. Returns how many were refused. A proof of a
    /// replica whose key is not known here yet is set aside, neither taken
    /// nor counted: an honest answer sends its proofs before the entries
    /// that carry the keys, so a replica catching up meets such proofs all
    /// the time, and it learns the same counters from the signed writes
    /// that follow.
    pub fn accept_proofs(&mut self, proofs: &[WriteProof]) -> usize {
        let mut refused = 0;
        for p in proofs {
            match self.key(p.dot.replica) {
                Some(key) if p.verify(&key).is_ok() => self.learn_proof(*p),
                Some(_) => refused += 1,
                None => {}
            }
        }
        refused
    }

    /// Takes the proofs of writes `replica` made that were refused (a
    /// refusal notice, or this replica's own refusal of an observer's
    /// write), with the key that came with them: the refused dots are
    /// marked as seen, and a peer that missed the notice takes them from
    /// an anti-entropy answer only up to what is proven here, so the proof
    /// must travel with them. Only proofs that check against `replica`'s
    /// key are taken; returns how many did not.
    pub fn accept_refused(
        &mut self,
        replica: NodeId,
        key: Option<PublicKey>,
        proofs: &[WriteProof],
    ) -> usize {
        let Some(key) = key
            .filter(|k| k.node_id() == Some(replica))
            .or_else(|| self.key(replica))
        else {
            return proofs.len();
        };
        let mut refused = 0;
        for p in proofs {
            if p.dot.replica == replica && p.verify(&key).is_ok() {
                self.learn_key(key);
                self.learn_proof(*p);
            } else {
                refused += 1;
            }
        }
        refused
    }

    /// Records the keys and proofs of writes that need no check: this
    /// replica's own, and its state from its own disk.
    pub fn learn(&mut self, writes: Vec<(WriteProof, Option<PublicKey>)>) {
        for (proof, key) in writes {
            if let Some(k) = key {
                self.learn_key(k);
            }
            self.learn_proof(proof);
        }
    }

    /// Checks every write of a register that `held` (this replica's copy)
    /// does not already hold: revocation, write rights, signature. Keys
    /// and proofs of writes that pass are learnt.
    pub fn check_signed<V: Serialize + Clone + PartialEq>(
        &mut self,
        key: &Key,
        r: &MvRegister<V>,
        held: Option<&MvRegister<V>>,
    ) -> Result<(), Unauthored> {
        let mut learnt = Vec::new();
        for w in views(r) {
            if held.is_some_and(|h| holds(h, &w)) {
                continue;
            }
            if self.trust.revoked.contains(&w.dot.replica) {
                return Err(Unauthored::Revoked {
                    writer: w.dot.replica,
                });
            }
            if !self.may_write(key, w.dot.replica, w.value.is_some()) {
                return Err(Unauthored::NotAuthorised {
                    writer: w.dot.replica,
                    key: key_name(key),
                });
            }
            let Some(sig) = w.signature else {
                return Err(Unauthored::Signature {
                    writer: w.dot.replica,
                    reason: SignatureError::Unsigned,
                });
            };
            // The carried key is not signed: one that is not the author's
            // is refused rather than ignored, or a relay could change it in
            // flight and replicas that need it to check the write would
            // refuse the write for good.
            if w.signer.is_some_and(|k| k.node_id() != Some(w.dot.replica)) {
                return Err(Unauthored::Signature {
                    writer: w.dot.replica,
                    reason: SignatureError::WrongKey,
                });
            }
            let public = w
                .signer
                .copied()
                .or_else(|| self.key(w.dot.replica))
                .or_else(|| {
                    learnt
                        .iter()
                        .map(|(k, _): &(PublicKey, WriteProof)| *k)
                        .find(|k| k.node_id() == Some(w.dot.replica))
                });
            let Some(public) = public else {
                return Err(Unauthored::Signature {
                    writer: w.dot.replica,
                    reason: SignatureError::UnknownKey,
                });
            };
            let digest: ContentDigest = content_digest(key, w.at, w.value, w.seen);
            signature::verify(&public, w.dot, &digest, sig).map_err(|reason| {
                Unauthored::Signature {
                    writer: w.dot.replica,
                    reason,
                }
            })?;
            learnt.push((
                public,
                WriteProof {
                    dot: w.dot,
                    digest,
                    signature: *sig,
                },
            ));
        }
        for (public, proof) in learnt {
            self.learn_key(public);
            self.learn_proof(proof);
        }
        Ok(())
    }

    /// Checks what a register's writes claim to replace: on this replica's
    /// own counter no further than `my_counter`, on the author's own
    /// counter only earlier writes, on anyone else's no further than a
    /// proven write of theirs.
    pub fn check_claims<V: Clone>(
        &self,
        r: &MvRegister<V>,
        me: NodeId,
        my_counter: u64,
    ) -> Result<(), Unauthored> {
        for w in views(r) {
            for (replica, counter) in w.seen.iter() {
                let bound = if replica == me {
                    my_counter
                } else if replica == w.dot.replica {
                    w.dot.counter.saturating_sub(1)
                } else {
                    self.proven(replica)
                };
                if counter > bound {
                    return Err(Unauthored::UnprovenClaim {
                        replica,
                        counter,
                        proven: bound,
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks that a configured operator's values name it as the operators
    /// list does: `set_by` is then who wrote it, not free text. (Without
    /// an operators list, any key holder writes and `set_by` is a label.)
    /// Only writes `held` does not hold yet are checked: one admitted under
    /// an operator's former name stays what it was, and a register that
    /// still carries it must not have its new writes refused for it.
    pub fn check_label<V: Labelled + Clone + PartialEq>(
        &self,
        r: &MvRegister<V>,
        held: Option<&MvRegister<V>>,
    ) -> Result<(), Unauthored> {
        for (dot, s) in r.siblings() {
            let known =
                held.is_some_and(|h| h.siblings().any(|(d, v)| d == dot && v.value == s.value));
            if known {
                continue;
            }
            if let Some(name) = self.trust.operator_name(dot.replica)
                && s.value.set_by() != name
            {
                return Err(Unauthored::Impersonation {
                    writer: dot.replica,
                    claimed: s.value.set_by().chars().take(64).collect(),
                });
            }
        }
        Ok(())
    }

    /// May `writer` write (`value`) or remove `key`?
    fn may_write(&self, key: &Key, writer: NodeId, value: bool) -> bool {
        let own_node = match key {
            Key::Node(n) => Some(*n),
            Key::Sensor(k) => Some(k.node),
            Key::Actuator(k) => Some(k.node),
            Key::Target(_) | Key::Schedule(_) | Key::Preset(_) | Key::Override(_) => None,
        };
        match own_node {
            Some(node) if writer == node => true,
            // Someone else's node key: only forgetting it, by an operator.
            Some(_) => !value && self.trust.is_operator(writer),
            None => self.trust.is_operator(writer),
        }
    }
}

/// Does `held` already hold this very write (same dot, same content, same
/// carried key)?
fn holds<V: Clone + PartialEq>(held: &MvRegister<V>, w: &WriteView<'_, V>) -> bool {
    match w.value {
        Some(v) => held.siblings().any(|(d, s)| {
            d == w.dot
                && &s.value == v
                && s.at == w.at
                && &s.seen == w.seen
                && s.signature.as_ref() == w.signature
                && s.signer.as_ref() == w.signer
        }),
        None => held.removals().any(|(d, r)| {
            d == w.dot
                && r.at == w.at
                && &r.seen == w.seen
                && r.signature.as_ref() == w.signature
                && r.signer.as_ref() == w.signer
        }),
    }
}

fn views<V: Clone>(r: &MvRegister<V>) -> impl Iterator<Item = WriteView<'_, V>> {
    r.siblings()
        .map(|(dot, s)| WriteView {
            dot,
            value: Some(&s.value),
            at: s.at,
            seen: &s.seen,
            signature: s.signature.as_ref(),
            signer: s.signer.as_ref(),
        })
        .chain(r.removals().map(|(dot, rm)| WriteView {
            dot,
            value: None,
            at: rm.at,
            seen: &rm.seen,
            signature: rm.signature.as_ref(),
            signer: rm.signer.as_ref(),
        }))
}

/// A key as an operator reads it in a log line.
fn key_name(key: &Key) -> String {
    match key {
        Key::Node(n) => format!("node {n}"),
        Key::Sensor(k) => format!("a sensor of node {}", k.node),
        Key::Actuator(k) => format!("an actuator of node {}", k.node),
        Key::Target(k) => format!("the {} target of {}", k.quantity, k.zone),
        Key::Schedule(z) => format!("the schedule of {z}"),
        Key::Preset(k) => format!("a preset of {}", k.zone),
        Key::Override(z) => format!("the override of {z}"),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::config::TargetsSection;
    use crate::crdt::{
        Delta, NodeInfo, OfficeState, Quantity, Reading, SensorId, TargetKey, TargetValue, Unit,
        WriteKey, Writer,
    };
    use crate::replica::admission::{Admission, Holding, Route};
    use crate::time::Time;

    const NOW_MS: u64 = 1_796_032_800_000;
    /// Replicas writing in the join property.
    const WRITERS: usize = 3;

    fn key(n: u8) -> WriteKey {
        WriteKey::from_seed([n; 32])
    }

    fn entry(name: &str) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            zone: "lab".into(),
            role: crate::wire::Role::Node,
            version: "0.1.0".into(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys: Vec::new(),
        }
    }

    fn temperature(index: u8) -> SensorId {
        SensorId {
            quantity: Quantity::Temperature,
            index,
        }
    }

    fn target(value: f32) -> TargetValue {
        TargetValue {
            value,
            unit: Unit::Celsius,
            set_by: "alice".into(),
        }
    }

    /// One step of the writers' history.
    #[derive(Clone, Debug)]
    enum Op {
        Target {
            by: usize,
            zone: u8,
            half_degrees: u8,
        },
        Reading {
            by: usize,
            sensor: u8,
            value: i8,
        },
        Entry {
            by: usize,
        },
        Forget {
            by: usize,
            of: usize,
        },
        /// `by` learns everything `from` holds (so later writes replace
        /// earlier ones, not only sit beside them).
        Learn {
            by: usize,
            from: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        let w = 0..WRITERS;
        prop_oneof![
            (w.clone(), 0u8..3, 20u8..50).prop_map(|(by, zone, half_degrees)| Op::Target {
                by,
                zone,
                half_degrees
            }),
            (w.clone(), 0u8..2, any::<i8>()).prop_map(|(by, sensor, value)| Op::Reading {
                by,
                sensor,
                value
            }),
            w.clone().prop_map(|by| Op::Entry { by }),
            (w.clone(), w.clone()).prop_map(|(by, of)| Op::Forget { by, of }),
            (w.clone(), w).prop_map(|(by, from)| Op::Learn { by, from }),
        ]
    }

    /// The deltas the writers' history produces, all signed.
    fn history(ops: &[Op]) -> Vec<Delta> {
        let mut writers: Vec<Writer> = (0..WRITERS)
            .map(|i| Writer::signing(key(i as u8 + 1)).carry_key())
            .collect();
        let mut states = vec![OfficeState::new(); WRITERS];
        let mut deltas = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            let wall = NOW_MS + step as u64 * 1_000;
            match *op {
                Op::Target {
                    by,
                    zone,
                    half_degrees,
                } => {
                    let key = TargetKey::new(format!("zone-{zone}"), Quantity::Temperature);
                    let value = target(f32::from(half_degrees) / 2.0);
                    let w = states[by].set_target(&mut writers[by], wall, key, value);
                    deltas.push(w.delta);
                }
                Op::Reading { by, sensor, value } => {
                    let reading = Reading {
                        value: f32::from(value),
                        unit: Unit::Celsius,
                    };
                    let sensor = temperature(sensor);
                    let w = states[by].publish_reading(&mut writers[by], wall, sensor, reading);
                    deltas.push(w.delta);
                }
                Op::Entry { by } => {
                    let info = entry(&format!("n{by}"));
                    let w = states[by].announce_node(&mut writers[by], wall, info);
                    deltas.push(w.delta);
                }
                Op::Forget { by, of } => {
                    let node = writers[of].id();
                    let d = states[by].forget_node(&mut writers[by], wall, node);
                    if !d.is_empty() {
                        deltas.push(d);
                    }
                }
                Op::Learn { by, from } => {
                    let theirs = states[from].clone();
                    states[by].join(&theirs);
                }
            }
        }
        deltas
    }

    /// A state's canonical bytes (two converged replicas encode equal).
    fn bytes(state: &OfficeState) -> Vec<u8> {
        state.encode().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Signed deltas join to one state whatever their order and however
        /// often each arrives: the signatures, signers and `seen` they
        /// carry are state like any other.
        #[test]
        fn signed_deltas_join_in_any_order_and_any_number_of_times_to_one_state(
            ops in prop::collection::vec(op(), 1..24),
            seed in any::<u64>(),
            repeats in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
        ) {
            let deltas = history(&ops);
            let mut reference = OfficeState::new();
            for d in &deltas {
                reference.apply(d);
            }
            let mut order: Vec<usize> = (0..deltas.len()).collect();
            if !deltas.is_empty() {
                order.extend(repeats.iter().map(|i| i.index(deltas.len())));
            }
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
            let mut shuffled = OfficeState::new();
            for &i in &order {
                shuffled.apply(&deltas[i]);
            }
            prop_assert_eq!(bytes(&shuffled), bytes(&reference));
            // Everything once more changes nothing.
            for d in &deltas {
                prop_assert!(!shuffled.apply(d));
            }
            prop_assert_eq!(bytes(&shuffled), bytes(&reference));
        }
    }

    /// What the byte-flip property sends: a node's entry (its key travels
    /// with it), then a reading of that node and an observer's target.
    struct Signed {
        entry: Delta,
        reading: Delta,
        target: Delta,
    }

    fn signed() -> Signed {
        let mut node = Writer::signing(key(1));
        let mut observer = Writer::signing(key(2)).carry_key();
        let mut state = OfficeState::new();
        let entry = state.announce_node(&mut node, NOW_MS, entry("n1")).delta;
        let reading = state
            .publish_reading(
                &mut node,
                NOW_MS,
                temperature(0),
                Reading {
                    value: 21.5,
                    unit: Unit::Celsius,
                },
            )
            .delta;
        let key = TargetKey::new("lab", Quantity::Temperature);
        let target = state
            .set_target(&mut observer, NOW_MS, key, target(21.0))
            .delta;
        Signed {
            entry,
            reading,
            target,
        }
    }

    /// Is every register `admitted` holds exactly as `original` has it?
    fn unchanged(admitted: &Delta, original: &Delta) -> bool {
        let (a, o) = (&admitted.0, &original.0);
        a.nodes.iter().all(|(k, r)| o.nodes.get(k) == Some(r))
            && a.sensors.iter().all(|(k, r)| o.sensors.get(k) == Some(r))
            && a.actuators
                .iter()
                .all(|(k, r)| o.actuators.get(k) == Some(r))
            && a.targets.iter().all(|(k, r)| o.targets.get(k) == Some(r))
            && a.schedules
                .iter()
                .all(|(k, r)| o.schedules.get(k) == Some(r))
            && a.presets.iter().all(|(k, r)| o.presets.get(k) == Some(r))
            && a.overrides
                .iter()
                .all(|(k, r)| o.overrides.get(k) == Some(r))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A changed byte anywhere in a signed delta gets it refused (or it
        /// no longer decodes): never is a changed write admitted. Checked
        /// by a replica that knows nothing yet (keys only from the writes
        /// themselves) and by one that already holds the node's entry.
        #[test]
        fn a_signed_delta_with_any_byte_changed_is_refused(
            which in 0usize..3,
            knows_entry in any::<bool>(),
            at in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let s = signed();
            let me = key(9).id();
            let mut admission = Admission::new(me, TargetsSection::default(), Trust::default());
            let mut state = OfficeState::new();
            if knows_entry || which == 1 {
                let mut entry = s.entry.clone();
                let held = Holding { state: &state, my_counter: 0 };
                let dropped = admission.filter(
                    Time::ZERO, NOW_MS, me, Route::Broadcast, &mut entry, held,
                );
                prop_assert_eq!(dropped, 0);
                state.apply(&entry);
            }
            let original = [&s.entry, &s.reading, &s.target][which];
            let mut encoded = original.encode().unwrap();
            let i = at.index(encoded.len());
            encoded[i] ^= flip;
            let Ok(mut changed) = Delta::decode(&encoded) else {
                return Ok(());
            };
            if &changed == original {
                // The flip changed nothing the delta says.
                return Ok(());
            }
            let before = admission.rejected_total();
            let held = Holding { state: &state, my_counter: 0 };
            admission.filter(
                Time::ZERO, NOW_MS, me, Route::Broadcast, &mut changed, held,
            );
            prop_assert!(
                unchanged(&changed, original),
                "byte {} ^ {:#04x} admitted changed: {:?}", i, flip, changed
            );
            prop_assert!(changed.is_empty(), "byte {} ^ {:#04x} admitted: {:?}", i, flip, changed);
            prop_assert!(admission.rejected_total() > before);
        }
    }

    fn operators(names: &[(u8, &str)]) -> Trust {
        let operators = names
            .iter()
            .map(|&(n, name)| {
                let operator = Operator {
                    name: name.into(),
                    key: key(n).public(),
                };
                (key(n).id(), operator)
            })
            .collect();
        Trust {
            operators,
            revoked: BTreeSet::new(),
        }
    }

    fn labelled(writer: &mut Writer, label: &str, value: f32) -> Delta {
        let value = TargetValue {
            set_by: label.into(),
            ..target(value)
        };
        let key = TargetKey::new("kitchen", Quantity::Temperature);
        OfficeState::new()
            .set_target(writer, NOW_MS, key, value)
            .delta
    }

    /// An operator renamed in the config keeps the writes it made under
    /// its former name: a register still carrying one is not refused for
    /// it, while a new write under the former name is.
    #[test]
    fn an_operators_earlier_writes_pass_after_a_rename() {
        let me = key(9).id();
        let trust = operators(&[(1, "alice"), (2, "bob")]);
        let mut admission = Admission::new(me, TargetsSection::default(), trust);
        let mut state = OfficeState::new();
        let mut alice_writes = Writer::signing(key(1)).carry_key();
        let mut alice = labelled(&mut alice_writes, "alice", 21.0);
        let held = Holding {
            state: &state,
            my_counter: 0,
        };
        let refused = admission.filter(Time::ZERO, NOW_MS, me, Route::Broadcast, &mut alice, held);
        assert_eq!(refused, 0);
        state.apply(&alice);

        admission.set_trust(operators(&[(1, "alice.smith"), (2, "bob")]));
        // Bob wrote concurrently: an anti-entropy answer carries the
        // register with both writes.
        let mut answer = OfficeState::new();
        answer.apply(&alice);
        answer.apply(&labelled(&mut Writer::signing(key(2)), "bob", 22.0));
        let mut both = Delta(answer.registers().clone());
        let held = Holding {
            state: &state,
            my_counter: 0,
        };
        let refused = admission.filter(Time::ZERO, NOW_MS, me, Route::AntiEntropy, &mut both, held);
        assert_eq!(refused, 0, "{:?}", admission.rejected());
        state.apply(&both);
        let siblings = state.target("kitchen", Quantity::Temperature);
        assert_eq!(siblings.map(|r| r.siblings().count()), Some(2));

        let mut stale = labelled(&mut alice_writes, "alice", 23.0);
        let held = Holding {
            state: &state,
            my_counter: 0,
        };
        let refused = admission.filter(Time::ZERO, NOW_MS, me, Route::Broadcast, &mut stale, held);
        assert_eq!(refused, 1);
        assert!(stale.is_empty());
        assert_eq!(admission.rejected().get("impersonation"), Some(&1));
    }
}
