//! The Raspberry Pi's buses and pins, opened through `rppal`.
//!
//! `rppal` is retired upstream (it still drives every Pi up to the 5), so it
//! is confined to this one module: replacing it with `gpiocdev` or
//! `linux-embedded-hal` means rewriting this file and nothing else. Callers
//! see only embedded-hal 1.0 traits (`I2c`, `DelayNs`) and [`OutputLine`].
//!
//! Before handing a device to `rppal` we look for its device node ourselves,
//! so a machine without the hardware gets an error that names the missing
//! file and the line that enables it, instead of a bare `ENOENT`.

use std::path::{Path, PathBuf};

use thiserror::Error;

/// How to switch on the I2C bus when `/dev/i2c-N` is missing.
pub const ENABLE_I2C: &str = "enable I2C with `sudo raspi-config nonint do_i2c 0` \
     (or add `dtparam=i2c_arm=on` to /boot/firmware/config.txt) and reboot";

/// How to get a GPIO character device when `/dev/gpiochip0` is missing.
pub const ENABLE_GPIO: &str = "GPIO needs a Raspberry Pi running Raspberry Pi OS \
     (the `gpiochip0` and `gpiomem` devices come with its kernel); \
     add the service user to the `gpio` group: `sudo usermod -aG gpio $USER`";

/// What went wrong opening a bus or pin on the board.
#[derive(Debug, Error)]
pub enum BoardError {
    /// The device node does not exist: the interface is switched off or this
    /// is not a Pi.
    #[error("{device} is missing: {enable}")]
    DeviceMissing {
        device: PathBuf,
        enable: &'static str,
    },
    /// The device exists but this user may not open it.
    #[error(
        "permission denied opening {device}: add the service user to the `{group}` group (`sudo usermod -aG {group} $USER`) and log in again"
    )]
    PermissionDenied {
        device: PathBuf,
        group: &'static str,
    },
    /// This build has no driver for the board (not Linux).
    #[error("{device}: GPIO and I2C are only supported on Linux")]
    Unsupported { device: PathBuf },
    /// The driver refused for another reason.
    #[error("{device}: {message}")]
    Driver { device: PathBuf, message: String },
}

/// The device files the board module opens, under a root that tests replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevRoot(pub PathBuf);

impl Default for DevRoot {
    fn default() -> Self {
        DevRoot(PathBuf::from("/dev"))
    }
}

impl DevRoot {
    /// `/dev/i2c-N`.
    pub fn i2c(&self, bus: u8) -> PathBuf {
        self.0.join(format!("i2c-{bus}"))
    }

    /// `/dev/gpiochip0`, the character device `rppal` opens for GPIO lines.
    pub fn gpiochip(&self) -> PathBuf {
        self.0.join("gpiochip0")
    }

    /// `/dev/gpiomem`, the register window older Pis use for GPIO.
    pub fn gpiomem(&self) -> PathBuf {
        self.0.join("gpiomem")
    }
}

fn require(device: &Path, enable: &'static str) -> Result<(), BoardError> {
    if device.exists() {
        Ok(())
    } else {
        Err(BoardError::DeviceMissing {
            device: device.to_path_buf(),
            enable,
        })
    }
}

/// An output pin the relay drives: physical level only, no polarity.
pub trait OutputLine: Send {
    fn set_level(&mut self, high: bool) -> Result<(), BoardError>;
}

#[cfg(target_os = "linux")]
mod pi {
    use super::*;

    /// The I2C bus handed to driver crates.
    pub type I2cBus = rppal::i2c::I2c;
    /// A blocking delay for driver crates.
    pub type Delay = rppal::hal::Delay;

    pub fn delay() -> Delay {
        rppal::hal::Delay::new()
    }

    pub fn open_i2c(root: &DevRoot, bus: u8) -> Result<I2cBus, BoardError> {
        let device = root.i2c(bus);
        require(&device, ENABLE_I2C)?;
        rppal::i2c::I2c::with_bus(bus).map_err(|e| match e {
            rppal::i2c::Error::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
                BoardError::PermissionDenied {
                    device: device.clone(),
                    group: "i2c",
                }
            }
            other => BoardError::Driver {
                device: device.clone(),
                message: other.to_string(),
            },
        })
    }

    /// A GPIO output through `rppal`; it stays at its last level when
    /// dropped, the relay decides what "off" is before letting go.
    pub struct RppalLine(rppal::gpio::OutputPin);

    impl OutputLine for RppalLine {
        fn set_level(&mut self, high: bool) -> Result<(), BoardError> {
            if high {
                self.0.set_high();
            } else {
                self.0.set_low();
            }
            Ok(())
        }
    }

    pub fn open_output(root: &DevRoot, pin: u8, high: bool) -> Result<RppalLine, BoardError> {
        let chip = root.gpiochip();
        if !chip.exists() && !root.gpiomem().exists() {
            return Err(BoardError::DeviceMissing {
                device: chip,
                enable: ENABLE_GPIO,
            });
        }
        let map = |e: rppal::gpio::Error| match e {
            rppal::gpio::Error::PermissionDenied(_) => BoardError::PermissionDenied {
                device: chip.clone(),
                group: "gpio",
            },
            other => BoardError::Driver {
                device: chip.clone(),
                message: other.to_string(),
            },
        };
        let gpio = rppal::gpio::Gpio::new().map_err(map)?;
        let pin = gpio.get(pin).map_err(map)?;
        let mut out = if high {
            pin.into_output_high()
        } else {
            pin.into_output_low()
        };
        out.set_reset_on_drop(false);
        Ok(RppalLine(out))
    }
}

#[cfg(not(target_os = "linux"))]
mod pi {
    use super::*;

    /// Without Linux there is no bus; this type only keeps signatures alike.
    pub type I2cBus = NoBus;
    pub type Delay = NoBus;

    /// Stands in for the bus on systems `rppal` does not build on.
    pub struct NoBus;

    impl embedded_hal::i2c::ErrorType for NoBus {
        type Error = embedded_hal::i2c::ErrorKind;
    }

    impl embedded_hal::i2c::I2c for NoBus {
        fn transaction(
            &mut self,
            _address: u8,
            _operations: &mut [embedded_hal::i2c::Operation<'_>],
        ) -> Result<(), Self::Error> {
            Err(embedded_hal::i2c::ErrorKind::Other)
        }
    }

    impl embedded_hal::delay::DelayNs for NoBus {
        fn delay_ns(&mut self, ns: u32) {
            std::thread::sleep(std::time::Duration::from_nanos(u64::from(ns)));
        }
    }

    pub fn delay() -> Delay {
        NoBus
    }

    pub fn open_i2c(root: &DevRoot, bus: u8) -> Result<I2cBus, BoardError> {
        let device = root.i2c(bus);
        require(&device, ENABLE_I2C)?;
        Err(BoardError::Unsupported { device })
    }

    pub struct NoLine;

    impl OutputLine for NoLine {
        fn set_level(&mut self, _high: bool) -> Result<(), BoardError> {
            Ok(())
        }
    }

    pub fn open_output(root: &DevRoot, _pin: u8, _high: bool) -> Result<NoLine, BoardError> {
        let chip = root.gpiochip();
        require(&chip, ENABLE_GPIO)?;
        Err(BoardError::Unsupported { device: chip })
    }
}

pub use pi::{Delay, I2cBus, delay, open_i2c};

/// Opens GPIO `pin` (BCM numbering) as an output already at level `high`,
/// so the relay never glitches on while it is being configured.
pub fn open_output(root: &DevRoot, pin: u8, high: bool) -> Result<Box<dyn OutputLine>, BoardError> {
    Ok(Box::new(pi::open_output(root, pin, high)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_i2c_names_the_device_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let root = DevRoot(dir.path().to_path_buf());
        let err = open_i2c(&root, 1).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("i2c-1 is missing"), "{text}");
        assert!(text.contains("dtparam=i2c_arm=on"), "{text}");
        assert!(text.contains("raspi-config"), "{text}");
    }

    #[test]
    fn missing_gpio_names_the_device() {
        let dir = tempfile::tempdir().unwrap();
        let root = DevRoot(dir.path().to_path_buf());
        let text = open_output(&root, 17, false).err().unwrap().to_string();
        assert!(text.contains("gpiochip0 is missing"), "{text}");
    }
}
