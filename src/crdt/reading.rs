//! The value under a `Sensor(node, sensor)` key.

use serde::{Deserialize, Serialize};

use super::quantity::Unit;

/// A measurement. Its *measured-at* time is the register sibling's
/// timestamp, so it is not repeated here (a reading's delta must stay small:
/// one is broadcast per sensor per interval).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub value: f32,
    pub unit: Unit,
}
