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

use litemap::LiteMap;
use serde::{Deserialize, Serialize};

use super::causal_context::CausalContext;
use super::dot::Dot;
use super::hlc::Timestamp;
use super::signature::{PublicKey, WriteSignature};
use super::version_vector::VersionVector;

/// One value, when it was written (the hybrid-logical-clock *set-at*), the
/// writes of its key it replaced, and its author's signature over all of
/// that (see [`super::signature`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sibling<V> {
    pub at: Timestamp,
    pub value: V,
    /// The per-key context its author held when writing: every write of
    /// this key it replaces. Signed, so nobody else can widen it.
    pub(crate) seen: VersionVector,
    /// `None` only in the CRDT's own tests: every replica refuses an
    /// unsigned write on every route.
    pub(crate) signature: Option<WriteSignature>,
    /// The author's public key, for authors whose key a replica may not
    /// know otherwise (an observer); a node's key travels in its entry.
    pub(crate) signer: Option<PublicKey>,
}

/// A removal of the key: like a value without the value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Removal {
    pub at: Timestamp,
    pub(crate) seen: VersionVector,
    pub(crate) signature: Option<WriteSignature>,
    pub(crate) signer: Option<PublicKey>,
}

/// The writes of one key that no other write it holds has replaced: the
/// current values (siblings) and the removals.
///
/// The per-key context, every write of this key the register accounts
/// for, is derived from them (their dots and what each says it replaced),
/// never sent on its own: everything a register claims about other writes
/// is then signed by the writer that claims it.
///
/// Siblings and removals are kept in sorted vectors, each exactly as long
/// as it holds: a key almost always has one value, and a `BTreeMap` node
/// has room for eleven (about 1.9 KiB for one signed reading), which for
/// the thousands of keys a replica may hold is most of its memory.
#[derive(Clone, Debug, PartialEq)]
pub struct MvRegister<V> {
    siblings: LiteMap<Dot, Sibling<V>>,
    removals: LiteMap<Dot, Removal>,
    context: VersionVector,
}

/// The encoded form, owned (decoding) and borrowed (encoding); postcard is
/// positional, so the two must list the same fields in the same order.
#[derive(Deserialize)]
struct RegisterRepr<V> {
    siblings: BTreeMap<Dot, Sibling<V>>,
    removals: BTreeMap<Dot, Removal>,
}

#[derive(Serialize)]
struct RegisterReprRef<'a, V: Serialize> {
    #[serde(serialize_with = "as_map")]
    siblings: &'a LiteMap<Dot, Sibling<V>>,
    #[serde(serialize_with = "as_map")]
    removals: &'a LiteMap<Dot, Removal>,
}

/// Encodes a sorted vector of writes as the map it stands for.
fn as_map<S: serde::Serializer, W: Serialize>(
    map: &&LiteMap<Dot, W>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(map.iter())
}

/// `map` holding no more room than it uses (see [`MvRegister`]).
fn compact<W>(map: LiteMap<Dot, W>) -> LiteMap<Dot, W> {
    let mut writes = map.into_tuple_vec();
    writes.shrink_to_fit();
    LiteMap::from_sorted_store_unchecked(writes)
}

impl<V: Serialize> Serialize for MvRegister<V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RegisterReprRef {
            siblings: &self.siblings,
            removals: &self.removals,
        }
        .serialize(serializer)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for MvRegister<V> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = RegisterRepr::<V>::deserialize(deserializer)?;
        // Decoded as maps (no allocation sized by a length the peer
        // declares), then laid out flat: already sorted, so exactly sized.
        let mut register = MvRegister {
            siblings: repr.siblings.into_iter().collect(),
            removals: repr.removals.into_iter().collect(),
            context: VersionVector::new(),
        };
        for (_, s) in register.siblings.iter_mut() {
            s.seen.normalize();
        }
        for (_, r) in register.removals.iter_mut() {
            r.seen.normalize();
        }
        // A peer's register may hold a write that another of its writes
        // replaced; the join never keeps such a pair, so neither does a
        // decoded register.
        register.settle();
        Ok(register)
    }
}

impl<V> Default for MvRegister<V> {
    fn default() -> Self {
        MvRegister {
            siblings: LiteMap::new(),
            removals: LiteMap::new(),
            context: VersionVector::new(),
        }
    }
}

impl<V> MvRegister<V> {
    /// Drops every write another write here replaced and derives the
    /// context.
    fn settle(&mut self) {
        let mut context = VersionVector::new();
        for (d, s) in &self.siblings {
            context.merge(&s.seen);
            context.raise_to(*d);
        }
        for (d, r) in &self.removals {
            context.merge(&r.seen);
            context.raise_to(*d);
        }
        let dropped: Vec<Dot> = self
            .siblings
            .keys()
            .chain(self.removals.keys())
            .copied()
            .filter(|d| self_replaced(d, &self.siblings, &self.removals))
            .collect();
        for d in dropped {
            self.siblings.remove(&d);
            self.removals.remove(&d);
        }
        self.siblings = compact(std::mem::take(&mut self.siblings));
        self.removals = compact(std::mem::take(&mut self.removals));
        self.context = context;
    }
}

/// Does some write other than `d` itself say it replaced `d`?
fn self_replaced<V>(
    d: &Dot,
    siblings: &LiteMap<Dot, Sibling<V>>,
    removals: &LiteMap<Dot, Removal>,
) -> bool {
    siblings.values().any(|s| s.seen.covers(*d)) || removals.values().any(|r| r.seen.covers(*d))
}

impl<V: Clone> MvRegister<V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every current value with its dot, in dot order.
    pub fn siblings(&self) -> impl Iterator<Item = (Dot, &Sibling<V>)> {
        self.siblings.iter().map(|(&d, s)| (d, s))
    }

    /// Every removal no value has replaced yet, in dot order.
    pub fn removals(&self) -> impl Iterator<Item = (Dot, &Removal)> {
        self.removals.iter().map(|(&d, r)| (d, r))
    }

    /// How many values are current: 0 (removed), 1, or more (a conflict).
    pub fn len(&self) -> usize {
        self.siblings.len()
    }

    /// Values and removals held: what a bound on one key's size counts.
    pub fn writes(&self) -> usize {
        self.siblings.len() + self.removals.len()
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
            self.removals.values().map(|r| r.at).max()
        } else {
            None
        }
    }

    /// The newest set-at among the siblings and removals.
    pub fn newest_timestamp(&self) -> Option<Timestamp> {
        self.siblings
            .values()
            .map(|s| s.at)
            .chain(self.removals.values().map(|r| r.at))
            .max()
    }

    /// A local write that has seen every current write (its `seen` is this
    /// register's context): it replaces them.
    pub(crate) fn write(&mut self, dot: Dot, sibling: Sibling<V>) {
        self.siblings.clear();
        self.removals.clear();
        self.context.merge(&sibling.seen);
        self.context.raise_to(dot);
        self.siblings.insert(dot, sibling);
        self.siblings = compact(std::mem::take(&mut self.siblings));
    }

    /// A local removal that has seen every current write.
    pub(crate) fn remove(&mut self, dot: Dot, removal: Removal) {
        self.siblings.clear();
        self.removals.clear();
        self.context.merge(&removal.seen);
        self.context.raise_to(dot);
        self.removals.insert(dot, removal);
        self.removals = compact(std::mem::take(&mut self.removals));
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
    /// causal contexts: a write survives if both sides hold it, or if the
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
        let siblings = join_writes(&self.siblings, &other.siblings, &seen_by_me, &seen_by_them);
        // A removal goes only when a write of this key replaced it: one a
        // replica merely saw somewhere (its whole context) is still the
        // key's removal, kept until its grace period ends.
        let removals = join_writes(
            &self.removals,
            &other.removals,
            &|d| self.context.covers(d),
            &|d| other.context.covers(d),
        );
        self.siblings = siblings;
        self.removals = removals;
        // A write dropped because one side's whole context had seen it
        // leaves this key's context; that whole context, joined by the
        // caller, keeps it from coming back.
        self.settle();
    }
}

/// The writes of one kind that survive a join.
fn join_writes<W: Clone>(
    mine: &LiteMap<Dot, W>,
    theirs: &LiteMap<Dot, W>,
    seen_by_me: &impl Fn(Dot) -> bool,
    seen_by_them: &impl Fn(Dot) -> bool,
) -> LiteMap<Dot, W> {
    let mut kept: LiteMap<Dot, W> = mine
        .iter()
        .filter(|(d, _)| theirs.contains_key(d) || !seen_by_them(**d))
        .map(|(&d, w)| (d, w.clone()))
        .collect();
    for (&d, w) in theirs {
        if !mine.contains_key(&d) && !seen_by_me(d) {
            kept.insert(d, w.clone());
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;

    fn dot(r: u64, c: u64) -> Dot {
        Dot::new(NodeId(r), c)
    }

    /// An unsigned local write, as the register's own tests need.
    trait Local {
        fn put(&mut self, d: Dot, at: Timestamp, value: u32);
        fn drop_key(&mut self, d: Dot, at: Timestamp);
    }

    impl Local for MvRegister<u32> {
        fn put(&mut self, d: Dot, at: Timestamp, value: u32) {
            let seen = self.context().clone();
            self.write(
                d,
                Sibling {
                    at,
                    value,
                    seen,
                    signature: None,
                    signer: None,
                },
            );
        }

        fn drop_key(&mut self, d: Dot, at: Timestamp) {
            let seen = self.context().clone();
            self.remove(
                d,
                Removal {
                    at,
                    seen,
                    signature: None,
                    signer: None,
                },
            );
        }
    }

    fn joined(a: &MvRegister<u32>, b: &MvRegister<u32>) -> MvRegister<u32> {
        let mut out = a.clone();
        out.join(b, &CausalContext::new(), &CausalContext::new());
        out
    }

    #[test]
    fn concurrent_writes_become_siblings_and_a_later_write_resolves_them() {
        let mut a = MvRegister::new();
        a.put(dot(1, 1), Timestamp::new(10, 0), 20);
        let mut b = MvRegister::new();
        b.put(dot(2, 1), Timestamp::new(12, 0), 22);
        let mut both = joined(&a, &b);
        assert_eq!(both.len(), 2);
        assert!(both.is_conflicted());
        assert_eq!(joined(&b, &a), both);

        both.put(dot(1, 2), Timestamp::new(13, 0), 21);
        let resolved = joined(&a, &both);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved.winner().map(|(_, s)| s.value), Some(21));
    }

    #[test]
    fn winner_is_highest_set_at_then_writer() {
        let mut a = MvRegister::new();
        a.put(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut b = MvRegister::new();
        b.put(dot(2, 1), Timestamp::new(10, 0), 2);
        let mut c = MvRegister::new();
        c.put(dot(3, 5), Timestamp::new(9, 7), 3);
        let all = joined(&joined(&a, &b), &c);
        assert_eq!(all.len(), 3);
        let (d, s) = all.winner().unwrap();
        assert_eq!((d, s.value), (dot(2, 1), 2));

        let mut later = MvRegister::new();
        later.put(dot(0, 1), Timestamp::new(10, 1), 0);
        assert_eq!(joined(&all, &later).winner().unwrap().1.value, 0);
    }

    #[test]
    fn a_tombstone_wins_over_what_it_saw_and_loses_to_what_it_did_not() {
        let mut a = MvRegister::new();
        a.put(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut removed = a.clone();
        removed.drop_key(dot(2, 1), Timestamp::new(11, 0));
        assert!(joined(&a, &removed).is_empty());
        assert_eq!(
            joined(&a, &removed).removed_at(),
            Some(Timestamp::new(11, 0))
        );

        let mut concurrent = a.clone();
        concurrent.put(dot(1, 2), Timestamp::new(12, 0), 5);
        let both = joined(&removed, &concurrent);
        assert_eq!(both.len(), 1);
        assert_eq!(both.removed_at(), None);
    }

    #[test]
    fn the_encoding_leaves_out_the_derived_context_and_round_trips() {
        let mut a = MvRegister::new();
        a.put(dot(1, 7), Timestamp::new(10, 0), 1u32);
        let mut b = MvRegister::new();
        b.put(dot(2, 3), Timestamp::new(11, 0), 2);
        b.drop_key(dot(3, 9), Timestamp::new(12, 0));
        let both = joined(&a, &b);
        for r in [&a, &b, &both] {
            let bytes = postcard::to_stdvec(r).unwrap();
            assert_eq!(&postcard::from_bytes::<MvRegister<u32>>(&bytes).unwrap(), r);
        }
        let siblings: BTreeMap<Dot, Sibling<u32>> =
            a.siblings.iter().map(|(d, s)| (*d, s.clone())).collect();
        let removals: BTreeMap<Dot, Removal> =
            a.removals.iter().map(|(d, r)| (*d, r.clone())).collect();
        let full = postcard::to_stdvec(&(&siblings, &removals, &a.context)).unwrap();
        assert!(postcard::to_stdvec(&a).unwrap().len() < full.len());
    }

    #[test]
    fn a_dot_seen_elsewhere_in_the_context_does_not_come_back() {
        let mut stale = MvRegister::new();
        stale.put(dot(1, 1), Timestamp::new(10, 0), 1);
        let mut collected = MvRegister::<u32>::new();
        let mut ctx = CausalContext::new();
        ctx.insert(dot(1, 1));
        collected.join(&stale, &ctx, &CausalContext::new());
        assert!(collected.is_empty());
    }
}
