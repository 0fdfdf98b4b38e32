//! The `officemesh` command: one binary for the node, the TUI, the demo and
//! the tools around them.

use clap::Parser;

/// A smart-office mesh for Raspberry Pis.
#[derive(Debug, Parser)]
#[command(name = "officemesh", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
