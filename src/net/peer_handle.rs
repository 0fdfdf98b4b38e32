//! The owner's side of a running connection: the handle it queues frames
//! and closes through, and the id that tells two connections to one peer
//! apart.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use super::close_reason::CloseReason;
use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;
use crate::wire::{self, FrameError, Message, PeerInfo, Role};

/// Tells two connections to the same peer apart (both ends may dial at
/// once); unique within one [`super::Endpoint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

/// What the writer is asked to do, in order.
#[derive(Debug)]
pub(super) enum Outgoing {
    Frame(Bytes),
    Close,
}

/// Why a frame was not queued.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("message of {len} bytes exceeds the {max}-byte frame cap")]
    Oversized { len: usize, max: usize },
    #[error("message could not be encoded: {0}")]
    Encode(String),
    #[error("the peer's send queue is full; the connection is being dropped")]
    QueueFull,
    #[error("the connection is closed")]
    Closed,
}

/// The owner's side of a running connection: queue frames, close it.
/// Cheap to clone; the connection lives until closed, failed, or every
/// handle is dropped.
#[derive(Clone, Debug)]
pub struct PeerHandle {
    peer: PeerInfo,
    role: Role,
    /// The cluster key the connection's handshake proved.
    key: KeyFingerprint,
    conn: ConnId,
    queue: mpsc::Sender<Outgoing>,
    kill: Arc<watch::Sender<Option<CloseReason>>>,
}

impl PeerHandle {
    pub(super) fn new(
        (peer, role, key): (PeerInfo, Role, KeyFingerprint),
        conn: ConnId,
        queue: mpsc::Sender<Outgoing>,
        kill: watch::Sender<Option<CloseReason>>,
    ) -> Self {
        PeerHandle {
            peer,
            role,
            key,
            conn,
            queue,
            kill: Arc::new(kill),
        }
    }

    pub fn peer(&self) -> PeerInfo {
        self.peer
    }

    pub fn id(&self) -> NodeId {
        self.peer.id
    }

    /// The cluster key the connection's handshake proved.
    pub fn cluster_key(&self) -> KeyFingerprint {
        self.key
    }

    pub fn addr(&self) -> SocketAddr {
        self.peer.addr
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn conn_id(&self) -> ConnId {
        self.conn
    }

    /// Encodes and queues `msg`. Never waits: when the peer's queue is full
    /// the peer is too slow, the connection is dropped and
    /// [`SendError::QueueFull`] returned.
    pub fn send(&self, msg: &Message) -> Result<(), SendError> {
        let body = wire::encode_message(msg).map_err(|e| match e {
            FrameError::Oversized { len, max } => SendError::Oversized { len, max },
            other => SendError::Encode(other.to_string()),
        })?;
        self.send_encoded(Bytes::from(body))
    }

    /// Queues a body already made by [`wire::encode_message`], so one
    /// broadcast is encoded once for all its recipients.
    pub fn send_encoded(&self, body: Bytes) -> Result<(), SendError> {
        if body.len() > wire::MAX_FRAME_LEN {
            return Err(SendError::Oversized {
                len: body.len(),
                max: wire::MAX_FRAME_LEN,
            });
        }
        match self.queue.try_send(Outgoing::Frame(body)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.kill.send_replace(Some(CloseReason::SlowPeer));
                Err(SendError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Closed),
        }
    }

    /// Closes the connection once what is already queued has been written.
    pub fn close(&self) {
        if self.queue.try_send(Outgoing::Close).is_err() {
            self.abort();
        }
    }

    /// Closes the connection now, dropping whatever is queued.
    pub fn abort(&self) {
        self.kill.send_replace(Some(CloseReason::Local));
    }

    /// Whether the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}
