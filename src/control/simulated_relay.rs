//! The heater of a [`SimulatedRoom`](crate::sensors::SimulatedRoom).

use crate::sensors::{SharedRoom, lock_room};
use crate::time::Time;

use super::{Relay, RelayError};

#[derive(Debug, Clone)]
pub struct SimulatedRelay {
    room: SharedRoom,
}

impl SimulatedRelay {
    pub fn new(room: SharedRoom) -> SimulatedRelay {
        SimulatedRelay { room }
    }
}

impl Relay for SimulatedRelay {
    fn set(&mut self, now: Time, on: bool) -> Result<(), RelayError> {
        lock_room(&self.room).set_heater(now, on);
        Ok(())
    }

    fn is_on(&self) -> bool {
        lock_room(&self.room).heater_on()
    }

    fn describe(&self) -> String {
        "simulated heater".to_string()
    }
}
