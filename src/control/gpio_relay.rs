//! A relay module on a GPIO pin.
//!
//! Many cheap relay boards switch on when their input is pulled *low*, so
//! the polarity is configured (`active_low`). The pin is driven to the off
//! level before it becomes an output and again when the relay is dropped,
//! so a starting or stopping node never leaves the heater on.

use crate::board::{self, DevRoot, OutputLine};
use crate::time::Time;

use super::{Relay, RelayError};

pub struct GpioRelay {
    pin: u8,
    active_low: bool,
    line: Box<dyn OutputLine>,
    on: bool,
}

impl GpioRelay {
    /// Opens BCM pin `pin` through [`crate::board`], switched off.
    pub fn open(root: &DevRoot, pin: u8, active_low: bool) -> Result<GpioRelay, RelayError> {
        let off_level = active_low;
        let line = board::open_output(root, pin, off_level)?;
        GpioRelay::with_line(line, pin, active_low)
    }

    /// Wraps an already opened output line and switches it off.
    pub fn with_line(
        line: Box<dyn OutputLine>,
        pin: u8,
        active_low: bool,
    ) -> Result<GpioRelay, RelayError> {
        let mut relay = GpioRelay {
            pin,
            active_low,
            line,
            on: false,
        };
        relay.line.set_level(relay.level(false))?;
        Ok(relay)
    }

    /// The pin level that means `on`.
    fn level(&self, on: bool) -> bool {
        on != self.active_low
    }
}

impl Relay for GpioRelay {
    fn set(&mut self, _now: Time, on: bool) -> Result<(), RelayError> {
        self.line.set_level(self.level(on))?;
        self.on = on;
        Ok(())
    }

    fn is_on(&self) -> bool {
        self.on
    }

    fn describe(&self) -> String {
        format!(
            "GPIO{} ({})",
            self.pin,
            if self.active_low {
                "active-low"
            } else {
                "active-high"
            }
        )
    }
}

impl Drop for GpioRelay {
    fn drop(&mut self) {
        let off = self.level(false);
        if let Err(err) = self.line.set_level(off) {
            tracing::error!(pin = self.pin, error = %err, "could not switch the heater relay off");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::BoardError;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Levels(Arc<Mutex<Vec<bool>>>);

    impl OutputLine for Levels {
        fn set_level(&mut self, high: bool) -> Result<(), BoardError> {
            self.0.lock().unwrap().push(high);
            Ok(())
        }
    }

    #[test]
    fn polarity_and_fail_safe_drop() {
        for active_low in [false, true] {
            let levels = Levels::default();
            let mut relay = GpioRelay::with_line(Box::new(levels.clone()), 17, active_low).unwrap();
            relay.set(Time::ZERO, true).unwrap();
            assert!(relay.is_on());
            relay.set(Time::ZERO, false).unwrap();
            relay.set(Time::ZERO, true).unwrap();
            drop(relay);
            let off = active_low;
            let on = !active_low;
            assert_eq!(*levels.0.lock().unwrap(), vec![off, on, off, on, off]);
        }
    }

    #[test]
    fn missing_gpio_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let err = GpioRelay::open(&DevRoot(tmp.path().to_path_buf()), 17, true)
            .err()
            .unwrap();
        assert!(err.to_string().contains("gpiochip0 is missing"), "{err}");
    }
}
