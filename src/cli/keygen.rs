//! `officemesh keygen`: a new cluster pre-shared key.

use std::path::PathBuf;

use anyhow::Context;
use officemesh::net::ClusterKey;

pub fn run(out: Option<PathBuf>) -> anyhow::Result<()> {
    let key = ClusterKey::generate();
    match out {
        Some(path) => {
            key.write_new(&path)
                .with_context(|| format!("writing the cluster key to {}", path.display()))?;
            eprintln!(
                "wrote a new cluster key (fingerprint {}) to {}; copy it to every node (mode 0600)",
                key.fingerprint(),
                path.display()
            );
        }
        None => print!("{}", key.to_text()),
    }
    Ok(())
}
