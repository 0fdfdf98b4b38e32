//! `officemesh bridge mqtt`: the office in Home Assistant through MQTT
//! discovery (docs/home-assistant.md).
//!
//! The bridge is an observer like the TUI: it attaches to one node with
//! its own identity, follows the replicated office state, and writes
//! targets with its own dots, admitted by the node like any operator
//! write. The mesh never depends on it: nodes keep heating whether the
//! bridge, the broker or Home Assistant is up or not.

pub mod broker;
pub mod commands;
pub mod config;
pub mod discovery;
pub mod error;
pub mod office_view;
pub mod retained;
pub mod run;
pub mod states;
pub mod topics;

pub use config::MqttSection;
pub use error::BridgeError;
pub use run::{BridgeOptions, run};
pub use topics::Topics;
