//! The handshakes in progress on one listener, and the fair-share rule
//! that decides which one gives way when all their slots are taken.
//!
//! The total cap alone would let a flood from a few addresses hold every
//! slot and lock honest replicas out for as long as it lasts. So when the
//! slots are full, a newcomer whose address holds fewer slots than the
//! busiest address takes the oldest handshake of that address: a flood can
//! only ever crowd out itself.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::AbortHandle;

use super::slots::{Slot, SlotRefused, Slots};

/// One handshake in progress: its source, its slot and its task.
#[derive(Debug)]
struct Entry {
    source: IpAddr,
    _slot: Slot<IpAddr>,
    task: Option<AbortHandle>,
}

/// What [`PendingHandshakes::admit`] decided.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Admitted; register its task with [`PendingHandshakes::started`].
    Admitted(Ticket),
    /// Admitted in place of the oldest handshake from `evicted`, which was
    /// aborted.
    AdmittedByEviction {
        ticket: Ticket,
        evicted: IpAddr,
    },
    Refused(SlotRefused),
}

/// The handshakes in progress, shared by the accept loop and each
/// handshake's task.
#[derive(Debug)]
pub(crate) struct PendingHandshakes {
    slots: Arc<Slots<IpAddr>>,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    next: u64,
    /// By admission order, so the oldest of an address comes first.
    by_id: BTreeMap<u64, Entry>,
}

/// A handshake's place in the table; dropping it (when the handshake ends,
/// however it ends) frees its slot.
#[derive(Debug)]
pub(crate) struct Ticket {
    table: Arc<PendingHandshakes>,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.table.lock().by_id.remove(&self.id);
    }
}

impl PendingHandshakes {
    /// At most `per_ip` handshakes from one address and `total` in all.
    pub(crate) fn new(per_ip: usize, total: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Slots::new(per_ip, total),
            entries: Mutex::new(Entries::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handshakes in progress.
    pub(crate) fn len(&self) -> usize {
        self.slots.held()
    }

    /// Admits a handshake from `source`, evicting the oldest handshake of
    /// the busiest address when every slot is taken and that address holds
    /// at least two more than `source` would.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> Admission {
        let mut entries = self.lock();
        let mut evicted = None;
        let mut to_abort = None;
        let slot = match self.slots.try_acquire(source) {
            Ok(slot) => slot,
            Err(SlotRefused::Total { limit }) => {
                let mine = self.slots.held_by(&source);
                let victim = match self.slots.busiest() {
                    Some((busiest, n)) if n > mine + 1 => entries
                        .by_id
                        .iter()
                        .find(|(_, e)| e.source == busiest)
                        .map(|(id, _)| *id),
                    _ => None,
                };
                let Some(victim) = victim else {
                    return Admission::Refused(SlotRefused::Total { limit });
                };
                if let Some(mut entry) = entries.by_id.remove(&victim) {
                    // Aborted once the table is unlocked: the task's ticket
                    // locks it when dropped.
                    to_abort = entry.task.take();
                    evicted = Some(entry.source);
                    // The entry (and its slot) is dropped here.
                }
                match self.slots.try_acquire(source) {
                    Ok(slot) => slot,
                    Err(refused) => return Admission::Refused(refused),
                }
            }
            Err(refused) => return Admission::Refused(refused),
        };
        let id = entries.next;
        entries.next += 1;
        entries.by_id.insert(
            id,
            Entry {
                source,
                _slot: slot,
                task: None,
            },
        );
        let ticket = Ticket {
            table: Arc::clone(self),
            id,
        };
        drop(entries);
        if let Some(task) = to_abort {
            task.abort();
        }
        match evicted {
            Some(evicted) => Admission::AdmittedByEviction { ticket, evicted },
            None => Admission::Admitted(ticket),
        }
    }

    /// Records the task running `ticket`'s handshake, so an eviction can
    /// abort it. A handshake that already ended is left alone.
    pub(crate) fn started(&self, ticket_id: u64, task: AbortHandle) {
        if let Some(entry) = self.lock().by_id.get_mut(&ticket_id) {
            entry.task = Some(task);
        }
    }
}

impl Ticket {
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn admitted(a: Admission) -> Ticket {
        match a {
            Admission::Admitted(t) | Admission::AdmittedByEviction { ticket: t, .. } => t,
            Admission::Refused(r) => panic!("refused: {r}"),
        }
    }

    #[test]
    fn a_flood_crowds_out_only_itself() {
        let table = PendingHandshakes::new(3, 4);
        let flood: Vec<Ticket> = (0..3).map(|_| admitted(table.admit(ip(2)))).collect();
        let other = admitted(table.admit(ip(3)));
        assert_eq!(table.len(), 4);
        // Full: a newcomer takes the flood's oldest slot.
        let first = match table.admit(ip(1)) {
            Admission::AdmittedByEviction { ticket, evicted } => {
                assert_eq!(evicted, ip(2));
                ticket
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(table.len(), 4);
        // The flood cannot take a slot back from an address holding fewer.
        assert!(matches!(table.admit(ip(2)), Admission::Refused(_)));
        // Another newcomer takes another of the flood's slots.
        let second = admitted(table.admit(ip(4)));
        assert_eq!(table.slots.held_by(&ip(2)), 1);
        // Now every address holds one: nobody gives way.
        assert!(matches!(
            table.admit(ip(5)),
            Admission::Refused(SlotRefused::Total { limit: 4 })
        ));
        drop((flood, other, first, second));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn an_ended_handshake_frees_its_slot() {
        let table = PendingHandshakes::new(1, 1);
        let t = admitted(table.admit(ip(1)));
        assert!(matches!(table.admit(ip(2)), Admission::Refused(_)));
        drop(t);
        admitted(table.admit(ip(2)));
    }
}
