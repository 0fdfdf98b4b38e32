//! Why a sensor could not be opened or read, in the operator's terms.

use std::path::PathBuf;

use thiserror::Error;

use crate::board::BoardError;

use super::Quantity;

/// How to get the 1-wire bus when `/sys/bus/w1` is missing.
pub const ENABLE_W1: &str = "enable 1-wire with `sudo raspi-config nonint do_onewire 0` \
     (or add `dtoverlay=w1-gpio,gpiopin=4` to /boot/firmware/config.txt) and reboot";

/// How to get a kernel-driven IIO sensor when none is listed.
pub const ENABLE_IIO: &str = "let the kernel drive the sensor: add `dtoverlay=i2c-sensor,bme280` \
     (or `…,sht3x`, `…,bmp280`; `dtoverlay=dht11,gpiopin=4` for a DHT22) \
     to /boot/firmware/config.txt and reboot";

/// How to get a hwmon sensor when none is listed.
pub const ENABLE_HWMON: &str = "let the kernel drive the sensor: add `dtoverlay=i2c-sensor,sht3x` \
     (or the overlay for your chip) to /boot/firmware/config.txt and reboot";

#[derive(Debug, Error)]
pub enum SensorError {
    /// A bus or pin could not be opened (missing device, permissions).
    #[error(transparent)]
    Board(#[from] BoardError),
    /// A sysfs device the configuration needs is not there.
    #[error("{path} is missing: {enable}")]
    Missing { path: PathBuf, enable: &'static str },
    /// A sysfs directory exists but offers nothing this sensor can read.
    #[error("{path} has no readable {what}")]
    NoChannels { path: PathBuf, what: &'static str },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot parse {content:?}")]
    Parse { path: PathBuf, content: String },
    /// The sensor's checksum did not match: the bus corrupted the data.
    #[error("{device}: CRC check failed, reading discarded (loose wire or missing pull-up?)")]
    Crc { device: String },
    /// The DS18B20 answered with its power-on value 85 °C: it reset or lost
    /// power during the conversion.
    #[error(
        "{device}: reported its power-on value 85 °C, reading discarded (check its power supply)"
    )]
    PowerOnValue { device: String },
    /// A value no office can have.
    #[error("{quantity} {value} is outside the plausible range {min}..{max}")]
    OutOfRange {
        quantity: Quantity,
        value: f64,
        min: f64,
        max: f64,
    },
    /// An I2C transfer or the chip failed.
    #[error("{device}: {message}")]
    Bus { device: String, message: String },
    /// The configuration asks for something this kind cannot do.
    #[error("{0}")]
    Config(String),
}
