//! The range and step an operator may set each target quantity to.
//!
//! Validation happens in the dialog, on the spot, so a typo never reaches
//! the network; the limits come from the configuration file.

use std::collections::BTreeMap;

/// Allowed values for one quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetRange {
    pub min: f64,
    pub max: f64,
    /// What `+`/`-` and the arrows add or remove.
    pub step: f64,
    pub unit: String,
}

/// Allowed values per quantity ("temperature", "humidity", ...).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetLimits(pub BTreeMap<String, TargetRange>);

/// Why a typed target value is refused, in the operator's terms.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetValueError {
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("{value} is below the minimum {min} {unit}")]
    BelowMin { value: f64, min: f64, unit: String },
    #[error("{value} is above the maximum {max} {unit}")]
    AboveMax { value: f64, max: f64, unit: String },
    #[error("{value} is not a step of {step} {unit} from {min}")]
    OffStep {
        value: f64,
        min: f64,
        step: f64,
        unit: String,
    },
    #[error("no range is configured for {0}")]
    UnknownQuantity(String),
}

impl TargetLimits {
    /// The defaults for an office: comfortable temperatures and humidities.
    pub fn office_defaults() -> Self {
        let mut map = BTreeMap::new();
        map.insert(
            "temperature".to_string(),
            TargetRange {
                min: 10.0,
                max: 28.0,
                step: 0.5,
                unit: "°C".to_string(),
            },
        );
        map.insert(
            "humidity".to_string(),
            TargetRange {
                min: 30.0,
                max: 70.0,
                step: 5.0,
                unit: "%".to_string(),
            },
        );
        TargetLimits(map)
    }

    pub fn get(&self, quantity: &str) -> Option<&TargetRange> {
        self.0.get(quantity)
    }

    /// The bounds nodes check schedules, presets and overrides against:
    /// the heating defaults within the temperature range, as
    /// `TargetsSection::heating_limits` derives them from the same
    /// `[targets]` section.
    pub fn heating_limits(&self) -> crate::crdt::HeatingLimits {
        let mut limits = crate::crdt::HeatingLimits::default();
        if let Some(range) = self.get("temperature") {
            limits.min_celsius = range.min as f32;
            limits.max_celsius = range.max as f32;
        }
        limits
    }

    /// Parses and checks what the operator typed for `quantity`.
    pub fn validate(&self, quantity: &str, text: &str) -> Result<f64, TargetValueError> {
        let range = self
            .get(quantity)
            .ok_or_else(|| TargetValueError::UnknownQuantity(quantity.to_string()))?;
        let value: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| TargetValueError::NotANumber(text.trim().to_string()))?;
        if value < range.min {
            return Err(TargetValueError::BelowMin {
                value,
                min: range.min,
                unit: range.unit.clone(),
            });
        }
        if value > range.max {
            return Err(TargetValueError::AboveMax {
                value,
                max: range.max,
                unit: range.unit.clone(),
            });
        }
        // Nodes refuse a value off the step grid (`[targets]`), and a
        // refused write would leave its dot unused forever: check here.
        if range.step > 0.0 {
            let steps = (value - range.min) / range.step;
            if (steps - steps.round()).abs() > 1e-6 {
                return Err(TargetValueError::OffStep {
                    value,
                    min: range.min,
                    step: range.step,
                    unit: range.unit.clone(),
                });
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_range_and_numbers() {
        let limits = TargetLimits::office_defaults();
        assert_eq!(limits.validate("temperature", "21.5"), Ok(21.5));
        assert!(matches!(
            limits.validate("temperature", "30"),
            Err(TargetValueError::AboveMax { .. })
        ));
        assert!(matches!(
            limits.validate("temperature", "5"),
            Err(TargetValueError::BelowMin { .. })
        ));
        assert!(matches!(
            limits.validate("temperature", "abc"),
            Err(TargetValueError::NotANumber(_))
        ));
        assert!(matches!(
            limits.validate("temperature", "NaN"),
            Err(TargetValueError::NotANumber(_))
        ));
        assert!(matches!(
            limits.validate("temperature", "21.3"),
            Err(TargetValueError::OffStep { .. })
        ));
        assert_eq!(limits.validate("humidity", "45"), Ok(45.0));
        assert!(matches!(
            limits.validate("co2", "1"),
            Err(TargetValueError::UnknownQuantity(_))
        ));
    }
}
