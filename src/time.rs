//! Protocol time: a monotonic instant injected by the caller.
//!
//! `proto`, `crdt` and `sim` never read a clock. The tokio runtime passes
//! the time elapsed since it started; the simulator passes virtual time. A
//! plain microsecond count keeps both exact and makes simulator output
//! byte-identical for the same seed.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Microseconds since an arbitrary, caller-chosen epoch.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub const fn from_millis(ms: u64) -> Self {
        Time(ms * 1_000)
    }

    pub const fn from_micros(us: u64) -> Self {
        Time(us)
    }

    pub const fn as_micros(self) -> u64 {
        self.0
    }

    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }

    /// This time moved `by` earlier, or the epoch.
    pub fn saturating_sub(self, by: Duration) -> Time {
        Time(self.0.saturating_sub(by.as_micros() as u64))
    }

    /// Time since `earlier`, or zero when `earlier` is later.
    pub fn saturating_since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;

    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(rhs.as_micros() as u64))
    }
}

impl AddAssign<Duration> for Time {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Time> for Time {
    type Output = Duration;

    fn sub(self, rhs: Time) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let t = Time::from_millis(1500);
        assert_eq!((t + Duration::from_millis(500)).as_millis(), 2000);
        assert_eq!(Time::from_millis(2000) - t, Duration::from_millis(500));
        assert_eq!(t - Time::from_millis(2000), Duration::ZERO);
    }
}
