//! The observer client behind `status`, `set` and the TUI: a passive peer
//! that attaches to one node over the encrypted transport, receives a full
//! sync and then every change that node admits, never relays, and may
//! write targets (DESIGN.md, "Membership and broadcast": observers).

pub mod client;
pub mod heating_report;
pub mod identity;
pub mod key_holders;
pub mod report;

pub use client::{Clock, Observer, ObserverError, Submitted, Update};
pub use identity::{ObserverIdentity, ObserverIdentityError};
