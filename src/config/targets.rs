//! `[targets]`: which values an operator may set, per quantity.

use serde::Deserialize;

/// The values a target may take: `min..=max` in steps of `step` from `min`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRange {
    pub min: f64,
    pub max: f64,
    pub step: f64,
}

/// Why a target value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    #[error("{value} is outside the allowed range {min}..={max}")]
    OutOfRange { value: f64, min: f64, max: f64 },
    #[error("{value} is not a multiple of {step} from {min}")]
    OffStep { value: f64, min: f64, step: f64 },
    #[error("{0} is not a number")]
    NotFinite(f64),
}

impl TargetRange {
    /// Checks `value` against the range and the step.
    pub fn check(&self, value: f64) -> Result<(), TargetError> {
        if !value.is_finite() {
            return Err(TargetError::NotFinite(value));
        }
        if value < self.min || value > self.max {
            return Err(TargetError::OutOfRange {
                value,
                min: self.min,
                max: self.max,
            });
        }
        let steps = (value - self.min) / self.step;
        if (steps - steps.round()).abs() > 1e-6 {
            return Err(TargetError::OffStep {
                value,
                min: self.min,
                step: self.step,
            });
        }
        Ok(())
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.min.is_finite() && self.max.is_finite() && self.step.is_finite()) {
            return Err("min, max and step must be numbers".into());
        }
        if self.min >= self.max {
            return Err(format!(
                "min ({}) must be below max ({})",
                self.min, self.max
            ));
        }
        if self.step <= 0.0 {
            return Err(format!("step ({}) must be positive", self.step));
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsSection {
    /// Room temperature in °C: 5 °C protects against frost, 30 °C is
    /// warmer than any office needs, half-degree steps match a thermostat dial.
    pub temperature: TargetRange,
}

impl Default for TargetsSection {
    fn default() -> Self {
        Self {
            temperature: TargetRange {
                min: 5.0,
                max: 30.0,
                step: 0.5,
            },
        }
    }
}

impl TargetsSection {
    /// The bounds schedules, presets and overrides are checked against:
    /// the temperature range an operator may set, and the other limits at
    /// their defaults.
    pub fn heating_limits(&self) -> crate::crdt::HeatingLimits {
        crate::crdt::HeatingLimits {
            min_celsius: self.temperature.min as f32,
            max_celsius: self.temperature.max as f32,
            ..crate::crdt::HeatingLimits::default()
        }
    }

    /// The range for a quantity by its name in `set target --quantity`.
    pub fn range(&self, quantity: &str) -> Option<&TargetRange> {
        match quantity {
            "temperature" => Some(&self.temperature),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_range_and_step() {
        let r = TargetsSection::default().temperature;
        assert!(r.check(21.5).is_ok());
        assert!(r.check(5.0).is_ok() && r.check(30.0).is_ok());
        assert!(matches!(r.check(21.3), Err(TargetError::OffStep { .. })));
        assert!(matches!(r.check(31.0), Err(TargetError::OutOfRange { .. })));
        assert!(matches!(r.check(f64::NAN), Err(TargetError::NotFinite(_))));
    }
}
