//! When a reading is worth broadcasting.
//!
//! Every broadcast is a CRDT delta that crosses the whole mesh, so a sensor
//! sampled every 30 s must not send 30 s worth of noise. A value is
//! published when it moved by more than its deadband since the last
//! published one, or when the heartbeat interval passed (so every node
//! still sees the sensor is alive).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::time::Time;

use super::{Quantity, Reading};

/// Change, per quantity, below which a new value is not published.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadbands {
    /// °C. Default 0.1.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// %RH. Default 1.
    #[serde(default = "default_humidity")]
    pub humidity: f64,
    /// hPa. Default 0.5.
    #[serde(default = "default_pressure")]
    pub pressure: f64,
}

fn default_temperature() -> f64 {
    0.1
}
fn default_humidity() -> f64 {
    1.0
}
fn default_pressure() -> f64 {
    0.5
}

impl Default for Deadbands {
    fn default() -> Self {
        Deadbands {
            temperature: default_temperature(),
            humidity: default_humidity(),
            pressure: default_pressure(),
        }
    }
}

impl Deadbands {
    pub fn of(&self, quantity: Quantity) -> f64 {
        match quantity {
            Quantity::Temperature => self.temperature,
            Quantity::RelativeHumidity => self.humidity,
            Quantity::Pressure => self.pressure,
        }
    }
}

/// Decides, per quantity of one sensor, which readings to publish.
#[derive(Debug, Clone)]
pub struct PublishPolicy {
    deadbands: Deadbands,
    heartbeat: Duration,
    last: BTreeMap<Quantity, (f64, Time)>,
}

impl PublishPolicy {
    pub fn new(deadbands: Deadbands, heartbeat: Duration) -> PublishPolicy {
        PublishPolicy {
            deadbands,
            heartbeat,
            last: BTreeMap::new(),
        }
    }

    /// True when `reading` should be published; it is then remembered as
    /// the last published value.
    pub fn offer(&mut self, reading: &Reading) -> bool {
        let publish = match self.last.get(&reading.quantity) {
            None => true,
            Some(&(value, at)) => {
                (reading.value - value).abs() > self.deadbands.of(reading.quantity)
                    || reading.at.saturating_since(at) >= self.heartbeat
            }
        };
        if publish {
            self.last
                .insert(reading.quantity, (reading.value, reading.at));
        }
        publish
    }

    /// The last published value of `quantity` and when it was measured.
    pub fn last(&self, quantity: Quantity) -> Option<(f64, Time)> {
        self.last.get(&quantity).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, value: f64) -> Reading {
        Reading::checked(
            Quantity::Temperature,
            value,
            Time::ZERO + Duration::from_secs(secs),
        )
        .unwrap()
    }

    #[test]
    fn deadband_and_heartbeat() {
        let mut p = PublishPolicy::new(Deadbands::default(), Duration::from_secs(300));
        assert!(p.offer(&at(0, 20.0)), "first value is always published");
        assert!(!p.offer(&at(30, 20.05)), "inside the deadband");
        assert!(!p.offer(&at(60, 19.95)));
        assert!(p.offer(&at(90, 20.2)), "moved more than 0.1");
        assert!(
            !p.offer(&at(120, 20.25)),
            "compared to the last published 20.2"
        );
        assert!(!p.offer(&at(389, 20.2)));
        assert!(p.offer(&at(390, 20.2)), "heartbeat after 300 s");
        assert_eq!(
            p.last(Quantity::Temperature),
            Some((20.2, Time::ZERO + Duration::from_secs(390)))
        );
    }

    #[test]
    fn quantities_are_independent() {
        let mut p = PublishPolicy::new(Deadbands::default(), Duration::from_secs(300));
        assert!(p.offer(&at(0, 20.0)));
        let h = Reading::checked(Quantity::RelativeHumidity, 40.0, Time::ZERO).unwrap();
        assert!(p.offer(&h));
    }
}
