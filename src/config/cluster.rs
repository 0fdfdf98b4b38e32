//! `[cluster]`: the shared key and where to find the overlay.

use std::path::PathBuf;

use serde::Deserialize;

/// File name of the cluster key when `key_file` is not set, inside the
/// data directory.
pub const DEFAULT_KEY_FILE: &str = "cluster.key";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// The cluster key written by `officemesh keygen`; relative paths are
    /// taken from the configuration file's directory.
    pub key_file: Option<PathBuf>,
    /// Nodes to join through, as `host:port`.
    pub seeds: Vec<String>,
}

/// Checks that a seed looks like `host:port`; the host is resolved when
/// the node dials it, since names may only resolve later on.
pub(crate) fn check_seed(seed: &str) -> Result<(), String> {
    let Some((host, port)) = seed.rsplit_once(':') else {
        return Err(format!("`{seed}` is not host:port"));
    };
    if host.trim_matches(|c| c == '[' || c == ']').is_empty() {
        return Err(format!("`{seed}` has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p != 0 => Ok(()),
        _ => Err(format!("`{seed}` has no valid port (1-65535)")),
    }
}
