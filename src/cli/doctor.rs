//! `officemesh doctor --config PATH [--json]`: checks a Pi's setup, one
//! line per check; exits 0 only when every check passes.

use std::path::PathBuf;

use anyhow::Context;
use officemesh::doctor::{self, Status};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The node's TOML configuration.
    #[arg(long, default_value = "/etc/officemesh/config.toml")]
    pub config: PathBuf,
    /// The data directory the node is started with, if not from the config.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the report as JSON: {"config", "settings": [{"key", "value",
    /// "from"}], "checks": [{"name", "status", "detail", "fix"}], "ok"}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(doctor::run(&args.config, args.data_dir.as_deref()));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        if !report.settings.is_empty() {
            println!("settings ({}):", report.config.display());
            for s in &report.settings {
                println!("  {:<30} {:<40} from {:?}", s.key, s.value, s.from);
            }
            println!();
        }
        for check in &report.checks {
            match check.status {
                Status::Pass => println!("ok    {}: {}", check.name, check.detail),
                Status::Fail => println!(
                    "FAIL  {}: {} → {}",
                    check.name,
                    check.detail,
                    check.fix.as_deref().unwrap_or_default()
                ),
            }
        }
        let failed = report
            .checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .count();
        match failed {
            0 => println!("\nall {} checks passed", report.checks.len()),
            n => println!("\n{n} of {} checks failed", report.checks.len()),
        }
    }
    if !report.ok {
        std::process::exit(1);
    }
    Ok(())
}
