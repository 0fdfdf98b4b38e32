//! `office`: every simulated node holds an office state (issue 3).
//!
//! Nodes announce themselves and publish a reading every five seconds;
//! nodes and observers set zone targets at random. Optionally the network
//! is cut in two halves for the whole write phase (so both sides write the
//! same zones concurrently) and a fraction of nodes crashes mid-way and
//! restarts from its durable state (the office state and the writer, as the
//! runtime stores them). After the heal and a quiet period the report says
//! whether every live replica is byte-for-byte identical, how many
//! acknowledged target writes were lost (must be 0), the largest sibling
//! count, how long convergence took after the heal, and the anti-entropy
//! bytes.
//!
//! Simplification: observers are simulated as overlay members that only
//! write targets (the simulator has no attached-observer links); what they
//! write travels the same way, as deltas through the overlay.

use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::Serialize;

use super::{Options, PAPER_LATENCY, bootstrap};
use crate::crdt::anti_entropy;
use crate::crdt::{
    ActuatorId, ActuatorKind, ActuatorOutput, Dot, NodeInfo, OfficeState, Quantity, Reading,
    SensorId, TargetKey, TargetValue, Unit, Write, Writer,
};
use crate::sim::report::Report;
use crate::sim::simulator::Simulator;
use crate::wire::Role;

const NODES: usize = 100;
const OBSERVERS: usize = 2;
/// Zones the targets are set in (one per five nodes).
const ZONES: usize = 20;
const TICK: Duration = Duration::from_millis(100);
const READING_PERIOD_TICKS: usize = 50;
/// Chance per tick that somebody sets a target.
const TARGET_RATE: f64 = 0.3;
const WRITE_PHASE: Duration = Duration::from_secs(30);
/// Crashed nodes stay down this long.
const DOWN_FOR: Duration = Duration::from_secs(10);
/// Longest quiet period waited for convergence after the heal.
const QUIET_MAX: Duration = Duration::from_secs(60);
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// The wall clock of the simulated office at virtual time zero (Unix ms).
const WALL_EPOCH_MS: u64 = 1_795_000_000_000;

/// The `office` scenario's figures (flattened into the report's JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OfficeFigures {
    pub observers: usize,
    pub partition: bool,
    pub crashed: usize,
    /// Every live replica's encoded state is byte-equal at the end.
    pub converged: bool,
    /// Acknowledged target writes some live replica has neither as a value
    /// nor superseded by a causally later write.
    pub lost_writes: usize,
    pub target_writes: usize,
    pub readings: usize,
    /// From the heal (or the end of writes) until every live replica was
    /// equal; `None` if that never happened in the quiet period.
    pub converge_ms: Option<u64>,
    pub anti_entropy_period_ms: u64,
    /// Sent by every replica over the whole run, envelopes included.
    pub anti_entropy_bytes: u64,
    pub siblings_max: usize,
    pub state_bytes: usize,
    /// Connected components of the live nodes' active-view graph at the
    /// end: anti-entropy only runs along those links, so a replica set
    /// split into several components cannot converge.
    pub overlay_components: usize,
}

pub fn run(options: &Options) -> Report {
    let nodes = options.nodes.unwrap_or(NODES);
    let observers = options.observers.unwrap_or(OBSERVERS);
    let total = nodes + observers;
    let net = options.network(PAPER_LATENCY);
    let latency = net.latency.to_string();
    let ae_config = anti_entropy::Config::default();
    let mut sim = Simulator::new(total, options.overlay_config(), net, options.seed);
    sim.enable_office(ae_config.clone());
    bootstrap::grow(&mut sim);

    for i in 0..total {
        let role = if i < nodes {
            Role::Node
        } else {
            Role::Observer
        };
        let info = NodeInfo {
            name: format!("pi-{i:03}"),
            zone: zone(i % ZONES),
            role,
            version: env!("CARGO_PKG_VERSION").to_string(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
        };
        write(&mut sim, i, |s, w, wall| s.announce_node(w, wall, info));
    }
    sim.run_for(Duration::from_secs(2));

    let start = sim.now();
    let mut side: Vec<u8> = (0..total).map(|i| (i % 2) as u8).collect();
    side.shuffle(sim.rng());
    if options.partition {
        sim.partition(side.clone());
    } else {
        side.fill(0);
    }
    let crash_count = ((options.crash.unwrap_or(0.0) * nodes as f64).round() as usize).min(nodes);
    let mut crashed: Vec<usize> = (0..nodes).collect();
    crashed.shuffle(sim.rng());
    crashed.truncate(crash_count);
    let crash_at = start + WRITE_PHASE / 3;
    let restart_at = crash_at + DOWN_FOR;

    let mut acknowledged: Vec<(TargetKey, Dot)> = Vec::new();
    let mut readings = 0;
    let ticks = (WRITE_PHASE.as_micros() / TICK.as_micros()) as usize;
    let (mut did_crash, mut did_restart) = (false, false);
    for tick in 0..ticks {
        let now = start + TICK * tick as u32;
        sim.run_until(now);
        if !did_crash && now >= crash_at {
            did_crash = true;
            for &n in &crashed {
                sim.crash(n);
            }
        }
        if !did_restart && now >= restart_at {
            did_restart = true;
            for &n in &crashed {
                // A restarting Pi rejoins through a node it can reach.
                let reachable: Vec<usize> = sim
                    .live_nodes()
                    .into_iter()
                    .filter(|&c| side[c] == side[n])
                    .collect();
                let contacts: Vec<usize> =
                    reachable.choose(sim.rng()).copied().into_iter().collect();
                sim.start(n, &contacts);
            }
        }
        for node in (0..nodes).filter(|n| n % READING_PERIOD_TICKS == tick % READING_PERIOD_TICKS) {
            let value = 20.0 + sim.rng().random_range(-20i32..20) as f32 / 10.0;
            let sensor = SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            };
            let reading = Reading {
                value,
                unit: Unit::Celsius,
            };
            if write(&mut sim, node, |s, w, wall| {
                s.publish_reading(w, wall, sensor, reading)
            })
            .is_some()
            {
                readings += 1;
            }
            let heater = ActuatorId {
                kind: ActuatorKind::Heater,
                index: 0,
            };
            let output = if value < 20.0 {
                ActuatorOutput::On
            } else {
                ActuatorOutput::Off
            };
            write(&mut sim, node, |s, w, wall| {
                s.set_actuator(w, wall, heater, output)
            });
        }
        if sim.rng().random_bool(TARGET_RATE) {
            let writer = if observers > 0 && sim.rng().random_bool(0.5) {
                nodes + sim.rng().random_range(0..observers)
            } else {
                sim.rng().random_range(0..nodes)
            };
            let key = TargetKey::new(
                zone(sim.rng().random_range(0..ZONES)),
                Quantity::Temperature,
            );
            let value = 18.0 + sim.rng().random_range(0..12) as f32 / 2.0;
            let set_by = format!("op@pi-{writer:03}");
            let k = key.clone();
            let target = TargetValue {
                value,
                unit: Unit::Celsius,
                set_by,
            };
            if let Some(dot) = write(&mut sim, writer, |s, w, wall| {
                s.set_target(w, wall, k, target)
            }) {
                acknowledged.push((key, dot));
            }
        }
    }
    sim.run_until(start + WRITE_PHASE);
    sim.heal();
    let healed = sim.now();

    let mut converge_ms = None;
    while sim.now() < healed + QUIET_MAX {
        sim.run_for(CHECK_EVERY);
        if all_equal(&sim) {
            converge_ms = Some((sim.now() - healed).as_millis() as u64);
            break;
        }
    }
    let live = sim.live_nodes();
    let states: Vec<&OfficeState> = live
        .iter()
        .filter_map(|&n| sim.office(n))
        .map(|o| &o.state)
        .collect();
    let lost_writes = acknowledged
        .iter()
        .filter(|(key, dot)| {
            states.iter().any(|s| {
                s.target(&key.zone, key.quantity)
                    .is_none_or(|r| !r.context().covers(*dot))
            })
        })
        .count();
    let figures = OfficeFigures {
        observers,
        partition: options.partition,
        crashed: crash_count,
        converged: all_equal(&sim),
        lost_writes,
        target_writes: acknowledged.len(),
        readings,
        converge_ms,
        anti_entropy_period_ms: ae_config.period.as_millis() as u64,
        anti_entropy_bytes: (0..total)
            .filter_map(|n| sim.office(n))
            .map(|o| o.anti_entropy_bytes())
            .sum(),
        siblings_max: states.iter().map(|s| s.siblings_max()).max().unwrap_or(0),
        state_bytes: states
            .first()
            .and_then(|s| s.encode().ok())
            .map_or(0, |b| b.len()),
        overlay_components: components(&sim),
    };

    let counters = sim.metrics().counters().clone();
    let mask = sim.live_mask();
    let mut report = Report::from_records(
        "office",
        options.protocol_name(),
        total,
        options.seed,
        latency,
        options.loss,
        &[],
        &mask,
        &counters,
    );
    report.office = Some(figures);
    report.virtual_ms = sim.now().as_millis();
    report.events = sim.steps();
    report
}

fn zone(i: usize) -> String {
    format!("room-{i}")
}

/// Runs a local write at a live node and broadcasts its delta; `None` if
/// the node is down.
fn write(
    sim: &mut Simulator,
    node: usize,
    f: impl FnOnce(&mut OfficeState, &mut Writer, u64) -> Write,
) -> Option<Dot> {
    if !sim.is_live(node) {
        return None;
    }
    let wall = WALL_EPOCH_MS + sim.now().as_millis();
    let office = sim.office_mut(node)?;
    let w = f(&mut office.state, &mut office.writer, wall);
    let bytes = w.delta.encode().ok()?;
    sim.broadcast(node, Bytes::from(bytes));
    Some(w.dot)
}

/// Connected components of the live nodes' active views.
fn components(sim: &Simulator) -> usize {
    let live = sim.live_nodes();
    let mut seen = vec![false; sim.len()];
    let mut count = 0;
    for &start in &live {
        if seen[start] {
            continue;
        }
        count += 1;
        seen[start] = true;
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            let Some(overlay) = sim.overlay(n) else {
                continue;
            };
            for peer in overlay.active_view() {
                if let Some(p) = sim.index_of(peer.id)
                    && sim.is_live(p)
                    && !seen[p]
                {
                    seen[p] = true;
                    stack.push(p);
                }
            }
        }
    }
    count
}

/// Every live replica holds the same state, byte for byte.
fn all_equal(sim: &Simulator) -> bool {
    let mut encodings = sim
        .live_nodes()
        .into_iter()
        .filter_map(|n| sim.office(n))
        .map(|o| o.state.encode().ok());
    let Some(first) = encodings.next() else {
        return true;
    };
    first.is_some() && encodings.all(|e| e == first)
}
