//! What leaves the TUI: requests for the observer client to carry out.

use super::event::WriteId;
use crate::NodeId;

/// A request the operator made. The observer client answers a `SetTarget`
/// with `NetworkUpdate::WriteProgress` updates carrying the same `write` id.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Write `value` to the `Target(zone, quantity)` register. The write
    /// dominates every sibling the observer has seen, so it resolves a conflict.
    SetTarget {
        write: WriteId,
        zone: String,
        quantity: String,
        value: f64,
    },
    /// Write `Override(zone)`: `celsius` until `lasts_ms` from now (`None`
    /// holds until resumed). Its progress is reported like a target's.
    SetOverride {
        write: WriteId,
        zone: String,
        celsius: f64,
        lasts_ms: Option<u64>,
    },
    /// Write `Schedule(zone)`: the editor's draft, checked as nodes check
    /// it. Its progress is reported like a target's; a refusal leaves the
    /// zone's program as it was.
    SetSchedule {
        write: WriteId,
        zone: String,
        schedule: crate::crdt::Schedule,
    },
    /// Forget a decommissioned node: its tombstone, written like a target.
    /// The outcome is told in the Events view.
    ForgetNode { node: NodeId, name: String },
    /// Ask `node` for its history from `since_ms` on (Unix ms), for the
    /// zone detail; answered by `NetworkUpdate::History`, or not at all.
    FetchHistory { node: NodeId, since_ms: i64 },
}
