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
//!
//! The clock also tells the office's calendar time ([`DeviceClock::wall_ms`])
//! for heating schedules: the wall time at its start plus device time, so
//! in the accelerated demo a day of schedule passes in minutes.

use std::time::Duration;

use tokio::time::Instant;

use crate::time::Time;

#[derive(Debug, Clone, Copy)]
pub struct DeviceClock {
    epoch: Instant,
    speed: f64,
    /// Unix milliseconds at `epoch`.
    wall_epoch_ms: i64,
}

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl DeviceClock {
    /// Real time, starting now.
    pub fn real() -> DeviceClock {
        DeviceClock::accelerated(1.0)
    }

    /// `speed` device seconds per wall second, starting now. Values that
    /// are not positive numbers mean real time.
    pub fn accelerated(speed: f64) -> DeviceClock {
        DeviceClock::accelerated_from(speed, unix_ms_now())
    }

    /// Like [`DeviceClock::accelerated`], with calendar time starting at
    /// `wall_ms` (Unix ms): the demo starts its day before the first switch.
    pub fn accelerated_from(speed: f64, wall_ms: i64) -> DeviceClock {
        DeviceClock {
            wall_epoch_ms: wall_ms,
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

    /// Calendar time (Unix ms) at device time `t`. At speed 1 it follows
    /// the system clock, so a node that set its clock late (a Pi without
    /// a real-time clock, before NTP) catches up.
    pub fn wall_ms(&self, t: Time) -> i64 {
        if self.speed == 1.0 {
            let behind = self.now().as_millis() as i64 - t.as_millis() as i64;
            return unix_ms_now() - behind;
        }
        self.wall_epoch_ms + t.as_millis() as i64
    }

    /// Device time at calendar time `wall_ms`, not before `now`.
    pub fn at_wall_ms(&self, wall_ms: i64, now: Time) -> Time {
        let ahead = wall_ms - self.wall_ms(now);
        now + Duration::from_millis(ahead.max(0) as u64)
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
        let demo = DeviceClock::accelerated_from(60.0, 1_000_000);
        let hour = Time::ZERO + Duration::from_secs(3600);
        assert_eq!(demo.wall_ms(hour), 1_000_000 + 3_600_000);
        assert_eq!(demo.at_wall_ms(1_000_000 + 3_600_000, Time::ZERO), hour);
        assert_eq!(DeviceClock::accelerated(f64::NAN).speed(), 1.0);
    }
}
