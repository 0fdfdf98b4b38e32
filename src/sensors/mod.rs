//! Sensors: what a node measures in its room (DESIGN.md, "Devices").
//!
//! Preference order on a real Pi: kernel drivers through sysfs ([`KernelSensor`]
//! for IIO/hwmon, [`Ds18b20`] for 1-wire), then user-space I2C drivers
//! ([`Bme280`], [`Sht4x`]) over the bus from [`crate::board`]. The
//! [`SimulatedSensor`] reads a [`SimulatedRoom`] for development and the
//! demo. Every reading is range-checked: garbage becomes a [`SensorError`],
//! never data.

mod bme280;
mod config;
mod ds18b20;
mod error;
mod open;
mod publish;
mod reading;
mod room;
mod sht4x;
mod simulated;
mod sysfs;

pub use self::bme280::Bme280;
pub use self::config::{SensorConfig, SensorKind};
pub use self::ds18b20::{Ds18b20, parse_w1_slave};
pub use self::error::SensorError;
pub use self::open::{
    OpenedSensor, OpenedSensors, SensorFailure, SystemPaths, open_all, open_sensor,
};
pub use self::publish::{Deadbands, PublishPolicy};
pub use self::reading::{Quantity, Reading, Unit};
pub use self::room::{SharedRoom, SimulatedRoom, SimulatedRoomConfig, lock as lock_room};
pub use self::sht4x::Sht4x;
pub use self::simulated::SimulatedSensor;
pub use self::sysfs::{KernelSensor, Subsystem};

use crate::time::Time;

/// Anything that measures. `now` is the caller's clock, stamped on every
/// reading, so the same code runs on wall time and on virtual time.
pub trait Sensor: Send {
    /// The configured name, unique on the node.
    fn name(&self) -> &str;

    /// Takes one sample of every quantity the sensor measures. Blocking:
    /// I2C drivers wait for the conversion (up to ~50 ms), so the runtime
    /// calls this from a blocking task.
    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError>;
}
