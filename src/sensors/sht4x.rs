//! The Sensirion SHT4x (temperature, humidity) on I2C, through the `sht4x`
//! driver crate (embedded-hal 1.0, blocking). Chosen over the SCD4x because
//! `sht4x` 0.2 already targets embedded-hal 1.0 and checks Sensirion's CRC-8
//! on every word, which is what turns bus corruption into an error here.

use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;

use crate::time::Time;

use super::{Quantity, Reading, Sensor, SensorError};

/// The address of most SHT40/41/45 parts (`0x45`, `0x46` for the -B/-C variants).
pub const DEFAULT_ADDRESS: u8 = 0x44;

pub struct Sht4x<I, D> {
    name: String,
    device: String,
    driver: ::sht4x::Sht4x<I, D>,
    delay: D,
}

impl<I: I2c, D: DelayNs> Sht4x<I, D> {
    /// Binds the driver and reads the serial number, which proves a chip
    /// answers at `address` before the node relies on it.
    pub fn open(
        name: &str,
        bus_label: &str,
        i2c: I,
        address: u8,
        mut delay: D,
    ) -> Result<Self, SensorError> {
        let device = format!("SHT4x at {bus_label} 0x{address:02x}");
        let addr = match address {
            0x44 => ::sht4x::Address::Address0x44,
            0x45 => ::sht4x::Address::Address0x45,
            0x46 => ::sht4x::Address::Address0x46,
            other => {
                return Err(SensorError::Config(format!(
                    "an SHT4x answers at 0x44, 0x45 or 0x46, not 0x{other:02x}"
                )));
            }
        };
        let mut driver = ::sht4x::Sht4x::new_with_address(i2c, addr);
        driver
            .serial_number(&mut delay)
            .map_err(|e| map_error(&device, e))?;
        Ok(Sht4x {
            name: name.to_string(),
            device,
            driver,
            delay,
        })
    }
}

fn map_error<E: embedded_hal::i2c::Error>(device: &str, err: ::sht4x::Error<E>) -> SensorError {
    match err {
        ::sht4x::Error::Crc => SensorError::Crc {
            device: device.to_string(),
        },
        ::sht4x::Error::I2c(e) => SensorError::Bus {
            device: device.to_string(),
            message: format!("I2C error: {:?}", e.kind()),
        },
        _ => SensorError::Bus {
            device: device.to_string(),
            message: "driver error".to_string(),
        },
    }
}

impl<I: I2c + Send, D: DelayNs + Send> Sensor for Sht4x<I, D> {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, now: Time) -> Result<Vec<Reading>, SensorError> {
        let m = self
            .driver
            .measure(::sht4x::Precision::High, &mut self.delay)
            .map_err(|e| map_error(&self.device, e))?;
        let celsius = f64::from(m.temperature_milli_celsius()) / 1000.0;
        // The datasheet's conversion spans -6..119 %RH; it asks to crop the
        // result to the physical 0..100 %RH.
        let humidity = (f64::from(m.humidity_milli_percent()) / 1000.0).clamp(0.0, 100.0);
        Ok(vec![
            Reading::checked(Quantity::Temperature, celsius, now)?,
            Reading::checked(Quantity::RelativeHumidity, humidity, now)?,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const A: u8 = DEFAULT_ADDRESS;

    /// Sensirion CRC-8: polynomial 0x31, init 0xFF (datasheet §4.4).
    fn crc8(data: &[u8]) -> u8 {
        let mut crc = 0xFFu8;
        for &b in data {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x31
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    fn words(a: u16, b: u16) -> Vec<u8> {
        let [a0, a1] = a.to_be_bytes();
        let [b0, b1] = b.to_be_bytes();
        vec![a0, a1, crc8(&[a0, a1]), b0, b1, crc8(&[b0, b1])]
    }

    fn open_tx() -> Vec<T> {
        vec![T::write(A, vec![0x89]), T::read(A, words(0x1234, 0x5678))]
    }

    #[test]
    fn crc_check_matches_the_datasheet_example() {
        assert_eq!(crc8(&[0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn measures_temperature_and_humidity() {
        // T = -45 + 175 * raw / 65535; raw 0x6666 -> 25.0 °C.
        // RH = -6 + 125 * raw / 65535; raw 0x7AE1 -> 54.0 %RH.
        let mut tx = open_tx();
        tx.push(T::write(A, vec![0xFD]));
        tx.push(T::read(A, words(0x6666, 0x7AE1)));
        let mut bus = Mock::new(&tx);
        let mut s = Sht4x::open("desk", "i2c-1", bus.clone(), A, NoopDelay).unwrap();
        let r = s.read(Time::from_millis(3)).unwrap();
        bus.done();
        let expect_t = -45.0 + 175.0 * f64::from(0x6666u16) / 65535.0;
        let expect_h = -6.0 + 125.0 * f64::from(0x7AE1u16) / 65535.0;
        assert!((r[0].value - expect_t).abs() < 0.01, "{:?}", r[0]);
        assert!((r[1].value - expect_h).abs() < 0.01, "{:?}", r[1]);
    }

    #[test]
    fn corrupted_word_is_a_crc_error() {
        let mut tx = open_tx();
        tx.push(T::write(A, vec![0xFD]));
        let mut data = words(0x6666, 0x7AE1);
        data[2] ^= 0x01;
        tx.push(T::read(A, data));
        let mut bus = Mock::new(&tx);
        let mut s = Sht4x::open("desk", "i2c-1", bus.clone(), A, NoopDelay).unwrap();
        let err = s.read(Time::ZERO).unwrap_err();
        bus.done();
        assert!(matches!(err, SensorError::Crc { .. }), "{err}");
    }

    #[test]
    fn absent_chip_fails_to_open() {
        let tx = [
            T::write(A, vec![0x89]).with_error(embedded_hal::i2c::ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            )),
        ];
        let mut bus = Mock::new(&tx);
        let err = Sht4x::open("desk", "i2c-1", bus.clone(), A, NoopDelay)
            .err()
            .unwrap();
        bus.done();
        assert!(err.to_string().contains("SHT4x at i2c-1 0x44"), "{err}");
    }
}
