//! The `officemesh` command: one binary for the node, the TUI, the demo and
//! the tools around them.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use officemesh::net::ClusterKey;
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Keygen { out } => keygen(out),
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
