//! `failure`: a stable overlay, then a fraction of it crashes at once
//! (HyParView, DSN 2007 §5.2, "reliability after massive failures").
//!
//! One broadcast per round from a random survivor; the first ones show how
//! much the overlay still delivers before membership has repaired itself,
//! the later ones how fast it heals.

use std::time::Duration;

use rand::seq::SliceRandom;

use super::{Options, PAPER_LATENCY, bootstrap, measured_report, payload};
use crate::sim::report::{BroadcastFigures, FailureFigures, Report};
use crate::sim::simulator::Simulator;

const NODES: usize = 10_000;
const FAIL_FRACTION: f64 = 0.5;
/// Broadcast rounds after the crash: three default shuffle periods.
const ROUNDS: usize = 30;
/// Time between rounds.
const ROUND: Duration = Duration::from_secs(1);

pub fn run(options: &Options) -> Report {
    let fractions = if options.fail_fractions.is_empty() {
        vec![FAIL_FRACTION]
    } else {
        options.fail_fractions.clone()
    };
    let mut first: Option<Report> = None;
    let mut table = Vec::new();
    for &fraction in &fractions {
        let (report, figures) = run_one(options, fraction);
        table.push(figures);
        first.get_or_insert(report);
    }
    let mut report = first.unwrap_or_else(|| run_one(options, FAIL_FRACTION).0);
    if table.len() == 1 {
        report.failure = table.pop();
    } else {
        report.failure_table = table;
    }
    report
}

fn run_one(options: &Options, fraction: f64) -> (Report, FailureFigures) {
    let nodes = options.nodes.unwrap_or(NODES);
    let net = options.network(PAPER_LATENCY);
    let latency = net.latency.to_string();
    let mut sim = Simulator::new(nodes, options.overlay_config(), net, options.seed);
    bootstrap::grow(&mut sim);

    let mut victims: Vec<usize> = (0..nodes).collect();
    victims.shuffle(sim.rng());
    let crashed = ((nodes as f64 * fraction).round() as usize).min(nodes - 1);
    for &v in &victims[..crashed] {
        sim.crash(v);
    }
    let survivors = sim.live_nodes();

    let before = sim.metrics().counters().clone();
    let mut rounds = Vec::new();
    let mut reliability_by_round = Vec::new();
    for round in 0..options.broadcasts.unwrap_or(ROUNDS) {
        let origin = survivors[round % survivors.len()];
        let record = sim.broadcast(origin, payload(round as u64));
        sim.run_for(ROUND);
        let live = sim.live_mask();
        if let Some(r) = record {
            reliability_by_round
                .push(BroadcastFigures::of(sim.metrics().record(r), &live).reliability);
            rounds.push(r);
        }
    }
    // The paper's reliability counts a delivery whenever it happens; by the
    // end of the run every broadcast has had at least one round (1 s) and
    // the first one the whole run to be repaired.
    let live = sim.live_mask();
    let eventual_by_round = rounds
        .iter()
        .map(|&r| BroadcastFigures::of(sim.metrics().record(r), &live).reliability)
        .collect();
    let report = measured_report("failure", options, nodes, latency, &sim, &rounds, &before);
    let rounds_to_full = reliability_by_round
        .iter()
        .position(|&r| r >= 1.0)
        .map(|i| i + 1);
    let figures = FailureFigures {
        fail_fraction: fraction,
        crashed,
        reliability_by_round,
        eventual_by_round,
        rounds_to_full,
    };
    (report, figures)
}
