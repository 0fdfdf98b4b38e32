//! The encrypted transport: TCP, a Noise `XXpsk3` handshake, and framed
//! messages (DESIGN.md, "Runtime").
//!
//! Every connection proves both replicas' static keys (which give their
//! [`crate::NodeId`]) and the cluster key before a single frame is read. After
//! the handshake each side's first frame is a [`crate::wire::Hello`]. Then
//! one task per connection only reads and writes frames; everything it learns
//! goes to the owner as a [`NetEvent`], and the owner writes through a
//! [`PeerHandle`] whose bounded queue drops a peer that stops reading.
//!
//! ```text
//! socket:  u16 length (big-endian) | Noise ciphertext (≤ 65 535 bytes)
//! plain:   wire::encode_message(Message)  (≤ wire::MAX_FRAME_LEN)
//! ```

pub mod backoff;
pub mod close_reason;
pub mod connection;
pub mod counters;
pub mod endpoint;
pub mod event;
pub mod handshake;
pub mod identity;
pub mod keyring;
pub mod keyring_dir;
pub mod limits;
pub mod listener;
pub mod peer_handle;
mod pending;
mod refusal_log;
pub mod secure_stream;
mod slots;

pub use backoff::Backoff;
pub use close_reason::CloseReason;
pub use connection::Connection;
pub use counters::{CountersSnapshot, NetCounters, TrafficBytes};
pub use endpoint::{Endpoint, Limits};
pub use event::NetEvent;
pub use handshake::{Direction, HandshakeError, NOISE_PATTERN, NOISE_PROLOGUE};
pub use identity::{ClusterKey, IdentityError, StaticKeypair};
pub use keyring::{Keyring, KeyringError, MAX_KEYRING_KEYS};
pub use keyring_dir::{KeyringDir, KeyringDirError, KeyringEntry, KeyringSource, load_keys};
pub use listener::Listener;
pub use peer_handle::{ConnId, PeerHandle, SendError};
pub use slots::SlotRefused;
