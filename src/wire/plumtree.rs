//! Plumtree messages (Leitão, Pereira, Rodrigues, SRDS 2007, §3).

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::node_id::NodeId;

/// Names one broadcast: its origin and the origin's sequence number. Unique
/// without coordination and eight to twelve bytes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId {
    pub origin: NodeId,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Eager push of a payload (§3.3 GOSSIP); `round` counts hops from the origin.
    Gossip {
        id: MessageId,
        round: u16,
        payload: Bytes,
    },
    /// Lazy push: the sender has these messages (§3.3), batched per peer.
    IHave { ids: Vec<(MessageId, u16)> },
    /// Make the link eager in each id's origin's tree (§3.6) and, when
    /// `resend`, send the messages announced by IHAVE, batched; without it
    /// the GRAFT only moves a tree to a shorter path (§3.8).
    Graft { ids: Vec<MessageId>, resend: bool },
    /// The receiver got duplicates of these origins' messages: move the
    /// link to lazy in their trees (§3.5).
    Prune { origins: Vec<NodeId> },
    /// What a busy link coalesced within its batching window: eager pushes
    /// handled as so many `Gossip`, in order, then announcements handled as
    /// one `IHave`. Never nested, so decoding it cannot recurse; its size
    /// is bounded by the frame cap like every message.
    Batch {
        gossip: Vec<BatchedGossip>,
        ihave: Vec<(MessageId, u16)>,
    },
}

/// One eager push inside a [`Message::Batch`]: the fields of a `Gossip`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchedGossip {
    pub id: MessageId,
    pub round: u16,
    pub payload: Bytes,
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Gossip { .. } => "gossip",
            Message::IHave { .. } => "ihave",
            Message::Graft { .. } => "graft",
            Message::Prune { .. } => "prune",
            Message::Batch { .. } => "batch",
        }
    }
}
