//! The flood bound: the fastest any broadcast protocol could deliver a
//! value over the overlay the simulator holds at that moment.
//!
//! A flood sends every message over every link at once, so each node
//! receives it first along its shortest path (by summed link latency) from
//! the origin. The time until the *last* live node has it is the largest
//! of those shortest paths. No protocol that only speaks over the same
//! active views can beat it (the simulator charges no processing time), so
//! a scenario's latency is judged by its distance to this figure rather
//! than by a number chosen without looking at the overlay.
//!
//! The bound ignores partitions: it is the latency of the views as they
//! are when the value is broadcast. A value whose origin cannot reach
//! every live node over those views (a view cut in two) has no bound and
//! is counted as such.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use serde::Serialize;

use super::report::Quantiles;
use super::simulator::Simulator;

/// Stable-latency quantiles of flooding over the same overlay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FloodBound {
    /// Over the values with a bound: until the last live node has it.
    pub latency_ms: Quantiles,
    /// Values measured.
    pub values: usize,
    /// Values whose origin could not reach every live node over the views
    /// of the moment (left out of the quantiles).
    pub unreachable: usize,
}

/// Gathers one bound per broadcast value, taken when it is broadcast.
#[derive(Debug, Default)]
pub struct FloodBoundRecorder {
    bounds: Vec<Duration>,
    unreachable: usize,
}

impl FloodBoundRecorder {
    /// Records the bound of a value `origin` broadcasts now.
    pub fn observe(&mut self, sim: &Simulator, origin: usize) {
        match time_to_last(sim, origin) {
            Some(d) => self.bounds.push(d),
            None => self.unreachable += 1,
        }
    }

    pub fn finish(mut self) -> FloodBound {
        FloodBound {
            values: self.bounds.len() + self.unreachable,
            unreachable: self.unreachable,
            latency_ms: Quantiles::of(&mut self.bounds),
        }
    }
}

/// The longest shortest path from `origin` to any live node, each node
/// forwarding to its whole active view (Dijkstra over the directed graph
/// of active views, weighted by link latency); `None` when some live node
/// is out of reach or `origin` is down.
pub fn time_to_last(sim: &Simulator, origin: usize) -> Option<Duration> {
    if !sim.is_live(origin) {
        return None;
    }
    let n = sim.len();
    let mut dist: Vec<Option<Duration>> = vec![None; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    dist[origin] = Some(Duration::ZERO);
    heap.push(Reverse((Duration::ZERO, origin)));
    while let Some(Reverse((d, node))) = heap.pop() {
        if done[node] {
            continue;
        }
        done[node] = true;
        let Some(overlay) = sim.overlay(node) else {
            continue;
        };
        for peer in overlay.active_view() {
            let Some(next) = sim.index_of(peer.id) else {
                continue;
            };
            if !sim.is_live(next) {
                continue;
            }
            let through = d + sim.link_latency(node, next);
            if dist[next].is_none_or(|old| through < old) {
                dist[next] = Some(through);
                heap.push(Reverse((through, next)));
            }
        }
    }
    let mut last = Duration::ZERO;
    for (node, d) in dist.iter().enumerate() {
        if !sim.is_live(node) {
            continue;
        }
        last = last.max((*d)?);
    }
    Some(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Config;
    use crate::sim::network::{Latency, NetworkConfig};
    use crate::sim::scenario::grow;

    fn grown(nodes: usize, latency: Latency, seed: u64) -> Simulator {
        let net = NetworkConfig {
            latency,
            ..NetworkConfig::default()
        };
        let mut sim = Simulator::new(nodes, Config::default(), net, seed);
        grow(&mut sim);
        sim
    }

    /// Breadth-first hop counts over the active views, to check Dijkstra
    /// against when every link costs the same.
    fn hops_to_last(sim: &Simulator, origin: usize) -> usize {
        let mut hops = vec![usize::MAX; sim.len()];
        hops[origin] = 0;
        let mut frontier = vec![origin];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            for &node in &frontier {
                for peer in sim.overlay(node).unwrap().active_view() {
                    let p = sim.index_of(peer.id).unwrap();
                    if hops[p] == usize::MAX {
                        hops[p] = hops[node] + 1;
                        next.push(p);
                    }
                }
            }
            frontier = next;
        }
        hops.into_iter().max().unwrap()
    }

    #[test]
    fn with_one_latency_the_bound_is_the_eccentricity_in_hops() {
        let sim = grown(40, Latency::Fixed(Duration::from_millis(100)), 3);
        for origin in [0, 7, 39] {
            let hops = hops_to_last(&sim, origin);
            assert!(hops >= 2, "40 nodes on views of 5 need at least two hops");
            assert_eq!(
                time_to_last(&sim, origin),
                Some(Duration::from_millis(100) * hops as u32)
            );
        }
    }

    #[test]
    fn plumtree_over_the_same_views_is_never_faster_than_the_bound() {
        let latency = Latency::Uniform {
            min: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        let mut sim = grown(30, latency, 5);
        let mut recorder = FloodBoundRecorder::default();
        let mut sent = Vec::new();
        for origin in [0, 11, 29] {
            recorder.observe(&sim, origin);
            let flood = time_to_last(&sim, origin).unwrap();
            let value = sim
                .broadcast(origin, bytes::Bytes::from_static(b"v"))
                .unwrap();
            sent.push((value, flood));
            sim.run_for(Duration::from_secs(5));
        }
        let bound = recorder.finish();
        assert_eq!((bound.values, bound.unreachable), (3, 0));
        assert!(bound.latency_ms.max >= 10.0);
        let live = sim.live_mask();
        for (value, flood) in sent {
            let record = sim.metrics().record(value);
            assert_eq!(record.reliability(|n| live[n]), 1.0);
            assert!(record.time_to_last() >= flood, "value {value}");
        }
    }

    #[test]
    fn a_crashed_origin_or_an_island_has_no_bound() {
        let mut sim = grown(10, Latency::Fixed(Duration::from_millis(10)), 1);
        sim.crash(4);
        assert_eq!(time_to_last(&sim, 4), None);
        // Before anyone notices the crash the views still list node 4, but
        // only live nodes count; everyone else is reached.
        assert!(time_to_last(&sim, 0).is_some());
    }
}
