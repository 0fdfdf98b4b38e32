//! What the transport tells the task that owns the protocol machines.
//!
//! Connection tasks only read and write frames; everything they learn goes
//! through one channel of these events, so the owner drives the protocol
//! from a single place with no locks around its state.

use std::net::SocketAddr;

use tokio::sync::OwnedSemaphorePermit;

use super::close_reason::CloseReason;
use super::handshake::Direction;
use super::peer_handle::{ConnId, PeerHandle};
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
        /// Its share of [`super::limits::EVENT_QUEUE_BYTES`], given back
        /// when the event is dropped (once the owner has handled it).
        room: OwnedSemaphorePermit,
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
