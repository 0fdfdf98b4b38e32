//! Bounds on the heating values operators replicate (schedules, presets,
//! overrides).
//!
//! Every value a peer can send is checked against these before it is
//! admitted, and the CLI and the TUI check the same bounds before they
//! write, so an operator sees the same refusal a node would give.

use serde::{Deserialize, Serialize};

/// Most slots in one zone's weekly program. A slot is one switch (days,
/// time, set-point); 64 allows a switch every few hours of every day with
/// room to spare, and keeps a schedule delta under about 1 KiB.
pub const MAX_SLOTS: usize = 64;

/// Most exceptions (holidays, closures) one schedule holds. A year of
/// public holidays and closures fits; old ones are cleared by rewriting.
pub const MAX_EXCEPTIONS: usize = 32;

/// Longest zone name, bytes. Zones travel in every heating key.
pub const MAX_ZONE_LEN: usize = 32;

/// Longest "set by" label or exception label, bytes: shown in one TUI cell.
pub const MAX_LABEL_LEN: usize = 48;

/// Longest override, from its write to its expiry: a boost is hours, a
/// week-long hold covers a closure; longer is a schedule's job.
pub const MAX_OVERRIDE_MS: u64 = 7 * 24 * 3600 * 1000;

/// The limits the heating values are checked against.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeatingLimits {
    pub max_slots: usize,
    pub max_exceptions: usize,
    pub max_zone_len: usize,
    pub max_label_len: usize,
    /// The lowest set-point in °C a schedule, preset or override may name.
    pub min_celsius: f32,
    /// The highest set-point in °C.
    pub max_celsius: f32,
    pub max_override_ms: u64,
}

impl Default for HeatingLimits {
    /// 5–30 °C: the span of the default `[targets.temperature]` bounds; a
    /// frost floor below 5 °C protects nothing, above 30 °C is a mistake.
    fn default() -> Self {
        HeatingLimits {
            max_slots: MAX_SLOTS,
            max_exceptions: MAX_EXCEPTIONS,
            max_zone_len: MAX_ZONE_LEN,
            max_label_len: MAX_LABEL_LEN,
            min_celsius: 5.0,
            max_celsius: 30.0,
            max_override_ms: MAX_OVERRIDE_MS,
        }
    }
}

/// Why a set-point is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CelsiusError {
    #[error("{value} °C is not a number")]
    NotFinite { value: f32 },
    #[error("{value} °C is outside {min}–{max} °C")]
    OutOfRange { value: f32, min: f32, max: f32 },
}

/// Why a zone name is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ZoneError {
    #[error("the zone name is empty")]
    Empty,
    #[error("the zone name is {len} bytes, at most {max}")]
    TooLong { len: usize, max: usize },
}

impl HeatingLimits {
    /// A set-point in °C inside the bounds.
    pub fn check_celsius(&self, value: f32) -> Result<(), CelsiusError> {
        if !value.is_finite() {
            return Err(CelsiusError::NotFinite { value });
        }
        if value < self.min_celsius || value > self.max_celsius {
            return Err(CelsiusError::OutOfRange {
                value,
                min: self.min_celsius,
                max: self.max_celsius,
            });
        }
        Ok(())
    }

    /// A zone name a heating key may carry.
    pub fn check_zone(&self, zone: &str) -> Result<(), ZoneError> {
        if zone.is_empty() {
            return Err(ZoneError::Empty);
        }
        if zone.len() > self.max_zone_len {
            return Err(ZoneError::TooLong {
                len: zone.len(),
                max: self.max_zone_len,
            });
        }
        Ok(())
    }

    /// A label ("set by", an exception's name) short enough to show.
    pub fn label_fits(&self, label: &str) -> bool {
        label.len() <= self.max_label_len
    }
}
