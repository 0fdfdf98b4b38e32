//! The `[heating]` table of a node's configuration.

use std::time::Duration;

use serde::Deserialize;

use super::{OpenWindowConfig, RelayError, ThermostatConfig};

/// What switches the heater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayKind {
    /// A relay module on a GPIO pin.
    Gpio,
    /// The heater of the node's `[simulated_room]`.
    Simulated,
}

/// `[heating]`: the zone's heater and how the thermostat drives it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeatingConfig {
    pub relay: RelayKind,
    /// gpio: the BCM pin number of the relay input (required for gpio).
    #[serde(default)]
    pub pin: Option<u8>,
    /// gpio: the relay switches on when the pin is low. Default false.
    #[serde(default)]
    pub active_low: bool,
    /// The `[[sensor]]` whose temperature drives the thermostat. Default:
    /// the first sensor on this node that reports a temperature.
    #[serde(default)]
    pub sensor: Option<String>,
    /// Dead band around the target, °C: on below target − h/2, off above
    /// target + h/2. Default 0.4.
    #[serde(default = "default_hysteresis")]
    pub hysteresis: f64,
    /// Seconds the heater stays on once switched on. Default 120.
    #[serde(default = "default_min_time")]
    pub min_on: u64,
    /// Seconds the heater stays off once switched off. Default 120.
    #[serde(default = "default_min_time")]
    pub min_off: u64,
    /// Largest fraction of `duty_window` the heater may be on, 0 < d ≤ 1.
    /// Default: no limit.
    #[serde(default)]
    pub max_duty: Option<f64>,
    /// Seconds over which `max_duty` is measured. Default 3600.
    #[serde(default = "default_duty_window")]
    pub duty_window: u64,
    /// Seconds after which a temperature is too old to heat by (the heater
    /// then goes off). Default 120, four missed 30 s samples.
    #[serde(default = "default_stale_after")]
    pub stale_after: u64,
    /// °C held in the safe state while a reading still allows it (no
    /// target and no schedule known). Default: none, the heater is off.
    #[serde(default)]
    pub frost_floor: Option<f64>,
    /// The heater's rated power in kW, for an energy estimate (on-time ×
    /// power) beside the on-time. Default: none, only on-time is shown.
    #[serde(default)]
    pub power_kw: Option<f64>,
    /// `[heating.open_window]`: hold the heating off after a fast drop.
    /// Default: no detection.
    #[serde(default)]
    pub open_window: Option<OpenWindowConfig>,
}

fn default_hysteresis() -> f64 {
    0.4
}
fn default_min_time() -> u64 {
    120
}
fn default_duty_window() -> u64 {
    3600
}
fn default_stale_after() -> u64 {
    120
}

impl HeatingConfig {
    /// A config with every optional field at its default.
    pub fn new(relay: RelayKind) -> HeatingConfig {
        HeatingConfig {
            relay,
            pin: None,
            active_low: false,
            sensor: None,
            hysteresis: default_hysteresis(),
            min_on: default_min_time(),
            min_off: default_min_time(),
            max_duty: None,
            duty_window: default_duty_window(),
            stale_after: default_stale_after(),
            frost_floor: None,
            power_kw: None,
            open_window: None,
        }
    }

    /// Checks values the types cannot express.
    pub fn validate(&self) -> Result<(), RelayError> {
        match (self.relay, self.pin) {
            (RelayKind::Gpio, None) => {
                return Err(RelayError::Config(
                    "relay = \"gpio\" needs `pin` (BCM number)".into(),
                ));
            }
            (RelayKind::Simulated, Some(_)) => {
                return Err(RelayError::Config(
                    "`pin` does not apply to relay = \"simulated\"".into(),
                ));
            }
            _ => {}
        }
        if self.relay == RelayKind::Simulated && self.active_low {
            return Err(RelayError::Config(
                "`active_low` does not apply to relay = \"simulated\"".into(),
            ));
        }
        if !(self.hysteresis.is_finite() && self.hysteresis >= 0.0) {
            return Err(RelayError::Config(format!(
                "hysteresis {} must be ≥ 0",
                self.hysteresis
            )));
        }
        if let Some(d) = self.max_duty
            && !(d > 0.0 && d <= 1.0)
        {
            return Err(RelayError::Config(format!(
                "max_duty {d} must be in (0, 1]"
            )));
        }
        if let Some(f) = self.frost_floor
            && !(f.is_finite() && (0.0..=15.0).contains(&f))
        {
            return Err(RelayError::Config(format!(
                "frost_floor {f} must be in 0–15 °C"
            )));
        }
        if let Some(p) = self.power_kw
            && !(p.is_finite() && p > 0.0 && p <= 100.0)
        {
            return Err(RelayError::Config(format!(
                "power_kw {p} must be in (0, 100] kW"
            )));
        }
        if let Some(w) = &self.open_window {
            w.validate()
                .map_err(|e| RelayError::Config(e.to_string()))?;
        }
        if self.stale_after == 0 {
            return Err(RelayError::Config(
                "stale_after must be at least 1 second".into(),
            ));
        }
        Ok(())
    }

    pub fn thermostat(&self) -> ThermostatConfig {
        ThermostatConfig {
            hysteresis: self.hysteresis,
            min_on: Duration::from_secs(self.min_on),
            min_off: Duration::from_secs(self.min_off),
            max_duty: self.max_duty,
            duty_window: Duration::from_secs(self.duty_window),
            stale_after: Duration::from_secs(self.stale_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        heating: HeatingConfig,
    }

    #[test]
    fn parses_with_defaults() {
        let f: File = toml::from_str(
            "[heating]\nrelay = \"gpio\"\npin = 17\nactive_low = true\nmax_duty = 0.8\n",
        )
        .unwrap();
        f.heating.validate().unwrap();
        let t = f.heating.thermostat();
        assert_eq!(t.min_on, Duration::from_secs(120));
        assert_eq!(t.max_duty, Some(0.8));
        assert!(f.heating.active_low);
    }

    #[test]
    fn rejects_nonsense() {
        assert!(toml::from_str::<File>("[heating]\nrelay = \"gpio\"\npinn = 17\n").is_err());
        let f: File = toml::from_str("[heating]\nrelay = \"gpio\"\n").unwrap();
        assert!(
            f.heating
                .validate()
                .unwrap_err()
                .to_string()
                .contains("needs `pin`")
        );
        let f: File = toml::from_str("[heating]\nrelay = \"simulated\"\nmax_duty = 1.5\n").unwrap();
        assert!(f.heating.validate().is_err());
        let f: File = toml::from_str(
            "[heating]\nrelay = \"simulated\"\n[heating.open_window]\ndrop = -1.0\n",
        )
        .unwrap();
        assert!(f.heating.validate().is_err());
    }

    #[test]
    fn open_window_and_frost_floor_parse() {
        let f: File = toml::from_str(
            "[heating]\nrelay = \"simulated\"\nfrost_floor = 7.0\n[heating.open_window]\ndrop = 1.5\n",
        )
        .unwrap();
        f.heating.validate().unwrap();
        assert_eq!(f.heating.frost_floor, Some(7.0));
        let w = f.heating.open_window.unwrap();
        assert_eq!((w.drop, w.within, w.hold), (1.5, 300, 900));
    }
}
