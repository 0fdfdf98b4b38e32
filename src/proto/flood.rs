//! The flood baseline: every node forwards every new message to every
//! active neighbour but the one it came from, as Gnutella did. Kept only so
//! the benchmarks can show what Plumtree saves (the talk's first lesson).

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;

use crate::node_id::NodeId;
use crate::wire::PeerInfo;
use crate::wire::flood::Message;
use crate::wire::plumtree::MessageId;

/// Most message ids remembered to drop duplicates; the oldest go first.
pub const SEEN_CAPACITY: usize = 65_536;

/// What flooding asks of its caller, the overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send {
        to: PeerInfo,
        msg: Message,
    },
    /// A message reached this node for the first time, `hops` links from
    /// its writer.
    Delivered {
        id: MessageId,
        from: NodeId,
        hops: u16,
        payload: Bytes,
    },
}

/// One replica's flooding state: only the ids it has seen.
#[derive(Debug)]
pub struct Flood {
    me: NodeId,
    seen: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

impl Flood {
    pub fn new(me: NodeId) -> Self {
        Flood {
            me,
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Sends a new message (ours, or an observer's write) to every neighbour.
    /// Returns false when the id was already seen.
    /// `hops` is this node's distance from the writer (0 for our own).
    pub fn originate(
        &mut self,
        id: MessageId,
        hops: u16,
        payload: Bytes,
        neighbors: &[PeerInfo],
        out: &mut Vec<Output>,
    ) -> bool {
        if !self.remember(id) {
            return false;
        }
        forward(id, hops.saturating_add(1), &payload, neighbors, None, out);
        true
    }

    pub fn handle_message(
        &mut self,
        from: PeerInfo,
        msg: Message,
        neighbors: &[PeerInfo],
        out: &mut Vec<Output>,
    ) {
        let Message::Flood { id, hops, payload } = msg;
        if id.origin == self.me || !self.remember(id) {
            return;
        }
        out.push(Output::Delivered {
            id,
            from: from.id,
            hops,
            payload: payload.clone(),
        });
        forward(
            id,
            hops.saturating_add(1),
            &payload,
            neighbors,
            Some(from.id),
            out,
        );
    }

    /// Records `id`; false when it was already there.
    fn remember(&mut self, id: MessageId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        while self.order.len() > SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

fn forward(
    id: MessageId,
    hops: u16,
    payload: &Bytes,
    neighbors: &[PeerInfo],
    from: Option<NodeId>,
    out: &mut Vec<Output>,
) {
    for peer in neighbors.iter().filter(|p| Some(p.id) != from) {
        out.push(Output::Send {
            to: *peer,
            msg: Message::Flood {
                id,
                hops,
                payload: payload.clone(),
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::test_net::peer;

    #[test]
    fn forwards_a_new_message_to_every_neighbour_but_its_sender_once() {
        let mut f = Flood::new(NodeId(1));
        let neighbors = [peer(2), peer(3), peer(4)];
        let id = MessageId {
            origin: NodeId(9),
            seq: 1,
        };
        let msg = Message::Flood {
            id,
            hops: 2,
            payload: Bytes::from_static(b"p"),
        };
        let mut out = Vec::new();
        f.handle_message(peer(2), msg.clone(), &neighbors, &mut out);
        let to: Vec<NodeId> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send { to, .. } => Some(to.id),
                _ => None,
            })
            .collect();
        assert_eq!(to, vec![NodeId(3), NodeId(4)]);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::Delivered { hops: 2, .. }))
        );
        let mut out = Vec::new();
        f.handle_message(peer(3), msg, &neighbors, &mut out);
        assert!(out.is_empty(), "a duplicate is dropped silently");
    }
}
