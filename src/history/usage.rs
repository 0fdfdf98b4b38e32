//! Heater runtime and energy over a history's points: what the zone
//! detail shows as "on today", "on 7 days", cycles per hour and kWh.

use super::{BUCKET_MS, HistoryPoint};

/// A heater's use over the points of a history.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HeaterUsage {
    /// Seconds on since local midnight.
    pub on_today_secs: u64,
    /// Seconds on over the points given (at most seven days).
    pub on_week_secs: u64,
    /// Switch-ons per hour over the last hour of points.
    pub cycles_per_hour: f64,
    /// kWh today and over the points, when the heater's power is known.
    pub kwh_today: Option<f64>,
    pub kwh_week: Option<f64>,
}

impl HeaterUsage {
    /// Sums `points` (oldest first); `midnight_ms` is the start of today
    /// in the office's time zone, `now_ms` the calendar time, `power_w` the
    /// heater's rated power.
    pub fn from_points(
        points: &[HistoryPoint],
        midnight_ms: i64,
        now_ms: i64,
        power_w: Option<u32>,
    ) -> HeaterUsage {
        let mut usage = HeaterUsage::default();
        let hour_ago = now_ms - 3_600_000;
        let mut hour_cycles = 0u64;
        for p in points {
            let on = u64::from(p.on_secs);
            usage.on_week_secs += on;
            if p.start_ms() >= midnight_ms {
                usage.on_today_secs += on;
            }
            if p.start_ms() + BUCKET_MS > hour_ago {
                hour_cycles += u64::from(p.cycles);
            }
        }
        usage.cycles_per_hour = hour_cycles as f64;
        let kwh = |secs: u64| power_w.map(|w| f64::from(w) * secs as f64 / 3_600_000.0);
        usage.kwh_today = kwh(usage.on_today_secs);
        usage.kwh_week = kwh(usage.on_week_secs);
        usage
    }
}
