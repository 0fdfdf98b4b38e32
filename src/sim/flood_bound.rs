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
//! A partition is part of the bound, not ignored: a message can cross a
//! cut only once it heals (TCP holds it until then), so a link across a
//! cut departs at the heal. The views are those of the moment the value is
//! broadcast. A value whose origin cannot reach every node live at that
//! moment over those views has no bound and is counted as such.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use serde::Serialize;

use super::quantiles::Quantiles;
use super::simulator::Simulator;
use crate::time::Time;

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

/// The overlay as one value found it.
#[derive(Debug)]
struct Snapshot {
    at: Time,
    origin: usize,
    /// Each node's active view, as node indexes; empty for a dead node.
    views: Vec<Vec<usize>>,
    live: Vec<bool>,
}

/// A cut of the network: `side` per node, from `start` until `end` (the
/// heal; `None`: never healed within the run).
#[derive(Debug)]
struct Cut {
    start: Time,
    end: Option<Time>,
    side: Vec<u8>,
}

/// Gathers each broadcast value's overlay when it is broadcast and the
/// cuts of the run, then computes every value's bound.
#[derive(Debug, Default)]
pub struct FloodBoundRecorder {
    values: Vec<Snapshot>,
    cuts: Vec<Cut>,
}

impl FloodBoundRecorder {
    /// Records the overlay a value `origin` broadcasts now will cross.
    pub fn observe(&mut self, sim: &Simulator, origin: usize) {
        self.values.push(Snapshot {
            at: sim.now(),
            origin,
            views: views(sim),
            live: sim.live_mask(),
        });
    }

    /// Call after anything that may cut or heal the network.
    pub fn track_partition(&mut self, sim: &Simulator) {
        let now = sim.now();
        let current = sim.partition_sides();
        let open = self.cuts.last_mut().filter(|c| c.end.is_none());
        match (open, current) {
            (Some(cut), Some(side)) if cut.side == side => {}
            (open, current) => {
                if let Some(cut) = open {
                    cut.end = Some(now);
                }
                if let Some(side) = current {
                    self.cuts.push(Cut {
                        start: now,
                        end: None,
                        side: side.to_vec(),
                    });
                }
            }
        }
    }

    pub fn finish(self, sim: &Simulator) -> FloodBound {
        let mut bounds = Vec::with_capacity(self.values.len());
        let mut unreachable = 0;
        for value in &self.values {
            match earliest_last(value, &self.cuts, |a, b| sim.link_latency(a, b)) {
                Some(d) => bounds.push(d),
                None => unreachable += 1,
            }
        }
        FloodBound {
            values: self.values.len(),
            unreachable,
            latency_ms: Quantiles::of(&mut bounds),
        }
    }
}

fn views(sim: &Simulator) -> Vec<Vec<usize>> {
    (0..sim.len())
        .map(|node| {
            sim.overlay(node).map_or_else(Vec::new, |o| {
                o.active_view()
                    .iter()
                    .filter_map(|p| sim.index_of(p.id))
                    .collect()
            })
        })
        .collect()
}

/// The longest shortest path from `origin` to any live node, each node
/// forwarding to its whole active view, on the network as it is now
/// (partitions aside); `None` when some live node is out of reach or
/// `origin` is down.
pub fn time_to_last(sim: &Simulator, origin: usize) -> Option<Duration> {
    let value = Snapshot {
        at: sim.now(),
        origin,
        views: views(sim),
        live: sim.live_mask(),
    };
    earliest_last(&value, &[], |a, b| sim.link_latency(a, b))
}

/// When a message ready at `t` on the link `a`→`b` can leave: at once,
/// or at the heal of a cut it would cross (cuts may follow each other).
fn departure(cuts: &[Cut], a: usize, b: usize, mut t: Time) -> Option<Time> {
    for cut in cuts {
        let crosses = cut.side.get(a) != cut.side.get(b);
        if crosses && cut.start <= t && cut.end.is_none_or(|end| t < end) {
            t = cut.end?;
        }
    }
    Some(t)
}

/// Earliest-arrival Dijkstra (valid because waiting for a heal never lets
/// a later message overtake an earlier one on a link), then the latest
/// arrival over the live nodes, from the broadcast.
fn earliest_last(
    value: &Snapshot,
    cuts: &[Cut],
    latency: impl Fn(usize, usize) -> Duration,
) -> Option<Duration> {
    if !value.live.get(value.origin).copied().unwrap_or(false) {
        return None;
    }
    let n = value.views.len();
    let mut arrival: Vec<Option<Time>> = vec![None; n];
    let mut done = vec![false; n];
    let mut heap = BinaryHeap::new();
    arrival[value.origin] = Some(value.at);
    heap.push(Reverse((value.at, value.origin)));
    while let Some(Reverse((t, node))) = heap.pop() {
        if done[node] {
            continue;
        }
        done[node] = true;
        for &next in &value.views[node] {
            if !value.live.get(next).copied().unwrap_or(false) {
                continue;
            }
            let Some(leave) = departure(cuts, node, next, t) else {
                continue;
            };
            let at = leave + latency(node, next);
            if arrival[next].is_none_or(|old| at < old) {
                arrival[next] = Some(at);
                heap.push(Reverse((at, next)));
            }
        }
    }
    let mut last = value.at;
    for (node, at) in arrival.iter().enumerate() {
        if value.live[node] {
            last = last.max((*at)?);
        }
    }
    Some(last - value.at)
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
        let bound = recorder.finish(&sim);
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
    fn a_cut_delays_what_crosses_it_until_the_heal() {
        let mut sim = grown(20, Latency::Fixed(Duration::from_millis(10)), 2);
        let calm = time_to_last(&sim, 0).unwrap();
        let mut recorder = FloodBoundRecorder::default();
        // Node 0 alone on its side for 2 s: nothing leaves it before.
        let mut side = vec![1u8; 20];
        side[0] = 0;
        sim.partition(side);
        recorder.track_partition(&sim);
        recorder.observe(&sim, 0);
        recorder.observe(&sim, 5);
        sim.run_for(Duration::from_secs(2));
        sim.heal();
        recorder.track_partition(&sim);
        let bound = recorder.finish(&sim);
        assert_eq!(bound.values, 2);
        // From node 0: the heal, then the calm flood. From node 5: node 0
        // is reached after the heal too, one hop away.
        assert_eq!(bound.latency_ms.max, 2_000.0 + calm.as_millis() as f64);
        assert_eq!(bound.latency_ms.p50, 2_010.0);
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
