//! The one event stream the TUI consumes.
//!
//! Terminal input, the slow tick and everything the observer client reports
//! arrive on a single channel (ratatui's event-driven template), so the loop
//! has one place to wait and never polls.

use super::snapshot::{ConnectionStatus, OfficeSnapshot};

/// Everything that can wake the TUI.
#[derive(Debug, Clone)]
pub enum Event {
    /// A key, mouse or resize event from the terminal.
    Terminal(crossterm::event::Event),
    /// The slow tick that keeps ages ("42s ago") honest, with the wall clock.
    Tick { now_ms: u64 },
    /// Something the observer client learned.
    Network(NetworkUpdate),
}

/// What the observer client sends to the TUI.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkUpdate {
    /// The whole office as the attached node now knows it.
    Snapshot(OfficeSnapshot),
    /// How far a write the TUI issued has got.
    WriteProgress {
        write: WriteId,
        progress: WriteProgress,
    },
    /// A line for the Events view.
    Log(LogEvent),
    /// The session with the attached node changed.
    Connection(ConnectionStatus),
    /// A node's own history, asked for by the zone detail.
    History {
        node: crate::NodeId,
        answer: crate::wire::observer::HistoryAnswer,
    },
}

/// Identifies one write the TUI issued, chosen by the TUI (see `Command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(pub u64);

/// The life of a target write (DESIGN.md, "Runtime"): *stored* once a node
/// made it durable, *converged* once every live node's version vector covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteProgress {
    /// Sent, not yet acknowledged.
    Pending,
    /// A node committed it to its store.
    Stored,
    /// `k` of the `n` live nodes cover it; `k == n` means converged.
    Converged { k: usize, n: usize },
    /// It will not happen, with the reason.
    Failed(String),
}

/// A line of the Events view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub at_ms: u64,
    pub kind: LogKind,
    pub text: String,
}

/// What a log line is about; shown as a word so it survives `NO_COLOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Join,
    Leave,
    Neighbour,
    Write,
    Error,
    Info,
}

impl LogKind {
    pub fn label(self) -> &'static str {
        match self {
            LogKind::Join => "JOIN",
            LogKind::Leave => "LEAVE",
            LogKind::Neighbour => "NEIGHBOUR",
            LogKind::Write => "WRITE",
            LogKind::Error => "ERROR",
            LogKind::Info => "INFO",
        }
    }
}
