//! Writes held until their author's signing key is known here.
//!
//! A node's readings do not carry its public key: every replica learns it
//! from the node's own `Node` entry, which does. A replica that has just
//! joined, or a node that has just started, can get a reading before that
//! entry (a broadcast overtakes anti-entropy), and cannot check it yet.
//! Refusing it would count an honest node as a bad peer at every join;
//! joining it unchecked would let anyone write in a stranger's name. So
//! such writes wait here, bounded, and are checked again once the keys of
//! all their authors are known. What waits too long, or is pushed out by
//! newer arrivals, is refused then as `unknown_signer`, as it would have
//! been at once; nothing a replica acknowledged depends on it (the author
//! still holds it, and anti-entropy brings it again).

use std::collections::VecDeque;
use std::time::Duration;

use super::route::Route;
use crate::crdt::Delta;
use crate::node_id::NodeId;
use crate::time::Time;

/// How long a write waits for its author's key. An entry reaches a new
/// replica within an anti-entropy round or two (5 s each); a write whose
/// author stays unknown longer is not coming from a node of this office.
pub const AWAIT_KEY: Duration = Duration::from_secs(30);

/// Most registers waiting at once. A join sees one reading per sensor of
/// each node whose entry is late, a few hundred bytes each; past this a
/// peer inventing authors only pushes out its own earlier inventions, and
/// what waits stays within about a hundred KiB.
pub const MAX_AWAITING: usize = 256;

/// A change, or the part of one, that could not be checked yet.
#[derive(Debug)]
pub struct Awaiting {
    pub since: Time,
    pub from: NodeId,
    pub route: Route,
    pub delta: Delta,
}

/// The waiting changes, oldest first.
#[derive(Debug, Default)]
pub struct AwaitingKeys {
    queue: VecDeque<Awaiting>,
    /// Registers in `queue`.
    registers: usize,
}

impl AwaitingKeys {
    /// Holds `waiting`; gives back the oldest changes there was no room
    /// for (`waiting` itself if it alone is over the bound).
    pub fn hold(&mut self, waiting: Awaiting) -> Vec<Awaiting> {
        let size = waiting.delta.len();
        if size > MAX_AWAITING {
            return vec![waiting];
        }
        let mut pushed_out = Vec::new();
        while self.registers + size > MAX_AWAITING {
            let Some(old) = self.queue.pop_front() else {
                break;
            };
            self.registers -= old.delta.len();
            pushed_out.push(old);
        }
        self.registers += size;
        self.queue.push_back(waiting);
        pushed_out
    }

    /// Takes out the changes that waited their time (to be refused) and
    /// those whose authors' keys are all known now (`known`), to be checked
    /// again; the rest keep waiting.
    pub fn take(
        &mut self,
        now: Time,
        known: impl Fn(NodeId) -> bool,
    ) -> (Vec<Awaiting>, Vec<Awaiting>) {
        let mut expired = Vec::new();
        let mut ready = Vec::new();
        for waiting in std::mem::take(&mut self.queue) {
            if now.saturating_since(waiting.since) >= AWAIT_KEY {
                expired.push(waiting);
            } else if waiting.delta.authors().into_iter().all(&known) {
                ready.push(waiting);
            } else {
                self.queue.push_back(waiting);
            }
        }
        self.registers = self.queue.iter().map(|w| w.delta.len()).sum();
        (expired, ready)
    }

    /// Registers waiting.
    pub fn len(&self) -> usize {
        self.registers
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{OfficeState, Quantity, Reading, SensorId, Unit, WriteKey, Writer};

    fn reading_by(seed: u8) -> Delta {
        let sensor = SensorId {
            quantity: Quantity::Temperature,
            index: 0,
        };
        let reading = Reading {
            value: 20.0,
            unit: Unit::Celsius,
        };
        let mut writer = Writer::signing(WriteKey::from_seed([seed; 32]));
        OfficeState::new()
            .publish_reading(&mut writer, 1_800_000_000_000, sensor, reading)
            .delta
    }

    fn waiting(seed: u8, since: Time) -> Awaiting {
        Awaiting {
            since,
            from: NodeId(9),
            route: Route::Broadcast,
            delta: reading_by(seed),
        }
    }

    #[test]
    fn the_oldest_is_pushed_out_past_the_bound() {
        let mut q = AwaitingKeys::default();
        for i in 0..MAX_AWAITING {
            assert!(q.hold(waiting(1, Time::from_millis(i as u64))).is_empty());
        }
        let out = q.hold(waiting(2, Time::from_millis(1_000)));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].since, Time::ZERO);
        assert_eq!(q.len(), MAX_AWAITING);
    }

    #[test]
    fn what_became_checkable_leaves_what_waited_too_long_expires() {
        let mut q = AwaitingKeys::default();
        let known = WriteKey::from_seed([1; 32]).id();
        q.hold(waiting(1, Time::ZERO));
        q.hold(waiting(2, Time::ZERO));
        q.hold(waiting(3, Time::from_millis(20_000)));
        let (expired, ready) = q.take(Time::from_millis(5_000), |a| a == known);
        assert!(expired.is_empty());
        assert_eq!(ready.len(), 1);
        assert_eq!(q.len(), 2);
        let (expired, ready) = q.take(Time::ZERO + AWAIT_KEY, |a| a == known);
        assert_eq!((expired.len(), ready.len(), q.len()), (1, 0, 1));
    }
}
