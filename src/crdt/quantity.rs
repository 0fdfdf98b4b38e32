//! What is measured or targeted, and in which unit.
//!
//! Enums rather than strings: one byte on the wire each, and a typo cannot
//! create a new quantity.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A physical quantity a sensor measures or a target sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Quantity {
    Temperature,
    Humidity,
    Pressure,
    Co2,
    Illuminance,
}

impl Quantity {
    /// The unit readings and targets of this quantity use by default.
    pub fn default_unit(self) -> Unit {
        match self {
            Quantity::Temperature => Unit::Celsius,
            Quantity::Humidity => Unit::Percent,
            Quantity::Pressure => Unit::Hectopascal,
            Quantity::Co2 => Unit::Ppm,
            Quantity::Illuminance => Unit::Lux,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quantity::Temperature => "temperature",
            Quantity::Humidity => "humidity",
            Quantity::Pressure => "pressure",
            Quantity::Co2 => "co2",
            Quantity::Illuminance => "illuminance",
        }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The unit of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Unit {
    Celsius,
    Percent,
    Hectopascal,
    Ppm,
    Lux,
}

impl Unit {
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::Celsius => "°C",
            Unit::Percent => "%",
            Unit::Hectopascal => "hPa",
            Unit::Ppm => "ppm",
            Unit::Lux => "lx",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}
