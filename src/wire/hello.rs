//! The first frame of every connection.

use serde::{Deserialize, Serialize};

/// Bumped on any incompatible change to [`super::Message`]. A peer speaking
/// another version is refused with a clear error rather than misparsed.
pub const PROTOCOL_VERSION: u16 = 8;

/// What a replica is: a node takes part in the overlay; an observer (TUI,
/// `status`, `set`) only attaches to one node and never relays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    Node,
    Observer,
}

/// Sent first on every connection, after the Noise handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    pub role: Role,
    /// The port the sender accepts connections on (0 for observers), so the
    /// receiver can tell others how to reach it.
    pub listen_port: u16,
}
