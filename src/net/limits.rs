//! Every limit the transport enforces, with the reason it has that value.
//!
//! A limit bounds what one peer can make us spend (memory, sockets, time)
//! before it has proved it holds the cluster key, or after it stops
//! cooperating.

use std::time::Duration;

/// Bytes of the big-endian length prefix in front of every message on the
/// socket (handshake and transport alike).
pub const LENGTH_PREFIX_LEN: usize = 2;

/// Bytes the Noise AEAD (ChaCha20-Poly1305) adds to each transport message.
pub const NOISE_TAG_LEN: usize = 16;

/// The largest message Noise allows (spec §3). A `u16` prefix cannot say
/// more, and [`crate::wire::MAX_FRAME_LEN`] is this less the tag, so one
/// frame is always encrypted and authenticated whole.
pub const MAX_NOISE_MSG_LEN: usize = 65_535;

/// The largest handshake message we accept. With empty payloads the
/// `XXpsk3` messages are 32, 96 and 64 bytes; anything much larger is not a
/// peer of ours, and refusing it early keeps an unauthenticated stranger
/// from making us buffer 64 KiB per socket.
pub const MAX_HANDSHAKE_MSG_LEN: usize = 256;

/// How long a connection may take from TCP accept (or connect) to a
/// verified `Hello`. Long enough for a loaded Pi on Wi-Fi (two round trips
/// plus a frame), short enough that a silent socket cannot hold one of the
/// [`MAX_PENDING_HANDSHAKES`] slots for long.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How many inbound connections may be in their handshake at once. An
/// office has tens of nodes that reconnect rarely; a flood of half-open
/// sockets beyond this is refused at accept instead of costing a task and
/// a Noise state each.
pub const MAX_PENDING_HANDSHAKES: usize = 32;

/// Frames queued for one peer before we give up on it. A peer that does
/// not read fills this queue (its TCP window closed long before) and is
/// disconnected, so memory per peer stays below this many frames. 256 is
/// several seconds of the heaviest gossip burst we expect.
pub const SEND_QUEUE_LEN: usize = 256;

/// How long a single write may block. Together with [`SEND_QUEUE_LEN`] this
/// drops a peer that stopped reading even when we send it little.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity for the owner's event channel (the owner creates it and hands
/// the sender to the listener and to every connection). When the owner
/// falls behind, readers wait, which pushes back on the peers through TCP
/// instead of buffering without bound.
pub const EVENT_QUEUE_LEN: usize = 1024;
