//! A thermometer in a [`SimulatedRoom`], for development and the demo.

use crate::time::Time;

use super::room::{SharedRoom, lock};
use super::{Quantity, Reading, Sensor, SensorError};

#[derive(Debug, Clone)]
pub struct SimulatedSensor {
    name: String,
    room: SharedRoom,
}

impl SimulatedSensor {
    pub fn new(name: &str, room: SharedRoom) -> SimulatedSensor {
        SimulatedSensor {
            name: name.to_string(),
            room,
        }
    }
}

impl Sensor for SimulatedSensor {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError> {
        let celsius = lock(&self.room).measure(now);
        Ok(vec![Reading::checked(Quantity::Temperature, celsius, now)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::{SimulatedRoom, SimulatedRoomConfig};

    #[test]
    fn reads_the_room() {
        let room = SimulatedRoom::new(SimulatedRoomConfig::default(), Time::ZERO).shared();
        let mut s = SimulatedSensor::new("sim", room.clone());
        let r = s.read(Time::from_millis(10)).unwrap();
        assert_eq!(r[0].quantity, Quantity::Temperature);
        assert!((r[0].value - lock(&room).temperature()).abs() < 1.0);
    }
}
