//! Growing a stable overlay before measuring anything.

use std::time::Duration;

use rand::Rng;

use crate::sim::simulator::Simulator;

/// Time between two joins: nodes arrive one after another, as in the
/// papers' experiments, each through a random node already in.
const JOIN_INTERVAL: Duration = Duration::from_millis(5);

/// How long the overlay runs after the last join before anything is
/// measured: four default shuffle periods, so passive views fill up and
/// the slots that joins left free pair up (each new link carries one
/// duplicate of the next broadcast before it is pruned, so links still
/// forming would be counted in a steady-state RMR).
const SETTLE: Duration = Duration::from_secs(40);

/// Starts every node of `sim`, node 0 alone and each next one through a
/// random earlier node, then lets the overlay settle.
pub fn grow(sim: &mut Simulator) {
    sim.start(0, &[]);
    for i in 1..sim.len() {
        sim.run_for(JOIN_INTERVAL);
        let contact = sim.rng().random_range(0..i);
        sim.start(i, &[contact]);
    }
    sim.run_for(SETTLE);
}
