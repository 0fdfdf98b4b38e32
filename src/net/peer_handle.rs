//! The owner's side of a running connection: the handle it queues frames
//! and closes through, and the id that tells two connections to one peer
//! apart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    #[error(
        "{queued} bytes are queued for the peer (at most {max}); the connection is being dropped"
    )]
    QueueBytesFull { queued: usize, max: usize },
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
    /// Bytes of the frames in `queue`, shared with the writer, which takes
    /// off what it has written (see [`QueuedBytes`]).
    queued: QueuedBytes,
    kill: Arc<watch::Sender<Option<CloseReason>>>,
}

/// The bytes waiting in one connection's send queue, bounded by
/// [`super::limits::SEND_QUEUE_BYTES`]: the handle adds a frame's length
/// when it queues it, the writer takes it off when it takes the frame.
#[derive(Clone, Debug)]
pub(super) struct QueuedBytes {
    bytes: Arc<AtomicUsize>,
    max: usize,
}

impl QueuedBytes {
    pub(super) fn new(max: usize) -> Self {
        QueuedBytes {
            bytes: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Reserves room for `len` more bytes; on refusal, how many are queued.
    fn reserve(&self, len: usize) -> Result<(), usize> {
        let before = self.bytes.fetch_add(len, Ordering::AcqRel);
        if before.saturating_add(len) > self.max {
            self.bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(before);
        }
        Ok(())
    }

    /// The writer took a frame of `len` bytes off the queue.
    pub(super) fn taken(&self, len: usize) {
        self.bytes.fetch_sub(len, Ordering::AcqRel);
    }
}

impl PeerHandle {
    pub(super) fn new(
        (peer, role, key): (PeerInfo, Role, KeyFingerprint),
        conn: ConnId,
        (queue, queued): (mpsc::Sender<Outgoing>, QueuedBytes),
        kill: watch::Sender<Option<CloseReason>>,
    ) -> Self {
        PeerHandle {
            peer,
            role,
            key,
            conn,
            queue,
            queued,
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
    /// (in frames or in bytes) the peer is too slow, the connection is
    /// dropped and [`SendError::QueueFull`] or [`SendError::QueueBytesFull`]
    /// returned.
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
        let len = body.len();
        if let Err(queued) = self.queued.reserve(len) {
            self.kill.send_replace(Some(CloseReason::SlowPeer));
            return Err(SendError::QueueBytesFull {
                queued,
                max: self.queued.max,
            });
        }
        match self.queue.try_send(Outgoing::Frame(body)) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.queued.taken(len);
                self.kill.send_replace(Some(CloseReason::SlowPeer));
                Err(SendError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.queued.taken(len);
                Err(SendError::Closed)
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_bytes_refuse_past_their_bound_and_free_what_the_writer_took() {
        let q = QueuedBytes::new(1000);
        assert!(q.reserve(600).is_ok());
        assert!(q.reserve(400).is_ok());
        assert_eq!(q.reserve(1), Err(1000), "full to the byte");
        q.taken(600);
        assert!(q.reserve(500).is_ok());
        assert_eq!(
            q.reserve(usize::MAX),
            Err(900),
            "no overflow on a huge frame"
        );
        q.taken(400);
        q.taken(500);
        assert_eq!(q.bytes.load(Ordering::Acquire), 0);
    }
}
