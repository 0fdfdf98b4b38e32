//! The registers of the office state, one map per kind of key.
//!
//! Shared by [`super::OfficeState`] (registers plus a causal context) and
//! [`super::Delta`] (registers alone). Typed maps rather than one map of a
//! value enum: a `Sensor` key can only ever hold a reading.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::actuator_state::ActuatorState;
use super::causal_context::CausalContext;
use super::key::{ActuatorKey, Key, SensorKey, TargetKey};
use super::mv_register::MvRegister;
use super::node_info::NodeInfo;
use super::override_value::OverrideValue;
use super::preset::{PresetKey, PresetValue};
use super::reading::Reading;
use super::schedule::Schedule;
use super::signature::{PublicKey, WriteProof, content_digest};
use super::target_value::TargetValue;
use crate::node_id::NodeId;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Registers {
    pub(crate) nodes: BTreeMap<NodeId, MvRegister<NodeInfo>>,
    pub(crate) sensors: BTreeMap<SensorKey, MvRegister<Reading>>,
    pub(crate) actuators: BTreeMap<ActuatorKey, MvRegister<ActuatorState>>,
    pub(crate) targets: BTreeMap<TargetKey, MvRegister<TargetValue>>,
    pub(crate) schedules: BTreeMap<String, MvRegister<Schedule>>,
    pub(crate) presets: BTreeMap<PresetKey, MvRegister<PresetValue>>,
    pub(crate) overrides: BTreeMap<String, MvRegister<OverrideValue>>,
}

/// Which keys of `self` a join visits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Only the keys the other side has (a delta: its context names only
    /// dots of its own registers, so no other key can change).
    TheirKeys,
    /// Every key (a whole state or a bare context may remove siblings of
    /// keys it does not hold).
    AllKeys,
}

impl Registers {
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
            + self.sensors.len()
            + self.actuators.len()
            + self.targets.len()
            + self.schedules.len()
            + self.presets.len()
            + self.overrides.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Joins `other` in; `mine` and `theirs` are the two sides' contexts
    /// before the join.
    pub(crate) fn join(
        &mut self,
        other: &Registers,
        mine: &CausalContext,
        theirs: &CausalContext,
        scope: Scope,
    ) {
        join_map(&mut self.nodes, &other.nodes, mine, theirs, scope);
        join_map(&mut self.sensors, &other.sensors, mine, theirs, scope);
        join_map(&mut self.actuators, &other.actuators, mine, theirs, scope);
        join_map(&mut self.targets, &other.targets, mine, theirs, scope);
        join_map(&mut self.schedules, &other.schedules, mine, theirs, scope);
        join_map(&mut self.presets, &other.presets, mine, theirs, scope);
        join_map(&mut self.overrides, &other.overrides, mine, theirs, scope);
    }

    /// The dots these registers fully account for: the implicit causal
    /// context of a delta.
    pub(crate) fn accounted_context(&self) -> CausalContext {
        let mut ctx = CausalContext::new();
        self.for_each_register(|_, dots| {
            for d in dots {
                ctx.insert(d);
            }
        });
        ctx
    }

    /// The newest set-at (or removal time) of every register, in no
    /// particular order: when each register was last written.
    pub(crate) fn timestamps(&self) -> impl Iterator<Item = super::hlc::Timestamp> + '_ {
        self.nodes
            .values()
            .filter_map(MvRegister::newest_timestamp)
            .chain(
                self.sensors
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
            .chain(
                self.actuators
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
            .chain(
                self.targets
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
            .chain(
                self.schedules
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
            .chain(
                self.presets
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
            .chain(
                self.overrides
                    .values()
                    .filter_map(MvRegister::newest_timestamp),
            )
    }

    /// Calls `f` with every key and the dots its register accounts for.
    pub(crate) fn for_each_register(
        &self,
        mut f: impl FnMut(Key, &mut dyn Iterator<Item = super::Dot>),
    ) {
        for (id, r) in &self.nodes {
            f(Key::Node(*id), &mut r.accounted_dots());
        }
        for (k, r) in &self.sensors {
            f(Key::Sensor(*k), &mut r.accounted_dots());
        }
        for (k, r) in &self.actuators {
            f(Key::Actuator(*k), &mut r.accounted_dots());
        }
        for (k, r) in &self.targets {
            f(Key::Target(k.clone()), &mut r.accounted_dots());
        }
        for (zone, r) in &self.schedules {
            f(Key::Schedule(zone.clone()), &mut r.accounted_dots());
        }
        for (k, r) in &self.presets {
            f(Key::Preset(k.clone()), &mut r.accounted_dots());
        }
        for (zone, r) in &self.overrides {
            f(Key::Override(zone.clone()), &mut r.accounted_dots());
        }
    }

    /// The proof of every signed write these registers hold (values and
    /// removals), with the key it carries, if any.
    pub(crate) fn signed_writes(&self) -> Vec<(WriteProof, Option<PublicKey>)> {
        let mut out = Vec::new();
        for (id, r) in &self.nodes {
            proofs_of(&Key::Node(*id), r, &mut out);
        }
        for (k, r) in &self.sensors {
            proofs_of(&Key::Sensor(*k), r, &mut out);
        }
        for (k, r) in &self.actuators {
            proofs_of(&Key::Actuator(*k), r, &mut out);
        }
        for (k, r) in &self.targets {
            proofs_of(&Key::Target(k.clone()), r, &mut out);
        }
        for (zone, r) in &self.schedules {
            proofs_of(&Key::Schedule(zone.clone()), r, &mut out);
        }
        for (k, r) in &self.presets {
            proofs_of(&Key::Preset(k.clone()), r, &mut out);
        }
        for (zone, r) in &self.overrides {
            proofs_of(&Key::Override(zone.clone()), r, &mut out);
        }
        out
    }

    /// The replicas that wrote something here (a value or a removal).
    pub(crate) fn authors(&self) -> std::collections::BTreeSet<crate::node_id::NodeId> {
        fn add<V: Clone>(
            r: &MvRegister<V>,
            out: &mut std::collections::BTreeSet<crate::node_id::NodeId>,
        ) {
            out.extend(r.siblings().map(|(dot, _)| dot.replica));
            out.extend(r.removals().map(|(dot, _)| dot.replica));
        }
        let mut out = std::collections::BTreeSet::new();
        self.nodes.values().for_each(|r| add(r, &mut out));
        self.sensors.values().for_each(|r| add(r, &mut out));
        self.actuators.values().for_each(|r| add(r, &mut out));
        self.targets.values().for_each(|r| add(r, &mut out));
        self.schedules.values().for_each(|r| add(r, &mut out));
        self.presets.values().for_each(|r| add(r, &mut out));
        self.overrides.values().for_each(|r| add(r, &mut out));
        out
    }

    /// The dots of every current value.
    pub(crate) fn live_context(&self) -> CausalContext {
        let mut ctx = CausalContext::new();
        let dots = self
            .nodes
            .values()
            .flat_map(|r| r.siblings().map(|(d, _)| d))
            .chain(
                self.sensors
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            )
            .chain(
                self.actuators
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            )
            .chain(
                self.targets
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            )
            .chain(
                self.schedules
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            )
            .chain(
                self.presets
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            )
            .chain(
                self.overrides
                    .values()
                    .flat_map(|r| r.siblings().map(|(d, _)| d)),
            );
        for d in dots {
            ctx.insert(d);
        }
        ctx
    }

    /// The largest number of siblings any register holds.
    pub(crate) fn siblings_max(&self) -> usize {
        let n = self.nodes.values().map(MvRegister::len).max().unwrap_or(0);
        let s = self
            .sensors
            .values()
            .map(MvRegister::len)
            .max()
            .unwrap_or(0);
        let a = self
            .actuators
            .values()
            .map(MvRegister::len)
            .max()
            .unwrap_or(0);
        let t = self
            .targets
            .values()
            .map(MvRegister::len)
            .max()
            .unwrap_or(0);
        let h = self
            .schedules
            .values()
            .map(MvRegister::len)
            .chain(self.presets.values().map(MvRegister::len))
            .chain(self.overrides.values().map(MvRegister::len))
            .max()
            .unwrap_or(0);
        n.max(s).max(a).max(t).max(h)
    }
}

fn proofs_of<V: Clone + Serialize>(
    key: &Key,
    r: &MvRegister<V>,
    out: &mut Vec<(WriteProof, Option<PublicKey>)>,
) {
    for (dot, s) in r.siblings() {
        if let Some(signature) = s.signature {
            let digest = content_digest(key, s.at, Some(&s.value), &s.seen);
            out.push((
                WriteProof {
                    dot,
                    digest,
                    signature,
                },
                s.signer,
            ));
        }
    }
    for (dot, rm) in r.removals() {
        if let Some(signature) = rm.signature {
            let digest = content_digest::<()>(key, rm.at, None, &rm.seen);
            out.push((
                WriteProof {
                    dot,
                    digest,
                    signature,
                },
                rm.signer,
            ));
        }
    }
}

fn join_map<K: Ord + Clone, V: Clone>(
    mine: &mut BTreeMap<K, MvRegister<V>>,
    theirs: &BTreeMap<K, MvRegister<V>>,
    my_ctx: &CausalContext,
    their_ctx: &CausalContext,
    scope: Scope,
) {
    // A key whose every write was replaced or seen elsewhere holds
    // nothing: it goes, as on a replica that never had it.
    let mut emptied = Vec::new();
    if scope == Scope::AllKeys {
        let absent = MvRegister::default();
        for (key, register) in mine.iter_mut() {
            if !theirs.contains_key(key) {
                register.join(&absent, my_ctx, their_ctx);
                if register.writes() == 0 {
                    emptied.push(key.clone());
                }
            }
        }
    }
    for (key, register) in theirs {
        let joined = mine.entry(key.clone()).or_default();
        joined.join(register, my_ctx, their_ctx);
        if joined.writes() == 0 {
            emptied.push(key.clone());
        }
    }
    for key in emptied {
        mine.remove(&key);
    }
}
