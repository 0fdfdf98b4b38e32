//! The experiments `officemesh sim` runs, each a function from [`Options`]
//! to a [`Report`].
//!
//! - `single`: one sender, the Plumtree paper's setting (SRDS 2007 §4);
//! - `random`: a random sender per broadcast;
//! - `glomers`: the distributed-systems challenge's broadcast workload;
//! - `failure`: a stable overlay, then a mass crash (HyParView §5.2).

mod bootstrap;
mod dissemination;
mod failure;
mod glomers;
mod office;
mod settling;

use std::time::Duration;

use bytes::Bytes;

pub use bootstrap::grow;
pub use office::OfficeFigures;

use super::metrics::MessageCounters;
use super::network::{Latency, NetworkConfig};
use super::report::Report;
use super::simulator::Simulator;
use crate::proto::{BroadcastMode, Config};

/// Which experiment to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Single,
    Random,
    Glomers,
    Failure,
    /// Every node holds an office state: writes, partition, crash-restart.
    Office,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Single => "single",
            Scenario::Random => "random",
            Scenario::Glomers => "glomers",
            Scenario::Failure => "failure",
            Scenario::Office => "office",
        }
    }
}

/// What the command line may set; `None` takes the scenario's default.
#[derive(Clone, Debug)]
pub struct Options {
    pub scenario: Scenario,
    pub nodes: Option<usize>,
    pub broadcasts: Option<usize>,
    pub protocol: BroadcastMode,
    pub latency: Option<Latency>,
    pub loss: f64,
    /// `failure`: the fractions of nodes to crash; several give a table.
    pub fail_fractions: Vec<f64>,
    pub seed: u64,
    /// `glomers`: add the partition nemesis; `office`: cut the network in
    /// halves during the write phase.
    pub partition: bool,
    /// `office`: observers besides the nodes (default 2).
    pub observers: Option<usize>,
    /// `office`: fraction of nodes that crash and restart from durable state.
    pub crash: Option<f64>,
    /// Plumtree's batching window (`None`: the protocol's default).
    pub batch_window: Option<Duration>,
    /// Plumtree's batching burst (`None`: the protocol's default).
    pub batch_burst: Option<u32>,
    /// Plumtree's IHAVE batching interval (`None`: the protocol's default).
    pub ihave_interval: Option<Duration>,
    /// Plumtree's GRAFT timeout (`None`: the protocol's default).
    pub graft_timeout: Option<Duration>,
}

impl Options {
    pub fn new(scenario: Scenario) -> Self {
        Options {
            scenario,
            nodes: None,
            broadcasts: None,
            protocol: BroadcastMode::Plumtree,
            latency: None,
            loss: 0.0,
            fail_fractions: Vec::new(),
            seed: 1,
            partition: false,
            observers: None,
            crash: None,
            batch_window: None,
            batch_burst: None,
            ihave_interval: None,
            graft_timeout: None,
        }
    }

    fn protocol_name(&self) -> &'static str {
        match self.protocol {
            BroadcastMode::Plumtree => "plumtree",
            BroadcastMode::Flood => "flood",
        }
    }

    fn network(&self, default_latency: Latency) -> NetworkConfig {
        NetworkConfig {
            latency: self.latency.unwrap_or(default_latency),
            loss: self.loss,
            ..NetworkConfig::default()
        }
    }

    fn overlay_config(&self) -> Config {
        let mut config = Config {
            broadcast: self.protocol,
            ..Config::default()
        };
        if let Some(window) = self.batch_window {
            config.plumtree.batch_window = window;
        }
        if let Some(burst) = self.batch_burst {
            config.plumtree.batch_burst = burst.max(1);
        }
        if let Some(interval) = self.ihave_interval {
            config.plumtree.ihave_interval = interval;
        }
        if let Some(timeout) = self.graft_timeout {
            config.plumtree.graft_timeout = timeout;
        }
        config
    }
}

/// Options that cannot give a meaningful run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ScenarioError {
    #[error("--nodes must be at least 2 (got {0})")]
    TooFewNodes(usize),
    #[error("--loss must be in [0, 1) (got {0})")]
    Loss(f64),
    #[error("--fail-fraction must be in [0, 1) (got {0})")]
    FailFraction(f64),
}

/// Runs the scenario `options` names.
pub fn run(options: &Options) -> Result<Report, ScenarioError> {
    if let Some(n) = options.nodes
        && n < 2
    {
        return Err(ScenarioError::TooFewNodes(n));
    }
    if !(0.0..1.0).contains(&options.loss) {
        return Err(ScenarioError::Loss(options.loss));
    }
    if let Some(f) = options.crash.filter(|f| !(0.0..1.0).contains(f)) {
        return Err(ScenarioError::FailFraction(f));
    }
    if let Some(&f) = options
        .fail_fractions
        .iter()
        .find(|f| !(0.0..1.0).contains(*f))
    {
        return Err(ScenarioError::FailFraction(f));
    }
    Ok(match options.scenario {
        Scenario::Single => dissemination::run(options, false),
        Scenario::Random => dissemination::run(options, true),
        Scenario::Glomers => glomers::run(options),
        Scenario::Failure => failure::run(options),
        Scenario::Office => office::run(options),
    })
}

/// The default link latency of the Plumtree experiments: each link's
/// one-way latency drawn once from 10..50 ms.
const PAPER_LATENCY: Latency = Latency::Uniform {
    min: Duration::from_millis(10),
    max: Duration::from_millis(50),
};

/// A broadcast's payload: its sequence number, padded to the size of a
/// small CRDT delta.
/// The report common to every scenario: the broadcasts at `measured`, the
/// messages counted since `before`, judged against the nodes live now.
fn measured_report(
    scenario: &str,
    options: &Options,
    nodes: usize,
    latency: String,
    sim: &Simulator,
    measured: &[usize],
    before: &MessageCounters,
) -> Report {
    let counters = sim.metrics().counters().since(before);
    let live = sim.live_mask();
    let records: Vec<_> = measured.iter().map(|&i| sim.metrics().record(i)).collect();
    let mut report = Report::from_records(
        scenario,
        options.protocol_name(),
        nodes,
        options.seed,
        latency,
        options.loss,
        &records,
        &live,
        &counters,
    );
    report.virtual_ms = sim.now().as_millis();
    report.events = sim.steps();
    report
}

fn payload(n: u64) -> Bytes {
    let mut p = vec![0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&n.to_be_bytes());
    Bytes::from(p)
}

/// Bytes of every simulated broadcast payload (about one sensor delta).
const PAYLOAD_LEN: usize = 64;
