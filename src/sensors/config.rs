//! The `[[sensor]]` tables of a node's configuration.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{Deadbands, SensorError};

/// Which driver reads the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// Kernel IIO device (`dtoverlay=i2c-sensor,bme280` and friends).
    Iio,
    /// Kernel hwmon device (`dtoverlay=i2c-sensor,sht3x`, …).
    Hwmon,
    /// DS18B20 on the 1-wire bus (`dtoverlay=w1-gpio`).
    Ds18b20,
    /// BME280 on I2C, driven from user space.
    Bme280,
    /// Sensirion SHT40/41/45 on I2C, driven from user space.
    Sht4x,
    /// A thermometer in the node's `[simulated_room]`.
    Simulated,
}

/// One `[[sensor]]` table. Fields that do not apply to `kind` are rejected
/// by [`SensorConfig::validate`], so a typo never silently reads the wrong
/// device.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorConfig {
    pub kind: SensorKind,
    /// Unique on this node; the key of the sensor's readings in the office state.
    pub name: String,
    /// Zone the sensor measures; default the node's zone.
    #[serde(default)]
    pub zone: Option<String>,
    /// Seconds between samples. Default 30.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// Seconds after which an unchanged value is published anyway. Default 300.
    #[serde(default = "default_heartbeat")]
    pub heartbeat: u64,
    /// Changes smaller than these are not published.
    #[serde(default)]
    pub deadband: Deadbands,
    /// iio/hwmon: the device directory (e.g. `/sys/bus/iio/devices/iio:device0`);
    /// ds18b20: the `w1_slave` file. Default: found by `chip` or `id`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// iio/hwmon: the driver name in the device's `name` file (e.g. `bme280`,
    /// `sht3x`). Default: the first device with a sensor channel.
    #[serde(default)]
    pub chip: Option<String>,
    /// ds18b20: the probe id (e.g. `28-0316a2794dff`). Default: the first probe.
    #[serde(default)]
    pub id: Option<String>,
    /// bme280/sht4x: the I2C bus number (`/dev/i2c-N`). Default 1, the bus on
    /// header pins 3 and 5.
    #[serde(default)]
    pub bus: Option<u8>,
    /// bme280/sht4x: the 7-bit address. Default 0x76 (BME280), 0x44 (SHT4x).
    #[serde(default)]
    pub address: Option<u8>,
}

fn default_interval() -> u64 {
    30
}
fn default_heartbeat() -> u64 {
    300
}

impl SensorConfig {
    /// A config with every optional field at its default.
    pub fn new(kind: SensorKind, name: &str) -> SensorConfig {
        SensorConfig {
            kind,
            name: name.to_string(),
            zone: None,
            interval: default_interval(),
            heartbeat: default_heartbeat(),
            deadband: Deadbands::default(),
            path: None,
            chip: None,
            id: None,
            bus: None,
            address: None,
        }
    }

    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval.max(1))
    }

    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat)
    }

    /// Rejects fields that mean nothing for this kind and empty names.
    pub fn validate(&self) -> Result<(), SensorError> {
        if self.name.trim().is_empty() {
            return Err(SensorError::Config(
                "a [[sensor]] needs a non-empty `name`".into(),
            ));
        }
        let given = [
            ("path", self.path.is_some()),
            ("chip", self.chip.is_some()),
            ("id", self.id.is_some()),
            ("bus", self.bus.is_some()),
            ("address", self.address.is_some()),
        ];
        let allowed: &[&str] = match self.kind {
            SensorKind::Iio | SensorKind::Hwmon => &["path", "chip"],
            SensorKind::Ds18b20 => &["path", "id"],
            SensorKind::Bme280 | SensorKind::Sht4x => &["bus", "address"],
            SensorKind::Simulated => &[],
        };
        for (field, present) in given {
            if present && !allowed.contains(&field) {
                return Err(SensorError::Config(format!(
                    "sensor {:?}: `{field}` does not apply to kind = {:?}{}",
                    self.name,
                    self.kind,
                    if allowed.is_empty() {
                        String::new()
                    } else {
                        format!(" (it takes {})", allowed.join(", "))
                    }
                )));
            }
        }
        if let Some(addr) = self.address
            && addr > 0x7f
        {
            return Err(SensorError::Config(format!(
                "sensor {:?}: address 0x{addr:02x} is not a 7-bit I2C address",
                self.name
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        sensor: Vec<SensorConfig>,
    }

    #[test]
    fn parses_every_kind_with_defaults() {
        let text = r#"
            [[sensor]]
            kind = "bme280"
            name = "desk"
            address = 0x77

            [[sensor]]
            kind = "ds18b20"
            name = "radiator"
            zone = "hall"
            interval = 10
            deadband = { temperature = 0.25 }

            [[sensor]]
            kind = "iio"
            name = "kernel"
            chip = "bme280"
        "#;
        let file: File = toml::from_str(text).unwrap();
        let s = &file.sensor;
        assert_eq!(s[0].kind, SensorKind::Bme280);
        assert_eq!(s[0].address, Some(0x77));
        assert_eq!(s[0].interval(), Duration::from_secs(30));
        assert_eq!(s[1].zone.as_deref(), Some("hall"));
        assert_eq!(s[1].deadband.temperature, 0.25);
        assert_eq!(s[1].deadband.humidity, 1.0);
        for c in s {
            c.validate().unwrap();
        }
    }

    #[test]
    fn unknown_and_misplaced_fields_are_rejected() {
        let typo = "[[sensor]]\nkind = \"sht4x\"\nname = \"x\"\nadress = 0x44\n";
        assert!(toml::from_str::<File>(typo).is_err());
        let kind = "[[sensor]]\nkind = \"dht22\"\nname = \"x\"\n";
        assert!(toml::from_str::<File>(kind).is_err());
        let misplaced = "[[sensor]]\nkind = \"ds18b20\"\nname = \"x\"\nbus = 1\n";
        let file: File = toml::from_str(misplaced).unwrap();
        let err = file.sensor[0].validate().unwrap_err().to_string();
        assert!(err.contains("`bus` does not apply"), "{err}");
    }
}
