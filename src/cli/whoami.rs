//! `officemesh whoami`: this observer's identity, and the operators-list
//! entry that lets it write.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use officemesh::observer::{ObserverIdentity, identity};

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// The observer's identity directory (default: the per-user data
    /// directory the TUI, `set` and `status` use).
    #[arg(long)]
    pub observer_dir: Option<PathBuf>,
    /// The name to print in the entry (default: `user@host`).
    #[arg(long)]
    pub name: Option<String>,
}

pub fn run(args: WhoamiArgs) -> anyhow::Result<()> {
    let dir = match args.observer_dir {
        Some(dir) => dir,
        None => {
            identity::default_dir().context("no per-user data directory; pass --observer-dir")?
        }
    };
    let identity = ObserverIdentity::load_or_generate(&dir)?;
    let key = identity.keypair.write_key();
    let name = args.name.unwrap_or_else(officemesh::config::operator_label);
    println!("id:         {}", key.id());
    println!("public key: {}", key.public().to_hex());
    println!();
    println!("# Add to [cluster] in every node's config to let this observer write:");
    println!("[[cluster.operators]]");
    println!("name = {name:?}");
    println!("key = \"{}\"", key.public().to_hex());
    Ok(())
}
