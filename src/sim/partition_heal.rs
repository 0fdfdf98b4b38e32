//! Shipped nodes across a partition of minutes, on a network that behaves
//! as TCP does without any help: connections across the cut stall rather
//! than break (TCP retransmits for some fifteen minutes before it gives
//! up), a dial across it fails after the driver's connect timeout, and
//! what was held on a surviving connection waits for TCP's next
//! retransmission after the heal. Whatever the overlay notices of the cut
//! and however soon it merges again is then the replica core's own doing.

use std::collections::BTreeSet;
use std::time::Duration;

use super::mesh::{Mesh, MeshConfig, node_infos};
use super::network::{Latency, NetworkConfig};
use crate::crdt::Quantity;
use crate::node_id::NodeId;
use crate::replica::{LocalWrite, liveness};
use crate::time::Time;

const NODES: usize = 12;
const WALL: u64 = 1_800_000_000_000;

fn mesh(seed: u64) -> Mesh {
    let infos = node_infos(NODES, |i| (format!("pi-{i:02}"), "lab".into()));
    let config = MeshConfig::shipped(WALL);
    let net = NetworkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(5),
        },
        // TCP's own give-up (Linux's tcp_retries2), far beyond the cut.
        partition_timeout: Duration::from_secs(15 * 60),
        // The driver's connect-and-handshake timeout.
        dial_timeout: Some(crate::net::limits::HANDSHAKE_TIMEOUT),
        retransmit_backoff: true,
        ..NetworkConfig::default()
    };
    Mesh::new(infos, 0, config, net, seed)
}

fn set(mesh: &mut Mesh, node: usize, value: f32) {
    mesh.local(
        node,
        LocalWrite::Target {
            zone: "lab".into(),
            quantity: Quantity::Temperature,
            value,
            set_by: format!("pi-{node:02}"),
        },
    );
}

/// The values of the `lab` target's siblings at `node`, sorted.
fn lab_values(mesh: &Mesh, node: usize) -> Vec<f32> {
    let Some(replica) = mesh.replica(node) else {
        return Vec::new();
    };
    let mut values: Vec<f32> = replica
        .state()
        .target("lab", Quantity::Temperature)
        .map(|r| r.siblings().map(|(_, s)| s.value.value).collect())
        .unwrap_or_default();
    values.sort_by(f32::total_cmp);
    values
}

/// The nodes reachable from node 0 over active views.
fn reachable(mesh: &Mesh) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([0]);
    let mut todo = vec![0];
    while let Some(n) = todo.pop() {
        let Some(replica) = mesh.replica(n) else {
            continue;
        };
        for p in replica.overlay().active_view() {
            if let Some(i) = mesh.index_of(p.id)
                && seen.insert(i)
            {
                todo.push(i);
            }
        }
    }
    seen
}

fn neighbours_across(mesh: &Mesh, side: &[u8]) -> Vec<(usize, NodeId)> {
    let mut across = Vec::new();
    for n in 0..NODES {
        let Some(replica) = mesh.replica(n) else {
            continue;
        };
        for p in replica.overlay().active_view() {
            if mesh.index_of(p.id).is_some_and(|i| side[i] != side[n]) {
                across.push((n, p.id));
            }
        }
    }
    across
}

/// How long after the heal of a `cut`-long partition, with a write on
/// each side, every node holds both writes and the overlay is one again.
fn heal_time(seed: u64, cut: Duration) -> Duration {
    let mut mesh = mesh(seed);
    mesh.start(0, &[]);
    for n in 1..NODES {
        mesh.run_for(Duration::from_millis(100));
        mesh.start(n, &[n - 1]);
    }
    mesh.run_for(Duration::from_secs(30));
    assert_eq!(reachable(&mesh).len(), NODES, "the overlay formed");
    let side: Vec<u8> = (0..NODES).map(|i| (i % 2) as u8).collect();
    assert!(
        !neighbours_across(&mesh, &side).is_empty(),
        "the cut has links to stall"
    );
    mesh.partition(side.clone());
    set(&mut mesh, 0, 20.0);
    set(&mut mesh, 1, 22.0);
    // The stalled links are found silent and each side's views refill
    // from its own side.
    mesh.run_for(liveness::SILENT_LINK + Duration::from_secs(5));
    assert_eq!(neighbours_across(&mesh, &side), Vec::new());
    mesh.run_for(cut.saturating_sub(liveness::SILENT_LINK + Duration::from_secs(5)));
    assert_eq!(lab_values(&mesh, 2), [20.0], "nothing crosses the cut");
    assert_eq!(lab_values(&mesh, 3), [22.0], "nothing crosses the cut");
    mesh.heal();
    let healed: Time = mesh.now();
    loop {
        mesh.run_for(Duration::from_millis(100));
        let whole = reachable(&mesh).len() == NODES
            && (0..NODES).all(|n| lab_values(&mesh, n) == [20.0, 22.0]);
        let took = mesh.now().saturating_since(healed);
        if whole || took > Duration::from_secs(300) {
            return took;
        }
    }
}

#[test]
fn a_partition_of_minutes_heals_within_seconds_of_the_heal() {
    for seed in 1..=3 {
        let took = heal_time(seed, Duration::from_secs(180));
        eprintln!("seed {seed}: whole again {took:?} after a 3-minute cut");
        // The first probe across (every 6 s ±10 % from each node that lost
        // a neighbour) merges the overlay; anti-entropy does the rest.
        assert!(took <= Duration::from_secs(10), "seed {seed}: {took:?}");
    }
}
