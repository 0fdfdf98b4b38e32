//! Something that switches a heater.

use thiserror::Error;

use crate::board::BoardError;
use crate::time::Time;

#[derive(Debug, Error)]
pub enum RelayError {
    /// The GPIO could not be opened (missing device, permissions).
    #[error(transparent)]
    Board(#[from] BoardError),
    /// The `[heating]` table asks for something impossible.
    #[error("[heating]: {0}")]
    Config(String),
}

/// A heater switch. `now` lets the simulated relay drive its thermal model
/// on the caller's (possibly virtual) clock; a real relay ignores it.
pub trait Relay: Send {
    /// Switches the heater on or off.
    fn set(&mut self, now: Time, on: bool) -> Result<(), RelayError>;

    /// The state last set.
    fn is_on(&self) -> bool;

    /// What it is, for logs and the node's entry: `GPIO17 (active-low)`.
    fn describe(&self) -> String;
}
