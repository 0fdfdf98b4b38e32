//! A causal context: the set of dots a replica has seen, kept compact.
//!
//! Deltas reach a replica out of order and duplicated (Plumtree gives no
//! causal delivery, anti-entropy answers whatever it is asked), so "what have
//! I seen" cannot be a version vector alone. A causal context is a version
//! vector plus the dots seen out of order (the "dot cloud" of Almeida et al.,
//! "Delta State Replicated Data Types", JPDC 2018, §5.1). As the gaps fill,
//! the cloud folds into the vector. The cloud is kept as ranges, so a
//! context naming a million dots of one replica is still a few bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::dot::Dot;
use super::version_vector::VersionVector;
use crate::node_id::NodeId;

/// A set of dots: a version vector plus, per replica, sorted, disjoint,
/// non-adjacent inclusive counter ranges that lie above the vector's entry
/// and do not touch it. That canonical form makes equal sets encode equally.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "ContextRepr", into = "ContextRepr")]
pub struct CausalContext {
    vv: VersionVector,
    cloud: BTreeMap<NodeId, Vec<(u64, u64)>>,
}

/// The encoded form: what a peer sends is normalised before it is used.
#[derive(Clone, Serialize, Deserialize)]
struct ContextRepr {
    vv: VersionVector,
    cloud: BTreeMap<NodeId, Vec<(u64, u64)>>,
}

impl From<ContextRepr> for CausalContext {
    fn from(repr: ContextRepr) -> Self {
        let mut vv = repr.vv;
        vv.normalize();
        let mut ctx = CausalContext {
            vv,
            cloud: BTreeMap::new(),
        };
        for (replica, ranges) in repr.cloud {
            for (lo, hi) in ranges {
                ctx.insert_range(replica, lo, hi);
            }
        }
        ctx
    }
}

impl From<CausalContext> for ContextRepr {
    fn from(ctx: CausalContext) -> Self {
        ContextRepr {
            vv: ctx.vv,
            cloud: ctx.cloud,
        }
    }
}

impl CausalContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// The compact part: every replica's gap-free prefix.
    pub fn version_vector(&self) -> &VersionVector {
        &self.vv
    }

    /// Has this context seen `dot`?
    pub fn contains(&self, dot: Dot) -> bool {
        if dot.counter == 0 {
            return false;
        }
        if self.vv.covers(dot) {
            return true;
        }
        self.cloud.get(&dot.replica).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(lo, hi)| lo <= dot.counter && dot.counter <= hi)
        })
    }

    pub fn insert(&mut self, dot: Dot) {
        self.insert_range(dot.replica, dot.counter, dot.counter);
    }

    /// Adds the dots `replica:lo` … `replica:hi` and folds what became
    /// gap-free into the version vector.
    pub fn insert_range(&mut self, replica: NodeId, lo: u64, hi: u64) {
        let lo = lo.max(1);
        if hi < lo || hi <= self.vv.get(replica) {
            return;
        }
        let ranges = self.cloud.entry(replica).or_default();
        ranges.push((lo, hi));
        self.compact(replica);
    }

    /// Set union: afterwards `self` contains every dot either contained.
    pub fn join(&mut self, other: &CausalContext) {
        for (replica, counter) in other.vv.iter() {
            self.insert_range(replica, 1, counter);
        }
        for (&replica, ranges) in &other.cloud {
            for &(lo, hi) in ranges {
                self.insert_range(replica, lo, hi);
            }
        }
    }

    /// The dots in `self` that `other` lacks, as a context of their own.
    pub fn difference(&self, other: &CausalContext) -> CausalContext {
        let mut missing = CausalContext::new();
        let replicas = self
            .vv
            .iter()
            .map(|(r, _)| r)
            .chain(self.cloud.keys().copied());
        for replica in replicas.collect::<std::collections::BTreeSet<_>>() {
            for (lo, hi) in subtract(&self.ranges(replica), &other.ranges(replica)) {
                missing.insert_range(replica, lo, hi);
            }
        }
        missing
    }

    /// Does `self` contain every dot of `other`?
    pub fn includes(&self, other: &CausalContext) -> bool {
        other.difference(self).is_empty()
    }

    /// The highest counter of `replica` seen, in order or not.
    pub fn max_counter(&self, replica: NodeId) -> u64 {
        let in_cloud = self
            .cloud
            .get(&replica)
            .and_then(|r| r.last())
            .map_or(0, |&(_, hi)| hi);
        self.vv.get(replica).max(in_cloud)
    }

    /// No dot at all.
    pub fn is_empty(&self) -> bool {
        self.vv.is_empty() && self.cloud.is_empty()
    }

    /// How many out-of-order ranges the cloud holds (0 once gaps are filled).
    pub fn cloud_ranges(&self) -> usize {
        self.cloud.values().map(Vec::len).sum()
    }

    /// A 64-bit fingerprint of the whole set: the first 8 bytes of the
    /// BLAKE2s digest of its canonical encoding. Equal sets have equal
    /// fingerprints (the canonical form makes them encode equally); unequal
    /// sets collide with odds of 2^-64. Anti-entropy opens a round with it,
    /// so converged replicas need not swap whole contexts to find out.
    pub fn fingerprint(&self) -> Result<[u8; 8], CodecError> {
        use blake2::{Blake2s256, Digest};
        let encoded = codec::encode("causal context", self)?;
        let digest = Blake2s256::digest(&encoded);
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Ok(out)
    }

    /// A copy that keeps at most `max_ranges` cloud ranges. Used for digests:
    /// a digest that under-reports only makes a peer send entries we already
    /// hold (joins are idempotent), never miss one.
    pub fn truncated(&self, max_ranges: usize) -> CausalContext {
        let mut out = CausalContext {
            vv: self.vv.clone(),
            cloud: BTreeMap::new(),
        };
        let mut left = max_ranges;
        for (&replica, ranges) in &self.cloud {
            if left == 0 {
                break;
            }
            let take = ranges.len().min(left);
            out.cloud.insert(replica, ranges[..take].to_vec());
            left -= take;
        }
        out
    }

    /// The dots of `self` at or below `bound(replica)` for their replica:
    /// what remains of a peer's claims once each is held to what is proven.
    pub fn clipped(&self, bound: impl Fn(NodeId) -> u64) -> CausalContext {
        let mut out = CausalContext::new();
        let replicas: std::collections::BTreeSet<NodeId> = self
            .vv
            .iter()
            .map(|(r, _)| r)
            .chain(self.cloud.keys().copied())
            .collect();
        for replica in replicas {
            let b = bound(replica);
            for (lo, hi) in self.ranges(replica) {
                if lo <= b {
                    out.insert_range(replica, lo, hi.min(b));
                }
            }
        }
        out
    }

    /// Every dot of `replica` as sorted disjoint inclusive ranges.
    fn ranges(&self, replica: NodeId) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let base = self.vv.get(replica);
        if base > 0 {
            out.push((1, base));
        }
        if let Some(cloud) = self.cloud.get(&replica) {
            out.extend_from_slice(cloud);
        }
        out
    }

    /// Restores the canonical form of `replica`'s cloud: sorted, merged,
    /// above the vector, with a range touching the vector folded into it.
    fn compact(&mut self, replica: NodeId) {
        let Some(ranges) = self.cloud.get_mut(&replica) else {
            return;
        };
        ranges.sort_unstable();
        let mut base = self.vv.get(replica);
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
        for &(lo, hi) in ranges.iter() {
            if hi <= base {
                continue;
            }
            let lo = lo.max(base + 1);
            if lo == base + 1 && merged.is_empty() {
                base = hi;
                continue;
            }
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        // A range may have become adjacent to the new base only after merging.
        while let Some(&(lo, hi)) = merged.first() {
            if lo <= base.saturating_add(1) {
                base = base.max(hi);
                merged.remove(0);
            } else {
                break;
            }
        }
        self.vv.raise(replica, base);
        if merged.is_empty() {
            self.cloud.remove(&replica);
        } else {
            *ranges = merged;
        }
    }
}

/// `a \ b` for sorted disjoint inclusive ranges.
fn subtract(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(lo, hi) in a {
        // `Some(start)`: the part of `lo..=hi` from `start` on is not yet removed.
        let mut rest = Some(lo);
        for &(blo, bhi) in b {
            let Some(start) = rest else { break };
            if bhi < start || blo > hi {
                continue;
            }
            if blo > start {
                out.push((start, blo - 1));
            }
            rest = if bhi >= hi { None } else { Some(bhi + 1) };
        }
        if let Some(start) = rest {
            out.push((start, hi));
        }
    }
    out
}

impl std::fmt::Debug for CausalContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.vv)?;
        if !self.cloud.is_empty() {
            write!(f, " + {:?}", self.cloud)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn dots() -> impl Strategy<Value = Vec<Dot>> {
        proptest::collection::vec(
            (0u64..3, 1u64..12).prop_map(|(r, c)| Dot::new(NodeId(r), c)),
            0..24,
        )
    }

    fn build(dots: &[Dot]) -> CausalContext {
        let mut ctx = CausalContext::new();
        for &d in dots {
            ctx.insert(d);
        }
        ctx
    }

    #[test]
    fn gaps_fold_into_the_vector_as_they_fill() {
        let r = NodeId(1);
        let mut ctx = CausalContext::new();
        ctx.insert(Dot::new(r, 3));
        ctx.insert(Dot::new(r, 5));
        assert_eq!(ctx.version_vector().get(r), 0);
        assert_eq!(ctx.cloud_ranges(), 2);
        ctx.insert(Dot::new(r, 1));
        ctx.insert(Dot::new(r, 2));
        assert_eq!(ctx.version_vector().get(r), 3);
        ctx.insert(Dot::new(r, 4));
        assert_eq!(ctx.version_vector().get(r), 5);
        assert_eq!(ctx.cloud_ranges(), 0);
        assert_eq!(ctx.max_counter(r), 5);
    }

    #[test]
    fn a_huge_range_stays_small() {
        let mut ctx = CausalContext::new();
        ctx.insert_range(NodeId(1), 10, 1_000_000);
        assert_eq!(ctx.cloud_ranges(), 1);
        assert!(ctx.contains(Dot::new(NodeId(1), 500_000)));
        assert!(!ctx.contains(Dot::new(NodeId(1), 9)));
        ctx.insert_range(NodeId(1), 1, 9);
        assert_eq!(ctx.version_vector().get(NodeId(1)), 1_000_000);
    }

    proptest! {
        #[test]
        fn behaves_like_a_set_of_dots(a in dots(), b in dots(), probe in dots()) {
            let set_a: BTreeSet<Dot> = a.iter().copied().collect();
            let set_b: BTreeSet<Dot> = b.iter().copied().collect();
            let ctx_a = build(&a);
            let ctx_b = build(&b);
            for d in probe.iter().chain(&a).chain(&b) {
                prop_assert_eq!(ctx_a.contains(*d), set_a.contains(d));
            }
            // Canonical: the same set built in another order is equal.
            let mut rev = a.clone();
            rev.reverse();
            prop_assert_eq!(&build(&rev), &ctx_a);
            let mut union = ctx_a.clone();
            union.join(&ctx_b);
            let all: Vec<Dot> = set_a.union(&set_b).copied().collect();
            prop_assert_eq!(&union, &build(&all));
            let diff: Vec<Dot> = set_a.difference(&set_b).copied().collect();
            prop_assert_eq!(ctx_a.difference(&ctx_b), build(&diff));
            prop_assert!(union.includes(&ctx_a));
            // The encoding round-trips.
            let bytes = postcard::to_stdvec(&ctx_a).unwrap();
            let back: CausalContext = postcard::from_bytes(&bytes).unwrap();
            prop_assert_eq!(&back, &ctx_a);
            // The fingerprint follows the set, not the order it was built in.
            prop_assert_eq!(build(&rev).fingerprint().unwrap(), ctx_a.fingerprint().unwrap());
            prop_assert_eq!(back.fingerprint().unwrap(), ctx_a.fingerprint().unwrap());
            prop_assert_eq!(
                ctx_a.fingerprint().unwrap() == ctx_b.fingerprint().unwrap(),
                set_a == set_b
            );
        }
    }
}
