//! The `officemesh` command: one binary for the node, the TUI, the demo and
//! the tools around them.

mod cli;

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use officemesh::service::log_format::LogStyle;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A smart-office mesh for Raspberry Pis.
#[derive(Debug, Parser)]
#[command(name = "officemesh", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a simulated office on loopback (nodes, thermometers, heaters,
    /// rooms) and open the TUI on it.
    Demo(cli::demo::DemoArgs),
    /// Write a new cluster key (32 random bytes as hex, mode 0600). Every
    /// node and observer of one office needs a copy of the same key.
    Keygen {
        /// The file to write; the key is printed when absent. An existing
        /// file is never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The cluster keys this machine accepts and the one it dials with:
    /// rotate the cluster key without downtime (install, use, remove).
    Keyring {
        #[command(subcommand)]
        command: cli::keyring::KeyringCommand,
    },
    /// Run the deterministic simulator: thousands of nodes in virtual time.
    Sim(cli::sim::SimArgs),
    /// Run a node: join the overlay, keep the office state, until SIGTERM.
    Node(cli::node::NodeArgs),
    /// Show the office: nodes, sensors, actuators, targets, version vectors.
    Status(cli::status::StatusArgs),
    /// Start N node processes on loopback and measure convergence, traffic,
    /// memory and CPU.
    Bench(cli::bench::BenchArgs),
    /// Run N node processes for minutes under churn (kills, restarts,
    /// freezes) and writing observers; report memory over time, traffic,
    /// disk writes and convergence.
    Soak(cli::soak::SoakArgs),
    /// Open the live view of the office and set targets interactively.
    Tui(cli::tui::TuiArgs),
    /// Connect the office to other systems (Home Assistant through MQTT).
    Bridge {
        #[command(subcommand)]
        kind: cli::bridge::BridgeKind,
    },
    /// Write a value into the office state.
    Set {
        #[command(subcommand)]
        what: cli::set::SetWhat,
    },
    /// Check this machine's setup for a node: config, keys, data
    /// directory, devices, clock, seeds. Exits 0 only when all pass.
    Doctor(cli::doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::completions::CompletionsArgs),
    /// Print the man page, officemesh(1), in roff.
    Man,
    /// Remove a decommissioned node from the office for good: it
    /// disappears from every replica, and stops if it still runs.
    Forget(cli::forget::ForgetArgs),
    /// Show, set or clear a zone's heating schedule.
    Schedule {
        #[command(subcommand)]
        command: cli::schedule::ScheduleCommand,
    },
    /// Set what a zone's comfort, eco or away preset means.
    Preset {
        #[command(subcommand)]
        command: cli::preset::PresetCommand,
    },
    /// Print this observer's id and public key, and the
    /// `[[cluster.operators]]` entry that lets it write.
    Whoami(cli::whoami::WhoamiArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match &cli.command {
        Command::Demo(args) => args.default_log_filter(),
        _ => "info",
    };
    // `RUST_LOG` as `target=level` directives (`warn,officemesh::sent=trace`):
    // they alone decide, so the formatter's own ceiling (INFO unless told)
    // is lifted below.
    // per-target levels are all a node's logs need, and `Targets` does
    // without `EnvFilter`'s regex engine, a sizeable part of the binary.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| default_filter.parse().unwrap_or_default());
    // While a TUI is open the terminal belongs to the display: diagnostics
    // go to a file or nowhere.
    let display_log = match &cli.command {
        Command::Tui(args) => Some(args.log.as_deref()),
        Command::Demo(args) if !args.headless => Some(args.log.as_deref()),
        _ => None,
    };
    match display_log {
        Some(path) => {
            let log = match path {
                Some(path) => BoxMakeWriter::new(std::sync::Mutex::new(
                    std::fs::File::create(path)
                        .with_context(|| format!("creating the log file {}", path.display()))?,
                )),
                None => BoxMakeWriter::new(std::io::sink),
            };
            tracing_subscriber::fmt()
                .with_max_level(LevelFilter::TRACE)
                .with_ansi(false)
                .with_writer(log)
                .finish()
                .with(filter)
                .init();
        }
        None => {
            let style = LogStyle::for_stderr();
            let fmt = tracing_subscriber::fmt()
                .with_max_level(LevelFilter::TRACE)
                .with_ansi(style.ansi)
                .with_writer(std::io::stderr);
            if style.timestamps {
                fmt.finish().with(filter).init();
            } else {
                fmt.without_time().finish().with(filter).init();
            }
        }
    }
    match cli.command {
        Command::Demo(args) => cli::demo::run(args),
        Command::Keygen { out } => cli::keygen::run(out),
        Command::Keyring { command } => cli::keyring::run(command),
        Command::Sim(args) => cli::sim::run(args),
        Command::Node(args) => cli::node::run(args),
        Command::Status(args) => cli::status::run(args),
        Command::Tui(args) => cli::tui::run(args),
        Command::Set { what } => cli::set::run(what),
        Command::Forget(args) => cli::forget::run(args),
        Command::Whoami(args) => cli::whoami::run(args),
        Command::Schedule { command } => cli::schedule::run(command),
        Command::Preset { command } => cli::preset::run(command),
        Command::Bench(args) => cli::bench::run(args),
        Command::Soak(args) => cli::soak::run(args),
        Command::Doctor(args) => cli::doctor::run(args),
        Command::Completions(args) => cli::completions::run(args, Cli::command()),
        Command::Man => cli::man::run(Cli::command()),
        Command::Bridge { kind } => cli::bridge::run(kind),
    }
}
