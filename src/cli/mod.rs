//! The subcommands, one file each; `main.rs` only parses and dispatches.

pub mod keygen;
pub mod sim;
