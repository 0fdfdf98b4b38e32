//! How the devices layer's measurements become office-state entries: the
//! one place where `sensors::{Quantity, Unit, Reading}` meet
//! `crdt::{Quantity, Unit, Reading, SensorId}`.
//!
//! The two layers keep their own types on purpose: `sensors` knows what a
//! driver can measure (and checks plausibility in `f64`), `crdt` what the
//! office stores and sends (one byte per enum, `f32` values, so a reading's
//! delta stays small). The measured-at time is not carried over: the CRDT
//! stamps the register sibling with the writer's clock.

use crate::crdt;
use crate::sensors;

/// The office-state quantity of a measured one.
pub fn quantity(q: sensors::Quantity) -> crdt::Quantity {
    match q {
        sensors::Quantity::Temperature => crdt::Quantity::Temperature,
        sensors::Quantity::RelativeHumidity => crdt::Quantity::Humidity,
        sensors::Quantity::Pressure => crdt::Quantity::Pressure,
    }
}

/// The office-state unit of a measured one.
pub fn unit(u: sensors::Unit) -> crdt::Unit {
    match u {
        sensors::Unit::Celsius => crdt::Unit::Celsius,
        sensors::Unit::Percent => crdt::Unit::Percent,
        sensors::Unit::Hectopascal => crdt::Unit::Hectopascal,
    }
}

/// The value stored for a reading.
pub fn reading(r: &sensors::Reading) -> crdt::Reading {
    crdt::Reading {
        value: r.value as f32,
        unit: unit(r.unit),
    }
}

/// The key of a reading taken by the sensor at `position` in the node's
/// `[[sensor]]` list. The index is the sensor's position, not a count per
/// quantity, so it is known before the sensor ever answers and stays the
/// same across restarts (a BME280 first and a DS18B20 second are
/// `temperature#0`, `humidity#0`, `pressure#0` and `temperature#1`).
/// `None` past the 256th sensor, which the key cannot name.
pub fn sensor_id(position: usize, q: sensors::Quantity) -> Option<crdt::SensorId> {
    Some(crdt::SensorId {
        quantity: quantity(q),
        index: u8::try_from(position).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Time;

    #[test]
    fn every_measured_quantity_keeps_its_unit() {
        for q in [
            sensors::Quantity::Temperature,
            sensors::Quantity::RelativeHumidity,
            sensors::Quantity::Pressure,
        ] {
            assert_eq!(unit(q.unit()), quantity(q).default_unit(), "{q}");
        }
    }

    #[test]
    fn readings_and_ids() {
        let r = sensors::Reading::checked(sensors::Quantity::RelativeHumidity, 41.5, Time::ZERO)
            .unwrap();
        assert_eq!(
            reading(&r),
            crdt::Reading {
                value: 41.5,
                unit: crdt::Unit::Percent
            }
        );
        let id = sensor_id(1, sensors::Quantity::Temperature).unwrap();
        assert_eq!(id.index, 1);
        assert_eq!(id.quantity, crdt::Quantity::Temperature);
        assert_eq!(sensor_id(256, sensors::Quantity::Temperature), None);
    }
}
