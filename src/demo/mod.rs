//! The simulated office behind `officemesh demo`: several real nodes in one
//! process on loopback, each with a simulated thermometer, heater and room,
//! so a newcomer sees the whole system work with one command.
//!
//! Everything but the rooms is real: each node has its own key, store,
//! Noise-encrypted TCP listener on its own 127.0.0.x address, HyParView
//! view and Plumtree tree, and its devices task drives its heater from the
//! zone's target as it would on a Pi. Only the device clock is accelerated
//! (see [`DemoOptions::speed`]).

pub mod heating_day;
mod network_card;
mod office;
mod rooms;
mod summary;

pub use network_card::{MAX_NODES, address, interface, mac};
pub use office::{DemoError, DemoNode, DemoOffice, DemoOptions};
pub use rooms::{node_name, zone};
pub use summary::{Summary, ZoneSummary};
