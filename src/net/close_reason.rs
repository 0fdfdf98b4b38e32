//! Why a connection closed: what the connection task reports and the
//! owner logs and counts.

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
