//! Every device the config names, opened as the node would open it: the
//! sensors (so an I2C bus left switched off, a user outside the `i2c`
//! group or a 1-wire probe not seen by the kernel shows up here with the
//! line that fixes it) and the GPIO chip of a relay.

use std::path::PathBuf;

use super::Check;
use crate::board::{DevRoot, ENABLE_GPIO};
use crate::config::Config;
use crate::control::RelayKind;
use crate::sensors::{SensorKind, SystemPaths, open_sensor};

pub fn check(config: &Config) -> Vec<Check> {
    let paths = SystemPaths::default();
    let mut checks = Vec::new();
    for sensor in &config.sensor {
        let name = format!("sensor {} ({:?})", sensor.name, sensor.kind).to_lowercase();
        if sensor.kind == SensorKind::Simulated {
            checks.push(Check::pass(name, "simulated: nothing to open"));
            continue;
        }
        match open_sensor(sensor, &paths, None) {
            Ok(mut opened) => match opened.read(crate::Time::ZERO) {
                Ok(readings) => checks.push(Check::pass(
                    name,
                    format!("opened, {} reading(s)", readings.len()),
                )),
                Err(error) => checks.push(Check::fail(
                    name,
                    format!("opened but cannot read: {error}"),
                    "check the wiring and the address",
                )),
            },
            Err(error) => checks.push(Check::fail(name, error.to_string(), fix_for(sensor.kind))),
        }
    }
    if let Some(heating) = &config.heating {
        if heating.relay == RelayKind::Gpio {
            checks.push(gpio_chip(&DevRoot::default().gpiochip()));
        }
    }
    if checks.is_empty() {
        checks.push(Check::pass(
            "devices",
            "none configured: this node only relays and stores",
        ));
    }
    checks
}

/// What to look at once the error's own remedy is applied.
fn fix_for(kind: SensorKind) -> &'static str {
    match kind {
        SensorKind::Bme280 | SensorKind::Sht4x => {
            "then `i2cdetect -y BUS` (package i2c-tools) should show the sensor's address; \
             if not, check the wiring and `address`"
        }
        SensorKind::Ds18b20 => {
            "then `ls /sys/bus/w1/devices` should list a 28-… probe; if not, check the \
             4.7 kΩ pull-up and the data pin"
        }
        SensorKind::Iio | SensorKind::Hwmon => {
            "load the sensor's overlay (`dtoverlay=i2c-sensor,CHIP`) and reboot, or set `path`"
        }
        SensorKind::Simulated => "",
    }
}

fn gpio_chip(chip: &PathBuf) -> Check {
    let name = format!("gpio {}", chip.display());
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(chip)
    {
        Ok(_) => Check::pass(name, "present and writable by this user"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Check::fail(name, "missing", ENABLE_GPIO)
        }
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => Check::fail(
            name,
            "permission denied",
            "add the node's user to the `gpio` group: `sudo usermod -aG gpio officemesh` \
             (the unit's SupplementaryGroups= does it for the service)",
        ),
        Err(error) => Check::fail(name, error.to_string(), ENABLE_GPIO),
    }
}
