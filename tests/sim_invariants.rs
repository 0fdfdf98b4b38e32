//! Invariants of the overlay, checked after every simulated step over
//! random seeds and fault schedules (crash, leave, restart, partition).

use std::time::Duration;

use bytes::Bytes;
use officemesh::proto::Config;
use officemesh::sim::fault::{self, Fault};
use officemesh::sim::invariants::{self, ViewBounds, Violation};
use officemesh::sim::{NetworkConfig, Simulator};
use officemesh::time::Time;
use proptest::prelude::*;
use rand::Rng;

fn bounds(config: &Config) -> ViewBounds {
    let _ = config;
    ViewBounds {
        active: 5,
        passive: 30,
    }
}

/// Runs until `until`, checking the always-true invariants after each step.
fn run_checked(sim: &mut Simulator, until: Time, bounds: ViewBounds) -> Result<(), Violation> {
    while sim.step(until) {
        invariants::check_views(sim, bounds)?;
        invariants::check_at_most_once(sim)?;
    }
    sim.run_until(until);
    Ok(())
}

fn scenario(
    nodes: usize,
    seed: u64,
    churn_events: usize,
    partition: bool,
    loss: f64,
) -> Result<(), Violation> {
    let config = Config::default();
    let bounds = bounds(&config);
    let net = NetworkConfig {
        loss,
        ..NetworkConfig::default()
    };
    let mut sim = Simulator::new(nodes, config, net, seed);

    // Grow the overlay, checking every step.
    sim.start(0, &[]);
    for i in 1..nodes {
        let until = sim.now() + Duration::from_millis(5);
        run_checked(&mut sim, until, bounds)?;
        let contact = sim.rng().random_range(0..i);
        sim.start(i, &[contact]);
    }
    let until = sim.now() + Duration::from_secs(5);
    run_checked(&mut sim, until, bounds)?;

    // Faults, with broadcasts flowing through them.
    let start = sim.now();
    let span = Duration::from_secs(20);
    let mut schedule = fault::churn(
        sim.rng(),
        nodes,
        start,
        span,
        churn_events,
        Duration::from_secs(3),
    );
    if partition {
        schedule.push((start + Duration::from_secs(4), Fault::PartitionHalves));
        schedule.push((start + Duration::from_secs(9), Fault::Heal));
        schedule.sort_by_key(|(at, _)| *at);
    }
    for (at, f) in &schedule {
        run_checked(&mut sim, *at, bounds)?;
        f.apply(&mut sim);
        let live = sim.live_nodes();
        if !live.is_empty() {
            let origin = live[sim.rng().random_range(0..live.len())];
            sim.broadcast(origin, Bytes::from_static(b"during faults"));
        }
    }

    // Quiet again: every node back, the network whole, time to settle.
    sim.heal();
    for n in 0..nodes {
        if !sim.is_live(n) {
            Fault::Restart(n).apply(&mut sim);
        }
    }
    let until = sim.now() + Duration::from_secs(40);
    run_checked(&mut sim, until, bounds)?;
    // A lost DISCONNECT leaves a stale link that TCP (which never loses a
    // message without breaking the connection) would not: symmetry is only
    // promised on a loss-free network.
    if loss == 0.0 {
        invariants::check_symmetry(&sim)?;
    }

    // A broadcast now reaches every live node connected to its origin.
    let live = sim.live_nodes();
    let origin = live[sim.rng().random_range(0..live.len())];
    let b = sim.broadcast(origin, Bytes::from_static(b"after the storm"));
    let until = sim.now() + Duration::from_secs(5);
    run_checked(&mut sim, until, bounds)?;
    if let Some(b) = b
        && loss == 0.0
    {
        invariants::check_delivered_to_component(&sim, b)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn overlay_invariants_hold_under_faults(
        nodes in 6usize..24,
        seed in any::<u64>(),
        churn_events in 0usize..6,
        partition in any::<bool>(),
    ) {
        let result = scenario(nodes, seed, churn_events, partition, 0.0);
        prop_assert!(result.is_ok(), "{:?}", result);
    }
}

#[test]
fn invariants_hold_with_message_loss() {
    // TCP hides loss, but the layers above must still keep their views
    // sound and never deliver twice (delivery itself is not promised).
    let result = scenario(16, 42, 2, false, 0.05);
    assert!(result.is_ok(), "{result:?}");
}
