//! Logs a refusal at most once per offender per interval.
//!
//! A flood of refused connections must not become a flood of log lines
//! (on a Pi the journal lives on the SD card): the counters count every
//! refusal, the log says once a minute per source that it is happening.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Remembers when each offender was last logged.
#[derive(Debug)]
pub(crate) struct RefusalLog<K> {
    interval: Duration,
    capacity: usize,
    last: Mutex<HashMap<K, Instant>>,
}

impl<K: Eq + Hash> RefusalLog<K> {
    /// At most one line per key per `interval`, remembering at most
    /// `capacity` keys (beyond that, new offenders are not logged until old
    /// entries expire: the counters still count them).
    pub(crate) fn new(interval: Duration, capacity: usize) -> Self {
        Self {
            interval,
            capacity,
            last: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal of `key` at `now` should be logged; records it if so.
    pub(crate) fn should_log(&self, key: K, now: Instant) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = last.get(&key) {
            if now.saturating_duration_since(*at) < self.interval {
                return false;
            }
            last.insert(key, now);
            return true;
        }
        if last.len() >= self.capacity {
            let interval = self.interval;
            last.retain(|_, at| now.saturating_duration_since(*at) < interval);
            if last.len() >= self.capacity {
                return false;
            }
        }
        last.insert(key, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_key_per_interval() {
        let log = RefusalLog::new(Duration::from_secs(60), 8);
        let t0 = Instant::now();
        assert!(log.should_log(1, t0));
        assert!(!log.should_log(1, t0 + Duration::from_secs(59)));
        assert!(log.should_log(2, t0 + Duration::from_secs(1)));
        assert!(log.should_log(1, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn memory_is_bounded_by_capacity() {
        let log = RefusalLog::new(Duration::from_secs(60), 4);
        let t0 = Instant::now();
        for k in 0..4 {
            assert!(log.should_log(k, t0));
        }
        assert!(!log.should_log(99, t0 + Duration::from_secs(1)));
        assert!(log.should_log(99, t0 + Duration::from_secs(61)));
        assert!(log.last.lock().unwrap().len() <= 4);
    }
}
