//! Heating across the mesh, on the shipped replica cores in virtual time
//! (`sim::Mesh`): a boost ends on every node at the same moment without a
//! write, a schedule written on one side of a partition is followed on
//! both after the heal, a node cut off keeps to its schedule, and an
//! observer fetches a node's history through the node it is attached to.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::tz::TimeZone;
use officemesh::control::effective_target::{Effective, ZoneProgram, resolve};
use officemesh::control::{Level, schedule_syntax};
use officemesh::crdt::OverrideValue;
use officemesh::history::ZoneHistory;
use officemesh::sim::Mesh;
use officemesh::sim::NetworkConfig;
use officemesh::sim::mesh::{MeshConfig, node_infos};

/// Mon 30 Nov 2026 06:50 UTC.
const START_MS: u64 = 1_796_021_400_000;
const MIN: i64 = 60_000;
const ZONE: &str = "Kitchen";
const PROGRAM: &str = "mon-fri 07:00 comfort, 18:00 eco; sat-sun away";

/// `nodes` nodes all in the Kitchen, joined one after another, and one
/// observer attached to node 0.
fn office(nodes: usize, seed: u64) -> Mesh {
    let infos = node_infos(nodes, |i| (format!("pi-{i}"), ZONE.into()));
    let config = MeshConfig::shipped(START_MS);
    let mut mesh = Mesh::new(infos, 1, config, NetworkConfig::default(), seed);
    mesh.start(0, &[]);
    for n in 1..nodes {
        mesh.run_for(Duration::from_millis(200));
        mesh.start(n, &[n - 1]);
    }
    mesh.attach(0, 0);
    mesh.run_for(Duration::from_secs(5));
    mesh
}

/// What node `n` would regulate to at `wall_ms`, from its own replica.
fn effective(mesh: &Mesh, n: usize, wall_ms: i64) -> Effective {
    let state = mesh.replica(n).expect("live").state();
    resolve(
        &ZoneProgram::from_state(state, ZONE),
        &TimeZone::UTC,
        wall_ms,
        None,
        None,
    )
}

fn write_schedule(mesh: &mut Mesh) {
    let schedule = schedule_syntax::parse(PROGRAM, "alice").unwrap();
    mesh.observer_write_program(0, move |state, writer, ms| {
        state.set_schedule(writer, ms, ZONE.into(), schedule)
    })
    .expect("attached");
}

/// Local wall time `day` days after Monday at `hh:mm`.
fn at(day: i64, hh: i64, mm: i64) -> i64 {
    let monday = START_MS as i64 - (6 * 60 + 50) * MIN;
    monday + ((day * 24 + hh) * 60 + mm) * MIN
}

#[test]
fn a_boost_ends_on_every_node_at_the_same_moment_without_a_write() {
    let mut mesh = office(6, 11);
    write_schedule(&mut mesh);
    let expires = at(0, 7, 30);
    mesh.observer_write_program(0, move |state, writer, ms| {
        state.set_override(
            writer,
            ms,
            ZONE.into(),
            OverrideValue {
                celsius: Some(23.0),
                expires_at_ms: Some(expires as u64),
                set_by: "alice".into(),
            },
        )
    })
    .expect("attached");
    mesh.run_for(Duration::from_secs(10));
    assert_eq!(mesh.observer(0).programs_stored.len(), 2);
    let counters: Vec<_> = (0..6)
        .map(|n| mesh.replica(n).unwrap().state().version_vector().clone())
        .collect();
    for n in 0..6 {
        let before = effective(&mesh, n, expires - 1);
        assert_eq!(
            (before.level, before.celsius),
            (Level::Override, Some(23.0)),
            "node {n}"
        );
        assert_eq!(
            before.next_change_ms,
            Some(expires),
            "node {n} wakes at the expiry"
        );
        let after = effective(&mesh, n, expires);
        assert_eq!(
            (after.level, after.celsius),
            (Level::Schedule, Some(21.0)),
            "node {n}"
        );
    }
    // Nothing was written for the boost to end: every node still holds
    // the override, and the same state as before.
    for (n, vv) in counters.iter().enumerate() {
        let state = mesh.replica(n).unwrap().state();
        assert!(state.override_of(ZONE).is_some());
        assert_eq!(state.version_vector(), vv);
    }
}

#[test]
fn a_schedule_written_on_one_side_of_a_partition_is_followed_on_both_after_the_heal() {
    let mut mesh = office(6, 12);
    // Nodes 0–2 and the observer on one side, 3–5 on the other.
    mesh.partition(vec![0, 0, 0, 1, 1, 1, 0]);
    mesh.run_for(Duration::from_secs(5));
    write_schedule(&mut mesh);
    mesh.run_for(Duration::from_secs(10));
    for n in 0..3 {
        let e = effective(&mesh, n, at(0, 7, 30));
        assert_eq!(
            (e.level, e.celsius),
            (Level::Schedule, Some(21.0)),
            "node {n}"
        );
    }
    for n in 3..6 {
        let e = effective(&mesh, n, at(0, 7, 30));
        assert_eq!(e.level, Level::Safety, "node {n} has no program yet");
    }
    mesh.heal();
    mesh.run_for(Duration::from_secs(60));
    for n in 0..6 {
        for (when, celsius) in [
            (at(0, 7, 30), 21.0),
            (at(0, 18, 30), 17.0),
            (at(5, 10, 0), 8.0),
        ] {
            let e = effective(&mesh, n, when);
            assert_eq!(
                (e.level, e.celsius),
                (Level::Schedule, Some(celsius)),
                "node {n}"
            );
        }
    }
}

#[test]
fn a_node_cut_off_keeps_following_its_schedule() {
    let mut mesh = office(5, 13);
    write_schedule(&mut mesh);
    mesh.run_for(Duration::from_secs(10));
    // Node 4 alone, for a virtual hour.
    mesh.partition(vec![0, 0, 0, 0, 1, 0]);
    mesh.run_for(Duration::from_secs(3600));
    // Walk a week of switches on the cut-off node's own replica, as its
    // thermostat wakes at each `next_change_ms`, and on a connected one.
    let walk = |n: usize| {
        let mut switches = Vec::new();
        let mut now = START_MS as i64;
        while now < at(7, 6, 50) {
            let e = effective(&mesh, n, now);
            switches.push(((now - at(0, 0, 0)) / MIN, e.celsius));
            now = e.next_change_ms.expect("a schedule always switches again");
        }
        switches
    };
    let cut_off = walk(4);
    assert_eq!(cut_off, walk(0));
    assert_eq!(cut_off[1], (7 * 60, Some(21.0)), "Monday 07:00 comfort");
    assert_eq!(cut_off[2], (18 * 60, Some(17.0)), "Monday 18:00 eco");
    assert_eq!(
        cut_off[0],
        (6 * 60 + 50, Some(8.0)),
        "the weekend holds until 07:00"
    );
    assert!(
        cut_off.contains(&(5 * 24 * 60, Some(8.0))),
        "Saturday 00:00 away: {cut_off:?}"
    );
    assert_eq!(
        cut_off.len(),
        13,
        "the start, ten weekday switches, Saturday and Sunday: {cut_off:?}"
    );
}

#[test]
fn an_observer_fetches_another_nodes_history_through_its_own_node() {
    let mut mesh = office(6, 14);
    let history = Arc::new(Mutex::new(ZoneHistory::new(Some(1.5))));
    {
        let mut h = history.lock().unwrap();
        for i in 0..40 {
            let ms = START_MS as i64 + i * MIN;
            h.temperature(ms, 19.0 + i as f64 * 0.05);
            h.heating(ms, i % 10 < 6, Some(21.0), Level::Schedule);
        }
    }
    mesh.set_history(4, history.clone());
    let far = mesh.replica(4).unwrap().id();
    let near = mesh.replica(0).unwrap().id();
    let first = mesh.observer_history(0, far, 0).expect("attached");
    mesh.run_for(Duration::from_secs(2));
    let second = mesh.observer_history(0, near, 0).expect("attached");
    mesh.run_for(Duration::from_secs(2));
    let answers = &mesh.observer(0).histories;
    assert_eq!(answers.len(), 2, "one answer per request");
    let (request, node, answer) = &answers[0];
    assert_eq!((*request, *node), (first, far));
    assert_eq!(answer, &history.lock().unwrap().answer(0));
    assert_eq!(answer.points.len(), 8, "40 minutes in 5-minute points");
    assert_eq!(answer.power_w, Some(1500));
    let (request, node, answer) = &answers[1];
    assert_eq!((*request, *node), (second, near));
    assert!(answer.unavailable, "node 0 keeps no history");
}
