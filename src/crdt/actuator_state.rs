//! The value under an `Actuator(node, actuator)` key.

use serde::{Deserialize, Serialize};

use super::hlc::Timestamp;

/// What an actuator is driven to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ActuatorOutput {
    Off,
    On,
    /// A level between 0.0 and 1.0 (a dimmer, a valve).
    Level(f32),
}

/// The output and since when it has been that: re-publishing an unchanged
/// output keeps `since`, so the TUI can show "heating for 12 min".
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActuatorState {
    pub output: ActuatorOutput,
    pub since: Timestamp,
}
