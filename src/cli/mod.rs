//! The subcommands that run the node and talk to it as an observer. Each
//! command is one file; `main.rs` only parses and dispatches.

pub mod attach;
pub mod node;
pub mod set;
pub mod status;
