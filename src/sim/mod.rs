//! The deterministic discrete-event simulators: thousands of protocol
//! instances ([`crate::proto::Overlay`]) on one virtual network
//! ([`Simulator`]), and the shipped node's replica cores with attached
//! observers, connections and disks ([`Mesh`]).
//!
//! Virtual time, a per-link latency (fixed, or drawn once per link from a
//! range), message loss, partitions and heal, crash, graceful leave,
//! restart and churn. Everything random comes from the seed and ties are
//! broken by scheduling order, so the same seed gives byte-identical
//! output. This is how the project tests 10,000-node overlays on a 2-core
//! machine, and how it reproduces the HyParView and Plumtree experiments.

pub mod fault;
pub mod flood_bound;
pub mod invariants;
pub mod mesh;
pub mod metrics;
pub mod network;
#[cfg(test)]
mod partition_heal;
pub mod quantiles;
pub mod report;
pub mod scenario;
pub mod sim_observer;
pub mod simulator;

pub use fault::Fault;
pub use mesh::Mesh;
pub use network::{Latency, NetworkConfig};
pub use report::Report;
pub use scenario::{Options, Scenario, ScenarioError};
pub use simulator::Simulator;
