//! A version vector: for each replica, how many of its writes are covered.
//!
//! `vv[r] = n` says "every dot `r:1` … `r:n` is covered". It is the compact
//! half of a [`super::CausalContext`] and, on its own, the per-key context of
//! an [`super::MvRegister`] (as in dotted version vector sets: Preguiça et
//! al., "Dotted Version Vectors", 2012). It is also the "vector clock" the TUI
//! shows for a replica.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::dot::Dot;
use crate::node_id::NodeId;

/// Replica → highest counter covered. Replicas at zero are never stored, so
/// equal vectors have equal encodings.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VersionVector(BTreeMap<NodeId, u64>);

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest counter of `replica` covered (0: none).
    pub fn get(&self, replica: NodeId) -> u64 {
        self.0.get(&replica).copied().unwrap_or(0)
    }

    /// Does this vector cover `dot`?
    pub fn covers(&self, dot: Dot) -> bool {
        dot.counter != 0 && self.get(dot.replica) >= dot.counter
    }

    /// Raises `replica`'s entry to `counter` (never lowers it).
    pub fn raise(&mut self, replica: NodeId, counter: u64) {
        if counter == 0 {
            return;
        }
        let entry = self.0.entry(replica).or_insert(0);
        *entry = (*entry).max(counter);
    }

    /// Covers `dot` and, as a version vector must, every earlier dot of its replica.
    pub fn raise_to(&mut self, dot: Dot) {
        self.raise(dot.replica, dot.counter);
    }

    /// Pointwise maximum: the least vector covering both.
    pub fn merge(&mut self, other: &VersionVector) {
        for (&replica, &counter) in &other.0 {
            self.raise(replica, counter);
        }
    }

    /// Does `self` cover every dot `other` covers?
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(&r, &c)| self.get(r) >= c)
    }

    /// The highest dot of every replica present, in replica order.
    pub fn dots(&self) -> impl Iterator<Item = Dot> + '_ {
        self.0.iter().map(|(&r, &c)| Dot::new(r, c))
    }

    /// `(replica, counter)` pairs in replica order.
    pub fn iter(&self) -> impl Iterator<Item = (NodeId, u64)> + '_ {
        self.0.iter().map(|(&r, &c)| (r, c))
    }

    /// How many replicas have an entry.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Drops zero entries a decoded vector may carry, so equal vectors
    /// encode equally whatever a peer sent.
    pub(crate) fn normalize(&mut self) {
        self.0.retain(|_, c| *c != 0);
    }
}

impl std::fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(r, c)| (r.short(), c)))
            .finish()
    }
}

impl FromIterator<(NodeId, u64)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (NodeId, u64)>>(iter: I) -> Self {
        let mut vv = VersionVector::new();
        for (r, c) in iter {
            vv.raise(r, c);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_vv() -> impl Strategy<Value = VersionVector> {
        proptest::collection::vec((0u64..4, 0u64..6), 0..6)
            .prop_map(|v| v.into_iter().map(|(r, c)| (NodeId(r), c)).collect())
    }

    #[test]
    fn covers_every_earlier_dot() {
        let mut vv = VersionVector::new();
        vv.raise_to(Dot::new(NodeId(7), 3));
        assert!(vv.covers(Dot::new(NodeId(7), 1)));
        assert!(vv.covers(Dot::new(NodeId(7), 3)));
        assert!(!vv.covers(Dot::new(NodeId(7), 4)));
        assert!(!vv.covers(Dot::new(NodeId(8), 1)));
        vv.raise(NodeId(7), 2);
        assert_eq!(vv.get(NodeId(7)), 3);
    }

    proptest! {
        #[test]
        fn merge_is_a_join(a in arb_vv(), b in arb_vv(), c in arb_vv()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            prop_assert_eq!(&ab, &ba);
            let mut aa = a.clone();
            aa.merge(&a);
            prop_assert_eq!(&aa, &a);
            let mut ab_c = ab.clone();
            ab_c.merge(&c);
            let mut bc = b.clone();
            bc.merge(&c);
            let mut a_bc = a.clone();
            a_bc.merge(&bc);
            prop_assert_eq!(&ab_c, &a_bc);
            prop_assert!(ab.dominates(&a) && ab.dominates(&b));
        }
    }
}
