//! Faults a scenario or a test injects: crash, graceful leave, restart,
//! partition and heal, and churn as a schedule of them.

use std::time::Duration;

use rand::Rng;
use rand::seq::SliceRandom;

use super::simulator::Simulator;
use crate::time::Time;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    Crash(usize),
    Leave(usize),
    /// Start the node again (a fresh process) joining through live contacts.
    Restart(usize),
    /// Split the nodes into two random halves.
    PartitionHalves,
    Heal,
}

impl Fault {
    /// Applies the fault now. Restarted nodes join through up to three
    /// random live nodes.
    pub fn apply(&self, sim: &mut Simulator) {
        match *self {
            Fault::Crash(n) => sim.crash(n),
            Fault::Leave(n) => sim.leave(n),
            Fault::Restart(n) => {
                let mut live = sim.live_nodes();
                live.retain(|&l| l != n);
                live.shuffle(sim.rng());
                live.truncate(3);
                sim.start(n, &live);
            }
            Fault::PartitionHalves => {
                let mut order: Vec<usize> = (0..sim.len()).collect();
                order.shuffle(sim.rng());
                let mut side = vec![0u8; sim.len()];
                for &n in &order[..sim.len() / 2] {
                    side[n] = 1;
                }
                sim.partition(side);
            }
            Fault::Heal => sim.heal(),
        }
    }
}

/// Churn: over `span` from `start`, `events` times a random node crashes
/// (or, one time in four, leaves gracefully) and comes back `downtime` later.
pub fn churn(
    rng: &mut impl Rng,
    nodes: usize,
    start: Time,
    span: Duration,
    events: usize,
    downtime: Duration,
) -> Vec<(Time, Fault)> {
    let mut schedule = Vec::with_capacity(events * 2);
    for _ in 0..events {
        let at = start + Duration::from_micros(rng.random_range(0..span.as_micros().max(1) as u64));
        let node = rng.random_range(0..nodes);
        let down = if rng.random_range(0..4) == 0 {
            Fault::Leave(node)
        } else {
            Fault::Crash(node)
        };
        schedule.push((at, down));
        schedule.push((at + downtime, Fault::Restart(node)));
    }
    schedule.sort_by_key(|(at, _)| *at);
    schedule
}

/// Runs `sim`, applying each fault at its time.
pub fn run_schedule(sim: &mut Simulator, schedule: &[(Time, Fault)]) {
    for (at, fault) in schedule {
        sim.run_until(*at);
        fault.apply(sim);
    }
}
