//! The office state: every replica's copy of nodes, sensors, actuators and
//! targets, as one delta-state CRDT.
//!
//! A map from key to [`MvRegister`] plus the replica's causal context (the
//! dots whose effects it holds). Every local mutation returns a [`Delta`]
//! that is itself a state, so `state ⊔ delta` is the state after the write;
//! the runtime broadcasts the delta through Plumtree and anti-entropy
//! repairs what broadcasts missed (Almeida et al., "Delta State Replicated
//! Data Types", JPDC 2018, §4–§6).
//!
//! Invariants the join relies on:
//! - every dot names a write to exactly one key (a removal of several keys
//!   takes one dot per key);
//! - a dot is in the context only once its key's register accounts for it,
//!   so "the context covers d but the key has no sibling d" means d was
//!   superseded or removed, and a stale copy of d can never come back.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::actuator_state::{ActuatorOutput, ActuatorState};
use super::causal_context::CausalContext;
use super::codec::{self, CodecError};
use super::delta::Delta;
use super::dot::Dot;
use super::hlc::Timestamp;
use super::key::{ActuatorId, ActuatorKey, Key, SensorId, SensorKey, TargetKey};
use super::mv_register::MvRegister;
use super::node_info::NodeInfo;
use super::override_value::OverrideValue;
use super::preset::{PresetKey, PresetName, PresetValue};
use super::quantity::Quantity;
use super::reading::Reading;
use super::registers::{Registers, Scope};
use super::schedule::Schedule;
use super::target_value::TargetValue;
use super::version_vector::VersionVector;
use super::writer::{Writer, WrittenBefore};
use crate::node_id::NodeId;

/// How long a removal's tombstone is kept before it is collected. A replica
/// offline for longer than this may keep (but never spread to replicas that
/// saw the removal) what was removed while it was away.
pub const DEFAULT_TOMBSTONE_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// One replica's office state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficeState {
    pub(crate) registers: Registers,
    pub(crate) context: CausalContext,
}

impl WrittenBefore for OfficeState {
    fn max_counter(&self, id: NodeId) -> u64 {
        self.context.max_counter(id)
    }

    fn latest_timestamp(&self) -> Timestamp {
        OfficeState::latest_timestamp(self)
    }
}

/// A local write: its dot (to follow it to *stored* and *converged*) and the
/// delta to broadcast.
#[derive(Clone, Debug, PartialEq)]
pub struct Write {
    pub dot: Dot,
    pub delta: Delta,
}

impl OfficeState {
    /// An empty office.
    pub fn new() -> Self {
        Self::default()
    }

    // ----- local mutations ------------------------------------------------

    /// Writes the writer's own `Node` entry (on start and whenever its
    /// name, zone, interfaces, failed sensors or neighbours change).
    pub fn announce_node(&mut self, writer: &mut Writer, wall_ms: u64, info: NodeInfo) -> Write {
        let id = writer.id();
        let (dot, register) = write(
            &mut self.registers.nodes,
            &mut self.context,
            writer,
            wall_ms,
            (id, Key::Node(id)),
            |_, _| info,
        );
        let mut delta = Registers::default();
        delta.nodes.insert(id, register);
        Write {
            dot,
            delta: Delta(delta),
        }
    }

    /// Publishes one of the writer's sensor readings; its measured-at is the
    /// write's timestamp.
    pub fn publish_reading(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        sensor: SensorId,
        reading: Reading,
    ) -> Write {
        let key = SensorKey {
            node: writer.id(),
            sensor,
        };
        let (dot, register) = write(
            &mut self.registers.sensors,
            &mut self.context,
            writer,
            wall_ms,
            (key, Key::Sensor(key)),
            |_, _| reading,
        );
        let mut delta = Registers::default();
        delta.sensors.insert(key, register);
        Write {
            dot,
            delta: Delta(delta),
        }
    }

    /// Publishes what one of the writer's actuators is driven to. An
    /// unchanged output keeps its `since`.
    pub fn set_actuator(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        actuator: ActuatorId,
        output: ActuatorOutput,
    ) -> Write {
        let key = ActuatorKey {
            node: writer.id(),
            actuator,
        };
        let (dot, register) = write(
            &mut self.registers.actuators,
            &mut self.context,
            writer,
            wall_ms,
            (key, Key::Actuator(key)),
            |at, previous| {
                let since = match previous {
                    Some(p) if p.output == output => p.since,
                    _ => at,
                };
                ActuatorState { output, since }
            },
        );
        let mut delta = Registers::default();
        delta.actuators.insert(key, register);
        Write {
            dot,
            delta: Delta(delta),
        }
    }

    /// Sets a target. The write replaces every value this replica holds for
    /// the key; values written concurrently elsewhere remain as siblings.
    /// The returned dot is *stored* once durable here and *converged* once
    /// every live replica's context covers it.
    pub fn set_target(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        key: TargetKey,
        value: TargetValue,
    ) -> Write {
        let signed = Key::Target(key.clone());
        self.replace(|r| &mut r.targets, writer, wall_ms, (key, signed), value)
    }

    /// Sets a zone's schedule (an empty one clears it). Like a target: it
    /// replaces what this replica holds, concurrent writes stay siblings.
    pub fn set_schedule(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        zone: String,
        schedule: Schedule,
    ) -> Write {
        let signed = Key::Schedule(zone.clone());
        self.replace(
            |r| &mut r.schedules,
            writer,
            wall_ms,
            (zone, signed),
            schedule,
        )
    }

    /// Sets what one preset means in a zone.
    pub fn set_preset(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        key: PresetKey,
        value: PresetValue,
    ) -> Write {
        let signed = Key::Preset(key.clone());
        self.replace(|r| &mut r.presets, writer, wall_ms, (key, signed), value)
    }

    /// Sets (or, with `celsius: None`, clears) a zone's override.
    pub fn set_override(
        &mut self,
        writer: &mut Writer,
        wall_ms: u64,
        zone: String,
        value: OverrideValue,
    ) -> Write {
        let signed = Key::Override(zone.clone());
        self.replace(|r| &mut r.overrides, writer, wall_ms, (zone, signed), value)
    }

    /// One write replacing what this replica holds under `key` in the map
    /// `select` picks; the delta carries that register alone.
    fn replace<K: Ord + Clone, V: Clone + Serialize>(
        &mut self,
        select: fn(&mut Registers) -> &mut BTreeMap<K, MvRegister<V>>,
        writer: &mut Writer,
        wall_ms: u64,
        (key, signed): (K, Key),
        value: V,
    ) -> Write {
        let (dot, register) = write(
            select(&mut self.registers),
            &mut self.context,
            writer,
            wall_ms,
            (key.clone(), signed),
            |_, _| value,
        );
        let mut delta = Registers::default();
        select(&mut delta).insert(key, register);
        Write {
            dot,
            delta: Delta(delta),
        }
    }

    /// Forgets a decommissioned node: a tombstone, each under its own dot,
    /// for its `Node` entry and every sensor and actuator of it this replica
    /// knows. Writes the node makes later (it came back) win over them.
    pub fn forget_node(&mut self, writer: &mut Writer, wall_ms: u64, node: NodeId) -> Delta {
        let mut delta = Registers::default();
        if let Some(r) = self.registers.nodes.get_mut(&node) {
            delta.nodes.insert(
                node,
                remove(r, &Key::Node(node), &mut self.context, writer, wall_ms),
            );
        }
        for (k, r) in self
            .registers
            .sensors
            .iter_mut()
            .filter(|(k, _)| k.node == node)
        {
            delta.sensors.insert(
                *k,
                remove(r, &Key::Sensor(*k), &mut self.context, writer, wall_ms),
            );
        }
        for (k, r) in self
            .registers
            .actuators
            .iter_mut()
            .filter(|(k, _)| k.node == node)
        {
            delta.actuators.insert(
                *k,
                remove(r, &Key::Actuator(*k), &mut self.context, writer, wall_ms),
            );
        }
        Delta(delta)
    }

    /// Removes a target: a register with no value left, under its own dot.
    /// No replica writes this (a zone's target is replaced, never removed,
    /// and admission refuses it on every route, since it would turn the
    /// zone's heating off everywhere); it exists so tests can send what a
    /// faulty or hostile peer could.
    #[doc(hidden)]
    pub fn remove_target(&mut self, writer: &mut Writer, wall_ms: u64, key: TargetKey) -> Delta {
        let mut delta = Registers::default();
        let register = self.registers.targets.entry(key.clone()).or_default();
        let signed = Key::Target(key.clone());
        delta.targets.insert(
            key,
            remove(register, &signed, &mut self.context, writer, wall_ms),
        );
        Delta(delta)
    }

    // ----- joins ----------------------------------------------------------

    /// Joins a delta (from a broadcast or an anti-entropy answer).
    /// Idempotent, commutative and associative: order and duplicates do
    /// not matter. Returns whether the delta held anything new.
    pub fn apply(&mut self, delta: &Delta) -> bool {
        let theirs = delta.0.accounted_context();
        let new = !self.context.includes(&theirs);
        self.registers
            .join(&delta.0, &self.context, &theirs, Scope::TheirKeys);
        self.context.join(&theirs);
        new
    }

    /// Joins a whole state.
    pub fn join(&mut self, other: &OfficeState) {
        self.registers.join(
            &other.registers,
            &self.context,
            &other.context,
            Scope::AllKeys,
        );
        self.context.join(&other.context);
    }

    /// Joins a bare context: dots a peer has seen and whose registers it has
    /// already sent us (the last part of an anti-entropy answer). Lets this
    /// replica's version vector close gaps left by superseded writes.
    pub(crate) fn join_context(&mut self, other: &CausalContext) {
        self.registers
            .join(&Registers::default(), &self.context, other, Scope::AllKeys);
        self.context.join(other);
    }

    /// Marks `replica`'s dots in `delta` as seen without joining its
    /// registers: a write of that replica that was refused. A copy of it
    /// arriving later is dropped as old, and the replica's version vector
    /// has no gap where it was.
    pub fn void_own_dots(&mut self, delta: &Delta, replica: NodeId) {
        let mut dots = Vec::new();
        delta
            .0
            .for_each_register(|_, ds| dots.extend(ds.filter(|d| d.replica == replica)));
        self.void(dots.into_iter());
    }

    /// Marks dots of refused writes as seen, without registers. A dot
    /// this replica already accounts for is left alone (joining it bare
    /// would remove a value it holds).
    pub fn void(&mut self, dots: impl Iterator<Item = Dot>) {
        let mut void = CausalContext::new();
        for d in dots {
            void.insert(d);
        }
        let void = void.difference(&self.context);
        if !void.is_empty() {
            self.join_context(&void);
        }
    }

    /// Marks `replica`'s dots `from..=to` as seen, those this replica does
    /// not already account for: writes that will never exist.
    pub fn void_range(&mut self, replica: NodeId, from: u64, to: u64) {
        let mut void = CausalContext::new();
        void.insert_range(replica, from, to);
        let void = void.difference(&self.context);
        if !void.is_empty() {
            self.join_context(&void);
        }
    }

    /// Drops tombstones removed at least `grace` before `wall_ms`. Their
    /// dots stay in the context, so what they removed cannot return.
    /// Returns how many keys were collected.
    pub fn collect_tombstones(&mut self, wall_ms: u64, grace: Duration) -> usize {
        let cutoff = wall_ms.saturating_sub(grace.as_millis() as u64);
        let collectable =
            |removed: Option<Timestamp>| removed.is_none_or(|at| at.wall_ms <= cutoff);
        let before = self.registers.len();
        self.registers
            .nodes
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .sensors
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .actuators
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .targets
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .schedules
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .presets
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        self.registers
            .overrides
            .retain(|_, r| !(r.is_empty() && collectable(r.removed_at())));
        before - self.registers.len()
    }

    // ----- queries --------------------------------------------------------

    /// A node's self-description (siblings only if it wrote concurrently
    /// with itself, i.e. never in practice), `None` if unknown or forgotten.
    pub fn node(&self, id: NodeId) -> Option<&MvRegister<NodeInfo>> {
        live(self.registers.nodes.get(&id))
    }

    pub fn sensor(&self, node: NodeId, sensor: SensorId) -> Option<&MvRegister<Reading>> {
        live(self.registers.sensors.get(&SensorKey { node, sensor }))
    }

    pub fn actuator(
        &self,
        node: NodeId,
        actuator: ActuatorId,
    ) -> Option<&MvRegister<ActuatorState>> {
        live(
            self.registers
                .actuators
                .get(&ActuatorKey { node, actuator }),
        )
    }

    /// A zone's target: every sibling (a conflict if more than one) and,
    /// through [`MvRegister::winner`], the one to act on.
    pub fn target(&self, zone: &str, quantity: Quantity) -> Option<&MvRegister<TargetValue>> {
        live(self.registers.targets.get(&TargetKey {
            zone: zone.to_string(),
            quantity,
        }))
    }

    /// A zone's schedule register (siblings when edited concurrently).
    pub fn schedule(&self, zone: &str) -> Option<&MvRegister<Schedule>> {
        live(self.registers.schedules.get(zone))
    }

    /// A zone's preset register; `None` while the preset is at its default.
    pub fn preset(&self, zone: &str, preset: PresetName) -> Option<&MvRegister<PresetValue>> {
        live(self.registers.presets.get(&PresetKey::new(zone, preset)))
    }

    /// A zone's override register.
    pub fn override_of(&self, zone: &str) -> Option<&MvRegister<OverrideValue>> {
        live(self.registers.overrides.get(zone))
    }

    /// Every zone's schedule, in zone order.
    pub fn schedules(&self) -> impl Iterator<Item = (&String, &MvRegister<Schedule>)> {
        self.registers
            .schedules
            .iter()
            .filter(|(_, r)| !r.is_empty())
    }

    /// Every written preset, in key order.
    pub fn presets(&self) -> impl Iterator<Item = (&PresetKey, &MvRegister<PresetValue>)> {
        self.registers.presets.iter().filter(|(_, r)| !r.is_empty())
    }

    /// Every zone's override, in zone order.
    pub fn overrides(&self) -> impl Iterator<Item = (&String, &MvRegister<OverrideValue>)> {
        self.registers
            .overrides
            .iter()
            .filter(|(_, r)| !r.is_empty())
    }

    /// Every known node, in id order.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &MvRegister<NodeInfo>)> {
        self.registers
            .nodes
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(&k, r)| (k, r))
    }

    /// Nodes removed by `forget_node` whose tombstone is not yet collected,
    /// in id order: the TUI keeps them on screen as *forgotten*.
    pub fn forgotten_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.registers
            .nodes
            .iter()
            .filter(|(_, r)| r.is_empty())
            .map(|(&k, _)| k)
    }

    /// Every sensor of every node, in key order.
    pub fn sensors(&self) -> impl Iterator<Item = (SensorKey, &MvRegister<Reading>)> {
        self.registers
            .sensors
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(&k, r)| (k, r))
    }

    pub fn actuators(&self) -> impl Iterator<Item = (ActuatorKey, &MvRegister<ActuatorState>)> {
        self.registers
            .actuators
            .iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(&k, r)| (k, r))
    }

    pub fn targets(&self) -> impl Iterator<Item = (&TargetKey, &MvRegister<TargetValue>)> {
        self.registers.targets.iter().filter(|(_, r)| !r.is_empty())
    }

    /// How many keys hold a removal not yet collected.
    pub fn tombstones(&self) -> usize {
        let r = &self.registers;
        r.nodes.values().filter(|r| r.is_empty()).count()
            + r.sensors.values().filter(|r| r.is_empty()).count()
            + r.actuators.values().filter(|r| r.is_empty()).count()
            + r.targets.values().filter(|r| r.is_empty()).count()
            + r.schedules.values().filter(|r| r.is_empty()).count()
            + r.presets.values().filter(|r| r.is_empty()).count()
            + r.overrides.values().filter(|r| r.is_empty()).count()
    }

    /// The largest number of siblings of any key (1 when no conflict).
    pub fn siblings_max(&self) -> usize {
        self.registers.siblings_max()
    }

    /// The gap-free part of what this replica has seen: its vector clock.
    pub fn version_vector(&self) -> &VersionVector {
        self.context.version_vector()
    }

    /// Everything this replica has seen, out-of-order dots included.
    pub fn context(&self) -> &CausalContext {
        &self.context
    }

    /// Has this replica seen the write `dot`?
    pub fn covers(&self, dot: Dot) -> bool {
        self.context.contains(dot)
    }

    /// The newest timestamp anywhere in the state (for resuming a clock).
    pub fn latest_timestamp(&self) -> Timestamp {
        self.registers.timestamps().max().unwrap_or(Timestamp::ZERO)
    }

    // ----- encodings ------------------------------------------------------

    /// The whole state (postcard). Two converged replicas encode equally.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("office state", self)
    }

    pub fn decode(bytes: &[u8]) -> Result<OfficeState, CodecError> {
        codec::decode("office state", bytes)
    }

    pub(crate) fn registers(&self) -> &Registers {
        &self.registers
    }
}

impl From<Delta> for OfficeState {
    /// A delta as a state: its registers and its implicit context.
    fn from(delta: Delta) -> Self {
        let context = delta.0.accounted_context();
        OfficeState {
            registers: delta.0,
            context,
        }
    }
}

/// The register if it holds a value.
fn live<V>(register: Option<&MvRegister<V>>) -> Option<&MvRegister<V>>
where
    V: Clone,
{
    register.filter(|r| !r.is_empty())
}

/// A local write to `key`: a fresh dot and a timestamp after the newest
/// value it replaces; returns the dot and the register as it now is (the
/// delta's content).
fn write<K: Ord + Clone, V: Clone + Serialize>(
    map: &mut BTreeMap<K, MvRegister<V>>,
    context: &mut CausalContext,
    writer: &mut Writer,
    wall_ms: u64,
    (key, signed): (K, Key),
    value: impl FnOnce(Timestamp, Option<&V>) -> V,
) -> (Dot, MvRegister<V>) {
    let register = map.entry(key).or_default();
    let (dot, at) = writer.next(wall_ms, register.newest_timestamp());
    let previous = register.winner().map(|(_, s)| s.value.clone());
    let sibling = writer.sibling(
        &signed,
        dot,
        at,
        value(at, previous.as_ref()),
        register.context().clone(),
    );
    register.write(dot, sibling);
    context.insert(dot);
    (dot, register.clone())
}

/// A local removal of one key; returns the tombstone.
fn remove<V: Clone>(
    register: &mut MvRegister<V>,
    key: &Key,
    context: &mut CausalContext,
    writer: &mut Writer,
    wall_ms: u64,
) -> MvRegister<V> {
    let (dot, at) = writer.next(wall_ms, register.newest_timestamp());
    let removal = writer.removal(key, dot, at, register.context().clone());
    register.remove(dot, removal);
    context.insert(dot);
    register.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{ActuatorKind, FailedSensor, Hlc, Interface, Unit};
    use crate::wire::Role;
    use proptest::prelude::*;

    const T0: u64 = 1_795_000_000_000;

    fn temp(index: u8) -> SensorId {
        SensorId {
            quantity: Quantity::Temperature,
            index,
        }
    }

    fn target(value: f32, set_by: &str) -> TargetValue {
        TargetValue {
            value,
            unit: Unit::Celsius,
            set_by: set_by.to_string(),
        }
    }

    fn joined(a: &OfficeState, b: &OfficeState) -> OfficeState {
        let mut out = a.clone();
        out.join(b);
        out
    }

    #[test]
    fn concurrent_target_writes_are_siblings_until_a_later_write() {
        let (mut wa, mut wb) = (Writer::new(NodeId(1)), Writer::new(NodeId(2)));
        let (mut a, mut b) = (OfficeState::new(), OfficeState::new());
        let key = TargetKey::new("meeting-2", Quantity::Temperature);
        let first = a.set_target(&mut wa, T0, key.clone(), target(21.0, "alice@pi-1"));
        b.apply(&first.delta);
        let x = a.set_target(&mut wa, T0 + 10, key.clone(), target(22.0, "alice@pi-1"));
        let y = b.set_target(&mut wb, T0 + 5, key.clone(), target(19.5, "bob@pi-2"));
        a.apply(&y.delta);
        b.apply(&x.delta);
        assert_eq!(a, b);
        let reg = a.target("meeting-2", Quantity::Temperature).unwrap();
        assert_eq!(reg.len(), 2);
        // The winner: highest set-at.
        assert_eq!(reg.winner().unwrap().1.value.value, 22.0);
        assert!(a.covers(x.dot) && a.covers(y.dot) && a.covers(first.dot));

        let z = b.set_target(&mut wb, T0 + 20, key, target(20.0, "bob@pi-2"));
        a.apply(&z.delta);
        let reg = a.target("meeting-2", Quantity::Temperature).unwrap();
        assert_eq!(reg.len(), 1);
        assert_eq!(reg.winner().unwrap().1.value.value, 20.0);
        assert_eq!(a, b);
    }

    #[test]
    fn concurrent_heating_writes_are_siblings_and_survive_a_round_trip() {
        use crate::crdt::{Days, Setpoint, Slot};
        let (mut wa, mut wb) = (Writer::new(NodeId(1)), Writer::new(NodeId(2)));
        let (mut a, mut b) = (OfficeState::new(), OfficeState::new());
        let schedule = |minute, by: &str| Schedule {
            slots: vec![Slot {
                days: Days::ALL,
                minute,
                setpoint: Setpoint::Preset(PresetName::Comfort),
            }],
            exceptions: vec![],
            set_by: by.into(),
        };
        let x = a.set_schedule(&mut wa, T0, "hall".into(), schedule(420, "alice"));
        let y = b.set_schedule(&mut wb, T0 + 5, "hall".into(), schedule(480, "bob"));
        let p = a.set_preset(
            &mut wa,
            T0 + 1,
            PresetKey::new("hall", PresetName::Eco),
            PresetValue {
                celsius: 16.0,
                set_by: "alice".into(),
            },
        );
        let o = b.set_override(
            &mut wb,
            T0 + 6,
            "hall".into(),
            OverrideValue {
                celsius: Some(23.0),
                expires_at_ms: Some(T0 + 7_200_000),
                set_by: "bob".into(),
            },
        );
        for d in [&y.delta, &o.delta] {
            a.apply(d);
        }
        for d in [&x.delta, &p.delta] {
            b.apply(d);
        }
        assert_eq!(a, b);
        let reg = a.schedule("hall").unwrap();
        assert_eq!(reg.len(), 2, "concurrent schedule edits stay visible");
        assert_eq!(reg.winner().unwrap().1.value.set_by, "bob");
        assert_eq!(
            a.preset("hall", PresetName::Eco)
                .unwrap()
                .winner()
                .unwrap()
                .1
                .value
                .celsius,
            16.0
        );
        assert_eq!(
            a.override_of("hall")
                .unwrap()
                .winner()
                .unwrap()
                .1
                .value
                .celsius,
            Some(23.0)
        );
        let decoded = OfficeState::decode(&a.encode().unwrap()).unwrap();
        assert_eq!(decoded, a);
        let z = a.set_schedule(&mut wa, T0 + 10, "hall".into(), Schedule::default());
        b.apply(&z.delta);
        assert_eq!(
            b.schedule("hall").unwrap().len(),
            1,
            "a later write resolves"
        );
        assert!(
            b.schedule("hall")
                .unwrap()
                .winner()
                .unwrap()
                .1
                .value
                .is_empty()
        );
    }

    #[test]
    fn set_at_never_goes_back_behind_what_a_write_replaces() {
        let (mut wa, mut wb) = (Writer::new(NodeId(1)), Writer::new(NodeId(2)));
        let (mut a, mut b) = (OfficeState::new(), OfficeState::new());
        let key = TargetKey::new("hall", Quantity::Temperature);
        let x = a.set_target(&mut wa, T0 + 60_000, key.clone(), target(21.0, "a"));
        b.apply(&x.delta);
        // b's wall clock is a minute behind.
        let y = b.set_target(&mut wb, T0, key, target(18.0, "b"));
        a.apply(&y.delta);
        let reg = a.target("hall", Quantity::Temperature).unwrap();
        assert_eq!(reg.len(), 1);
        assert!(reg.winner().unwrap().1.at > Timestamp::new(T0 + 60_000, 0));
    }

    #[test]
    fn forgetting_a_node_removes_its_keys_and_they_cannot_come_back_from_an_old_copy() {
        let (mut wn, mut wo) = (Writer::new(NodeId(7)), Writer::new(NodeId(9)));
        let mut node = OfficeState::new();
        let mut operator = OfficeState::new();
        let offline = {
            let info = sample_info("pi-7", 3);
            let d1 = node.announce_node(&mut wn, T0, info);
            let d2 = node.publish_reading(
                &mut wn,
                T0,
                temp(0),
                Reading {
                    value: 20.5,
                    unit: Unit::Celsius,
                },
            );
            let heater = ActuatorId {
                kind: ActuatorKind::Heater,
                index: 0,
            };
            let d3 = node.set_actuator(&mut wn, T0, heater, ActuatorOutput::On);
            for d in [&d1.delta, &d2.delta, &d3.delta] {
                operator.apply(d);
            }
            node.clone()
        };
        assert_eq!(operator.nodes().count(), 1);
        let forget = operator.forget_node(&mut wo, T0 + 1_000, NodeId(7));
        assert_eq!(forget.len(), 3);
        assert_eq!(operator.nodes().count(), 0);
        assert_eq!(operator.sensors().count(), 0);
        assert_eq!(operator.actuators().count(), 0);
        assert_eq!(operator.tombstones(), 3);

        // An offline replica's old copy does not resurrect anything…
        let mut rejoined = joined(&operator, &offline);
        assert_eq!(rejoined.nodes().count(), 0);
        // …even after the tombstones are collected.
        assert_eq!(
            rejoined.collect_tombstones(T0 + 1_000, Duration::from_secs(60)),
            0
        );
        assert_eq!(
            rejoined.collect_tombstones(T0 + 61_000, Duration::from_secs(60)),
            3
        );
        rejoined.join(&offline);
        assert_eq!(rejoined.nodes().count(), 0);
        assert_eq!(rejoined.sensors().count(), 0);

        // But the node writing again (it came back) wins.
        let mut node = joined(&node, &operator);
        let back = node.publish_reading(
            &mut wn,
            T0 + 2_000,
            temp(0),
            Reading {
                value: 21.0,
                unit: Unit::Celsius,
            },
        );
        rejoined.apply(&back.delta);
        assert_eq!(rejoined.sensors().count(), 1);
    }

    #[test]
    fn a_tombstone_loses_to_a_concurrent_write() {
        let (mut wn, mut wo) = (Writer::new(NodeId(7)), Writer::new(NodeId(9)));
        let mut node = OfficeState::new();
        let first = node.publish_reading(
            &mut wn,
            T0,
            temp(0),
            Reading {
                value: 20.0,
                unit: Unit::Celsius,
            },
        );
        let mut operator = OfficeState::new();
        operator.apply(&first.delta);
        let forget = operator.forget_node(&mut wo, T0 + 1, NodeId(7));
        let later = node.publish_reading(
            &mut wn,
            T0 + 2,
            temp(0),
            Reading {
                value: 20.2,
                unit: Unit::Celsius,
            },
        );
        node.apply(&forget);
        operator.apply(&later.delta);
        assert_eq!(node, operator);
        assert_eq!(
            operator
                .sensor(NodeId(7), temp(0))
                .unwrap()
                .winner()
                .unwrap()
                .1
                .value
                .value,
            20.2
        );
    }

    #[test]
    fn an_actuator_keeps_since_while_unchanged() {
        let mut w = Writer::new(NodeId(3));
        let mut s = OfficeState::new();
        let heater = ActuatorId {
            kind: ActuatorKind::Heater,
            index: 0,
        };
        s.set_actuator(&mut w, T0, heater, ActuatorOutput::On);
        s.set_actuator(&mut w, T0 + 5_000, heater, ActuatorOutput::On);
        let state = s
            .actuator(NodeId(3), heater)
            .unwrap()
            .winner()
            .unwrap()
            .1
            .value;
        assert_eq!(state.since.wall_ms, T0);
        s.set_actuator(&mut w, T0 + 9_000, heater, ActuatorOutput::Off);
        let state = s
            .actuator(NodeId(3), heater)
            .unwrap()
            .winner()
            .unwrap()
            .1
            .value;
        assert_eq!(state.since.wall_ms, T0 + 9_000);
    }

    #[test]
    fn a_resumed_writer_never_reuses_a_dot_found_in_the_state() {
        let mut w = Writer::new(NodeId(3));
        let mut s = OfficeState::new();
        for i in 0..5 {
            s.publish_reading(
                &mut w,
                T0 + i,
                temp(0),
                Reading {
                    value: 1.0,
                    unit: Unit::Celsius,
                },
            );
        }
        // The persisted writer record is older than the state.
        let resumed = Writer::resume(NodeId(3), 2, Hlc::new(), &s);
        assert_eq!(resumed.last_counter(), 5);
        assert!(resumed.hlc().last() >= Timestamp::new(T0 + 4, 0));
    }

    #[test]
    fn encodings_round_trip_and_garbage_is_an_error() {
        let mut w = Writer::new(NodeId(3));
        let mut s = OfficeState::new();
        let d = s.announce_node(&mut w, T0, sample_info("pi-3", 2)).delta;
        assert_eq!(Delta::decode(&d.encode().unwrap()).unwrap(), d);
        assert_eq!(OfficeState::decode(&s.encode().unwrap()).unwrap(), s);
        let mut bytes = d.encode().unwrap();
        bytes.push(0);
        assert!(matches!(
            Delta::decode(&bytes),
            Err(CodecError::TrailingBytes { .. })
        ));
        assert!(matches!(
            Delta::decode(&[0xff, 0xff, 0xff]),
            Err(CodecError::Malformed { .. })
        ));
    }

    fn sample_info(name: &str, neighbours: u64) -> NodeInfo {
        NodeInfo {
            name: name.to_string(),
            zone: "open-space".to_string(),
            role: Role::Node,
            version: "0.1.0".to_string(),
            interfaces: vec![
                Interface {
                    name: "eth0".to_string(),
                    mac: [0xdc, 0xa6, 0x32, 0x01, 0x02, 0x03],
                    ipv4: vec![std::net::Ipv4Addr::new(192, 168, 1, 42)],
                    ipv6: vec!["fe80::dea6:32ff:fe01:203".parse().unwrap()],
                },
                Interface {
                    name: "wlan0".to_string(),
                    mac: [0xdc, 0xa6, 0x32, 0x01, 0x02, 0x04],
                    ipv4: vec![std::net::Ipv4Addr::new(192, 168, 2, 42)],
                    ipv6: vec![],
                },
            ],
            failed_sensors: vec![FailedSensor {
                sensor: "ds18b20".to_string(),
                message: "no 1-wire device".to_string(),
            }],
            neighbours: (0..neighbours)
                .map(|i| NodeId::from_public_key(&i.to_be_bytes()))
                .collect(),
            cluster_keys: Vec::new(),
        }
    }

    // ----- sizes (README "Size" figures) ----------------------------------

    fn key(i: u64) -> crate::crdt::WriteKey {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        crate::crdt::WriteKey::from_seed(seed)
    }

    fn pi(i: u64) -> NodeId {
        key(i).id()
    }

    /// A signing writer that has been running for a year: three readings
    /// every ten seconds make a counter around 9.5 million (a 4-byte
    /// varint).
    fn busy_writer(i: u64) -> Writer {
        let mut w = Writer::signing(key(i));
        w.raise_counter(9_500_000);
        w
    }

    /// A reading's delta is its register: the key, the value, the dot,
    /// what it replaces (the node's previous reading) and the signature.
    #[test]
    fn a_sensor_readings_delta_is_at_most_128_bytes() {
        let mut w = busy_writer(1);
        let mut s = OfficeState::new();
        s.publish_reading(
            &mut w,
            T0,
            temp(0),
            Reading {
                value: 21.37,
                unit: Unit::Celsius,
            },
        );
        let d = s.publish_reading(
            &mut w,
            T0 + 10_000,
            temp(0),
            Reading {
                value: 21.4,
                unit: Unit::Celsius,
            },
        );
        let len = d.delta.encode().unwrap().len();
        println!("sensor reading delta, signed: {len} bytes");
        assert!(len <= 128, "{len}");
    }

    /// A signed target write by an operator every replica knows from the
    /// operators list (its key does not travel), by the 1st to 4th
    /// distinct writer of the key (each replaces the writes before it, so
    /// its signed `seen` names them).
    #[test]
    fn a_signed_target_writes_delta_is_at_most_176_bytes() {
        let key = TargetKey::new("meeting-2", Quantity::Temperature);
        let mut s = OfficeState::new();
        let mut carried = OfficeState::new();
        let mut sizes = Vec::new();
        let mut with_key = Vec::new();
        for writer in 0..4 {
            let mut w = busy_writer(100 + writer);
            let d = s.set_target(
                &mut w,
                T0 + writer * 1_000,
                key.clone(),
                target(21.5, "alice@pi-3"),
            );
            sizes.push(d.delta.encode().unwrap().len());
            let mut w = busy_writer(100 + writer).carry_key();
            let d = carried.set_target(
                &mut w,
                T0 + writer * 1_000,
                key.clone(),
                target(21.5, "alice@pi-3"),
            );
            with_key.push(d.delta.encode().unwrap().len());
        }
        println!(
            "signed target write delta (zone \"meeting-2\", label \"alice@pi-3\"), by the 1st..4th distinct writer of the key: {sizes:?} bytes; with the writer's key carried (no operators list): {with_key:?} bytes"
        );
        assert!(sizes.iter().all(|&len| len <= 176), "{sizes:?}");
    }

    #[test]
    fn a_100_node_office_signed_is_at_most_96_kib() {
        let mut office = OfficeState::new();
        let ids: Vec<NodeId> = (0..100).map(pi).collect();
        for (i, _) in ids.iter().enumerate() {
            let mut w = busy_writer(i as u64);
            let mut info = sample_info(&format!("pi-{i:03}"), 0);
            info.zone = format!("room-{}", i % 20);
            info.neighbours = (1..=5).map(|k| ids[(i + k * 7) % ids.len()]).collect();
            office.announce_node(&mut w, T0, info);
            for (quantity, unit, value) in [
                (Quantity::Temperature, Unit::Celsius, 21.3),
                (Quantity::Humidity, Unit::Percent, 45.0),
                (Quantity::Pressure, Unit::Hectopascal, 1013.2),
            ] {
                let sensor = SensorId { quantity, index: 0 };
                office.publish_reading(&mut w, T0, sensor, Reading { value, unit });
            }
            let heater = ActuatorId {
                kind: ActuatorKind::Heater,
                index: 0,
            };
            office.set_actuator(&mut w, T0, heater, ActuatorOutput::On);
        }
        let mut operator = busy_writer(1_000);
        for zone in 0..20 {
            let key = TargetKey::new(format!("room-{zone}"), Quantity::Temperature);
            let mut node = busy_writer(zone as u64);
            office.set_target(&mut node, T0, key.clone(), target(20.0, "pi-000"));
            office.set_target(&mut operator, T0 + 1, key, target(21.5, "alice@pi-3"));
        }
        assert_eq!(
            (
                office.nodes().count(),
                office.sensors().count(),
                office.actuators().count(),
                office.targets().count()
            ),
            (100, 300, 100, 20)
        );
        let len = office.encode().unwrap().len();
        println!(
            "whole state, signed, 100 nodes / 300 sensors / 100 actuators / 20 targets: {len} bytes"
        );
        assert!(len <= 96 * 1024, "{len}");
    }

    // ----- the laws, on states reached by random runs ------------------------

    #[derive(Clone, Debug)]
    enum Op {
        Target {
            replica: usize,
            zone: u8,
            value: i8,
        },
        Reading {
            replica: usize,
            sensor: u8,
            value: i8,
        },
        Announce {
            replica: usize,
            neighbours: u8,
        },
        Actuator {
            replica: usize,
            on: bool,
        },
        Forget {
            replica: usize,
            node: usize,
        },
        Deliver {
            to: usize,
            delta: usize,
        },
        Join {
            from: usize,
            to: usize,
        },
    }

    const REPLICAS: usize = 3;

    fn arb_op() -> impl Strategy<Value = Op> {
        let r = 0..REPLICAS;
        prop_oneof![
            3 => (r.clone(), 0u8..2, any::<i8>()).prop_map(|(replica, zone, value)| Op::Target { replica, zone, value }),
            2 => (r.clone(), 0u8..2, any::<i8>()).prop_map(|(replica, sensor, value)| Op::Reading { replica, sensor, value }),
            1 => (r.clone(), 0u8..3).prop_map(|(replica, neighbours)| Op::Announce { replica, neighbours }),
            1 => (r.clone(), any::<bool>()).prop_map(|(replica, on)| Op::Actuator { replica, on }),
            1 => (r.clone(), r.clone()).prop_map(|(replica, node)| Op::Forget { replica, node }),
            3 => (r.clone(), any::<usize>()).prop_map(|(to, delta)| Op::Deliver { to, delta }),
            2 => (r.clone(), r).prop_map(|(from, to)| Op::Join { from, to }),
        ]
    }

    /// A run: every state any replica passed through, and every delta made.
    struct Run {
        snapshots: Vec<OfficeState>,
        finals: Vec<OfficeState>,
        deltas: Vec<Delta>,
    }

    /// Runs `ops`, checking on the way the delta-mutator law: the state
    /// after a mutation is the state before it joined with its delta, and
    /// so is any state that has seen less joined with the delta and then
    /// with the state before.
    fn run(ops: &[Op]) -> Result<Run, TestCaseError> {
        let mut writers: Vec<Writer> = (0..REPLICAS)
            .map(|i| Writer::new(NodeId(100 + i as u64)))
            .collect();
        let mut states = vec![OfficeState::new(); REPLICAS];
        let mut history: Vec<Vec<OfficeState>> = vec![vec![OfficeState::new()]; REPLICAS];
        let mut snapshots = vec![OfficeState::new()];
        let mut deltas: Vec<Delta> = Vec::new();
        for (step, op) in ops.iter().enumerate() {
            let wall = T0 + step as u64 * 7;
            let (replica, delta) = match *op {
                Op::Target {
                    replica,
                    zone,
                    value,
                } => {
                    let key = TargetKey::new(format!("z{zone}"), Quantity::Temperature);
                    let w = states[replica].set_target(
                        &mut writers[replica],
                        wall,
                        key,
                        target(value as f32, "op"),
                    );
                    (replica, Some(w.delta))
                }
                Op::Reading {
                    replica,
                    sensor,
                    value,
                } => {
                    let reading = Reading {
                        value: value as f32,
                        unit: Unit::Celsius,
                    };
                    let w = states[replica].publish_reading(
                        &mut writers[replica],
                        wall,
                        temp(sensor),
                        reading,
                    );
                    (replica, Some(w.delta))
                }
                Op::Announce {
                    replica,
                    neighbours,
                } => {
                    let info = sample_info("n", neighbours as u64);
                    let w = states[replica].announce_node(&mut writers[replica], wall, info);
                    (replica, Some(w.delta))
                }
                Op::Actuator { replica, on } => {
                    let out = if on {
                        ActuatorOutput::On
                    } else {
                        ActuatorOutput::Off
                    };
                    let heater = ActuatorId {
                        kind: ActuatorKind::Heater,
                        index: 0,
                    };
                    let w = states[replica].set_actuator(&mut writers[replica], wall, heater, out);
                    (replica, Some(w.delta))
                }
                Op::Forget { replica, node } => {
                    let id = writers[node].id();
                    let d = states[replica].forget_node(&mut writers[replica], wall, id);
                    (replica, Some(d))
                }
                Op::Deliver { to, delta } => {
                    if !deltas.is_empty() {
                        let d = deltas[delta % deltas.len()].clone();
                        states[to].apply(&d);
                    }
                    (to, None)
                }
                Op::Join { from, to } => {
                    let other = states[from].clone();
                    states[to].join(&other);
                    (to, None)
                }
            };
            if let Some(delta) = delta {
                let before = history[replica].last().cloned().unwrap_or_default();
                let mut via_delta = before.clone();
                via_delta.apply(&delta);
                prop_assert_eq!(
                    &via_delta,
                    &states[replica],
                    "state ⊔ delta = mutated state"
                );
                for earlier in &history[replica] {
                    let mut e = earlier.clone();
                    e.apply(&delta);
                    e.join(&before);
                    prop_assert_eq!(&e, &states[replica], "an earlier state ⊔ delta ⊔ state");
                }
                deltas.push(delta);
            }
            history[replica].push(states[replica].clone());
            snapshots.push(states[replica].clone());
        }
        Ok(Run {
            snapshots,
            finals: states,
            deltas,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn join_is_commutative_associative_and_idempotent(
            ops in proptest::collection::vec(arb_op(), 1..40),
            picks in (any::<usize>(), any::<usize>(), any::<usize>()),
        ) {
            let run = run(&ops)?;
            let n = run.snapshots.len();
            let (a, b, c) = (&run.snapshots[picks.0 % n], &run.snapshots[picks.1 % n], &run.snapshots[picks.2 % n]);
            prop_assert_eq!(joined(a, b), joined(b, a));
            prop_assert_eq!(joined(&joined(a, b), c), joined(a, &joined(b, c)));
            prop_assert_eq!(&joined(a, a), a);
            prop_assert_eq!(&OfficeState::decode(&a.encode().unwrap()).unwrap(), a);
            // Equal states encode equally.
            prop_assert_eq!(joined(a, b).encode().unwrap(), joined(b, a).encode().unwrap());
        }

        #[test]
        fn deltas_in_any_order_with_duplicates_equal_their_join(
            ops in proptest::collection::vec(arb_op(), 1..40),
            seed in any::<u64>(),
        ) {
            use rand::seq::SliceRandom;
            use rand_chacha::rand_core::SeedableRng;
            let run = run(&ops)?;
            let mut in_order = OfficeState::new();
            for d in &run.deltas {
                in_order.apply(d);
            }
            let mut as_states = OfficeState::new();
            for d in &run.deltas {
                as_states.join(&OfficeState::from(d.clone()));
            }
            prop_assert_eq!(&in_order, &as_states);

            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let mut shuffled: Vec<&Delta> = run.deltas.iter().chain(run.deltas.iter().step_by(2)).collect();
            shuffled.shuffle(&mut rng);
            let mut any_order = OfficeState::new();
            for d in shuffled {
                any_order.apply(d);
            }
            prop_assert_eq!(&any_order, &in_order);

            // Every replica's state is made of those deltas: joining them all
            // gives what joining all the deltas gives.
            let mut all_states = OfficeState::new();
            for s in &run.finals {
                all_states.join(s);
            }
            prop_assert_eq!(&all_states, &in_order);
            prop_assert_eq!(all_states.encode().unwrap(), in_order.encode().unwrap());
        }
    }
}
