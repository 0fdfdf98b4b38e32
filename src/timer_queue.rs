//! A timer queue: protocol machines ask to be woken at a
//! protocol time; one `sleep_until` waits for the earliest.

use std::collections::BTreeMap;

use crate::time::Time;

/// Timers ordered by due time, then by insertion (equal times fire in the
/// order they were asked for).
#[derive(Debug)]
pub struct TimerQueue<T> {
    queue: BTreeMap<(Time, u64), T>,
    seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self {
            queue: BTreeMap::new(),
            seq: 0,
        }
    }
}

impl<T> TimerQueue<T> {
    pub fn schedule(&mut self, at: Time, timer: T) {
        self.seq += 1;
        self.queue.insert((at, self.seq), timer);
    }

    /// The earliest due time, if any timer is pending.
    pub fn next_due(&self) -> Option<Time> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at or before `now`.
    pub fn pop_due(&mut self, now: Time) -> Option<T> {
        let (&key, _) = self.queue.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.queue.remove(&key)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_time_then_insertion_order() {
        let mut q = TimerQueue::default();
        q.schedule(Time::from_millis(20), "b");
        q.schedule(Time::from_millis(10), "a");
        q.schedule(Time::from_millis(20), "c");
        assert_eq!(q.next_due(), Some(Time::from_millis(10)));
        assert_eq!(q.pop_due(Time::from_millis(5)), None);
        let now = Time::from_millis(20);
        let fired: Vec<_> = std::iter::from_fn(|| q.pop_due(now)).collect();
        assert_eq!(fired, ["a", "b", "c"]);
        assert!(q.is_empty());
    }
}
