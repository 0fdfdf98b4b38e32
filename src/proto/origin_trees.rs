//! Plumtree's link states, kept per origin: one spanning tree for each
//! node whose broadcasts cross this one.
//!
//! A tree shared by every sender is shaped by whichever broadcasts formed
//! it, and a sender far from their paths pays for it in depth: measured on
//! 200 real nodes, a writer's first broadcasts crossed a shared tree 16
//! hops deep where the overlay's shortest paths from it were 4–6. Here an
//! origin seen for the first time has every link eager (its first
//! broadcast floods the active views), and only its own duplicates prune
//! its own links, so what stays eager is the tree of first arrivals from
//! that origin: the fastest paths the overlay had when it formed. Keeping
//! the eager and lazy sets per root is how Riak's Plumtree implementation
//! (`riak_core_broadcast`) keeps them.
//!
//! Only the lazy links are stored (an origin with none has no entry), so a
//! tree costs its pruned links and nothing else. Origins are named by
//! whoever sends a message, so the trees kept are bounded by
//! [`MAX_TREES`]: past it the least recently used is forgotten and that
//! origin floods once more on its next broadcast, which costs messages and
//! never a delivery.

use std::collections::{BTreeSet, HashMap};

use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::plumtree::MessageId;

/// Most origins whose trees are kept. An office has one origin per node and
/// per operator's terminal, a few hundred at most; each tree is a few lazy
/// links (under 100 bytes). A key holder inventing origins evicts honest
/// trees, which then flood their next broadcast once.
pub const MAX_TREES: usize = 1024;

/// One origin's lazy links.
#[derive(Debug)]
struct Tree {
    /// Neighbours that only hear this origin's ids (IHAVE), each with when
    /// this node pruned it (`None`: the neighbour pruned us, or a GRAFT
    /// elsewhere moved the tree).
    lazy: Vec<(NodeId, Option<Time>)>,
    /// The neighbour this origin's last first copy came from, and its id:
    /// the link the node hears this origin by while the others are lazy.
    parent: Option<(NodeId, MessageId)>,
    /// When the tree was last used, in `OriginTrees::uses` order.
    stamp: u64,
}

/// Per-origin eager/lazy link states (see the module docs).
#[derive(Debug, Default)]
pub struct OriginTrees {
    trees: HashMap<NodeId, Tree>,
    /// Trees by last use, oldest first: the eviction order.
    by_use: BTreeSet<(u64, NodeId)>,
    uses: u64,
    evicted: u64,
}

impl OriginTrees {
    /// Whether `origin`'s broadcasts are pushed to `peer` in full.
    pub fn is_eager(&self, origin: NodeId, peer: NodeId) -> bool {
        self.trees
            .get(&origin)
            .is_none_or(|t| t.lazy.iter().all(|(p, _)| *p != peer))
    }

    /// When this node pruned `peer` from `origin`'s tree: `None` if the
    /// link is eager, `Some(None)` if it is lazy by the peer's doing.
    pub fn pruned_at(&self, origin: NodeId, peer: NodeId) -> Option<Option<Time>> {
        let tree = self.trees.get(&origin)?;
        tree.lazy
            .iter()
            .find(|(p, _)| *p == peer)
            .map(|(_, at)| *at)
    }

    /// Moves `peer` to the lazy links of `origin`'s tree; `pruned_at` says
    /// when this node sent the PRUNE (`None` when it received one).
    pub fn set_lazy(&mut self, origin: NodeId, peer: NodeId, pruned_at: Option<Time>) {
        self.stamp(origin);
        let Some(tree) = self.trees.get_mut(&origin) else {
            return;
        };
        match tree.lazy.iter_mut().find(|(p, _)| *p == peer) {
            Some(entry) => entry.1 = pruned_at,
            None => tree.lazy.push((peer, pruned_at)),
        }
    }

    /// Moves `peer` back to the eager links of `origin`'s tree.
    pub fn set_eager(&mut self, origin: NodeId, peer: NodeId) {
        let Some(tree) = self.trees.get_mut(&origin) else {
            return;
        };
        tree.lazy.retain(|(p, _)| *p != peer);
        if tree.lazy.is_empty() {
            self.remove(origin);
        }
    }

    /// Marks `origin`'s tree, if it has one, as just used: a tree in use is
    /// the last to be forgotten.
    pub fn touch(&mut self, origin: NodeId) {
        if self.trees.contains_key(&origin) {
            self.stamp(origin);
        }
    }

    /// Gives `origin`'s tree (created when new, forgetting the least
    /// recently used past [`MAX_TREES`]) the newest use stamp.
    fn stamp(&mut self, origin: NodeId) {
        self.uses += 1;
        let stamp = self.uses;
        match self.trees.get_mut(&origin) {
            Some(tree) => {
                self.by_use.remove(&(tree.stamp, origin));
                tree.stamp = stamp;
            }
            None => {
                while self.trees.len() >= MAX_TREES {
                    let Some((_, oldest)) = self.by_use.pop_first() else {
                        break;
                    };
                    self.trees.remove(&oldest);
                    self.evicted += 1;
                }
                self.trees.insert(
                    origin,
                    Tree {
                        lazy: Vec::new(),
                        parent: None,
                        stamp,
                    },
                );
            }
        }
        self.by_use.insert((stamp, origin));
    }

    /// Notes that `id`, the latest first copy of its origin, came from
    /// `peer` (kept only while the origin has lazy links: with none, every
    /// neighbour pushes it here anyway).
    pub fn set_parent(&mut self, id: MessageId, peer: NodeId) {
        if let Some(tree) = self.trees.get_mut(&id.origin) {
            tree.parent = Some((peer, id));
        }
    }

    /// A neighbour left the active view: it leaves every tree. Returns the
    /// latest id of each origin it was the parent for: the node hears
    /// those origins from no one now, as its other links to them are lazy.
    pub fn forget_peer(&mut self, peer: NodeId) -> Vec<MessageId> {
        let mut emptied = Vec::new();
        let mut orphaned = Vec::new();
        for (origin, tree) in &mut self.trees {
            if let Some((parent, id)) = tree.parent
                && parent == peer
            {
                tree.parent = None;
                orphaned.push(id);
            }
            tree.lazy.retain(|(p, _)| *p != peer);
            if tree.lazy.is_empty() {
                emptied.push(*origin);
            }
        }
        for origin in emptied {
            self.remove(origin);
        }
        orphaned.sort();
        orphaned
    }

    /// Forgets `origin`'s tree: every link is eager for it again.
    pub fn reset(&mut self, origin: NodeId) {
        self.remove(origin);
    }

    /// Origins with at least one lazy link (the others keep no entry).
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// Trees forgotten to stay within [`MAX_TREES`].
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn remove(&mut self, origin: NodeId) {
        if let Some(tree) = self.trees.remove(&origin) {
            self.by_use.remove(&(tree.stamp, origin));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_unknown_origin_is_eager_everywhere_and_pruning_is_per_origin() {
        let mut trees = OriginTrees::default();
        assert!(trees.is_eager(NodeId(1), NodeId(7)));
        trees.set_lazy(NodeId(1), NodeId(7), Some(Time::from_millis(5)));
        assert!(!trees.is_eager(NodeId(1), NodeId(7)));
        assert!(
            trees.is_eager(NodeId(2), NodeId(7)),
            "another origin's tree"
        );
        assert!(trees.is_eager(NodeId(1), NodeId(8)), "another link");
        assert_eq!(
            trees.pruned_at(NodeId(1), NodeId(7)),
            Some(Some(Time::from_millis(5)))
        );
        trees.set_eager(NodeId(1), NodeId(7));
        assert!(trees.is_eager(NodeId(1), NodeId(7)));
        assert_eq!(trees.len(), 0, "a tree with no lazy link costs nothing");
    }

    #[test]
    fn a_lost_neighbour_leaves_every_tree() {
        let mut trees = OriginTrees::default();
        for origin in 1..=3 {
            trees.set_lazy(NodeId(origin), NodeId(7), None);
        }
        trees.set_lazy(NodeId(1), NodeId(8), None);
        trees.forget_peer(NodeId(7));
        assert_eq!(trees.len(), 1);
        assert!(!trees.is_eager(NodeId(1), NodeId(8)));
    }

    #[test]
    fn past_the_bound_the_least_recently_used_tree_is_forgotten() {
        let mut trees = OriginTrees::default();
        for origin in 0..MAX_TREES as u64 {
            trees.set_lazy(NodeId(origin), NodeId(u64::MAX), None);
        }
        // Origin 0 is used again, so origin 1 is now the oldest.
        trees.touch(NodeId(0));
        trees.set_lazy(NodeId(5_000), NodeId(u64::MAX), None);
        assert_eq!(trees.len(), MAX_TREES);
        assert_eq!(trees.evicted(), 1);
        assert!(!trees.is_eager(NodeId(0), NodeId(u64::MAX)));
        assert!(
            trees.is_eager(NodeId(1), NodeId(u64::MAX)),
            "evicted: floods"
        );
        assert!(!trees.is_eager(NodeId(5_000), NodeId(u64::MAX)));
    }

    #[derive(Clone, Debug)]
    enum Step {
        Lazy(u64, u64),
        Eager(u64, u64),
        Touch(u64),
        Forget(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        // Origins drawn from a range wider than the bound, so eviction runs.
        let origin = 0..(MAX_TREES as u64 + 64);
        let peer = 0..6u64;
        prop_oneof![
            (origin.clone(), peer.clone()).prop_map(|(o, p)| Step::Lazy(o, p)),
            (origin.clone(), peer.clone()).prop_map(|(o, p)| Step::Eager(o, p)),
            origin.prop_map(Step::Touch),
            peer.prop_map(Step::Forget),
        ]
    }

    proptest! {
        /// Whatever the sequence: never more than the bound, the use order
        /// names exactly the trees kept, a link is lazy only as the last
        /// step on it left it, and a forgotten neighbour is eager everywhere.
        #[test]
        fn trees_stay_bounded_and_consistent(steps in proptest::collection::vec(step(), 1..3000)) {
            let mut trees = OriginTrees::default();
            for step in steps {
                match step {
                    Step::Lazy(o, p) => {
                        trees.set_lazy(NodeId(o), NodeId(p), None);
                        prop_assert!(!trees.is_eager(NodeId(o), NodeId(p)));
                    }
                    Step::Eager(o, p) => {
                        trees.set_eager(NodeId(o), NodeId(p));
                        prop_assert!(trees.is_eager(NodeId(o), NodeId(p)));
                    }
                    Step::Touch(o) => trees.touch(NodeId(o)),
                    Step::Forget(p) => {
                        trees.forget_peer(NodeId(p));
                        for o in trees.trees.keys() {
                            prop_assert!(trees.is_eager(*o, NodeId(p)));
                        }
                    }
                }
                prop_assert!(trees.trees.len() <= MAX_TREES);
                prop_assert!(trees.trees.values().all(|t| !t.lazy.is_empty()));
                prop_assert_eq!(trees.trees.len(), trees.by_use.len());
                for (stamp, origin) in &trees.by_use {
                    prop_assert_eq!(trees.trees.get(origin).map(|t| t.stamp), Some(*stamp));
                }
            }
        }
    }
}
