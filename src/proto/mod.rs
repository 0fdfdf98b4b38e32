//! The protocol core: HyParView membership and Plumtree broadcast as one
//! sans-IO state machine.
//!
//! The caller passes an [`Input`] and the current [`Time`]; the machine
//! pushes [`Output`]s (send this to that peer, close that connection, wake me
//! at T, a neighbour came up, a broadcast was delivered) into a vector the
//! caller drains. No sockets, no tokio, no clock, no global randomness: the
//! RNG is seeded by the caller. The tokio runtime (`node`) and the
//! deterministic simulator (`sim`) drive the very same code.

pub mod flood;
pub mod hyparview;
pub mod link_batch;
pub mod origin_trees;
pub mod plumtree;

mod overlay;
#[cfg(test)]
mod test_net;

pub use hyparview::DownReason;
pub use overlay::{BroadcastMode, Config, Event, Input, Output, Overlay, Timer};
