//! `officemesh soak [--nodes N] [--minutes M] [--json]`: real node
//! processes under churn and writing observers for a bounded time, watched
//! from outside (see `officemesh::bench::soak`).

use std::time::Duration;

use anyhow::Context;
use officemesh::bench::soak::{self, SoakOptions};

#[derive(Debug, clap::Args)]
pub struct SoakArgs {
    /// How many node processes to start (half of them are churned).
    #[arg(long, default_value_t = 20)]
    pub nodes: usize,
    /// How long the churn and the writes go on, in minutes (fractions
    /// allowed).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Seconds of warm-up left out of the memory slope (default: a fifth
    /// of the run, at most 120).
    #[arg(long)]
    pub warm_up_secs: Option<u64>,
    /// Concurrent writers.
    #[arg(long, default_value_t = 3)]
    pub writers: usize,
    /// Mean seconds between two churn events (a kill or a freeze).
    #[arg(long, default_value_t = 8)]
    pub churn_secs: u64,
    /// Seed of the churn and the writers' choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the scratch directory (configs, node logs) afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Print one JSON document (with every memory sample).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SoakArgs) -> anyhow::Result<()> {
    if !(args.minutes > 0.0 && args.minutes.is_finite()) {
        anyhow::bail!("--minutes must be a positive number");
    }
    let exe = std::env::current_exe().context("locating the officemesh executable")?;
    let mut options = SoakOptions::new(
        exe,
        args.nodes,
        Duration::from_secs_f64(args.minutes * 60.0),
    );
    if let Some(secs) = args.warm_up_secs {
        options.warm_up = Duration::from_secs(secs);
    }
    options.writers = args.writers;
    options.churn_every = Duration::from_secs(args.churn_secs.max(1));
    options.seed = args.seed;
    options.keep_dir = args.keep;
    let report = soak::run(&options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    if !report.converged || !report.lost_writes.is_empty() {
        anyhow::bail!("the office did not converge with every acknowledged write");
    }
    Ok(())
}
