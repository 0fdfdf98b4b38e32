//! `officemesh bench --nodes N [--updates K] [--sensors] [--json]`: N real
//! node processes on 127.0.0.2.. measured from outside (see
//! `officemesh::bench`).

use std::time::Duration;

use anyhow::Context;
use officemesh::bench::{self, BenchOptions};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// How many node processes to start.
    #[arg(long, default_value_t = 50)]
    pub nodes: usize,
    /// How many target writes to time.
    #[arg(long, default_value_t = 20)]
    pub updates: usize,
    /// Milliseconds between two writes.
    #[arg(long, default_value_t = 200)]
    pub spacing_ms: u64,
    /// Seconds of the quiet window the idle figures come from (default 30;
    /// 120 with --sensors).
    #[arg(long)]
    pub idle_secs: Option<u64>,
    /// Every node measures a simulated room and publishes a reading each
    /// default sensor interval: the quiet window becomes a working office.
    #[arg(long)]
    pub sensors: bool,
    /// Plumtree's batching window on every node, in ms (0: off; default:
    /// the node's default).
    #[arg(long)]
    pub batch_window_ms: Option<u64>,
    /// Messages a quiet link sends at once before batching, on every node
    /// (default: the node's default).
    #[arg(long)]
    pub batch_burst: Option<u32>,
    /// Keep the scratch directory (configs, node logs) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Instead of a cluster: time signing and checking N target writes in
    /// this process, and exit.
    #[arg(long, value_name = "N")]
    pub signing: Option<usize>,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if let Some(writes) = args.signing {
        let report = bench::signing::measure(writes);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", report.text());
        }
        return Ok(());
    }
    let exe = std::env::current_exe().context("locating the officemesh executable")?;
    let mut options = BenchOptions::new(exe, args.nodes);
    options.updates = args.updates;
    options.spacing = Duration::from_millis(args.spacing_ms);
    options.sensors = args.sensors;
    options.batch_window_ms = args.batch_window_ms;
    options.batch_burst = args.batch_burst;
    options.idle = match args.idle_secs {
        Some(secs) => Duration::from_secs(secs),
        None if args.sensors => bench::WORKING_IDLE,
        None => options.idle,
    };
    options.keep_dir = args.keep;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        // Dropping the benchmark's future kills every node it started.
        tokio::select! {
            report = bench::run(&options) => Ok(report?),
            _ = term.recv() => anyhow::bail!("interrupted (SIGTERM); nodes stopped"),
            _ = int.recv() => anyhow::bail!("interrupted (SIGINT); nodes stopped"),
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
