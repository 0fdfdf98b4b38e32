//! Sensors the kernel already drives, read through sysfs: IIO
//! (`/sys/bus/iio/devices/iio:deviceN`) and hwmon (`/sys/class/hwmon/hwmonN`).
//!
//! This is the robust path on a Pi: a device-tree overlay
//! (`dtoverlay=i2c-sensor,bme280`) binds the kernel driver, which handles
//! timing, calibration and bus errors. Each file has its own unit (see the
//! kernel's `sysfs-bus-iio` and hwmon `sysfs-interface` ABI documents), so
//! every channel carries its scale to our units.

use std::fs;
use std::path::{Path, PathBuf};

use crate::time::Time;

use super::error::{ENABLE_HWMON, ENABLE_IIO};
use super::{Quantity, Reading, Sensor, SensorError};

/// Which kernel subsystem exposes the sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsystem {
    Iio,
    Hwmon,
}

/// A file stem and the factor from its kernel unit to ours.
struct Channel {
    stem: &'static str,
    quantity: Quantity,
    /// Multiplies the kernel's processed value into our unit.
    to_unit: f64,
}

/// IIO: temperature in m°C, relative humidity in m%RH, pressure in kPa.
const IIO_CHANNELS: &[Channel] = &[
    Channel {
        stem: "in_temp",
        quantity: Quantity::Temperature,
        to_unit: 0.001,
    },
    Channel {
        stem: "in_humidityrelative",
        quantity: Quantity::RelativeHumidity,
        to_unit: 0.001,
    },
    Channel {
        stem: "in_pressure",
        quantity: Quantity::Pressure,
        to_unit: 10.0,
    },
];

/// hwmon: temperature in m°C, humidity in m%RH.
const HWMON_CHANNELS: &[Channel] = &[
    Channel {
        stem: "temp1",
        quantity: Quantity::Temperature,
        to_unit: 0.001,
    },
    Channel {
        stem: "humidity1",
        quantity: Quantity::RelativeHumidity,
        to_unit: 0.001,
    },
];

/// How one channel is read.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    /// `<stem>_input`, already processed by the driver.
    Input(PathBuf),
    /// IIO `<stem>_raw` with `(raw + offset) * scale`; offset and scale are
    /// read once at open (they are constant per device).
    Raw {
        raw: PathBuf,
        offset: f64,
        scale: f64,
    },
}

#[derive(Debug, Clone)]
struct Bound {
    quantity: Quantity,
    to_unit: f64,
    source: Source,
}

/// A kernel-driven sensor read through sysfs files.
#[derive(Debug)]
pub struct KernelSensor {
    name: String,
    dir: PathBuf,
    channels: Vec<Bound>,
}

impl KernelSensor {
    /// Binds the channels present in `dir` (an `iio:deviceN` or `hwmonN`
    /// directory). Fails when the directory is missing or offers none.
    pub fn open(name: &str, subsystem: Subsystem, dir: &Path) -> Result<KernelSensor, SensorError> {
        let enable = match subsystem {
            Subsystem::Iio => ENABLE_IIO,
            Subsystem::Hwmon => ENABLE_HWMON,
        };
        if !dir.is_dir() {
            return Err(SensorError::Missing {
                path: dir.to_path_buf(),
                enable,
            });
        }
        let table = match subsystem {
            Subsystem::Iio => IIO_CHANNELS,
            Subsystem::Hwmon => HWMON_CHANNELS,
        };
        let mut channels = Vec::new();
        for ch in table {
            let input = dir.join(format!("{}_input", ch.stem));
            let raw = dir.join(format!("{}_raw", ch.stem));
            let source = if input.is_file() {
                Source::Input(input)
            } else if subsystem == Subsystem::Iio && raw.is_file() {
                let offset_path = dir.join(format!("{}_offset", ch.stem));
                let offset = if offset_path.is_file() {
                    read_number(&offset_path)?
                } else {
                    0.0
                };
                let scale_path = dir.join(format!("{}_scale", ch.stem));
                let scale = if scale_path.is_file() {
                    read_number(&scale_path)?
                } else {
                    1.0
                };
                Source::Raw { raw, offset, scale }
            } else {
                continue;
            };
            channels.push(Bound {
                quantity: ch.quantity,
                to_unit: ch.to_unit,
                source,
            });
        }
        if channels.is_empty() {
            return Err(SensorError::NoChannels {
                path: dir.to_path_buf(),
                what: "temperature, humidity or pressure channel",
            });
        }
        Ok(KernelSensor {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            channels,
        })
    }

    /// Finds the device directory under `class_dir` (e.g.
    /// `/sys/bus/iio/devices`) whose `name` file is `chip`, or the first one
    /// with a readable channel when `chip` is `None`.
    pub fn find(
        name: &str,
        subsystem: Subsystem,
        class_dir: &Path,
        chip: Option<&str>,
    ) -> Result<KernelSensor, SensorError> {
        let enable = match subsystem {
            Subsystem::Iio => ENABLE_IIO,
            Subsystem::Hwmon => ENABLE_HWMON,
        };
        let entries = fs::read_dir(class_dir).map_err(|_| SensorError::Missing {
            path: class_dir.to_path_buf(),
            enable,
        })?;
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        dirs.sort();
        for dir in &dirs {
            if let Some(chip) = chip {
                let listed = fs::read_to_string(dir.join("name")).unwrap_or_default();
                if listed.trim() != chip {
                    continue;
                }
            }
            if let Ok(sensor) = KernelSensor::open(name, subsystem, dir) {
                return Ok(sensor);
            }
        }
        let what = match chip {
            Some(chip) => format!("{}/*/name = {chip}", class_dir.display()),
            None => format!("{}/* with a sensor channel", class_dir.display()),
        };
        Err(SensorError::Missing {
            path: PathBuf::from(what),
            enable,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

fn read_number(path: &Path) -> Result<f64, SensorError> {
    let content = fs::read_to_string(path).map_err(|source| SensorError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    content
        .trim()
        .parse::<f64>()
        .map_err(|_| SensorError::Parse {
            path: path.to_path_buf(),
            content: content.trim().to_string(),
        })
}

impl Sensor for KernelSensor {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError> {
        let mut readings = Vec::with_capacity(self.channels.len());
        for ch in &self.channels {
            let kernel_value = match &ch.source {
                Source::Input(path) => read_number(path)?,
                Source::Raw { raw, offset, scale } => (read_number(raw)? + offset) * scale,
            };
            readings.push(Reading::checked(
                ch.quantity,
                kernel_value * ch.to_unit,
                now,
            )?);
        }
        Ok(readings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, content: &str) {
        fs::write(dir.join(file), content).unwrap();
    }

    #[test]
    fn iio_input_files_are_scaled_per_channel() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("iio:device0");
        fs::create_dir(&dev).unwrap();
        write(&dev, "name", "bme280\n");
        write(&dev, "in_temp_input", "21370\n");
        write(&dev, "in_humidityrelative_input", "45123\n");
        write(&dev, "in_pressure_input", "101.325000000\n");
        let mut s =
            KernelSensor::find("office", Subsystem::Iio, tmp.path(), Some("bme280")).unwrap();
        let r = s.read(Time::from_millis(5)).unwrap();
        assert_eq!(r.len(), 3);
        assert!((r[0].value - 21.37).abs() < 1e-9);
        assert_eq!(r[0].quantity, Quantity::Temperature);
        assert!((r[1].value - 45.123).abs() < 1e-9);
        assert!((r[2].value - 1013.25).abs() < 1e-9);
        assert_eq!(r[2].at, Time::from_millis(5));
    }

    #[test]
    fn iio_raw_files_apply_offset_and_scale() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("iio:device1");
        fs::create_dir(&dev).unwrap();
        // (raw + offset) * scale = (1000 + 500) * 14.0 = 21000 m°C
        write(&dev, "in_temp_raw", "1000\n");
        write(&dev, "in_temp_offset", "500\n");
        write(&dev, "in_temp_scale", "14.0\n");
        let mut s = KernelSensor::open("raw", Subsystem::Iio, &dev).unwrap();
        let r = s.read(Time::ZERO).unwrap();
        assert_eq!(r.len(), 1);
        assert!((r[0].value - 21.0).abs() < 1e-9);
    }

    #[test]
    fn hwmon_files_are_milli_units() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("hwmon2");
        fs::create_dir(&dev).unwrap();
        write(&dev, "name", "sht3x\n");
        write(&dev, "temp1_input", "-1500\n");
        write(&dev, "humidity1_input", "61000\n");
        let mut s =
            KernelSensor::find("hall", Subsystem::Hwmon, tmp.path(), Some("sht3x")).unwrap();
        let r = s.read(Time::ZERO).unwrap();
        assert!((r[0].value + 1.5).abs() < 1e-9);
        assert!((r[1].value - 61.0).abs() < 1e-9);
    }

    #[test]
    fn a_missing_device_and_a_vanished_file_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let err =
            KernelSensor::find("x", Subsystem::Iio, &tmp.path().join("nope"), None).unwrap_err();
        assert!(
            err.to_string().contains("dtoverlay=i2c-sensor,bme280"),
            "{err}"
        );
        let err = KernelSensor::find("x", Subsystem::Hwmon, tmp.path(), Some("sht3x")).unwrap_err();
        assert!(err.to_string().contains("name = sht3x"), "{err}");

        let dev = tmp.path().join("iio:device0");
        fs::create_dir(&dev).unwrap();
        write(&dev, "in_temp_input", "20000\n");
        let mut s = KernelSensor::open("x", Subsystem::Iio, &dev).unwrap();
        fs::remove_file(dev.join("in_temp_input")).unwrap();
        assert!(matches!(s.read(Time::ZERO), Err(SensorError::Io { .. })));
    }

    #[test]
    fn garbage_values_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dev = tmp.path().join("hwmon0");
        fs::create_dir(&dev).unwrap();
        write(&dev, "temp1_input", "150000\n");
        let mut s = KernelSensor::open("x", Subsystem::Hwmon, &dev).unwrap();
        assert!(matches!(
            s.read(Time::ZERO),
            Err(SensorError::OutOfRange { .. })
        ));
        write(&dev, "temp1_input", "warm\n");
        assert!(matches!(s.read(Time::ZERO), Err(SensorError::Parse { .. })));
    }
}
