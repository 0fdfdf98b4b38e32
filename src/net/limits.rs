//! Every limit the transport enforces, with the reason it has that value.
//!
//! A limit bounds what one peer can make us spend (memory, sockets, time)
//! before it has proved it holds the cluster key, or after it stops
//! cooperating.

use std::time::Duration;

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

/// How many of the [`MAX_PENDING_HANDSHAKES`] slots one source address may
/// hold. A replica dials a given node once at a time (twice when both
/// ends dial at once, plus an observer on the same host), so one host that
/// holds more is flooding; it cannot lock every other host out.
pub const MAX_PENDING_HANDSHAKES_PER_IP: usize = 8;

/// Authenticated connections one peer id may hold at once. Both ends may
/// dial each other at the same moment (two connections until the
/// duplicate is closed) and a reconnect can overlap the close of the old
/// link; more than this is a key holder opening connections to exhaust us.
pub const MAX_CONNECTIONS_PER_PEER: usize = 4;

/// Authenticated connections in total. A node holds its HyParView active
/// view (a handful), short-lived shuffle and join links, the observers
/// attached to it (an operator's TUI, `status`, `set`) and, while an
/// observer watches through it, a clock-report link from every node of
/// the office: 200 Pis need 200. Every connection costs a task, two
/// buffers that grow only while a frame is in them, and a send queue:
/// a few KiB while idle.
pub const MAX_CONNECTIONS: usize = 512;

/// A refused connection is logged at most once per source per this
/// interval; the counters count every one. A flood must not fill the
/// journal on the SD card.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Sources remembered by the refusal log. Beyond this many distinct
/// offenders within one [`REFUSAL_LOG_INTERVAL`] new ones go unlogged
/// (still counted), so the log's own memory stays bounded.
pub const REFUSAL_LOG_SOURCES: usize = 256;

/// Frames queued for one peer before we give up on it. A peer that does
/// not read fills this queue (its TCP window closed long before) and is
/// disconnected. 256 is several seconds of the heaviest gossip burst we
/// expect.
pub const SEND_QUEUE_LEN: usize = 256;

/// Bytes queued for one peer before we give up on it, whatever the number
/// of frames: [`SEND_QUEUE_LEN`] frames of up to 64 KiB each would be
/// 16 MiB per peer, more than a node may use in all. Only what the
/// kernel's socket buffer has not taken yet waits here, so a peer that
/// reads never comes near it; 512 KiB holds a whole anti-entropy answer
/// ([`crate::crdt::anti_entropy::MAX_ANSWER_PARTS`] frames) twice over
/// besides the gossip of the moment.
pub const SEND_QUEUE_BYTES: usize = 512 * 1024;

/// How long a single write may block. Together with [`SEND_QUEUE_LEN`] and
/// [`SEND_QUEUE_BYTES`] this
/// drops a peer that stopped reading even when we send it little.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Capacity for the owner's event channel (the owner creates it and hands
/// the sender to the listener and to every connection). When the owner
/// falls behind, readers wait, which pushes back on the peers through TCP
/// instead of buffering without bound.
pub const EVENT_QUEUE_LEN: usize = 1024;

/// Bytes of frames waiting for the owner's loop, from all connections
/// together: [`EVENT_QUEUE_LEN`] frames of up to 64 KiB each would be
/// 64 MiB, and a loop starved of CPU (a loaded Pi) lets them pile up.
/// A reader that finds no room waits before passing its frame on, which
/// pushes back on its peer through TCP; each connection holds at most one
/// decoded frame while it waits. 1 MiB is sixteen full frames, or
/// thousands of an office's ordinary ones.
pub const EVENT_QUEUE_BYTES: usize = 1024 * 1024;
