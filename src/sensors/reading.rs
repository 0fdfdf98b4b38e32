//! What a sensor reports: a quantity, its value in a fixed unit, and when.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::time::Time;

use super::SensorError;

/// A physical quantity a sensor measures. Each has exactly one unit, so
/// readings from different drivers compare without conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    Temperature,
    RelativeHumidity,
    Pressure,
}

/// The unit a quantity is always reported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Celsius,
    Percent,
    Hectopascal,
}

impl Quantity {
    pub const fn unit(self) -> Unit {
        match self {
            Quantity::Temperature => Unit::Celsius,
            Quantity::RelativeHumidity => Unit::Percent,
            Quantity::Pressure => Unit::Hectopascal,
        }
    }

    /// Values an office sensor can plausibly report. Bounds are exclusive
    /// where a driver clamps garbage onto them: the BME280 driver reports
    /// exactly −40 °C / 85 °C, 0 %RH and 300 / 1100 hPa when its raw data is
    /// nonsense, so those edge values are treated as faults, not weather.
    pub fn plausible(self, value: f64) -> bool {
        let (range, exclusive) = match self {
            Quantity::Temperature => (-40.0..=85.0, true),
            Quantity::RelativeHumidity => (0.0..=100.0, false),
            Quantity::Pressure => (300.0..=1100.0, true),
        };
        let inside = value.is_finite() && range.contains(&value);
        let on_edge = value == *range.start() || value == *range.end();
        let humidity_floor = self == Quantity::RelativeHumidity && value == 0.0;
        inside && !(exclusive && on_edge) && !humidity_floor
    }

    /// The plausible range, for error messages.
    pub fn plausible_range(self) -> RangeInclusive<f64> {
        match self {
            Quantity::Temperature => -40.0..=85.0,
            Quantity::RelativeHumidity => 0.0..=100.0,
            Quantity::Pressure => 300.0..=1100.0,
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Quantity::Temperature => "temperature",
            Quantity::RelativeHumidity => "humidity",
            Quantity::Pressure => "pressure",
        })
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unit::Celsius => "°C",
            Unit::Percent => "%RH",
            Unit::Hectopascal => "hPa",
        })
    }
}

/// One measured value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub quantity: Quantity,
    pub value: f64,
    pub unit: Unit,
    /// When it was measured, on the caller's clock.
    pub at: Time,
}

impl Reading {
    /// A reading, or [`SensorError::OutOfRange`] when the value cannot be
    /// real: garbage is reported, never published as data.
    pub fn checked(quantity: Quantity, value: f64, at: Time) -> Result<Reading, SensorError> {
        if quantity.plausible(value) {
            Ok(Reading {
                quantity,
                value,
                unit: quantity.unit(),
                at,
            })
        } else {
            let range = quantity.plausible_range();
            Err(SensorError::OutOfRange {
                quantity,
                value,
                min: *range.start(),
                max: *range.end(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamped_driver_values_are_faults() {
        assert!(Reading::checked(Quantity::Temperature, 85.0, Time::ZERO).is_err());
        assert!(Reading::checked(Quantity::Temperature, -40.0, Time::ZERO).is_err());
        assert!(Reading::checked(Quantity::Temperature, f64::NAN, Time::ZERO).is_err());
        assert!(Reading::checked(Quantity::RelativeHumidity, 0.0, Time::ZERO).is_err());
        assert!(Reading::checked(Quantity::Pressure, 1100.0, Time::ZERO).is_err());
        let ok = Reading::checked(Quantity::Temperature, 21.5, Time::ZERO).unwrap();
        assert_eq!(ok.unit, Unit::Celsius);
        assert!(Reading::checked(Quantity::RelativeHumidity, 100.0, Time::ZERO).is_ok());
    }
}
