//! The `officemesh` command: one binary for the node, the TUI, the demo and
//! the tools around them.

mod cli;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use officemesh::net::ClusterKey;
use officemesh::proto::BroadcastMode;
use officemesh::sim::{Latency, Options, Scenario};
use tracing_subscriber::EnvFilter;

/// A smart-office mesh for Raspberry Pis.
#[derive(Debug, Parser)]
#[command(name = "officemesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new cluster key (32 random bytes as hex, mode 0600). Every
    /// node and observer of one office needs a copy of the same key.
    Keygen {
        /// The file to write; the key is printed when absent. An existing
        /// file is never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the deterministic simulator: thousands of nodes in virtual time.
    Sim(SimArgs),
    /// Run a node: join the overlay, keep the office state, until SIGTERM.
    Node(cli::node::NodeArgs),
    /// Show the office: nodes, sensors, actuators, targets, version vectors.
    Status(cli::status::StatusArgs),
    /// Write a value into the office state.
    Set {
        #[command(subcommand)]
        what: cli::set::SetWhat,
    },
}

#[derive(Debug, clap::Args)]
struct SimArgs {
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
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScenarioArg {
    Single,
    Random,
    Glomers,
    Failure,
    Office,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProtocolArg {
    Plumtree,
    Flood,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Keygen { out } => keygen(out),
        Command::Sim(args) => sim(args),
        Command::Node(args) => cli::node::run(args),
        Command::Status(args) => cli::status::run(args),
        Command::Set { what } => cli::set::run(what),
    }
}

fn keygen(out: Option<PathBuf>) -> anyhow::Result<()> {
    let key = ClusterKey::generate();
    match out {
        Some(path) => {
            key.write_new(&path)
                .with_context(|| format!("writing the cluster key to {}", path.display()))?;
            eprintln!(
                "wrote a new cluster key to {}; copy it to every node (mode 0600)",
                path.display()
            );
        }
        None => print!("{}", key.to_text()),
    }
    Ok(())
}

fn sim(args: SimArgs) -> anyhow::Result<()> {
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
