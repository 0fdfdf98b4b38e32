//! `officemesh tui [--connect ADDR] [--config PATH]`: the operator's live
//! view of the office, attached to one node as a passive peer.

use std::path::PathBuf;

use anyhow::Context;
use officemesh::config::TargetsSection;
use officemesh::tui::live::{self, LiveOptions};
use officemesh::tui::{TargetLimits, TargetRange};

use super::attach::{AttachArgs, resolve, runtime};

#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    #[command(flatten)]
    pub attach: AttachArgs,
    /// Write diagnostics to this file (the terminal belongs to the display).
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// The dialog's ranges: exactly what nodes accept (`[targets]` in the
/// config), so a value the dialog allows is never rejected for its range.
pub fn target_limits(targets: &TargetsSection) -> TargetLimits {
    let t = &targets.temperature;
    let mut limits = TargetLimits::default();
    limits.0.insert(
        "temperature".to_string(),
        TargetRange {
            min: t.min,
            max: t.max,
            step: t.step,
            unit: "°C".to_string(),
        },
    );
    limits
}

pub fn run(args: TuiArgs) -> anyhow::Result<()> {
    let target = resolve(&args.attach)?;
    let options = LiveOptions {
        connect: target.addrs,
        cluster_key: target.cluster_key,
        identity_dir: target.observer_dir,
        limits: target_limits(&target.config.targets),
        time_zone: target.config.office.time_zone()?,
        trust: target.config.cluster.trust().map_err(anyhow::Error::msg)?,
    };
    runtime()?
        .block_on(live::run(options))
        .context("running the TUI")
}
