//! The subcommands, one file each; `main.rs` only parses and dispatches.

pub mod attach;
pub mod bench;
pub mod bridge;
pub mod completions;
pub mod confirm;
pub mod demo;
pub mod doctor;
pub mod forget;
pub mod keygen;
pub mod keyring;
pub mod man;
pub mod node;
pub mod preset;
pub mod schedule;
pub mod set;
pub mod sim;
pub mod soak;
pub mod status;
pub mod tui;
pub mod whoami;
