//! What the transport tells the task that owns the protocol machines.
//!
//! Connection tasks only read and write frames; everything they learn goes
//! through one channel of these events, so the owner drives the protocol
//! from a single place with no locks around its state.

use std::net::SocketAddr;

use super::connection::{ConnId, PeerHandle};
use super::handshake::Direction;
use crate::node_id::NodeId;
use crate::wire::{Message, PeerInfo, Role};

#[derive(Debug)]
pub enum NetEvent {
    /// A peer proved its key and sent a compatible `Hello`. Frames for it
    /// go through `handle`; its frames arrive as [`NetEvent::Frame`].
    Connected {
        peer: PeerInfo,
        role: Role,
        direction: Direction,
        handle: PeerHandle,
    },
    /// A message from an authenticated peer, in the order it was sent.
    Frame {
        peer: NodeId,
        conn: ConnId,
        msg: Message,
    },
    /// The connection is gone; sent exactly once per connected peer, after
    /// its last frame.
    Closed {
        peer: NodeId,
        conn: ConnId,
        reason: CloseReason,
    },
    /// A connection started with [`super::Endpoint::spawn_connect`] failed.
    ConnectFailed { addr: SocketAddr, error: String },
}

/// Why a connection closed, in an operator's terms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("socket error: {0}")]
    Io(String),
    #[error("the peer sent a bad frame: {0}")]
    BadFrame(String),
    #[error("the peer sent a frame of {len} bytes, over the cap")]
    Oversized { len: usize },
    #[error("the peer does not read: its send queue is full")]
    SlowPeer,
    #[error("a write to the peer stalled")]
    WriteTimeout,
    #[error("closed by this node")]
    Local,
    #[error("nobody listens for this connection's events any more")]
    OwnerGone,
}
