//! The clock the devices run on: real time on a Pi, accelerated time in
//! the demo.
//!
//! Sensors, thermal models and the thermostat take a [`Time`]; none reads a
//! clock. This is the one clock they are given. With `speed` 60 a sensor
//! interval of 30 s passes in half a second of wall time, the thermostat's
//! two-minute minimum on time in two seconds, and a simulated room's
//! three-hour time constant in three minutes, so the demo's heaters warm
//! their rooms within a minute. Only the devices are accelerated: the
//! mesh (timers, HLC stamps) runs on real time.

use std::time::Duration;

use tokio::time::Instant;

use crate::time::Time;

#[derive(Debug, Clone, Copy)]
pub struct DeviceClock {
    epoch: Instant,
    speed: f64,
}

impl DeviceClock {
    /// Real time, starting now.
    pub fn real() -> DeviceClock {
        DeviceClock::accelerated(1.0)
    }

    /// `speed` device seconds per wall second, starting now. Values that
    /// are not positive numbers mean real time.
    pub fn accelerated(speed: f64) -> DeviceClock {
        DeviceClock {
            epoch: Instant::now(),
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Device time now.
    pub fn now(&self) -> Time {
        self.at(Instant::now())
    }

    /// Device time at the wall instant `at`.
    pub fn at(&self, at: Instant) -> Time {
        let wall = at.saturating_duration_since(self.epoch);
        Time::from_micros((wall.as_secs_f64() * self.speed * 1e6) as u64)
    }

    /// The wall instant at which device time reaches `t`.
    pub fn instant(&self, t: Time) -> Instant {
        self.epoch + self.wall(Duration::from_micros(t.as_micros()))
    }

    /// How long `device` takes in wall time.
    pub fn wall(&self, device: Duration) -> Duration {
        Duration::from_secs_f64(device.as_secs_f64() / self.speed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accelerated_time_maps_both_ways() {
        let clock = DeviceClock::accelerated(60.0);
        let t = Time::ZERO + Duration::from_secs(120);
        let at = clock.instant(t);
        assert_eq!(at - clock.epoch, Duration::from_secs(2));
        let back = clock.at(at);
        assert!(back.as_micros().abs_diff(t.as_micros()) <= 1);
        assert_eq!(
            clock.wall(Duration::from_secs(30)),
            Duration::from_millis(500)
        );
        assert_eq!(DeviceClock::accelerated(-3.0).speed(), 1.0);
        assert_eq!(DeviceClock::accelerated(f64::NAN).speed(), 1.0);
    }
}
