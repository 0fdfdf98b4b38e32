//! What the simulator measures, defined as the papers define it.
//!
//! - Reliability (HyParView §5, Plumtree §4): the fraction of live nodes
//!   that deliver a broadcast, the sender counted as having it.
//! - Relative Message Redundancy (Plumtree §4): `m / (n − 1) − 1`, with `m`
//!   the payload-carrying messages sent for that broadcast and `n` the nodes
//!   that received it, the sender included. 0 is a perfect tree.
//! - Last Delivery Hop (Plumtree §4): the largest hop count of any delivery.
//! - Time to all: from the send until the last live node delivered.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::time::Time;
use crate::wire::plumtree::MessageId;
use crate::wire::{self, Message};

/// Counts of messages and bytes, by kind. Cumulative; subtract two
/// snapshots to measure a window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageCounters {
    pub by_kind: BTreeMap<&'static str, u64>,
    pub bytes: u64,
}

impl MessageCounters {
    pub fn total(&self) -> u64 {
        self.by_kind.values().sum()
    }

    /// What was counted since `earlier`.
    pub fn since(&self, earlier: &MessageCounters) -> MessageCounters {
        let by_kind = self
            .by_kind
            .iter()
            .map(|(k, v)| (*k, v - earlier.by_kind.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        MessageCounters {
            by_kind,
            bytes: self.bytes - earlier.bytes,
        }
    }

    fn count(&mut self, msg: &Message) {
        *self.by_kind.entry(msg.kind()).or_insert(0) += 1;
        // The framed size: postcard body plus the two-byte length prefix of
        // `wire::encode_frame`, computed without allocating.
        self.bytes +=
            postcard::experimental::serialized_size(msg).map_or(0, |n| n as u64) + FRAME_PREFIX_LEN;
    }
}

/// The length prefix `wire::encode_frame` puts before each body.
const FRAME_PREFIX_LEN: u64 = 2;

/// One broadcast's life.
#[derive(Clone, Debug)]
pub struct BroadcastRecord {
    pub id: MessageId,
    pub origin: usize,
    pub sent_at: Time,
    /// Which node indices have it (the origin from the start).
    delivered: Vec<u64>,
    /// Nodes in the simulation (the bitset's length).
    nodes: usize,
    /// How many nodes have it, the origin included.
    pub receivers: usize,
    /// Payload-carrying messages sent for it (GOSSIP or FLOOD).
    pub payload_messages: u64,
    pub max_hops: u16,
    pub last_delivery: Time,
    /// Delay of every delivery (the origin's own excluded).
    pub delays: Vec<Duration>,
    /// Deliveries to a node that already had it: must stay 0.
    pub duplicates: u64,
}

impl BroadcastRecord {
    fn new(id: MessageId, origin: usize, sent_at: Time, nodes: usize) -> Self {
        let mut delivered = vec![0u64; nodes.div_ceil(64)];
        delivered[origin / 64] |= 1 << (origin % 64);
        BroadcastRecord {
            id,
            origin,
            sent_at,
            delivered,
            nodes,
            receivers: 1,
            payload_messages: 0,
            max_hops: 0,
            last_delivery: sent_at,
            delays: Vec::new(),
            duplicates: 0,
        }
    }

    pub fn has(&self, node: usize) -> bool {
        self.delivered[node / 64] & (1 << (node % 64)) != 0
    }

    /// RMR = m / (n − 1) − 1 (Plumtree §4); 0 when nobody else received it.
    pub fn rmr(&self) -> f64 {
        if self.receivers <= 1 {
            return 0.0;
        }
        self.payload_messages as f64 / (self.receivers - 1) as f64 - 1.0
    }

    /// The fraction of the nodes for which `live` holds that have it.
    pub fn reliability(&self, live: impl Fn(usize) -> bool) -> f64 {
        let (mut alive, mut have) = (0usize, 0usize);
        for node in 0..self.nodes {
            if live(node) {
                alive += 1;
                have += usize::from(self.has(node));
            }
        }
        if alive == 0 {
            1.0
        } else {
            have as f64 / alive as f64
        }
    }

    /// Time from the send to the last delivery.
    pub fn time_to_last(&self) -> Duration {
        self.last_delivery - self.sent_at
    }
}

/// Every broadcast and message the simulator saw.
#[derive(Debug, Default)]
pub struct Metrics {
    nodes: usize,
    records: Vec<BroadcastRecord>,
    by_id: HashMap<MessageId, usize>,
    counters: MessageCounters,
}

impl Metrics {
    pub fn new(nodes: usize) -> Self {
        Metrics {
            nodes,
            ..Metrics::default()
        }
    }

    pub fn counters(&self) -> &MessageCounters {
        &self.counters
    }

    pub fn records(&self) -> &[BroadcastRecord] {
        &self.records
    }

    pub fn record(&self, index: usize) -> &BroadcastRecord {
        &self.records[index]
    }

    /// Duplicate deliveries over all broadcasts (must be 0).
    pub fn duplicates(&self) -> u64 {
        self.records.iter().map(|r| r.duplicates).sum()
    }

    pub(super) fn on_broadcast(&mut self, id: MessageId, origin: usize, now: Time) -> usize {
        let index = self.records.len();
        self.records
            .push(BroadcastRecord::new(id, origin, now, self.nodes));
        self.by_id.insert(id, index);
        index
    }

    pub(super) fn on_send(&mut self, msg: &Message) {
        self.counters.count(msg);
        let id = match msg {
            Message::Broadcast(wire::plumtree::Message::Batch { gossip, .. }) => {
                // Each payload in a batch is a copy sent, for the RMR.
                for g in gossip {
                    if let Some(&i) = self.by_id.get(&g.id) {
                        self.records[i].payload_messages += 1;
                    }
                }
                return;
            }
            Message::Broadcast(wire::plumtree::Message::Gossip { id, .. }) => id,
            Message::Flood(wire::flood::Message::Flood { id, .. }) => id,
            _ => return,
        };
        if let Some(&i) = self.by_id.get(id) {
            self.records[i].payload_messages += 1;
        }
    }

    pub(super) fn on_delivered(&mut self, node: usize, id: MessageId, hops: u16, now: Time) {
        let Some(&i) = self.by_id.get(&id) else {
            return;
        };
        let r = &mut self.records[i];
        if r.has(node) {
            r.duplicates += 1;
            return;
        }
        r.delivered[node / 64] |= 1 << (node % 64);
        r.receivers += 1;
        r.max_hops = r.max_hops.max(hops);
        r.last_delivery = now;
        r.delays.push(now - r.sent_at);
    }

    /// A restarted node is a fresh replica: what its previous life received
    /// does not count against the new one.
    pub(super) fn forget_node(&mut self, node: usize) {
        for r in &mut self.records {
            if r.has(node) && r.origin != node {
                r.delivered[node / 64] &= !(1 << (node % 64));
                r.receivers -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;
    use bytes::Bytes;

    fn gossip(id: MessageId) -> Message {
        Message::Broadcast(wire::plumtree::Message::Gossip {
            id,
            round: 0,
            payload: Bytes::from_static(b"x"),
        })
    }

    #[test]
    fn rmr_of_a_perfect_tree_is_zero_and_counts_redundancy() {
        let mut m = Metrics::new(4);
        let id = MessageId {
            origin: NodeId(1),
            seq: 0,
        };
        let i = m.on_broadcast(id, 0, Time::ZERO);
        for node in 1..4 {
            m.on_send(&gossip(id));
            m.on_delivered(node, id, 1, Time::from_millis(10));
        }
        assert_eq!(m.record(i).rmr(), 0.0);
        m.on_send(&gossip(id));
        m.on_delivered(3, id, 2, Time::from_millis(20));
        let r = m.record(i);
        assert!((r.rmr() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.reliability(|_| true), 1.0);
        assert_eq!(r.time_to_last(), Duration::from_millis(10));
        let frame = wire::encode_frame(&gossip(id)).unwrap();
        assert_eq!(m.counters().bytes, 4 * frame.len() as u64);
    }
}
