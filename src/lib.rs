//! officemesh: a smart-office mesh for Raspberry Pis.
//!
//! Layers, bottom-up (see DESIGN.md): `wire` (frames and messages), `proto`
//! (HyParView + Plumtree, sans-IO), `crdt` (the office state), `sim` (the
//! deterministic simulator), the runtime (`net`, `node`, `store`), the
//! devices (`sensors`, `control`), the interfaces (`tui`, the CLI) and what
//! runs a node as a Linux service (`service`: systemd, logs, metrics).

pub mod bench;
pub mod board;
pub mod bridge;
pub mod config;
pub mod control;
pub mod crdt;
pub mod demo;
pub mod doctor;
pub mod history;
pub mod key_fingerprint;
pub mod net;
pub mod node;
pub mod node_id;
pub mod observer;
pub mod proto;
pub mod replica;
pub mod sensors;
pub mod service;
pub mod sim;
pub mod splitmix;
pub mod store;
pub mod time;
pub mod timer_queue;
pub mod tui;
pub mod wire;

pub use key_fingerprint::KeyFingerprint;
pub use node_id::NodeId;
pub use time::Time;
