//! A multi-value register with dots and its own causal context.
//!
//! A write by a replica that has seen the current values replaces them;
//! writes made without seeing each other stay side by side as *siblings*,
//! each under its dot, until a later write resolves them (the TUI shows the
//! conflict). This is a dotted version vector set (Preguiça et al., "Dotted
//! Version Vectors", 2012): the siblings plus a version vector of every write
//! to this key the register has absorbed. Because that per-key context
//! travels with the register, a register shipped on its own (a delta, an
//! anti-entropy answer) carries everything needed to drop the siblings it
//! supersedes at the receiver, whatever order things arrive in.
//!
//! An empty register with a context is a *tombstone*: the key was removed by
//! a write with its own dot. It wins over every sibling its context covers
//! and loses to writes it has not seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::causal_context::CausalContext;
use super::dot::Dot;
use super::hlc::Timestamp;
use super::version_vector::VersionVector;

/// One value and when it was written (the hybrid-logical-clock *set-at*).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sibling<V> {
    pub at: Timestamp,
    pub value: V,
}

/// Siblings by dot, the per-key context, and when the key was last removed.
///
/// Encoded without the context entries a sibling already implies (a
/// replica's newest write to the key is usually a current value), which
/// saves a replica id and a counter in nearly every delta.
#[derive(Clone, Debug, PartialEq)]
pub struct MvRegister<V> {
    siblings: BTreeMap<Dot, Sibling<V>>,
    context: VersionVector,
    /// The newest removal seen; only meaningful while there are no
    /// siblings. Drives tombstone collection after the grace period.
    removed_at: Option<Timestamp>,
}

/// The encoded form, owned (decoding) and borrowed (encoding); postcard is
/// positional, so the two must list the same fields in the same order.
#[derive(Deserialize)]
struct RegisterRepr<V> {
    siblings: BTreeMap<Dot, Sibling<V>>,
    /// The per-key context less the entries equal to a sibling's dot.
    context: VersionVector,
    removed_at: Option<Timestamp>,
}

#[derive(Serialize)]
struct RegisterReprRef<'a, V> {
    siblings: &'a BTreeMap<Dot, Sibling<V>>,
    context: VersionVector,
    removed_at: Option<Timestamp>,
}

impl<V: Serialize> Serialize for MvRegister<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let context = self
            .context
            .iter()
            .filter(|&(r, c)| !self.siblings.contains_key(&Dot::new(r, c)))
            .collect();
        RegisterReprRef {
            siblings: &self.siblings,
            context,
            removed_at: self.removed_at,
        }
        .serialize(serializer)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for MvRegister<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = RegisterRepr::<V>::deserialize(deserializer)?;
        let mut context = repr.context;
        context.normalize();
        // Restores the entries left out, and repairs a peer's register whose
        // context missed a sibling.
        for d in repr.siblings.keys() {
            context.raise_to(*d);
        }
        Ok(MvRegister {
            siblings: repr.siblings,
            context,
            removed_at: repr.removed_at,
        })
    }
}

impl<V> Default for MvRegister<V> {
    fn default() -> Self {
        MvRegister {
            siblings: BTreeMap::new(),
            context: VersionVector::new(),
            removed_at: None,
        }
    }
}

impl<V: Clone> MvRegister<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every current value with its dot, in dot order.
    pub fn siblings(&self) -> impl Iterator<Item = (Dot, &Sibling<V>)> {
        self.siblings.iter().map(|(&d, s)| (d, s))
    }

    /// How many values are current: 0 (removed), 1, or more (a conflict).
    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    /// No current value: never written here, or removed.
    pub fn is_empty(&self) -> bool {
        self.siblings.is_empty()
    }

    /// More than one current value.
    pub fn is_conflicted(&self) -> bool {
        self.siblings.len() > 1
    }

    /// The one value to act on when there are siblings: the highest set-at,
    /// then the highest writer id, then the highest counter. Every replica
    /// holding the same siblings picks the same one.
    pub fn winner(&self) -> Option<(Dot, &Sibling<V>)> {
        self.siblings
            .iter()
            .max_by_key(|(dot, s)| (s.at, dot.replica, dot.counter))
            .map(|(&d, s)| (d, s))
    }

    /// The writes to this key absorbed so far.
    pub fn context(&self) -> &VersionVector {
        &self.context
    }

    /// When the key was removed, if it currently is.
    pub fn removed_at(&self) -> Option<Timestamp> {
        if self.siblings.is_empty() {
            self.removed_at
        } else {
            None
        }
    }

    /// The newest set-at among the siblings, or the removal time.
    pub fn newest_timestamp(&self) -> Option<Timestamp> {
        self.siblings
            .values()
            .map(|s| s.at)
            .max()
            .max(self.removed_at)
    }

    /// A local write that has seen every current sibling: it replaces them.
    pub(crate) fn write(&mut self, dot: Dot, at: Timestamp, value: V) {
        self.siblings.clear();
        self.siblings.insert(dot, Sibling { at, value });
        self.context.raise_to(dot);
    }

    /// A local removal: a tombstone under its own dot.
    pub(crate) fn remove(&mut self, dot: Dot, at: Timestamp) {
        self.siblings.clear();
        self.context.raise_to(dot);
        self.removed_at = self.removed_at.max(Some(at));
    }

    /// Are all this register's writes (its siblings and the newest write of
    /// every replica in its context) in `ctx`? If so, a replica whose
    /// context is `ctx` has nothing to learn from this register.
    pub fn covered_by(&self, ctx: &CausalContext) -> bool {
        self.siblings.keys().all(|&d| ctx.contains(d))
            && self.context.dots().all(|d| ctx.contains(d))
    }

    /// The writes this register fully accounts for: its siblings and the
    /// newest write of every replica in its context (each dot names a write
    /// to one key only, so the register is the whole effect of those dots).
    pub(crate) fn accounted_dots(&self) -> impl Iterator<Item = Dot> + '_ {
        self.siblings.keys().copied().chain(self.context.dots())
    }

    /// Joins `other` in. `mine` and `theirs` are the two replicas' whole
    /// causal contexts: a sibling survives if both sides hold it, or if the
    /// side that lacks it has never seen its dot (neither in this key's
    /// context nor anywhere: a key collected after removal leaves its dots
    /// in the replica's context, so a stale write cannot come back).
    pub(crate) fn join(
        &mut self,
        other: &MvRegister<V>,
        mine: &CausalContext,
        theirs: &CausalContext,
    ) {
        let seen_by_them = |d: Dot| other.context.covers(d) || theirs.contains(d);
        let seen_by_me = |d: Dot| self.context.covers(d) || mine.contains(d);
        let mut kept: BTreeMap<Dot, Sibling<V>> = self
            .siblings
            .iter()
            .filter(|(d, _)| other.siblings.contains_key(d) || !seen_by_them(**d))
            .map(|(&d, s)| (d, s.clone()))
            .collect();
        for (&d, s) in &other.siblings {
            if !self.siblings.contains_key(&d) && !seen_by_me(d) {
                kept.insert(d, s.clone());
            }
        }
        self.siblings = kept;
        self.context.merge(&other.context);
        // A peer's register may name siblings its context misses; repair
        // that so the context always covers the siblings.
        for d in other.siblings.keys() {
            self.context.raise_to(*d);
        }
        self.removed_at = self.removed_at.max(other.removed_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;

    fn dot(r: u64, c: u64) -> Dot {
        Dot::new(NodeId(r), c)
    }

    fn joined(a: &MvRegister<u32>, b: &MvRegister<u32>) -> MvRegister<u32> {
        let mut out = a.clone();
        out.join(b, &CausalContext::new(), &CausalContext::new());
        out
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_later_write_resolves_them() {
        let mut a = MvRegister::new();
        a.write(dot(1, 1), Timestamp::new(10, 0), 20);
        let mut b = MvRegister::new();
        b.write(dot(2, 1), Timestamp::new(12, 0), 22);
        let mut both = joined(&a, &b);
        assert_eq!(both.len(), 2);
        assert!(both.is_conflicted());
        assert_eq!(joined(&b, &a), both);

        both.write(dot(1, 2), Timestamp::new(13, 0), 21);
        let resolved = joined(&a, &both);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved.winner().map(|(_, s)| s.value), Some(21));
    }

    #[test]
    fn winner_is_highest_set_at_then_writer() {
        let mut a = MvRegister::new();
        a.write(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut b = MvRegister::new();
        b.write(dot(2, 1), Timestamp::new(10, 0), 2);
        let mut c = MvRegister::new();
        c.write(dot(3, 5), Timestamp::new(9, 7), 3);
        let all = joined(&joined(&a, &b), &c);
        assert_eq!(all.len(), 3);
        let (d, s) = all.winner().unwrap();
        assert_eq!((d, s.value), (dot(2, 1), 2));

        let mut later = MvRegister::new();
        later.write(dot(0, 1), Timestamp::new(10, 1), 0);
        assert_eq!(joined(&all, &later).winner().unwrap().1.value, 0);
    }

    #[test]
    fn a_tombstone_wins_over_what_it_saw_and_loses_to_what_it_did_not() {
        let mut a = MvRegister::new();
        a.write(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut removed = a.clone();
        removed.remove(dot(2, 1), Timestamp::new(11, 0));
        assert!(joined(&a, &removed).is_empty());
        assert_eq!(
            joined(&a, &removed).removed_at(),
            Some(Timestamp::new(11, 0))
        );

        let mut concurrent = a.clone();
        concurrent.write(dot(1, 2), Timestamp::new(12, 0), 5);
        let both = joined(&removed, &concurrent);
        assert_eq!(both.len(), 1);
        assert_eq!(both.removed_at(), None);
    }

    #[test]
    fn the_encoding_leaves_out_context_a_sibling_implies_and_round_trips() {
        let mut a = MvRegister::new();
        a.write(dot(1, 7), Timestamp::new(10, 0), 1u32);
        let mut b = MvRegister::new();
        b.write(dot(2, 3), Timestamp::new(11, 0), 2);
        b.remove(dot(3, 9), Timestamp::new(12, 0));
        let both = joined(&a, &b);
        for r in [&a, &b, &both] {
            let bytes = postcard::to_stdvec(r).unwrap();
            assert_eq!(&postcard::from_bytes::<MvRegister<u32>>(&bytes).unwrap(), r);
        }
        let full = postcard::to_stdvec(&(&a.siblings, &a.context, &a.removed_at)).unwrap();
        assert!(postcard::to_stdvec(&a).unwrap().len() < full.len());
    }

    #[test]
    fn a_dot_seen_elsewhere_in_the_context_does_not_come_back() {
        let mut stale = MvRegister::new();
        stale.write(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut collected = MvRegister::<u32>::new();
        let mut ctx = CausalContext::new();
        ctx.insert(dot(1, 1));
        collected.join(&stale, &ctx, &CausalContext::new());
        assert!(collected.is_empty());
    }
}
