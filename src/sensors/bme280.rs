//! The Bosch BME280 (temperature, humidity, pressure) on I2C, through the
//! `bme280` driver crate's blocking embedded-hal 1.0 API (its default
//! `sync` feature). Generic over the bus so tests drive it with
//! `embedded-hal-mock`; on a Pi the bus is [`crate::board::I2cBus`].

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::time::Time;

use super::{Quantity, Reading, Sensor, SensorError};

/// The address with SDO to ground; `0x77` with SDO to VDDIO.
pub const DEFAULT_ADDRESS: u8 = 0x76;

pub struct Bme280<I, D> {
    name: String,
    device: String,
    driver: ::bme280::i2c::BME280<I>,
    delay: D,
}

fn describe<E: embedded_hal::i2c::Error>(err: ::bme280::Error<E>) -> String {
    match err {
        ::bme280::Error::Bus(e) => format!("I2C error: {:?}", e.kind()),
        ::bme280::Error::UnsupportedChip => {
            "chip id is not a BME280/BMP280 (wrong address?)".into()
        }
        ::bme280::Error::NoCalibrationData => "no calibration data (chip not initialised)".into(),
        ::bme280::Error::InvalidData => "chip returned invalid data".into(),
        ::bme280::Error::CompensationFailed => "compensation of the raw data failed".into(),
        ::bme280::Error::Delay => "delay failed".into(),
    }
}

impl<I: I2c, D: DelayNs> Bme280<I, D> {
    /// Checks the chip id, resets the chip and reads its calibration.
    pub fn open(
        name: &str,
        bus_label: &str,
        i2c: I,
        address: u8,
        mut delay: D,
    ) -> Result<Self, SensorError> {
        let device = format!("BME280 at {bus_label} 0x{address:02x}");
        let mut driver = ::bme280::i2c::BME280::new(i2c, address);
        driver.init(&mut delay).map_err(|e| SensorError::Bus {
            device: device.clone(),
            message: describe(e),
        })?;
        Ok(Bme280 {
            name: name.to_string(),
            device,
            driver,
            delay,
        })
    }
}

impl<I: I2c + Send, D: DelayNs + Send> Sensor for Bme280<I, D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError> {
        let m = self
            .driver
            .measure(&mut self.delay)
            .map_err(|e| SensorError::Bus {
                device: self.device.clone(),
                message: describe(e),
            })?;
        Ok(vec![
            Reading::checked(Quantity::Temperature, f64::from(m.temperature), now)?,
            Reading::checked(Quantity::RelativeHumidity, f64::from(m.humidity), now)?,
            Reading::checked(Quantity::Pressure, f64::from(m.pressure) / 100.0, now)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = DEFAULT_ADDRESS;

    /// Calibration words from the BME280 datasheet's worked example (§8.1),
    /// little-endian, followed by dig_H1 at 0xA1.
    fn pt_calibration() -> Vec<u8> {
        let words: [i32; 12] = [
            27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
        ];
        let mut bytes = Vec::new();
        for w in words {
            bytes.extend_from_slice(&(w as u16).to_le_bytes());
        }
        bytes.push(0); // 0xA0, unused
        bytes.push(75); // dig_H1
        bytes
    }

    /// dig_H2..dig_H6 of a typical chip.
    fn h_calibration() -> Vec<u8> {
        // H2 = 362, H3 = 0, H4 = 313 (0x139), H5 = 50 (0x032), H6 = 30
        vec![0x6a, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1e]
    }

    fn init() -> Vec<T> {
        vec![
            T::write_read(A, vec![0xD0], vec![0x60]),
            T::write(A, vec![0xE0, 0xB6]),
            T::write_read(A, vec![0x88], pt_calibration()),
            T::write_read(A, vec![0xE1], h_calibration()),
            T::write_read(A, vec![0xF4], vec![0x00]),
            T::write(A, vec![0xF2, 0x01]),
            T::write_read(A, vec![0xF4], vec![0x00]),
            T::write(A, vec![0xF4, (0x02 << 5) | (0x05 << 2)]),
            T::write_read(A, vec![0xF5], vec![0x00]),
            T::write(A, vec![0xF5, 0x04 << 2]),
        ]
    }

    /// A forced measurement returning raw adc values.
    fn measure(adc_p: u32, adc_t: u32, adc_h: u16) -> Vec<T> {
        let ctrl = (0x02 << 5) | (0x05 << 2);
        vec![
            T::write_read(A, vec![0xF4], vec![ctrl]),
            T::write_read(A, vec![0xF4], vec![ctrl]),
            T::write(A, vec![0xF4, ctrl | 0x01]),
            T::write_read(
                A,
                vec![0xF7],
                vec![
                    (adc_p >> 12) as u8,
                    (adc_p >> 4) as u8,
                    ((adc_p & 0xf) << 4) as u8,
                    (adc_t >> 12) as u8,
                    (adc_t >> 4) as u8,
                    ((adc_t & 0xf) << 4) as u8,
                    (adc_h >> 8) as u8,
                    adc_h as u8,
                ],
            ),
        ]
    }

    #[test]
    fn measures_the_datasheet_example() {
        let mut tx = init();
        tx.extend(measure(415_148, 519_888, 30_000));
        let mut bus = Mock::new(&tx);
        let mut s = Bme280::open("lab", "i2c-1", bus.clone(), A, NoopDelay).unwrap();
        let r = s.read(Time::from_millis(7)).unwrap();
        bus.done();
        // Datasheet §8.1: 25.08 °C and 100653 Pa for these raw values.
        assert!((r[0].value - 25.08).abs() < 0.01, "{:?}", r[0]);
        assert!((r[2].value - 1006.53).abs() < 0.2, "{:?}", r[2]);
        assert!(r[1].value > 0.0 && r[1].value <= 100.0, "{:?}", r[1]);
        assert_eq!(r[1].quantity, Quantity::RelativeHumidity);
    }

    #[test]
    fn wrong_chip_id_fails_to_open() {
        let tx = [T::write_read(A, vec![0xD0], vec![0x42])];
        let mut bus = Mock::new(&tx);
        let err = Bme280::open("lab", "i2c-1", bus.clone(), A, NoopDelay)
            .err()
            .unwrap();
        bus.done();
        assert!(err.to_string().contains("chip id"), "{err}");
    }

    #[test]
    fn clamped_garbage_is_an_error() {
        // All-ones data: the driver clamps the temperature to 85 °C.
        let mut tx = init();
        tx.extend(measure(0xFFFFF, 0xFFFFF, 0xFFFF));
        let mut bus = Mock::new(&tx);
        let mut s = Bme280::open("lab", "i2c-1", bus.clone(), A, NoopDelay).unwrap();
        let err = s.read(Time::ZERO).unwrap_err();
        bus.done();
        assert!(matches!(err, SensorError::OutOfRange { .. }), "{err}");
    }

    #[test]
    fn bus_error_is_reported() {
        let mut tx = init();
        tx.push(T::write_read(A, vec![0xF4], vec![0x00]).with_error(
            embedded_hal::i2c::ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            ),
        ));
        let mut bus = Mock::new(&tx);
        let mut s = Bme280::open("lab", "i2c-1", bus.clone(), A, NoopDelay).unwrap();
        let err = s.read(Time::ZERO).unwrap_err();
        bus.done();
        assert!(err.to_string().contains("NoAcknowledge"), "{err}");
    }
}
