//! Why a zone's heating is in its safe state.
//!
//! The safe state is off, or with `[heating] frost_floor` the floor
//! temperature when a reading still allows regulating (no target and no
//! schedule known). It is entered at once, whatever the minimum times say,
//! and shown with its cause in words.

use std::fmt;

/// What put the heating into its safe state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SafetyCause {
    /// No temperature was ever measured.
    NoReading,
    /// The last temperature is older than `stale_after`.
    StaleReading,
    /// The heating sensor is listed as failed.
    FailedSensor,
    /// Nothing says what the zone should be at: no override, no schedule,
    /// no target.
    NoTarget,
    /// The relay did not switch.
    RelayError,
}

impl SafetyCause {
    /// Whether the heater can still hold a frost floor (it needs a reading).
    pub fn can_regulate(self) -> bool {
        matches!(self, SafetyCause::NoTarget)
    }
}

impl fmt::Display for SafetyCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SafetyCause::NoReading => "no reading",
            SafetyCause::StaleReading => "stale reading",
            SafetyCause::FailedSensor => "failed sensor",
            SafetyCause::NoTarget => "no target and no schedule",
            SafetyCause::RelayError => "relay error",
        })
    }
}
