//! The one time-ordered queue: a replica core's timers, the simulators'
//! agendas and the protocol tests' network all wait on it.
//!
//! Entries leave by due time, then in the order they were scheduled, so
//! equal times never depend on heap internals and the same seed replays
//! the same run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::time::Time;

struct Entry<T> {
    at: Time,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    /// Reversed, so the max-heap pops the earliest (time, sequence) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Items ordered by due time, then by insertion (equal times come out in
/// the order they were scheduled).
pub struct TimerQueue<T> {
    heap: BinaryHeap<Entry<T>>,
    seq: u64,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> std::fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerQueue")
            .field("len", &self.heap.len())
            .field("next_due", &self.next_due())
            .finish()
    }
}

impl<T> TimerQueue<T> {
    pub fn schedule(&mut self, at: Time, item: T) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            item,
        });
    }

    /// The earliest due time, if anything is pending.
    pub fn next_due(&self) -> Option<Time> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes and returns the earliest item with its due time.
    pub fn pop(&mut self) -> Option<(Time, T)> {
        self.heap.pop().map(|e| (e.at, e.item))
    }

    /// Removes and returns one item due at or before `now`, with its due
    /// time.
    pub fn pop_due(&mut self, now: Time) -> Option<(Time, T)> {
        if self.next_due()? > now {
            return None;
        }
        self.pop()
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
        assert_eq!(
            fired,
            [
                (Time::from_millis(10), "a"),
                (Time::from_millis(20), "b"),
                (Time::from_millis(20), "c")
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn equal_times_keep_insertion_order_past_many_entries() {
        let mut q = TimerQueue::default();
        for i in 0..100u32 {
            q.schedule(Time::from_millis(u64::from(i % 3)), i);
        }
        let order: Vec<u32> = std::iter::from_fn(|| q.pop()).map(|(_, i)| i).collect();
        let expected: Vec<u32> = (0..3)
            .flat_map(|r| (0..100).filter(move |i| i % 3 == r))
            .collect();
        assert_eq!(order, expected);
    }
}
