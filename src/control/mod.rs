//! Control: the zone's heater and the thermostat that drives it
//! (DESIGN.md, "Devices").
//!
//! [`Thermostat`] is sans-IO and decides; a [`Relay`] ([`GpioRelay`] on a
//! Pi, [`SimulatedRelay`] in the demo) switches. The node runtime feeds the
//! thermostat the zone's target and its freshest temperature, applies the
//! decision to the relay and publishes the heater state.

mod config;
mod gpio_relay;
mod relay;
mod simulated_relay;
mod thermostat;

pub use self::config::{HeatingConfig, RelayKind};
pub use self::gpio_relay::GpioRelay;
pub use self::relay::{Relay, RelayError};
pub use self::simulated_relay::SimulatedRelay;
pub use self::thermostat::{Decision, Reason, Sample, Thermostat, ThermostatConfig};

use crate::board::DevRoot;
use crate::sensors::SharedRoom;

/// Opens the relay `[heating]` describes; `room` is the node's simulated
/// room, needed only by `relay = "simulated"`.
pub fn open_relay(
    config: &HeatingConfig,
    dev: &DevRoot,
    room: Option<&SharedRoom>,
) -> Result<Box<dyn Relay>, RelayError> {
    config.validate()?;
    match config.relay {
        RelayKind::Gpio => {
            let pin = config
                .pin
                .ok_or_else(|| RelayError::Config("relay = \"gpio\" needs `pin`".into()))?;
            Ok(Box::new(GpioRelay::open(dev, pin, config.active_low)?))
        }
        RelayKind::Simulated => {
            let room = room.ok_or_else(|| {
                RelayError::Config("relay = \"simulated\" needs a [simulated_room] table".into())
            })?;
            Ok(Box::new(SimulatedRelay::new(room.clone())))
        }
    }
}
