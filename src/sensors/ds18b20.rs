//! The DS18B20 temperature probe on the 1-wire bus, read through the
//! kernel's `w1_therm` driver (`/sys/bus/w1/devices/28-*/w1_slave`).
//!
//! The file has two lines: the scratchpad bytes ending in `crc=.. YES|NO`,
//! then the same bytes ending in `t=<m°C>`. A `NO` means the bus corrupted
//! the transfer; `t=85000` is the chip's power-on register value, which it
//! reports after a brown-out before any conversion. Both are faults.

use std::fs;
use std::path::{Path, PathBuf};

use crate::time::Time;

use super::error::ENABLE_W1;
use super::{Quantity, Reading, Sensor, SensorError};

/// The DS18B20's 1-wire family code, the prefix of its directory name.
const FAMILY: &str = "28-";

/// The power-on reset value of the temperature register, in m°C.
const POWER_ON_MILLI_C: i64 = 85_000;

#[derive(Debug)]
pub struct Ds18b20 {
    name: String,
    file: PathBuf,
    device: String,
}

impl Ds18b20 {
    /// Opens the probe `id` (e.g. `28-0316a2794dff`) under `devices_dir`
    /// (normally `/sys/bus/w1/devices`), or the first probe found when `id`
    /// is `None`.
    pub fn open(name: &str, devices_dir: &Path, id: Option<&str>) -> Result<Ds18b20, SensorError> {
        if !devices_dir.is_dir() {
            return Err(SensorError::Missing {
                path: devices_dir.to_path_buf(),
                enable: ENABLE_W1,
            });
        }
        let device = match id {
            Some(id) => id.to_string(),
            None => first_probe(devices_dir)?,
        };
        let file = devices_dir.join(&device).join("w1_slave");
        if !file.is_file() {
            return Err(SensorError::Missing {
                path: file,
                enable: "check the probe's wiring (data to GPIO4 with a 4.7 kΩ pull-up to 3.3 V) and its id",
            });
        }
        Ok(Ds18b20 {
            name: name.to_string(),
            file,
            device,
        })
    }

    /// Opens the probe whose `w1_slave` file is exactly `file`.
    pub fn open_file(name: &str, file: &Path) -> Result<Ds18b20, SensorError> {
        if !file.is_file() {
            return Err(SensorError::Missing {
                path: file.to_path_buf(),
                enable: ENABLE_W1,
            });
        }
        let device = file
            .parent()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| file.display().to_string());
        Ok(Ds18b20 {
            name: name.to_string(),
            file: file.to_path_buf(),
            device,
        })
    }
}

fn first_probe(devices_dir: &Path) -> Result<String, SensorError> {
    let entries = fs::read_dir(devices_dir).map_err(|source| SensorError::Io {
        path: devices_dir.to_path_buf(),
        source,
    })?;
    let mut probes: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(FAMILY))
        .collect();
    probes.sort();
    probes.into_iter().next().ok_or_else(|| SensorError::Missing {
        path: devices_dir.join("28-*"),
        enable: "no DS18B20 answered: check its wiring (data to GPIO4 with a 4.7 kΩ pull-up to 3.3 V)",
    })
}

/// Parses a `w1_slave` file into m°C, checking the CRC verdict and the
/// power-on value.
pub fn parse_w1_slave(device: &str, path: &Path, content: &str) -> Result<i64, SensorError> {
    let parse_error = || SensorError::Parse {
        path: path.to_path_buf(),
        content: content.trim().to_string(),
    };
    let mut lines = content.lines();
    let crc_line = lines.next().ok_or_else(parse_error)?;
    let crc_ok = match crc_line.split_whitespace().last() {
        Some("YES") => crc_line.contains("crc="),
        Some("NO") => false,
        _ => return Err(parse_error()),
    };
    if !crc_ok {
        return Err(SensorError::Crc {
            device: device.to_string(),
        });
    }
    let t_line = lines.next().ok_or_else(parse_error)?;
    let (_, t) = t_line.rsplit_once("t=").ok_or_else(parse_error)?;
    let milli: i64 = t.trim().parse().map_err(|_| parse_error())?;
    if milli == POWER_ON_MILLI_C {
        return Err(SensorError::PowerOnValue {
            device: device.to_string(),
        });
    }
    Ok(milli)
}

impl Sensor for Ds18b20 {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError> {
        let content = fs::read_to_string(&self.file).map_err(|source| SensorError::Io {
            path: self.file.clone(),
            source,
        })?;
        let milli = parse_w1_slave(&self.device, &self.file, &content)?;
        Ok(vec![Reading::checked(
            Quantity::Temperature,
            milli as f64 / 1000.0,
            now,
        )?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    const BAD_CRC: &str =
        "72 01 4b 46 7f ff 0e 10 57 : crc=12 NO\n72 01 4b 46 7f ff 0e 10 57 t=23125\n";
    const POWER_ON: &str =
        "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n";
    const NEGATIVE: &str =
        "5e ff 4b 46 7f ff 02 10 a1 : crc=a1 YES\n5e ff 4b 46 7f ff 02 10 a1 t=-10125\n";

    fn tree(content: &str) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let devices = tmp.path().join("devices");
        let probe = devices.join("28-0316a2794dff");
        fs::create_dir_all(&probe).unwrap();
        fs::create_dir_all(devices.join("w1_bus_master1")).unwrap();
        fs::write(probe.join("w1_slave"), content).unwrap();
        (tmp, devices)
    }

    #[test]
    fn reads_the_first_probe() {
        let (_tmp, devices) = tree(GOOD);
        let mut s = Ds18b20::open("hall", &devices, None).unwrap();
        let r = s.read(Time::from_millis(1)).unwrap();
        assert_eq!(r.len(), 1);
        assert!((r[0].value - 23.125).abs() < 1e-9);
    }

    #[test]
    fn negative_temperatures_parse() {
        let (_tmp, devices) = tree(NEGATIVE);
        let mut s = Ds18b20::open("porch", &devices, Some("28-0316a2794dff")).unwrap();
        assert!((s.read(Time::ZERO).unwrap()[0].value + 10.125).abs() < 1e-9);
    }

    #[test]
    fn crc_failure_is_an_error() {
        let (_tmp, devices) = tree(BAD_CRC);
        let mut s = Ds18b20::open("hall", &devices, None).unwrap();
        let err = s.read(Time::ZERO).unwrap_err();
        assert!(matches!(err, SensorError::Crc { .. }), "{err}");
        assert!(err.to_string().contains("28-0316a2794dff"));
    }

    #[test]
    fn power_on_value_is_an_error() {
        let (_tmp, devices) = tree(POWER_ON);
        let mut s = Ds18b20::open("hall", &devices, None).unwrap();
        assert!(matches!(
            s.read(Time::ZERO),
            Err(SensorError::PowerOnValue { .. })
        ));
    }

    #[test]
    fn truncated_file_is_a_parse_error() {
        let (_tmp, devices) = tree("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n");
        let mut s = Ds18b20::open("hall", &devices, None).unwrap();
        assert!(matches!(s.read(Time::ZERO), Err(SensorError::Parse { .. })));
    }

    #[test]
    fn missing_bus_probe_and_file_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Ds18b20::open("hall", &tmp.path().join("w1/devices"), None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("dtoverlay=w1-gpio"), "{text}");
        assert!(text.contains("raspi-config"), "{text}");

        let empty = tmp.path().join("devices");
        fs::create_dir(&empty).unwrap();
        assert!(
            Ds18b20::open("hall", &empty, None)
                .unwrap_err()
                .to_string()
                .contains("no DS18B20")
        );
        assert!(Ds18b20::open("hall", &empty, Some("28-00000")).is_err());

        let (_tmp, devices) = tree(GOOD);
        let mut s = Ds18b20::open("hall", &devices, None).unwrap();
        fs::remove_file(devices.join("28-0316a2794dff/w1_slave")).unwrap();
        assert!(matches!(s.read(Time::ZERO), Err(SensorError::Io { .. })));
    }
}
