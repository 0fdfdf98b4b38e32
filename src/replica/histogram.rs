//! A histogram of durations with fixed bucket bounds, kept by the replica
//! core: the node exports it as a Prometheus histogram and the simulator
//! can read the same figures, so a latency is measured once, in one place.
//!
//! Fixed bounds (not a reservoir of samples) keep it a few hundred bytes
//! however long a node runs.

use std::time::Duration;

/// Counts of observations per bucket, their sum and their count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Upper bounds (inclusive) in µs, ascending; one more bucket above
    /// the last holds everything larger.
    bounds_us: &'static [u64],
    /// Per bucket, not cumulative; `bounds_us.len() + 1` of them once
    /// anything was observed.
    counts: Vec<u64>,
    sum_us: u64,
    count: u64,
}

impl Histogram {
    /// An empty histogram with these upper bounds in µs (ascending).
    pub fn new(bounds_us: &'static [u64]) -> Self {
        debug_assert!(bounds_us.windows(2).all(|w| w[0] < w[1]));
        Histogram {
            bounds_us,
            counts: Vec::new(),
            sum_us: 0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: Duration) {
        let us = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        if self.counts.is_empty() {
            self.counts = vec![0; self.bounds_us.len() + 1];
        }
        let bucket = self.bounds_us.partition_point(|&bound| bound < us);
        self.counts[bucket] += 1;
        self.sum_us = self.sum_us.saturating_add(us);
        self.count += 1;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of every observation.
    pub fn sum(&self) -> Duration {
        Duration::from_micros(self.sum_us)
    }

    /// Every bucket's upper bound (`None`: unbounded) and how many
    /// observations fell in it (not cumulative), smallest first.
    pub fn buckets(&self) -> impl Iterator<Item = (Option<Duration>, u64)> + '_ {
        let bounds = self
            .bounds_us
            .iter()
            .map(|&us| Some(Duration::from_micros(us)))
            .chain(std::iter::once(None));
        bounds
            .enumerate()
            .map(|(i, bound)| (bound, self.counts.get(i).copied().unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: &[u64] = &[1_000, 10_000];

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let mut h = Histogram::new(BOUNDS);
        for ms in [0, 1, 2, 10, 11, 500] {
            h.observe(Duration::from_millis(ms));
        }
        let buckets: Vec<_> = h.buckets().collect();
        assert_eq!(
            buckets,
            vec![
                (Some(Duration::from_millis(1)), 2),
                (Some(Duration::from_millis(10)), 2),
                (None, 2),
            ]
        );
        assert_eq!(h.count(), 6);
        assert_eq!(h.sum(), Duration::from_millis(524));
    }

    #[test]
    fn an_empty_histogram_still_lists_every_bucket() {
        let h = Histogram::new(BOUNDS);
        assert_eq!(h.buckets().count(), 3);
        assert!(h.buckets().all(|(_, n)| n == 0));
        assert_eq!((h.count(), h.sum()), (0, Duration::ZERO));
    }
}
