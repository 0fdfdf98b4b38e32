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
    /// Passive-view exchange (§4.4): a random walk of `ttl` hops that finds
    /// the exchange partner. Unlike the paper's, the walk carries only its
    /// origin: the samples then cross once, directly between the two ends
    /// (two `ShuffleReply`), instead of riding every hop; on an idle office
    /// the walk is most of what the overlay sends.
    Shuffle { origin: PeerInfo, ttl: u8 },
    /// A shuffle sample sent straight to the other end of the walk: first
    /// from the walk's end to its origin (`answer` set: send yours back),
    /// then the origin's own sample in return.
    ShuffleReply { nodes: Vec<PeerInfo>, answer: bool },
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
