//! Between an observer and the node it is attached to, never relayed
//! (NODE-DESIGN.md, "Observers").

use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Observer → node: a delta the observer made with its own replica id
    /// and dots. The node validates it, commits it to its store, then
    /// broadcasts it and answers `Stored` (or `Rejected`).
    Write { request: u64, delta: Bytes },
    /// Node → observer: the write is durable on that node.
    Stored { request: u64 },
    /// Node → observer: the write was refused and not applied.
    Rejected { request: u64, reason: String },
    /// An encoded `Payload::ClockReport`: from every node straight to the
    /// node observers watch through (a `Payload::Watch`'s `via`), and from
    /// that node on to its observers. Sent point to point rather than
    /// broadcast: with N nodes a write then costs N reports instead of N²
    /// deliveries, which on 50 nodes was most of a write's bytes and what
    /// slowed the next write down.
    ClockReport(Bytes),
    /// Node → observer: the write was admitted but this node could not
    /// make it durable (disk full, I/O error). It was already broadcast to
    /// `sent_to` neighbours, so it may still spread: this is not a refusal.
    NotStored {
        request: u64,
        reason: String,
        sent_to: u32,
    },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Write { .. } => "write",
            Message::Stored { .. } => "stored",
            Message::Rejected { .. } => "rejected",
            Message::ClockReport(_) => "clock_report",
            Message::NotStored { .. } => "not_stored",
        }
    }
}
