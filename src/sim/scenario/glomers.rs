//! `glomers`: the broadcast workload of the distributed-systems challenge
//! (Fly.io's "Gossip Glomers", parts 3d and 3e), on our overlay.
//!
//! 25 nodes, 100 ms per message, clients issuing 100 operations a second
//! for 20 s, half broadcasts of a new value and half reads. The challenge
//! counts every server-to-server message per client operation (reads
//! included) and measures, per value, the time until every node has it;
//! a value missing from a final read is lost.
//!
//! Beside its own figures the report carries the flood bound of each value
//! (see [`crate::sim::flood_bound`]): how fast flooding the same active
//! views would have been, the limit the latency is judged against.

use std::time::Duration;

use rand::Rng;

use super::{Options, bootstrap, measured_report, payload};
use crate::sim::fault::Fault;
use crate::sim::flood_bound::FloodBoundRecorder;
use crate::sim::network::Latency;
use crate::sim::report::{Quantiles, Report};
use crate::sim::simulator::Simulator;
use crate::time::Time;

const NODES: usize = 25;
const LATENCY: Latency = Latency::Fixed(Duration::from_millis(100));
/// 100 client operations a second for 20 s.
const OP_INTERVAL: Duration = Duration::from_millis(10);
const WORKLOAD: Duration = Duration::from_secs(20);
/// The partition nemesis cuts the cluster in random halves for this long
/// out of every period, and is always healed before the final reads.
const NEMESIS_PERIOD: Duration = Duration::from_secs(10);
const NEMESIS_CUT: Duration = Duration::from_secs(5);
/// Quiet time between the end of the workload and the final reads.
const RECOVERY: Duration = Duration::from_secs(10);

pub fn run(options: &Options) -> Report {
    let nodes = options.nodes.unwrap_or(NODES);
    let net = options.network(LATENCY);
    let latency = net.latency.to_string();
    let mut sim = Simulator::new(nodes, options.overlay_config(), net, options.seed);
    bootstrap::grow(&mut sim);

    let start = sim.now();
    let before = sim.metrics().counters().clone();
    let mut nemesis: Vec<(Time, Fault)> = Vec::new();
    if options.partition {
        let mut at = start + (NEMESIS_PERIOD - NEMESIS_CUT) / 2;
        while at + NEMESIS_CUT <= start + WORKLOAD {
            nemesis.push((at, Fault::PartitionHalves));
            nemesis.push((at + NEMESIS_CUT, Fault::Heal));
            at += NEMESIS_PERIOD;
        }
    }
    let mut nemesis = nemesis.into_iter().peekable();
    let ops = (WORKLOAD.as_micros() / OP_INTERVAL.as_micros()) as u64;
    let mut values = Vec::new();
    let mut bound = FloodBoundRecorder::default();
    for op in 0..ops {
        let at = start + OP_INTERVAL * op as u32;
        while let Some((t, _)) = nemesis.peek()
            && *t <= at
        {
            let Some((t, fault)) = nemesis.next() else {
                break;
            };
            sim.run_until(t);
            fault.apply(&mut sim);
            bound.track_partition(&sim);
        }
        sim.run_until(at);
        let node = sim.rng().random_range(0..nodes);
        // Half the operations are reads: served from the node's own state,
        // they cost no message but count as operations.
        if sim.rng().random_bool(0.5) {
            bound.observe(&sim, node);
            values.extend(sim.broadcast(node, payload(op)));
        }
    }
    for (t, fault) in nemesis {
        sim.run_until(t);
        fault.apply(&mut sim);
        bound.track_partition(&sim);
    }
    sim.heal();
    bound.track_partition(&sim);
    sim.run_until(start + WORKLOAD + RECOVERY);

    let mut report = measured_report("glomers", options, nodes, latency, &sim, &values, &before);
    let live = sim.live_mask();
    let records: Vec<_> = values.iter().map(|&i| sim.metrics().record(i)).collect();
    // The challenge's latency is per value: until every node has it.
    let mut stable: Vec<Duration> = records
        .iter()
        .filter(|r| r.reliability(|n| live[n]) >= 1.0)
        .map(|r| r.time_to_last())
        .collect();
    report.latency_ms = Quantiles::of(&mut stable);
    let counters = sim.metrics().counters().since(&before);
    report.msgs_per_op = Some(counters.total() as f64 / ops as f64);
    report.flood_bound = Some(bound.finish(&sim));
    report
}
