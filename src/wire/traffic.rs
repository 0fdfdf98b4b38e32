//! What share of a replica's bytes each job of the protocol takes: the
//! classes the benchmark splits sent bytes into.
//!
//! The transport sees encoded bodies, not messages (a broadcast is encoded
//! once for all its recipients), so the class is read from the body's
//! first two bytes: postcard writes an enum's variant index as a varint,
//! and every variant index here is below 128, one byte. The tests pin that
//! reading to [`Message::traffic`] for every kind, so reordering a variant
//! cannot silently mislabel the figures.

use serde::Serialize;

use super::Message;

/// One class of traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Traffic {
    /// Broadcast payloads: GOSSIP and batches (the flood baseline's too),
    /// observer writes entering the overlay, and the changes a node passes
    /// on to its observers once admitted.
    Payload,
    /// Keeping the broadcast tree: IHAVE, GRAFT, PRUNE.
    TreeRepair,
    /// HyParView and the connection preamble.
    Membership,
    /// Anti-entropy between neighbours.
    AntiEntropy,
    /// A node's answers to its observers: clock reports, stored/rejected.
    Observer,
    /// Keepalives on quiet links of the active view.
    Liveness,
}

/// Every class, in the order of [`Traffic::index`].
pub const ALL: [Traffic; 6] = [
    Traffic::Payload,
    Traffic::TreeRepair,
    Traffic::Membership,
    Traffic::AntiEntropy,
    Traffic::Observer,
    Traffic::Liveness,
];

impl Traffic {
    /// Position in [`ALL`], for counters kept in an array.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The class of an encoded body ([`super::encode_message`]); a body too
    /// short to tell counts as membership (only a preamble is that short).
    pub fn of_encoded(body: &[u8]) -> Traffic {
        match (body.first(), body.get(1)) {
            // Broadcast: Gossip 0, IHave 1, Graft 2, Prune 3, Batch 4.
            (Some(2), Some(0 | 4)) => Traffic::Payload,
            (Some(2), Some(_)) => Traffic::TreeRepair,
            (Some(3), _) => Traffic::Payload,
            (Some(4), _) => Traffic::AntiEntropy,
            // Observer: Write 0 and Admitted 7 are payloads; the rest
            // answer observers.
            (Some(5), Some(0 | 7)) => Traffic::Payload,
            (Some(5), _) => Traffic::Observer,
            (Some(6), _) => Traffic::Liveness,
            _ => Traffic::Membership,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Traffic::Payload => "payload",
            Traffic::TreeRepair => "tree_repair",
            Traffic::Membership => "membership",
            Traffic::AntiEntropy => "anti_entropy",
            Traffic::Observer => "observer",
            Traffic::Liveness => "liveness",
        }
    }
}

impl Message {
    /// The traffic class of this message.
    pub fn traffic(&self) -> Traffic {
        use super::{flood, observer, plumtree};
        match self {
            Message::Hello(_) | Message::Membership(_) => Traffic::Membership,
            Message::Broadcast(plumtree::Message::Gossip { .. })
            | Message::Broadcast(plumtree::Message::Batch { .. }) => Traffic::Payload,
            Message::Broadcast(_) => Traffic::TreeRepair,
            Message::Flood(flood::Message::Flood { .. }) => Traffic::Payload,
            Message::Sync(_) => Traffic::AntiEntropy,
            Message::Observer(observer::Message::Write { .. } | observer::Message::Admitted(_)) => {
                Traffic::Payload
            }
            Message::Observer(_) => Traffic::Observer,
            Message::Keepalive => Traffic::Liveness,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::node_id::NodeId;
    use crate::wire::plumtree::{BatchedGossip, MessageId};
    use crate::wire::{
        Hello, PeerInfo, Role, encode_message, flood, hyparview, observer, plumtree, sync,
    };

    #[test]
    fn the_class_read_from_the_bytes_is_the_message_s_own() {
        let id = MessageId {
            origin: NodeId(7),
            seq: 300,
        };
        let peer = PeerInfo {
            id: NodeId(3),
            addr: "10.0.0.3:7946".parse().unwrap(),
        };
        let payload = Bytes::from_static(b"delta");
        let messages = vec![
            Message::Hello(Hello {
                version: 4,
                role: Role::Node,
                listen_port: 7946,
            }),
            Message::Membership(hyparview::Message::Disconnect { alive: true }),
            Message::Membership(hyparview::Message::Join { node: peer }),
            Message::Broadcast(plumtree::Message::Gossip {
                id,
                round: 2,
                payload: payload.clone(),
            }),
            Message::Broadcast(plumtree::Message::IHave { ids: vec![(id, 1)] }),
            Message::Broadcast(plumtree::Message::Graft {
                ids: vec![id],
                resend: true,
            }),
            Message::Broadcast(plumtree::Message::Prune {
                origins: vec![id.origin],
            }),
            Message::Broadcast(plumtree::Message::Batch {
                gossip: vec![BatchedGossip {
                    id,
                    round: 1,
                    payload: payload.clone(),
                }],
                ihave: vec![],
            }),
            Message::Flood(flood::Message::Flood {
                id,
                hops: 1,
                payload: payload.clone(),
            }),
            Message::Sync(sync::Message::Summary {
                reply: false,
                hash: [1; 8],
            }),
            Message::Observer(observer::Message::Write {
                request: 1,
                delta: payload.clone(),
            }),
            Message::Observer(observer::Message::Stored { request: 1 }),
            Message::Observer(observer::Message::ClockReport(payload.clone())),
            Message::Observer(observer::Message::Admitted(payload)),
            Message::Keepalive,
        ];
        for msg in messages {
            let body = encode_message(&msg).unwrap();
            assert_eq!(Traffic::of_encoded(&body), msg.traffic(), "{msg:?}");
        }
    }

    #[test]
    fn indexes_follow_the_list() {
        for (i, t) in ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }
}
