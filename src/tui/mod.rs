//! The TUI (`officemesh tui`): a passive peer's view of the live office,
//! and the place an operator sets targets.
//!
//! Architecture (ratatui's event-driven template): one [`Event`] channel
//! carrying terminal input, a slow tick and [`NetworkUpdate`]s; a pure
//! [`update`] turning [`Action`]s into state changes (and [`Command`]s that
//! leave the TUI); a pure [`render`] drawing the state. The async [`run`]
//! is the only part that touches the terminal or the clock.
//!
//! The TUI renders from its own plain model ([`OfficeSnapshot`]), filled by
//! the observer client, so it knows nothing of the CRDT or protocol types.

pub mod action;
pub mod age;
pub mod app;
pub mod command;
pub mod event;
pub mod from_state;
pub mod history;
pub mod live;
pub mod office_changes;
pub mod preview;
pub mod render;
pub mod runner;
pub mod schedule_editor;
pub mod snapshot;
pub mod summary;
pub mod target_limits;
pub mod theme;
pub mod update;
pub mod views;

#[cfg(test)]
mod tests;

pub use action::{Action, action_for};
pub use app::{App, TuiConfig, View};
pub use command::Command;
pub use event::{Event, LogEvent, LogKind, NetworkUpdate, WriteId, WriteProgress};
pub use render::render;
pub use runner::{TuiError, run};
pub use snapshot::OfficeSnapshot;
pub use target_limits::{TargetLimits, TargetRange};
pub use theme::Theme;
pub use update::update;
