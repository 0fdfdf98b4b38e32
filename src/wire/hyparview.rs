//! HyParView messages (Leitão, Pereira, Rodrigues, DSN 2007, §4).

use serde::{Deserialize, Serialize};

use super::PeerInfo;

/// NEIGHBOR priority (§4.3): a node with an empty active view asks with high
/// priority and must be accepted; otherwise the receiver may refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    High,
    Low,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A new node asks the contact to let it in (§4.2).
    Join { node: PeerInfo },
    /// A random walk that advertises a joining node (§4.2).
    ForwardJoin { node: PeerInfo, ttl: u8 },
    /// Ask to become a neighbour (§4.3); also sent back by the contact of a
    /// JOIN and the last hop of a FORWARDJOIN to open the symmetric link.
    Neighbor { priority: Priority },
    /// The answer to NEIGHBOR: only once it arrives does the asker add the
    /// peer to its active view.
    NeighborReply { accepted: bool },
    /// The sender drops the receiver from its active view (§4.3).
    Disconnect { alive: bool },
    /// Passive-view exchange (§4.4), walking `ttl` hops.
    Shuffle {
        origin: PeerInfo,
        ttl: u8,
        nodes: Vec<PeerInfo>,
    },
    /// The answer to a shuffle, sent straight to its origin.
    ShuffleReply { nodes: Vec<PeerInfo> },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Join { .. } => "join",
            Message::ForwardJoin { .. } => "forward_join",
            Message::Neighbor { .. } => "neighbor",
            Message::NeighborReply { .. } => "neighbor_reply",
            Message::Disconnect { .. } => "disconnect",
            Message::Shuffle { .. } => "shuffle",
            Message::ShuffleReply { .. } => "shuffle_reply",
        }
    }
}
