//! What watching an office costs, on the shipped replica cores in virtual
//! time (`sim::Mesh`): while an observer watches, a write costs each node
//! one clock report carrying only what changed, so the reports reaching
//! the observer grow with the office's size N, not with N².

use std::time::Duration;

use officemesh::sim::Mesh;
use officemesh::sim::NetworkConfig;
use officemesh::sim::mesh::{MeshConfig, node_infos};
use officemesh::sim::sim_observer::ReportTally;

const START_MS: u64 = 1_796_021_400_000;
const WRITES: u64 = 10;

/// `nodes` nodes joined one after another, and one observer attached to
/// node 0 once they all have, given 5 s for the first whole reports.
fn office(nodes: usize, seed: u64) -> Mesh {
    let infos = node_infos(nodes, |i| (format!("pi-{i}"), "lab".into()));
    let config = MeshConfig::shipped(START_MS);
    let mut mesh = Mesh::new(infos, 1, config, NetworkConfig::default(), seed);
    mesh.start(0, &[]);
    for n in 1..nodes {
        mesh.run_for(Duration::from_millis(100));
        mesh.start(n, &[n - 1]);
    }
    mesh.run_for(Duration::from_secs(3));
    mesh.attach(0, 0);
    mesh.run_for(Duration::from_secs(5));
    mesh
}

/// The reports the observer received over [`WRITES`] target writes
/// 200 ms apart, and a second for the last to settle.
fn reports_over_writes(mesh: &mut Mesh) -> ReportTally {
    let before = mesh.observer(0).reports;
    for i in 0..WRITES {
        mesh.observer_write(0, "lab", 18.0 + i as f32 * 0.5)
            .expect("attached");
        mesh.run_for(Duration::from_millis(200));
    }
    mesh.run_for(Duration::from_secs(1));
    let after = mesh.observer(0).reports;
    ReportTally {
        reports: after.reports - before.reports,
        whole: after.whole - before.whole,
        entries: after.entries - before.entries,
        bytes: after.bytes - before.bytes,
    }
}

#[test]
fn a_write_costs_each_node_one_small_clock_report_whatever_the_office_size() {
    let mut per_report = Vec::new();
    for nodes in [16, 48] {
        let mut mesh = office(nodes, 7);
        let all = mesh.observer(0).clocks.len();
        assert_eq!(all, nodes, "every node reported before the writes");
        let t = reports_over_writes(&mut mesh);
        let n = nodes as u64;
        println!("{nodes} nodes, {WRITES} writes: {t:?}");
        assert_eq!(t.whole, 0, "no whole vector while nothing asks for one");
        // Every node covers every write, in one report or a few coalesced.
        assert!(t.reports >= n, "{} reports from {nodes} nodes", t.reports);
        assert!(
            t.reports <= 2 * n * WRITES,
            "{} reports for {WRITES} writes",
            t.reports
        );
        // Each carries what the write changed: the writer's entry, and now
        // and then the node's own (a re-announcement), never the vector.
        assert!(
            t.entries <= 2 * t.reports,
            "{} entries in {} reports",
            t.entries,
            t.reports
        );
        per_report.push(t.bytes as f64 / t.reports as f64);
    }
    // Three times the nodes, reports of the same size: a report carries
    // what changed, not the vector (whole, it would be three times as
    // long). Other changes than the writes (a node re-announcing itself
    // as the overlay settles) cost each node a report too, so the count
    // per write is bounded above rather than pinned.
    let (small, large) = (per_report[0], per_report[1]);
    assert!(
        large < 1.25 * small,
        "{small:.1} B per report at 16 nodes, {large:.1} at 48"
    );
}
