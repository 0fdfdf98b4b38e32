//! Jittered exponential backoff for reconnecting.
//!
//! "Full jitter": each delay is drawn uniformly from zero to an exponentially
//! growing ceiling, so fifty nodes that lost the same peer at the same
//! moment do not all redial it in lockstep.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The first ceiling: a restarted peer is usually back within a second.
pub const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// The largest ceiling: a peer gone for good costs one dial per half minute.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    rng: ChaCha8Rng,
}

impl Backoff {
    /// Default bounds; `seed` makes the jitter reproducible in tests.
    pub fn new(seed: u64) -> Self {
        Self::with_bounds(BACKOFF_BASE, BACKOFF_MAX, seed)
    }

    pub fn with_bounds(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The ceiling for the current attempt: `base · 2^attempt`, capped.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next attempt; each call doubles the ceiling.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let micros = ceiling.as_micros().min(u64::MAX as u128) as u64;
        Duration::from_micros(self.rng.random_range(0..=micros))
    }

    /// Call after a success: the next failure starts from the base again.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_under_a_doubling_capped_ceiling() {
        let mut b = Backoff::with_bounds(Duration::from_millis(100), Duration::from_secs(2), 7);
        let ceilings: Vec<_> = (0..8)
            .map(|_| {
                let c = b.ceiling();
                assert!(b.next_delay() <= c);
                c.as_millis()
            })
            .collect();
        assert_eq!(ceilings, vec![100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn delays_are_jittered() {
        let mut b = Backoff::with_bounds(Duration::from_secs(10), Duration::from_secs(10), 1);
        let delays: std::collections::BTreeSet<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 5, "{delays:?}");
    }

    #[test]
    fn many_attempts_do_not_overflow() {
        let mut b = Backoff::new(3);
        for _ in 0..200 {
            assert!(b.next_delay() <= BACKOFF_MAX);
        }
    }
}
