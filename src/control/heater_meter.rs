//! Heater runtime per zone: on-time, cycles, and the shortest regulating
//! on and off periods, so "the thermostat never short-cycles" is checked
//! on every run, not assumed.

use std::time::Duration;

use serde::Serialize;

use crate::time::Time;

/// What a heater did since the meter started.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct HeaterMeter {
    /// Seconds the heater was on, up to the last switch.
    pub on_seconds: f64,
    /// Times it switched on.
    pub cycles: u64,
    /// The shortest on period ended by regulation (a fail-safe cut does
    /// not count: safety beats relay wear), seconds.
    pub shortest_on: Option<f64>,
    /// The shortest off period between two on periods, seconds.
    pub shortest_off: Option<f64>,
    #[serde(skip)]
    last: Option<(Time, bool)>,
}

impl HeaterMeter {
    /// Records the heater's state at `now`; `fail_safe` when it is
    /// switched off by the fail-safe.
    pub fn record(&mut self, now: Time, on: bool, fail_safe: bool) {
        let Some((since, was_on)) = self.last else {
            self.last = Some((now, on));
            if on {
                self.cycles += 1;
            }
            return;
        };
        if was_on == on {
            return;
        }
        let lasted = now.saturating_since(since).as_secs_f64();
        if was_on {
            self.on_seconds += lasted;
            if !fail_safe {
                self.shortest_on = Some(self.shortest_on.map_or(lasted, |s| s.min(lasted)));
            }
        } else {
            self.cycles += 1;
            if self.cycles > 1 {
                self.shortest_off = Some(self.shortest_off.map_or(lasted, |s| s.min(lasted)));
            }
        }
        self.last = Some((now, on));
    }

    /// On-time up to `now`, the current period included.
    pub fn on_time(&self, now: Time) -> Duration {
        let open = match self.last {
            Some((since, true)) => now.saturating_since(since),
            _ => Duration::ZERO,
        };
        Duration::from_secs_f64(self.on_seconds) + open
    }

    /// Whether every regulating period lasted its minimum.
    pub fn held(&self, min_on: Duration, min_off: Duration) -> bool {
        // A microsecond of slack: times are whole microseconds.
        let ok = |shortest: Option<f64>, min: Duration| {
            shortest.is_none_or(|s| s + 1e-6 >= min.as_secs_f64())
        };
        ok(self.shortest_on, min_on) && ok(self.shortest_off, min_off)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Time {
        Time::ZERO + Duration::from_secs(s)
    }

    #[test]
    fn counts_cycles_on_time_and_the_shortest_periods() {
        let mut m = HeaterMeter::default();
        m.record(secs(0), false, false);
        m.record(secs(10), true, false);
        m.record(secs(200), false, false);
        m.record(secs(260), true, false);
        m.record(secs(300), false, true);
        assert_eq!(m.cycles, 2);
        assert_eq!(m.on_seconds, 190.0 + 40.0);
        assert_eq!(
            m.shortest_on,
            Some(190.0),
            "the fail-safe cut is not a short cycle"
        );
        assert_eq!(m.shortest_off, Some(60.0));
        assert!(m.held(Duration::from_secs(120), Duration::from_secs(60)));
        assert!(!m.held(Duration::from_secs(120), Duration::from_secs(120)));
        assert_eq!(m.on_time(secs(400)), Duration::from_secs(230));
    }
}
