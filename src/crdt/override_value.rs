//! An operator override of a zone's temperature, replicated under
//! `Override(zone)`: the level above the schedule in the priority
//! resolution (`control::effective_target`).
//!
//! A boost carries its absolute expiry, so every node drops it at the
//! same wall-clock moment without another write and a node cut off from
//! the mesh reverts on time too.

use serde::{Deserialize, Serialize};

use super::heating_limits::{CelsiusError, HeatingLimits, ZoneError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OverrideValue {
    /// The set-point in °C; `None` clears the override (a write, so a
    /// clear and a concurrent boost stay visible side by side).
    pub celsius: Option<f32>,
    /// Unix milliseconds after which the override no longer applies;
    /// `None` holds until cleared.
    pub expires_at_ms: Option<u64>,
    /// Who set it, for people: "alice@pi-3".
    pub set_by: String,
}

/// Why an override write is refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OverrideError {
    #[error("zone: {0}")]
    Zone(#[from] ZoneError),
    #[error(transparent)]
    Celsius(#[from] CelsiusError),
    #[error("the override lasts {lasts_ms} ms past its write, at most {max_ms} ms")]
    TooLong { lasts_ms: u64, max_ms: u64 },
    #[error("set-by is {len} bytes, at most {max}")]
    SetByTooLong { len: usize, max: usize },
}

impl OverrideValue {
    /// Whether the override holds at `now_ms`.
    pub fn active_at(&self, now_ms: u64) -> Option<f32> {
        match self.expires_at_ms {
            Some(end) if now_ms >= end => None,
            _ => self.celsius,
        }
    }

    /// Checks an override written at `written_at_ms` (the sibling's
    /// timestamp) for `zone`: the admission of an `Override` key, and what
    /// the CLI checks before it writes.
    pub fn check(
        &self,
        zone: &str,
        written_at_ms: u64,
        limits: &HeatingLimits,
    ) -> Result<(), OverrideError> {
        limits.check_zone(zone)?;
        if let Some(c) = self.celsius {
            limits.check_celsius(c)?;
        }
        if let Some(end) = self.expires_at_ms {
            let lasts_ms = end.saturating_sub(written_at_ms);
            if lasts_ms > limits.max_override_ms {
                return Err(OverrideError::TooLong {
                    lasts_ms,
                    max_ms: limits.max_override_ms,
                });
            }
        }
        if !limits.label_fits(&self.set_by) {
            return Err(OverrideError::SetByTooLong {
                len: self.set_by.len(),
                max: limits.max_label_len,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boost(celsius: f32, expires_at_ms: Option<u64>) -> OverrideValue {
        OverrideValue {
            celsius: Some(celsius),
            expires_at_ms,
            set_by: "alice".into(),
        }
    }

    #[test]
    fn a_boost_holds_until_its_expiry_and_not_a_millisecond_longer() {
        let b = boost(23.0, Some(10_000));
        assert_eq!(b.active_at(0), Some(23.0));
        assert_eq!(b.active_at(9_999), Some(23.0));
        assert_eq!(b.active_at(10_000), None);
        assert_eq!(boost(23.0, None).active_at(u64::MAX), Some(23.0));
        let cleared = OverrideValue { celsius: None, ..b };
        assert_eq!(cleared.active_at(0), None);
    }

    #[test]
    fn an_override_too_long_too_hot_or_for_no_zone_is_refused() {
        let limits = HeatingLimits::default();
        assert_eq!(
            boost(23.0, Some(7_200_000)).check("kitchen", 0, &limits),
            Ok(())
        );
        assert!(matches!(
            boost(23.0, Some(limits.max_override_ms + 1)).check("kitchen", 0, &limits),
            Err(OverrideError::TooLong { .. })
        ));
        assert!(matches!(
            boost(90.0, None).check("kitchen", 0, &limits),
            Err(OverrideError::Celsius(_))
        ));
        assert!(matches!(
            boost(21.0, None).check(&"z".repeat(100), 0, &limits),
            Err(OverrideError::Zone(ZoneError::TooLong { .. }))
        ));
    }
}
