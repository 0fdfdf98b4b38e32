//! The properties every run must keep, checked from outside the protocol.
//!
//! HyParView (DSN 2007 §4) promises views without the node itself, without
//! duplicates, disjoint active and passive views within their sizes, and a
//! symmetric active view once messages stop flowing; Plumtree (SRDS 2007
//! §3) promises at-most-once delivery and, with a connected overlay, that
//! every node delivers.

use std::collections::BTreeSet;

use super::simulator::Simulator;
use crate::node_id::NodeId;

/// The view sizes the overlay is configured for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewBounds {
    pub active: usize,
    pub passive: usize,
}

/// A broken invariant, naming the node and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Violation {
    #[error("node {node} has itself in its {view} view")]
    SelfInView { node: NodeId, view: &'static str },
    #[error("node {node} has {peer} twice in its {view} view")]
    Duplicate {
        node: NodeId,
        peer: NodeId,
        view: &'static str,
    },
    #[error("node {node} has {peer} in both its active and passive views")]
    ActiveAndPassive { node: NodeId, peer: NodeId },
    #[error("node {node}'s {view} view holds {len} peers, more than {max}")]
    Oversized {
        node: NodeId,
        view: &'static str,
        len: usize,
        max: usize,
    },
    #[error("node {node} has {peer} in its active view but not the other way round")]
    Asymmetric { node: NodeId, peer: NodeId },
    #[error("broadcast {broadcast} was delivered twice to some node ({count} duplicates)")]
    DuplicateDelivery { broadcast: usize, count: u64 },
    #[error("broadcast {broadcast} did not reach live node {node}, connected to its origin")]
    NotDelivered { broadcast: usize, node: NodeId },
}

/// View invariants that hold after every step, even mid-flight.
pub fn check_views(sim: &Simulator, bounds: ViewBounds) -> Result<(), Violation> {
    for i in 0..sim.len() {
        let Some(o) = sim.overlay(i) else { continue };
        let me = o.id();
        let active: Vec<NodeId> = o.active_view().iter().map(|p| p.id).collect();
        let passive: Vec<NodeId> = o.passive_view().iter().map(|p| p.id).collect();
        for (view, ids, max) in [
            ("active", &active, bounds.active),
            ("passive", &passive, bounds.passive),
        ] {
            if ids.contains(&me) {
                return Err(Violation::SelfInView { node: me, view });
            }
            let mut seen = BTreeSet::new();
            for &p in ids {
                if !seen.insert(p) {
                    return Err(Violation::Duplicate {
                        node: me,
                        peer: p,
                        view,
                    });
                }
            }
            if ids.len() > max {
                return Err(Violation::Oversized {
                    node: me,
                    view,
                    len: ids.len(),
                    max,
                });
            }
        }
        if let Some(&p) = active.iter().find(|p| passive.contains(p)) {
            return Err(Violation::ActiveAndPassive { node: me, peer: p });
        }
    }
    Ok(())
}

/// Active views are symmetric: checked once no message is in flight that
/// could still open or close a link.
pub fn check_symmetry(sim: &Simulator) -> Result<(), Violation> {
    for i in 0..sim.len() {
        let Some(o) = sim.overlay(i) else { continue };
        for p in o.active_view() {
            let back = sim
                .index_of(p.id)
                .and_then(|j| sim.overlay(j))
                .is_some_and(|q| q.active_view().iter().any(|x| x.id == o.id()));
            if !back {
                return Err(Violation::Asymmetric {
                    node: o.id(),
                    peer: p.id,
                });
            }
        }
    }
    Ok(())
}

/// No broadcast was delivered twice to one node (in one life).
pub fn check_at_most_once(sim: &Simulator) -> Result<(), Violation> {
    for (broadcast, r) in sim.metrics().records().iter().enumerate() {
        if r.duplicates > 0 {
            return Err(Violation::DuplicateDelivery {
                broadcast,
                count: r.duplicates,
            });
        }
    }
    Ok(())
}

/// Every live node reachable from the broadcast's origin over active links
/// delivered it (meant for broadcasts sent after the overlay settled).
pub fn check_delivered_to_component(sim: &Simulator, broadcast: usize) -> Result<(), Violation> {
    let r = sim.metrics().record(broadcast);
    for node in component(sim, r.origin) {
        if !r.has(node) {
            return Err(Violation::NotDelivered {
                broadcast,
                node: sim.info(node).id,
            });
        }
    }
    Ok(())
}

/// The live nodes reachable from `start` over active-view links.
pub fn component(sim: &Simulator, start: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    if !sim.is_live(start) {
        return seen;
    }
    let mut stack = vec![start];
    seen.insert(start);
    while let Some(n) = stack.pop() {
        let Some(o) = sim.overlay(n) else { continue };
        for p in o.active_view() {
            if let Some(j) = sim.index_of(p.id)
                && sim.is_live(j)
                && seen.insert(j)
            {
                stack.push(j);
            }
        }
    }
    seen
}
