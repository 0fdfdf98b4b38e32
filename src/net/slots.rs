//! Counted slots with a cap per key and a cap in total.
//!
//! The transport holds one slot per unauthenticated connection (keyed by
//! source address) and one per authenticated connection (keyed by the
//! peer's proven id). A slot is released when its guard drops, on every
//! path a connection can end by, so a count can never leak.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// Which cap a refused slot ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefused {
    #[error("{limit} already held for this peer")]
    PerKey { limit: usize },
    #[error("{limit} already held in total")]
    Total { limit: usize },
}

/// Slots for keys of type `K`: at most `per_key` for one key and `total`
/// for all keys together.
#[derive(Debug)]
pub(crate) struct Slots<K> {
    per_key: usize,
    total: usize,
    held: Mutex<Held<K>>,
}

#[derive(Debug)]
struct Held<K> {
    total: usize,
    by_key: HashMap<K, usize>,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    pub(crate) fn new(per_key: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            per_key,
            total,
            held: Mutex::new(Held {
                total: 0,
                by_key: HashMap::new(),
            }),
        })
    }

    /// The counts stay consistent even if a holder panicked mid-update
    /// (each update is a single step), so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, Held<K>> {
        self.held
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for `key`, or says which cap is reached.
    pub(crate) fn try_acquire(self: &Arc<Self>, key: K) -> Result<Slot<K>, SlotRefused> {
        let mut held = self.lock();
        if held.total >= self.total {
            return Err(SlotRefused::Total { limit: self.total });
        }
        let count = held.by_key.entry(key.clone()).or_insert(0);
        if *count >= self.per_key {
            return Err(SlotRefused::PerKey {
                limit: self.per_key,
            });
        }
        *count += 1;
        held.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            key: Some(key),
        })
    }

    /// Slots held in total.
    pub(crate) fn held(&self) -> usize {
        self.lock().total
    }

    /// Slots `key` holds.
    pub(crate) fn held_by(&self, key: &K) -> usize {
        self.lock().by_key.get(key).copied().unwrap_or(0)
    }

    /// The key holding the most slots, and how many.
    pub(crate) fn busiest(&self) -> Option<(K, usize)> {
        self.lock()
            .by_key
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.clone(), *n))
    }

    fn release(&self, key: &K) {
        let mut held = self.lock();
        if let Some(count) = held.by_key.get_mut(key) {
            *count -= 1;
            if *count == 0 {
                held.by_key.remove(key);
            }
            held.total -= 1;
        }
    }
}

/// One held slot; dropping it gives the slot back.
#[derive(Debug)]
pub(crate) struct Slot<K: Eq + Hash + Clone> {
    slots: Arc<Slots<K>>,
    key: Option<K>,
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.slots.release(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_key_and_in_total_and_releases_on_drop() {
        let slots = Slots::new(2, 3);
        let a1 = slots.try_acquire("a").unwrap();
        let _a2 = slots.try_acquire("a").unwrap();
        assert_eq!(
            slots.try_acquire("a").unwrap_err(),
            SlotRefused::PerKey { limit: 2 }
        );
        let _b1 = slots.try_acquire("b").unwrap();
        assert_eq!(
            slots.try_acquire("c").unwrap_err(),
            SlotRefused::Total { limit: 3 }
        );
        assert_eq!(slots.busiest(), Some(("a", 2)));
        assert_eq!(slots.held_by(&"b"), 1);
        drop(a1);
        assert_eq!(slots.held(), 2);
        let _c1 = slots.try_acquire("c").unwrap();
        assert_eq!(slots.held(), 3);
    }

    #[test]
    fn a_key_with_no_slot_left_is_forgotten() {
        let slots = Slots::new(1, 10);
        for _ in 0..100 {
            let s = slots.try_acquire(7u32).unwrap();
            drop(s);
        }
        assert_eq!(slots.held(), 0);
        assert!(slots.lock().by_key.is_empty());
    }
}
