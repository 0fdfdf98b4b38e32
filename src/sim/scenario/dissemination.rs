//! `single` and `random`: broadcasts over a stable overlay (Plumtree §4).

use std::time::Duration;

use rand::Rng;

use super::{Options, PAPER_LATENCY, bootstrap, measured_report, payload};
use crate::sim::report::{BroadcastFigures, Report};
use crate::sim::simulator::Simulator;

/// Default overlay size for these scenarios.
const NODES: usize = 100;

/// Default number of measured broadcasts.
const BROADCASTS: usize = 20;

/// Time given to each broadcast before the next: far more than a tree of
/// 10..50 ms links needs, so broadcasts do not overlap and GRAFTs finish.
const GAP: Duration = Duration::from_secs(2);

/// One sender for all broadcasts (`random_sender` false), or a new random
/// live sender for each. A warm-up broadcast from the first sender builds
/// the tree first and is reported on its own.
pub fn run(options: &Options, random_sender: bool) -> Report {
    let nodes = options.nodes.unwrap_or(NODES);
    let net = options.network(PAPER_LATENCY);
    let latency = net.latency.to_string();
    let mut sim = Simulator::new(nodes, options.overlay_config(), net, options.seed);
    bootstrap::grow(&mut sim);

    let sender = sim.rng().random_range(0..nodes);
    let warmup = sim.broadcast(sender, payload(0));
    sim.run_for(GAP);
    let warmup_live = sim.live_mask();

    let before = sim.metrics().counters().clone();
    let mut measured = Vec::new();
    for b in 0..options.broadcasts.unwrap_or(BROADCASTS) {
        let origin = if random_sender {
            sim.rng().random_range(0..nodes)
        } else {
            sender
        };
        measured.extend(sim.broadcast(origin, payload(b as u64 + 1)));
        sim.run_for(GAP);
    }
    let mut report = measured_report(
        options.scenario.name(),
        options,
        nodes,
        latency,
        &sim,
        &measured,
        &before,
    );
    report.warmup = warmup.map(|w| BroadcastFigures::of(sim.metrics().record(w), &warmup_live));
    report
}
