//! The plain data the TUI renders: what the observer client knows of the office.
//!
//! The TUI never reaches into the CRDT or protocol types. The observer client
//! (which is attached to one node and receives every change it admits) folds the
//! office state into an [`OfficeSnapshot`] and sends it in a
//! [`NetworkUpdate::Snapshot`](super::NetworkUpdate::Snapshot); the TUI only
//! reads it. Keeping the model plain keeps rendering pure and testable with a
//! fixed state, and lets the replicated types change without touching views.
//!
//! All times are wall-clock milliseconds since the Unix epoch, so ages
//! ("42s ago") are a pure function of the snapshot and the App's `now_ms`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::NodeId;

/// A version vector as the TUI sees it: origin replica → highest counter seen.
pub type Clock = BTreeMap<NodeId, u64>;

/// Everything the TUI shows about the office at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfficeSnapshot {
    /// The node the observer is attached to, if any yet.
    pub attached: Option<AttachedNode>,
    /// Whether the observer currently has a live session with `attached`.
    pub connection: ConnectionStatus,
    /// Every node the office state knows of (including forgotten ones).
    pub nodes: Vec<NodeInfo>,
    /// The latest reading of every sensor.
    pub readings: Vec<SensorReading>,
    /// Every actuator (heater relay, ...) and its state.
    pub actuators: Vec<ActuatorState>,
    /// Every target register, with all its concurrent values.
    pub targets: Vec<TargetState>,
    /// Each replica's version vector, keyed by the replica.
    pub clocks: BTreeMap<NodeId, Clock>,
    /// Each zone's heating program in words, by zone.
    pub programs: BTreeMap<String, ZoneProgramText>,
}

/// A zone's replicated heating program, as the schedule language prints it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneProgramText {
    /// "mon-fri 07:00 comfort, 18:00 eco; sat-sun eco".
    pub schedule: Option<String>,
    /// Concurrent schedule edits are waiting to be resolved.
    pub schedule_conflict: bool,
    /// "23.0 °C by alice until 11:15 UTC" while an override holds.
    pub override_text: Option<String>,
    /// Preset values set for the zone: (name, °C).
    pub presets: Vec<(String, f64)>,
    /// Every concurrent value of the zone's schedule register, the one
    /// the nodes follow first; what the schedule editor starts from. An
    /// empty schedule here is a cleared one.
    pub schedules: Vec<ScheduleSibling>,
}

/// One value of a zone's schedule register. The schedule is the
/// replicated value itself (plain data: days, minutes, dates), so the
/// editor checks a draft with the very function nodes admit it with.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleSibling {
    pub schedule: crate::crdt::Schedule,
    pub set_at_ms: u64,
}

/// The node an observer is attached to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachedNode {
    /// Its human name (`node.name`).
    pub name: String,
    /// The address the observer connected to, as the operator typed or it was learned.
    pub addr: String,
}

/// The observer's session with its node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// First connection attempt, nothing received yet.
    #[default]
    Connecting,
    /// Attached and receiving broadcasts.
    Connected,
    /// The node went away; the observer is trying another known node.
    Reconnecting,
}

/// Liveness of a node as seen from the attached node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NodeStatus {
    /// In touch recently.
    Alive,
    /// Known but not heard from: its readings are stale, its clock lags.
    Unreachable,
    /// Decommissioned with a tombstone; kept on screen until collected.
    Forgotten,
}

/// One node of the office as published in its `Node(id)` register.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub id: NodeId,
    pub name: String,
    pub zone: String,
    /// What the node does ("sensor", "heater", "observer", ...), free text.
    pub role: String,
    pub status: NodeStatus,
    pub interfaces: Vec<Interface>,
    /// When anything was last heard from the node, if ever.
    pub last_seen_ms: Option<u64>,
    /// Its overlay neighbours (HyParView active view).
    pub neighbours: Vec<NodeId>,
    /// Sensors the node failed to read, with the reason it gave.
    pub failed_sensors: Vec<FailedSensor>,
}

/// A network interface of a node: how an operator finds the Pi on the LAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: [u8; 6],
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// A sensor that exists in a node's configuration but does not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedSensor {
    pub sensor: String,
    pub message: String,
}

/// The latest value of one sensor (`Sensor(id, sensor)` register).
#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    pub node: NodeId,
    pub sensor: String,
    pub zone: String,
    /// "temperature", "humidity", "pressure", ...
    pub quantity: String,
    pub value: f64,
    pub unit: String,
    pub measured_at_ms: u64,
}

/// An actuator and its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActuatorState {
    pub node: NodeId,
    pub name: String,
    pub zone: String,
    pub on: bool,
    /// When it last switched.
    pub since_ms: u64,
}

/// A `Target(zone, quantity)` register with all its siblings.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetState {
    pub zone: String,
    pub quantity: String,
    /// Concurrent values; one unless writes raced.
    pub siblings: Vec<TargetSibling>,
    /// Index into `siblings` of the value thermostats act on.
    pub winner: usize,
}

impl TargetState {
    /// The value the thermostats act on.
    pub fn winning(&self) -> Option<&TargetSibling> {
        self.siblings.get(self.winner)
    }
}

/// One value of a target register.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSibling {
    pub value: f64,
    pub unit: String,
    /// Who wrote it ("alice@office-pi-3"): the audit trail.
    pub set_by: String,
    pub set_at_ms: u64,
    /// The write's dot: (origin replica, counter).
    pub dot: (NodeId, u64),
}
