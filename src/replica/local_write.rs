//! How the devices layer hands its writes to the node task.
//!
//! Sensors, the thermostat and the actuator drivers run in their own tasks;
//! they never touch the office state. They send one of these through
//! `NodeHandle::local_writes` and the replica core turns it into a
//! CRDT write with a fresh dot, persists it and broadcasts the delta.

use crate::crdt::{ActuatorId, ActuatorOutput, FailedSensor, Quantity, Reading, SensorId};

#[derive(Clone, Debug, PartialEq)]
pub enum LocalWrite {
    /// A new measurement (persisted lazily: it is re-measured anyway).
    Reading { sensor: SensorId, reading: Reading },
    /// An actuator was driven to `output`.
    Actuator {
        actuator: ActuatorId,
        output: ActuatorOutput,
    },
    /// The sensors configured but not working, replacing the previous
    /// list; re-announced in the node's `Node` entry when it changed.
    FailedSensors(Vec<FailedSensor>),
    /// A target set on this node (committed before it is broadcast).
    Target {
        zone: String,
        quantity: Quantity,
        value: f32,
        set_by: String,
    },
}
