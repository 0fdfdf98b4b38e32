//! The keys of the office state.
//!
//! Per-node keys (`Node`, `Sensor`, `Actuator`) are written by that node
//! (and removed by whoever forgets it); `Target` keys by any node or
//! observer; the heating keys (`Schedule`, `Preset`, `Override`) by
//! operators. Keys order deterministically so encodings are canonical.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::preset::PresetKey;
use super::quantity::Quantity;
use crate::node_id::NodeId;

/// One sensor on a node: what it measures and which of several it is
/// (a BME280 and a DS18B20 on one Pi are `Temperature#0` and `Temperature#1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SensorId {
    pub quantity: Quantity,
    pub index: u8,
}

/// What an actuator does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ActuatorKind {
    Heater,
    Cooler,
    Fan,
    Light,
    Relay,
}

/// One actuator on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActuatorId {
    pub kind: ActuatorKind,
    pub index: u8,
}

/// `Sensor(node, sensor)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SensorKey {
    pub node: NodeId,
    pub sensor: SensorId,
}

/// `Actuator(node, actuator)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ActuatorKey {
    pub node: NodeId,
    pub actuator: ActuatorId,
}

/// `Target(zone, quantity)`: what a zone should be held at. Zones are short
/// names ("meeting-2"); keep them short, they travel in every target delta.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TargetKey {
    pub zone: String,
    pub quantity: Quantity,
}

impl TargetKey {
    pub fn new(zone: impl Into<String>, quantity: Quantity) -> Self {
        TargetKey {
            zone: zone.into(),
            quantity,
        }
    }
}

/// Any key of the office state.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Key {
    Node(NodeId),
    Sensor(SensorKey),
    Actuator(ActuatorKey),
    Target(TargetKey),
    /// `Schedule(zone)`: the zone's weekly program and exceptions.
    Schedule(String),
    /// `Preset(zone, name)`: what comfort, eco or away means in the zone.
    Preset(PresetKey),
    /// `Override(zone)`: an operator's temperature, with an optional expiry.
    Override(String),
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.quantity, self.index)
    }
}

impl fmt::Display for ActuatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}#{}", self.kind, self.index)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Node(id) => write!(f, "node {}", id.short()),
            Key::Sensor(k) => write!(f, "sensor {}/{}", k.node.short(), k.sensor),
            Key::Actuator(k) => write!(f, "actuator {}/{}", k.node.short(), k.actuator),
            Key::Target(k) => write!(f, "target {}/{}", k.zone, k.quantity),
            Key::Schedule(zone) => write!(f, "schedule {zone}"),
            Key::Preset(k) => write!(f, "preset {}/{}", k.zone, k.preset),
            Key::Override(zone) => write!(f, "override {zone}"),
        }
    }
}
