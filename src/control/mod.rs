//! Control: the zone's heater and the thermostat that drives it
//! (DESIGN.md, "Devices").
//!
//! [`Thermostat`] is sans-IO and decides; a [`Relay`] ([`GpioRelay`] on a
//! Pi, [`SimulatedRelay`] in the demo) switches. The node runtime feeds the
//! thermostat the zone's target and its freshest temperature, applies the
//! decision to the relay and publishes the heater state.
//!
//! The target the thermostat follows is resolved in
//! [`effective_target`]: safety > operator override > schedule > zone
//! target, from the replicated program, evaluated locally in the office's
//! time zone ([`schedule_clock`]). [`OpenWindow`] holds the heating off
//! after a fast drop; [`schedule_syntax`] reads and writes the schedule
//! language people type.

mod config;
pub mod effective_target;
mod gpio_relay;
mod heater_meter;
mod open_window;
mod relay;
mod safety;
pub mod schedule_clock;
pub mod schedule_syntax;
mod simulated_relay;
mod thermostat;
pub mod why;

pub use self::config::{HeatingConfig, RelayKind};
pub use self::effective_target::{Effective, Level, ZoneProgram, resolve};
pub use self::gpio_relay::GpioRelay;
pub use self::heater_meter::HeaterMeter;
pub use self::open_window::{OpenWindow, OpenWindowConfig, OpenWindowConfigError};
pub use self::relay::{Relay, RelayError};
pub use self::safety::SafetyCause;
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
