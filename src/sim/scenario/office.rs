//! `office`: the shipped node, simulated. Every node is a replica core
//! (the machine `officemesh node` runs) on the [`Mesh`], with real
//! connections, a disk, and observers attached to nodes the way the TUI
//! attaches: writing targets as requests their node admits or refuses.
//!
//! Nodes announce themselves, publish a reading and their heater state
//! every five seconds, and sometimes set a target; observers set targets
//! too, a few of them outside the allowed range (refused by their node,
//! and never to be applied anywhere). Optionally the network is cut in two
//! halves for the whole write phase, and a fraction of nodes crashes
//! mid-way and restarts from what its disk holds. After the heal the report
//! says whether every live replica is byte-for-byte identical and how long
//! that took, how many acknowledged target writes were lost (must be 0),
//! and how many refused writes some replica applied (must be 0).

use std::time::Duration;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::Serialize;

use super::settling::Settling;
use super::{Options, PAPER_LATENCY};
use crate::crdt::anti_entropy;
use crate::crdt::{
    ActuatorId, ActuatorKind, ActuatorOutput, OfficeState, Quantity, Reading, SensorId, Unit,
};
use crate::replica::LocalWrite;
use crate::sim::mesh::{Mesh, MeshConfig, node_infos};
use crate::sim::metrics::MessageCounters;
use crate::sim::report::Report;

const NODES: usize = 100;
const OBSERVERS: usize = 2;
/// Zones the targets are set in (one per five nodes).
const ZONES: usize = 20;
const TICK: Duration = Duration::from_millis(100);
const READING_PERIOD_TICKS: usize = 50;
/// Chance per tick that somebody sets a target.
const TARGET_RATE: f64 = 0.3;
/// Share of observer writes outside the allowed range.
const BAD_WRITES: f64 = 0.1;
/// Nodes join through a random earlier node this far apart, as Pis
/// powered on together do (their boot times differ by seconds). Joins much
/// closer than the links' round trips (20 ms on 10–50 ms links) can leave
/// the overlay split into cliques whose active views are full.
const JOIN_SPACING: Duration = Duration::from_millis(100);
const SETTLE: Duration = Duration::from_secs(20);
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
    /// Target writes acknowledged *stored* that some live replica has
    /// neither as a value nor superseded by a causally later write.
    pub lost_writes: usize,
    pub target_writes: usize,
    /// Observer writes their node refused (out of range).
    pub refused_writes: usize,
    /// Refused writes that some replica (node or observer) holds anyway.
    pub refused_applied: usize,
    pub readings: usize,
    /// From the heal (or the end of writes) until every live replica was
    /// equal; `None` if that never happened in the quiet period.
    pub converge_ms: Option<u64>,
    pub anti_entropy_period_ms: u64,
    /// From the heal until the last active-view link changed (every change
    /// rewrites a `Node` entry), as last seen by the convergence checks.
    pub last_link_change_ms: Option<u64>,
    /// Active-view links that appeared or went after the heal.
    pub link_changes: usize,
    /// From the heal until the newest write the replicas hold was made
    /// (negative: before the heal).
    pub last_write_ms: i64,
    /// Anti-entropy bytes sent by every replica alive at the end.
    pub anti_entropy_bytes: u64,
    /// Every byte every node sent, over every life.
    pub bytes_sent: u64,
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
    let net = options.network(PAPER_LATENCY);
    let latency = net.latency.to_string();
    let ae_config = anti_entropy::Config::default();
    let infos = node_infos(nodes, |i| (format!("pi-{i:03}"), zone(i % ZONES)));
    let config = MeshConfig {
        overlay: options.overlay_config(),
        anti_entropy: ae_config.clone(),
        ..MeshConfig::shipped(WALL_EPOCH_MS)
    };
    let mut mesh = Mesh::new(infos, observers, config, net, options.seed);
    // Powered on together: each node joins through a random earlier one.
    mesh.start(0, &[]);
    for n in 1..nodes {
        mesh.run_for(JOIN_SPACING);
        let seed = mesh.rng().random_range(0..n);
        mesh.start(n, &[seed]);
    }
    for o in 0..observers {
        let node = mesh.rng().random_range(0..nodes);
        mesh.attach(o, node);
    }
    mesh.run_for(SETTLE);

    let start = mesh.now();
    let total = nodes + observers;
    let mut side: Vec<u8> = (0..total).map(|i| (i % 2) as u8).collect();
    side.shuffle(mesh.rng());
    if options.partition {
        mesh.partition(side.clone());
    } else {
        side.fill(0);
    }
    let crash_count = ((options.crash.unwrap_or(0.0) * nodes as f64).round() as usize).min(nodes);
    let mut crashed: Vec<usize> = (0..nodes).collect();
    crashed.shuffle(mesh.rng());
    crashed.truncate(crash_count);
    let crash_at = start + WRITE_PHASE / 3;
    let restart_at = crash_at + DOWN_FOR;

    let mut readings = 0;
    let mut node_targets = 0;
    let ticks = (WRITE_PHASE.as_micros() / TICK.as_micros()) as usize;
    let (mut did_crash, mut did_restart) = (false, false);
    for tick in 0..ticks {
        let now = start + TICK * tick as u32;
        mesh.run_until(now);
        if !did_crash && now >= crash_at {
            did_crash = true;
            for &n in &crashed {
                mesh.crash(n);
            }
        }
        if !did_restart && now >= restart_at {
            did_restart = true;
            for &n in &crashed {
                // A restarting Pi rejoins through a node it can reach.
                let reachable: Vec<usize> = mesh
                    .live_nodes()
                    .into_iter()
                    .filter(|&c| side[c] == side[n])
                    .collect();
                let seeds: Vec<usize> = reachable.choose(mesh.rng()).copied().into_iter().collect();
                mesh.start(n, &seeds);
            }
        }
        for node in (0..nodes).filter(|n| n % READING_PERIOD_TICKS == tick % READING_PERIOD_TICKS) {
            if !mesh.is_live(node) {
                continue;
            }
            let value = 20.0 + mesh.rng().random_range(-20i32..20) as f32 / 10.0;
            mesh.local(
                node,
                LocalWrite::Reading {
                    sensor: SensorId {
                        quantity: Quantity::Temperature,
                        index: 0,
                    },
                    reading: Reading {
                        value,
                        unit: Unit::Celsius,
                    },
                },
            );
            readings += 1;
            let output = if value < 20.0 {
                ActuatorOutput::On
            } else {
                ActuatorOutput::Off
            };
            mesh.local(
                node,
                LocalWrite::Actuator {
                    actuator: ActuatorId {
                        kind: ActuatorKind::Heater,
                        index: 0,
                    },
                    output,
                },
            );
        }
        if mesh.rng().random_bool(TARGET_RATE) {
            let zone = zone(mesh.rng().random_range(0..ZONES));
            let value = 18.0 + mesh.rng().random_range(0..12) as f32 / 2.0;
            if observers > 0 && mesh.rng().random_bool(0.5) {
                let o = mesh.rng().random_range(0..observers);
                let value = if mesh.rng().random_bool(BAD_WRITES) {
                    45.0
                } else {
                    value
                };
                mesh.observer_write(o, &zone, value);
            } else {
                let node = mesh.rng().random_range(0..nodes);
                if mesh.is_live(node) {
                    node_targets += 1;
                    mesh.local(
                        node,
                        LocalWrite::Target {
                            zone,
                            quantity: Quantity::Temperature,
                            value,
                            set_by: format!("pi-{node:03}"),
                        },
                    );
                }
            }
        }
    }
    mesh.run_until(start + WRITE_PHASE);
    mesh.heal();
    let healed = mesh.now();

    let mut converge_ms = None;
    let mut settling = Settling::new(&mesh, healed);
    while mesh.now() < healed + QUIET_MAX {
        mesh.run_for(CHECK_EVERY);
        if settling.sample(&mesh).converged() {
            converge_ms = Some((mesh.now() - healed).as_millis() as u64);
            break;
        }
    }
    let live = mesh.live_nodes();
    let states: Vec<&OfficeState> = live
        .iter()
        .filter_map(|&n| mesh.replica(n))
        .map(|r| r.state())
        .collect();
    let stored: Vec<_> = (0..observers)
        .flat_map(|o| mesh.observer(o).stored.iter().cloned())
        .collect();
    let refused: Vec<_> = (0..observers)
        .flat_map(|o| mesh.observer(o).refused.iter().cloned())
        .collect();
    let lost_writes = stored
        .iter()
        .filter(|w| {
            states.iter().any(|s| {
                s.target(&w.key.zone, w.key.quantity)
                    .is_none_or(|r| !r.context().covers(w.dot))
            })
        })
        .count();
    let observer_states: Vec<&OfficeState> =
        (0..observers).map(|o| mesh.observer(o).state()).collect();
    let refused_applied = refused
        .iter()
        .filter(|w| {
            states.iter().chain(&observer_states).any(|s| {
                s.target(&w.key.zone, w.key.quantity)
                    .is_some_and(|r| r.siblings().any(|(d, _)| d == w.dot))
            })
        })
        .count();
    let figures = OfficeFigures {
        observers,
        partition: options.partition,
        crashed: crash_count,
        converged: all_equal(&mesh),
        lost_writes,
        target_writes: stored.len() + node_targets,
        refused_writes: refused.len(),
        refused_applied,
        readings,
        converge_ms,
        anti_entropy_period_ms: ae_config.period.as_millis() as u64,
        last_link_change_ms: settling.last_link_change_ms,
        link_changes: settling.link_changes,
        last_write_ms: states
            .iter()
            .map(|s| s.latest_timestamp().wall_ms as i64)
            .max()
            .map_or(0, |w| w - (WALL_EPOCH_MS + healed.as_millis()) as i64),
        anti_entropy_bytes: live
            .iter()
            .filter_map(|&n| mesh.replica(n))
            .map(|r| r.anti_entropy().stats().bytes_sent)
            .sum(),
        bytes_sent: mesh.bytes_sent(),
        siblings_max: states.iter().map(|s| s.siblings_max()).max().unwrap_or(0),
        state_bytes: states
            .first()
            .and_then(|s| s.encode().ok())
            .map_or(0, |b| b.len()),
        overlay_components: components(&mesh),
    };
    let mask: Vec<bool> = (0..nodes).map(|n| mesh.is_live(n)).collect();
    let mut report = Report::from_records(
        "office",
        options.protocol_name(),
        nodes,
        options.seed,
        latency,
        options.loss,
        &[],
        &mask,
        &MessageCounters::default(),
    );
    report.office = Some(figures);
    report.virtual_ms = mesh.now().as_millis();
    report.events = mesh.steps();
    report
}

fn zone(i: usize) -> String {
    format!("room-{i}")
}

/// Connected components of the live nodes' active views, taken as
/// undirected links (a link one end has not confirmed yet still carries
/// anti-entropy rounds from the other).
fn components(mesh: &Mesh) -> usize {
    let live = mesh.live_nodes();
    let mut parent: Vec<usize> = (0..mesh.len()).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    let mut asymmetric = 0;
    for &n in &live {
        let Some(replica) = mesh.replica(n) else {
            continue;
        };
        for peer in replica.overlay().active_view() {
            if let Some(p) = mesh.index_of(peer.id)
                && mesh.is_live(p)
            {
                let back = mesh.replica(p).is_some_and(|r| {
                    r.overlay()
                        .active_view()
                        .iter()
                        .any(|q| q.id == replica.id())
                });
                if !back {
                    asymmetric += 1;
                }
                let (a, b) = (root(&mut parent, n), root(&mut parent, p));
                parent[a] = b;
            }
        }
    }
    let mut roots: Vec<usize> = live.iter().map(|&n| root(&mut parent, n)).collect();
    roots.sort_unstable();
    roots.dedup();
    if roots.len() > 1 || asymmetric > 0 {
        tracing::warn!(components = roots.len(), asymmetric, "overlay shape");
    }
    roots.len()
}

/// Every live replica holds the same state, byte for byte.
fn all_equal(mesh: &Mesh) -> bool {
    let mut encodings = mesh
        .live_nodes()
        .into_iter()
        .filter_map(|n| mesh.replica(n))
        .map(|r| r.state().encode().ok());
    let Some(first) = encodings.next() else {
        return true;
    };
    first.is_some() && encodings.all(|e| e == first)
}
