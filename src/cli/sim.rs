//! `officemesh sim`: the deterministic simulator's experiments.

use std::time::Instant;

use clap::ValueEnum;
use officemesh::proto::BroadcastMode;
use officemesh::sim::{Latency, Options, Scenario};

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// The experiment to run.
    #[arg(long, value_enum, default_value_t = ScenarioArg::Single)]
    scenario: ScenarioArg,
    /// Number of nodes (default: 100; glomers 25; failure 10,000).
    #[arg(long)]
    nodes: Option<usize>,
    /// Measured broadcasts (failure: rounds after the crash). Default 20; failure 30.
    #[arg(long)]
    broadcasts: Option<usize>,
    /// Broadcast protocol over the HyParView overlay.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Plumtree)]
    protocol: ProtocolArg,
    /// One-way link latency in ms: fixed `MS`, or `MIN..MAX` drawn once per link
    /// (default 10..50; glomers 100).
    #[arg(long)]
    latency_ms: Option<Latency>,
    /// Probability that a message is lost.
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Fraction of nodes to crash (failure); a comma-separated list gives a table.
    #[arg(long, value_delimiter = ',')]
    fail_fraction: Vec<f64>,
    /// Seed of every random choice: the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Add the partition nemesis (glomers); cut the network in halves (office).
    #[arg(long)]
    partition: bool,
    /// Observers besides the nodes (office; default 2).
    #[arg(long)]
    observers: Option<usize>,
    /// Fraction of nodes that crash and restart from durable state (office).
    #[arg(long)]
    crash: Option<f64>,
    /// Plumtree's batching window in ms (0: every payload leaves at once;
    /// default: the protocol's).
    #[arg(long)]
    batch_window_ms: Option<u64>,
    /// Messages a quiet link sends at once before batching (default: the
    /// protocol's).
    #[arg(long)]
    batch_burst: Option<u32>,
    /// Plumtree's IHAVE interval in ms: how long announcements to lazy
    /// peers queue before they leave (default: the protocol's).
    #[arg(long)]
    ihave_interval_ms: Option<u64>,
    /// Plumtree's GRAFT timeout in ms: how long a node waits for a message
    /// announced by IHAVE before asking for it (default: the protocol's).
    #[arg(long)]
    graft_timeout_ms: Option<u64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScenarioArg {
    Single,
    Random,
    Glomers,
    Failure,
    Office,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ProtocolArg {
    Plumtree,
    Flood,
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    let scenario = match args.scenario {
        ScenarioArg::Single => Scenario::Single,
        ScenarioArg::Random => Scenario::Random,
        ScenarioArg::Glomers => Scenario::Glomers,
        ScenarioArg::Failure => Scenario::Failure,
        ScenarioArg::Office => Scenario::Office,
    };
    let options = Options {
        nodes: args.nodes,
        broadcasts: args.broadcasts,
        protocol: match args.protocol {
            ProtocolArg::Plumtree => BroadcastMode::Plumtree,
            ProtocolArg::Flood => BroadcastMode::Flood,
        },
        latency: args.latency_ms,
        loss: args.loss,
        fail_fractions: args.fail_fraction,
        seed: args.seed,
        partition: args.partition,
        observers: args.observers,
        crash: args.crash,
        batch_window: args.batch_window_ms.map(std::time::Duration::from_millis),
        batch_burst: args.batch_burst,
        ihave_interval: args.ihave_interval_ms.map(std::time::Duration::from_millis),
        graft_timeout: args.graft_timeout_ms.map(std::time::Duration::from_millis),
        ..Options::new(scenario)
    };
    let started = Instant::now();
    let mut report = officemesh::sim::scenario::run(&options)?;
    report.wall_ms = started.elapsed().as_millis() as u64;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    Ok(())
}
