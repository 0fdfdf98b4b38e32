//! The subcommands, one file each; `main.rs` only parses and dispatches.

pub mod attach;
pub mod bench;
pub mod bridge;
pub mod demo;
pub mod forget;
pub mod keygen;
pub mod node;
pub mod set;
pub mod sim;
pub mod status;
pub mod tui;
