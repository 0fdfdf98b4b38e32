//! Opening the configured sensors: the working ones plus, for each that
//! failed, a message the node shows in its `Node` entry while it keeps
//! running with the rest.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::board::{self, DevRoot};

use super::room::SharedRoom;
use super::sysfs::{KernelSensor, Subsystem};
use super::{
    Bme280, Ds18b20, PublishPolicy, Sensor, SensorConfig, SensorError, SensorKind, Sht4x,
    SimulatedSensor,
};

/// Where the kernel's interfaces live; tests point these into a temp dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemPaths {
    /// Normally `/sys`.
    pub sys: PathBuf,
    /// Normally `/dev`.
    pub dev: DevRoot,
}

impl Default for SystemPaths {
    fn default() -> Self {
        SystemPaths {
            sys: PathBuf::from("/sys"),
            dev: DevRoot::default(),
        }
    }
}

impl SystemPaths {
    pub fn iio_devices(&self) -> PathBuf {
        self.sys.join("bus/iio/devices")
    }

    pub fn hwmon(&self) -> PathBuf {
        self.sys.join("class/hwmon")
    }

    pub fn w1_devices(&self) -> PathBuf {
        self.sys.join("bus/w1/devices")
    }
}

/// A sensor that opened, with its configuration and publishing state.
pub struct OpenedSensor {
    pub config: SensorConfig,
    pub sensor: Box<dyn Sensor>,
    pub policy: PublishPolicy,
}

/// A sensor that did not open, and why, in words for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorFailure {
    pub name: String,
    pub message: String,
}

#[derive(Default)]
pub struct OpenedSensors {
    pub working: Vec<OpenedSensor>,
    pub failed: Vec<SensorFailure>,
}

/// Opens one sensor. `room` is the node's simulated room, needed only by
/// `kind = "simulated"`.
pub fn open_sensor(
    config: &SensorConfig,
    paths: &SystemPaths,
    room: Option<&SharedRoom>,
) -> Result<Box<dyn Sensor>, SensorError> {
    config.validate()?;
    let name = config.name.as_str();
    let sensor: Box<dyn Sensor> = match config.kind {
        SensorKind::Iio | SensorKind::Hwmon => {
            let (subsystem, class_dir) = if config.kind == SensorKind::Iio {
                (Subsystem::Iio, paths.iio_devices())
            } else {
                (Subsystem::Hwmon, paths.hwmon())
            };
            match &config.path {
                Some(dir) => Box::new(KernelSensor::open(name, subsystem, dir)?),
                None => Box::new(KernelSensor::find(
                    name,
                    subsystem,
                    &class_dir,
                    config.chip.as_deref(),
                )?),
            }
        }
        SensorKind::Ds18b20 => match &config.path {
            Some(file) => Box::new(Ds18b20::open_file(name, file)?),
            None => Box::new(Ds18b20::open(
                name,
                &paths.w1_devices(),
                config.id.as_deref(),
            )?),
        },
        SensorKind::Bme280 => {
            let bus = config.bus.unwrap_or(1);
            let address = config.address.unwrap_or(super::bme280::DEFAULT_ADDRESS);
            let i2c = board::open_i2c(&paths.dev, bus)?;
            Box::new(Bme280::open(
                name,
                &format!("i2c-{bus}"),
                i2c,
                address,
                board::delay(),
            )?)
        }
        SensorKind::Sht4x => {
            let bus = config.bus.unwrap_or(1);
            let address = config.address.unwrap_or(super::sht4x::DEFAULT_ADDRESS);
            let i2c = board::open_i2c(&paths.dev, bus)?;
            Box::new(Sht4x::open(
                name,
                &format!("i2c-{bus}"),
                i2c,
                address,
                board::delay(),
            )?)
        }
        SensorKind::Simulated => {
            let room = room.ok_or_else(|| {
                SensorError::Config(format!(
                    "sensor {name:?}: kind = \"simulated\" needs a [simulated_room] table"
                ))
            })?;
            Box::new(SimulatedSensor::new(name, room.clone()))
        }
    };
    Ok(sensor)
}

/// Opens every configured sensor. Never fails as a whole: a node with a
/// broken sensor still gossips, heats by its other sensors and shows the
/// broken one as failed.
pub fn open_all(
    configs: &[SensorConfig],
    paths: &SystemPaths,
    room: Option<&SharedRoom>,
) -> OpenedSensors {
    let mut opened = OpenedSensors::default();
    let mut names = BTreeSet::new();
    for config in configs {
        if !names.insert(config.name.clone()) {
            opened.failed.push(SensorFailure {
                name: config.name.clone(),
                message: format!(
                    "another sensor on this node is already named {:?}",
                    config.name
                ),
            });
            continue;
        }
        match open_sensor(config, paths, room) {
            Ok(sensor) => {
                tracing::info!(sensor = %config.name, kind = ?config.kind, "sensor opened");
                opened.working.push(OpenedSensor {
                    policy: PublishPolicy::new(config.deadband, config.heartbeat()),
                    config: config.clone(),
                    sensor,
                });
            }
            Err(err) => {
                tracing::warn!(sensor = %config.name, error = %err, "sensor failed to open");
                opened.failed.push(SensorFailure {
                    name: config.name.clone(),
                    message: err.to_string(),
                });
            }
        }
    }
    opened
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sensors::{SimulatedRoom, SimulatedRoomConfig};
    use crate::time::Time;

    #[test]
    fn a_bare_machine_reports_each_missing_device_and_keeps_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = SystemPaths {
            sys: tmp.path().join("sys"),
            dev: DevRoot(tmp.path().join("dev")),
        };
        let room = SimulatedRoom::new(SimulatedRoomConfig::default(), Time::ZERO).shared();
        let configs = vec![
            SensorConfig::new(SensorKind::Bme280, "desk"),
            SensorConfig::new(SensorKind::Sht4x, "shelf"),
            SensorConfig::new(SensorKind::Ds18b20, "radiator"),
            SensorConfig::new(SensorKind::Iio, "kernel"),
            SensorConfig::new(SensorKind::Hwmon, "hw"),
            SensorConfig::new(SensorKind::Simulated, "sim"),
            SensorConfig::new(SensorKind::Simulated, "sim"),
        ];
        let opened = open_all(&configs, &paths, Some(&room));
        assert_eq!(opened.working.len(), 1);
        assert_eq!(opened.working[0].config.name, "sim");
        let failed: Vec<(&str, &str)> = opened
            .failed
            .iter()
            .map(|f| (f.name.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(failed.len(), 6);
        assert!(
            failed[0].1.contains("i2c-1 is missing") && failed[0].1.contains("dtparam=i2c_arm=on")
        );
        assert!(failed[1].1.contains("i2c-1 is missing"));
        assert!(
            failed[2].1.contains("w1/devices is missing")
                && failed[2].1.contains("dtoverlay=w1-gpio")
        );
        assert!(failed[3].1.contains("dtoverlay=i2c-sensor"));
        assert!(failed[4].1.contains("dtoverlay=i2c-sensor"));
        assert!(failed[5].1.contains("already named"));
    }

    #[test]
    fn simulated_without_a_room_is_a_config_error() {
        let cfg = SensorConfig::new(SensorKind::Simulated, "sim");
        let err = open_sensor(&cfg, &SystemPaths::default(), None)
            .err()
            .unwrap();
        assert!(err.to_string().contains("[simulated_room]"), "{err}");
    }
}
