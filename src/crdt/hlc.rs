//! A hybrid logical clock for human-readable *set-at* times.
//!
//! Kulkarni, Demirbas et al., "Logical Physical Clocks" (OPODIS 2014): a
//! timestamp is the highest wall-clock millisecond seen plus a logical
//! counter, so it stays close to the wall clock for people reading it, yet
//! never goes backwards when a Pi's clock steps back (no RTC, NTP not yet
//! synced) and always lands after the timestamps it has observed. The wall
//! clock is injected: `crdt` never reads one.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in hybrid time: wall-clock milliseconds since the Unix epoch (as
/// the caller's clock had them), then a logical counter for events within
/// one millisecond or while the wall clock lags. Orders by both, in order.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    pub wall_ms: u64,
    pub logical: u32,
}

impl Timestamp {
    pub const ZERO: Timestamp = Timestamp {
        wall_ms: 0,
        logical: 0,
    };

    pub const fn new(wall_ms: u64, logical: u32) -> Self {
        Timestamp { wall_ms, logical }
    }

    /// The smallest timestamp after `self`.
    fn successor(self) -> Timestamp {
        match self.logical.checked_add(1) {
            Some(logical) => Timestamp {
                wall_ms: self.wall_ms,
                logical,
            },
            None => Timestamp {
                wall_ms: self.wall_ms.saturating_add(1),
                logical: 0,
            },
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms+{}", self.wall_ms, self.logical)
    }
}

/// One replica's clock state: the last timestamp it issued or observed.
/// Persisted with the replica's dot counter (see [`super::Writer`]) so a
/// restart never issues a timestamp below one already handed out.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Hlc {
    last: Timestamp,
}

impl Hlc {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resumes from a persisted last timestamp.
    pub fn resume(last: Timestamp) -> Self {
        Hlc { last }
    }

    /// The last timestamp issued or observed.
    pub fn last(&self) -> Timestamp {
        self.last
    }

    /// A timestamp for a local event at wall time `wall_ms`: the wall time
    /// when it is ahead of everything seen, otherwise one logical tick after
    /// the last timestamp (HLC "send or local event").
    pub fn tick(&mut self, wall_ms: u64) -> Timestamp {
        self.last = if wall_ms > self.last.wall_ms {
            Timestamp::new(wall_ms, 0)
        } else {
            self.last.successor()
        };
        self.last
    }

    /// Takes a remote timestamp into account (HLC "receive event"), so the
    /// next local timestamp orders after it.
    pub fn observe(&mut self, remote: Timestamp) {
        self.last = self.last.max(remote);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn follows_the_wall_clock_when_it_moves_forward() {
        let mut hlc = Hlc::new();
        assert_eq!(hlc.tick(1_000), Timestamp::new(1_000, 0));
        assert_eq!(hlc.tick(1_000), Timestamp::new(1_000, 1));
        assert_eq!(hlc.tick(2_000), Timestamp::new(2_000, 0));
    }

    #[test]
    fn never_goes_back_when_the_wall_clock_does() {
        let mut hlc = Hlc::new();
        let a = hlc.tick(5_000);
        let b = hlc.tick(1_000);
        assert!(b > a);
        assert_eq!(b.wall_ms, 5_000);
    }

    #[test]
    fn orders_after_what_it_observed() {
        let mut hlc = Hlc::new();
        hlc.tick(1_000);
        hlc.observe(Timestamp::new(9_000, 4));
        assert_eq!(hlc.tick(2_000), Timestamp::new(9_000, 5));
    }

    #[test]
    fn logical_overflow_carries_into_the_millisecond() {
        let mut hlc = Hlc::resume(Timestamp::new(7, u32::MAX));
        assert_eq!(hlc.tick(0), Timestamp::new(8, 0));
    }

    proptest! {
        #[test]
        fn strictly_monotonic(events in proptest::collection::vec((any::<bool>(), 0u64..10_000, 0u32..4), 1..64)) {
            let mut hlc = Hlc::new();
            let mut prev = Timestamp::ZERO;
            for (local, wall, logical) in events {
                if local {
                    let ts = hlc.tick(wall);
                    prop_assert!(ts > prev);
                    prop_assert!(ts.wall_ms >= wall);
                    prev = ts;
                } else {
                    let remote = Timestamp::new(wall, logical);
                    hlc.observe(remote);
                    prev = prev.max(remote);
                }
            }
        }
    }
}
