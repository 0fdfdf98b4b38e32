//! The clock reports a node relays to the observers attached to it, kept
//! so that an observer attaching to a node already watched gets every
//! node's whole vector from here at once. Without it every node would
//! have to send its whole vector again for each newcomer (N vectors of N
//! entries); with it, nodes send whole vectors only to a newly watching
//! node, and what a write costs stays one small report per node.
//!
//! Kept while observers are attached and until the lease naming this
//! node lapses (the other nodes report only what changed until then, so an
//! observer attaching in between still needs what they sent before); a
//! node nobody watches through holds nothing.

use std::collections::BTreeMap;

use crate::node_id::NodeId;

/// Most nodes whose clocks are kept. A report names the node it comes
/// from, and only that node's own link is believed, so this is the
/// office's size at most; the bound keeps a flood of new connections
/// from growing the cache without end. A report past it is still relayed,
/// only not kept.
pub const MAX_RELAYED_CLOCKS: usize = 4_096;

/// Most entries kept for one node's clock: as many replicas as an office
/// has nodes and observers, far below. A longer vector is not kept.
pub const MAX_CLOCK_ENTRIES: usize = 16_384;

#[derive(Debug, Default)]
pub struct RelayedClocks {
    clocks: BTreeMap<NodeId, Vec<(NodeId, u64)>>,
}

impl RelayedClocks {
    /// A report of `node`'s vector, whole or only what changed.
    pub fn record(&mut self, node: NodeId, full: bool, entries: &[(NodeId, u64)]) {
        if !self.clocks.contains_key(&node) && self.clocks.len() >= MAX_RELAYED_CLOCKS {
            return;
        }
        let clock = self.clocks.entry(node).or_default();
        if full {
            clock.clear();
        }
        for &(replica, counter) in entries {
            match clock.binary_search_by_key(&replica, |(r, _)| *r) {
                Ok(at) => clock[at].1 = clock[at].1.max(counter),
                Err(_) if clock.len() >= MAX_CLOCK_ENTRIES => {}
                Err(at) => clock.insert(at, (replica, counter)),
            }
        }
    }

    /// Every node's vector as known here, for an observer that attaches.
    pub fn clocks(&self) -> impl Iterator<Item = (NodeId, &[(NodeId, u64)])> {
        self.clocks.iter().map(|(n, c)| (*n, c.as_slice()))
    }

    /// The link to `node` is gone: its reports came over that link, so
    /// what it said last may be a dead node's. Passed on to a newly
    /// attached observer, it would count as a live node that never
    /// catches up; once `node` reports again (its link to this node back
    /// up owes the whole vector) it is kept again.
    pub fn remove(&mut self, node: NodeId) {
        self.clocks.remove(&node);
    }

    /// The last observer left: nothing is kept for nobody.
    pub fn clear(&mut self) {
        self.clocks = BTreeMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_reports_merge_and_a_whole_one_replaces() {
        let mut r = RelayedClocks::default();
        r.record(NodeId(1), true, &[(NodeId(1), 3), (NodeId(2), 5)]);
        r.record(NodeId(1), false, &[(NodeId(3), 1), (NodeId(1), 4)]);
        r.record(NodeId(2), true, &[(NodeId(2), 6)]);
        let all: Vec<(NodeId, Vec<(NodeId, u64)>)> =
            r.clocks().map(|(n, c)| (n, c.to_vec())).collect();
        assert_eq!(
            all,
            vec![
                (
                    NodeId(1),
                    vec![(NodeId(1), 4), (NodeId(2), 5), (NodeId(3), 1)]
                ),
                (NodeId(2), vec![(NodeId(2), 6)]),
            ]
        );
        r.record(NodeId(1), true, &[(NodeId(1), 9)]);
        assert_eq!(r.clocks().next().unwrap().1, &[(NodeId(1), 9)]);
        r.clear();
        assert_eq!(r.clocks().count(), 0);
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut r = RelayedClocks::default();
        for n in 0..MAX_RELAYED_CLOCKS as u64 + 10 {
            r.record(NodeId(n), true, &[(NodeId(n), 1)]);
        }
        assert_eq!(r.clocks().count(), MAX_RELAYED_CLOCKS);
        let long: Vec<(NodeId, u64)> = (0..MAX_CLOCK_ENTRIES as u64 + 5)
            .map(|i| (NodeId(i), 1))
            .collect();
        r.record(NodeId(0), true, &long);
        assert_eq!(r.clocks().next().unwrap().1.len(), MAX_CLOCK_ENTRIES);
    }
}
