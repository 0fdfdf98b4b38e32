//! What a Plumtree broadcast carries between replicas (DESIGN.md, "Office
//! state" and "Membership and broadcast").
//!
//! The broadcast layer treats payloads as opaque bytes; the node encodes
//! one of these with postcard and decodes it on delivery.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crdt::{PublicKey, WriteProof};
use crate::node_id::NodeId;
use crate::wire::PeerInfo;

/// One broadcast's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// An encoded `crdt::Delta` from a local write (node or observer).
    Delta(Bytes),
    /// An observer is watching through `via` (the node it is attached to):
    /// until the lease runs out, every node sends clock reports straight to
    /// `via`, which hands them to its observers. With nobody watching, none
    /// are sent, so an idle office stays quiet.
    Watch {
        until_ms_from_now: u32,
        via: PeerInfo,
    },
    /// The reporting node's version vector: whole when `full`, otherwise
    /// only the entries that changed since its previous report. Never
    /// broadcast: it travels in `observer::Message::ClockReport`, so a
    /// write costs one report per node, not one per node and receiver.
    ClockReport {
        node: NodeId,
        full: bool,
        entries: Vec<(NodeId, u64)>,
    },
    /// The broadcasting node refused these writes of `observer` (out of
    /// range, say): they were applied nowhere, and every replica marks
    /// their dots as seen so the observer's version vector has no gap
    /// where they were. Each comes with the observer's own signature
    /// (`key` is the observer's, for replicas that do not know it), so no
    /// peer can mark writes the observer never made as seen.
    Refused {
        observer: NodeId,
        key: Option<PublicKey>,
        proofs: Vec<WriteProof>,
    },
    /// The broadcasting replica restarted and will never write its dots
    /// `from..=to` (the rest of a block reserved before a crash, or writes
    /// it lost): every replica marks them as seen, so its version vector
    /// has no gap. Admitted only once a later dot of the same replica is
    /// known, so nobody can mark another replica's future writes as seen.
    Skipped { from: u64, to: u64 },
    /// An observer attached to `via` asks for `node`'s history: only
    /// `node` answers, straight to `via` (as clock reports travel), which
    /// hands the `observer::Message::History` to `observer`. Broadcast
    /// because `via` need not know where `node` listens; sent only when an
    /// operator opens a zone's detail, so an idle office stays quiet.
    HistoryRequest {
        via: PeerInfo,
        observer: NodeId,
        request: u64,
        node: NodeId,
        since_ms: i64,
    },
}

impl Payload {
    pub fn encode(&self) -> Result<Bytes, postcard::Error> {
        postcard::to_stdvec(self).map(Bytes::from)
    }

    /// Reads a payload; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Payload, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let p = Payload::ClockReport {
            node: NodeId(7),
            full: true,
            entries: vec![(NodeId(1), 3), (NodeId(7), 12)],
        };
        assert_eq!(Payload::decode(&p.encode().unwrap()).unwrap(), p);
        let w = Payload::Watch {
            until_ms_from_now: 30_000,
            via: PeerInfo {
                id: NodeId(7),
                addr: "10.0.0.7:7946".parse().unwrap(),
            },
        };
        assert_eq!(Payload::decode(&w.encode().unwrap()).unwrap(), w);
        assert!(Payload::decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
