//! What a replica needs to write: its id, its dot counter and its clock.
//!
//! Kept apart from [`super::OfficeState`] so the state holds only what is
//! replicated (two converged replicas encode byte-for-byte equal) and the
//! runtime can persist this small record on its own.

use serde::{Deserialize, Serialize};

use super::dot::Dot;
use super::hlc::{Hlc, Timestamp};
use super::office_state::OfficeState;
use crate::node_id::NodeId;

/// The local replica's write clock.
///
/// A dot must never be reused (DESIGN.md, "Identities": reused dots lose
/// updates). The rule for the runtime: make the writer (or at least
/// [`Writer::last_counter`]) and the new state durable *before* a delta it
/// produced leaves the process. A crash before that point loses only dots
/// nobody has seen; on restart [`Writer::resume`] also takes the highest
/// counter of this replica found in the state, so a lost writer record is
/// repaired from the state and vice versa.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Writer {
    id: NodeId,
    last_counter: u64,
    hlc: Hlc,
}

impl Writer {
    /// A replica that has never written.
    pub fn new(id: NodeId) -> Self {
        Writer {
            id,
            last_counter: 0,
            hlc: Hlc::new(),
        }
    }

    /// Resumes after a restart from what was persisted, never below a dot or
    /// timestamp of this replica already present in `state`.
    pub fn resume(id: NodeId, last_counter: u64, hlc: Hlc, state: &OfficeState) -> Self {
        let mut writer = Writer {
            id,
            last_counter,
            hlc,
        };
        writer.last_counter = writer.last_counter.max(state.context().max_counter(id));
        writer.hlc.observe(state.latest_timestamp());
        writer
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The counter of the last dot handed out (0: none yet). Persist it.
    pub fn last_counter(&self) -> u64 {
        self.last_counter
    }

    /// Raises the counter, e.g. to a reserved block's end loaded from disk.
    /// Never lowers it: that would reuse dots.
    pub fn raise_counter(&mut self, counter: u64) {
        self.last_counter = self.last_counter.max(counter);
    }

    /// The clock, for persistence.
    pub fn hlc(&self) -> Hlc {
        self.hlc
    }

    /// The dot the next write will get, without taking it.
    pub fn peek_dot(&self) -> Dot {
        Dot::new(self.id, self.last_counter.saturating_add(1))
    }

    /// Takes a fresh dot and a timestamp after both the wall clock and
    /// `after` (the newest value the write supersedes, so a key's set-at
    /// never goes backwards).
    pub(crate) fn next(&mut self, wall_ms: u64, after: Option<Timestamp>) -> (Dot, Timestamp) {
        if let Some(after) = after {
            self.hlc.observe(after);
        }
        self.last_counter = self.last_counter.saturating_add(1);
        (Dot::new(self.id, self.last_counter), self.hlc.tick(wall_ms))
    }
}
