//! `[cluster]`: the shared key and where to find the overlay.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};

use crate::crdt::PublicKey;
use crate::node_id::NodeId;
use crate::replica::admission::MAX_LABEL_LEN;
use crate::replica::authorship::{Operator, Trust};

/// File name of the cluster key when `key_file` is not set, inside the
/// data directory.
pub const DEFAULT_KEY_FILE: &str = "cluster.key";

/// Directory of the keyring when `keyring_dir` is not set, inside the data
/// directory.
pub const DEFAULT_KEYRING_DIR: &str = "keyring";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSection {
    /// The cluster key written by `officemesh keygen`; relative paths are
    /// taken from the configuration file's directory.
    pub key_file: Option<PathBuf>,
    /// The keyring (`officemesh keyring install|use|remove`): once it holds
    /// a key, it replaces `key_file`. Relative paths are taken from the
    /// configuration file's directory.
    pub keyring_dir: Option<PathBuf>,
    /// Nodes to join through, as `host:port`.
    pub seeds: Vec<String>,
    /// Replicas (16-hex-digit node ids) whose handshakes are refused, and
    /// whose open links are closed on a reload.
    #[serde(deserialize_with = "node_ids")]
    pub revoked: BTreeSet<NodeId>,
    /// The observers allowed to write targets and the heating program and
    /// to forget nodes (`officemesh whoami` prints an entry). Empty: any
    /// holder of the cluster key may.
    pub operators: Vec<OperatorEntry>,
}

/// One `[[cluster.operators]]` entry.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorEntry {
    /// Shown as who set a target.
    pub name: String,
    /// The operator's public key, 64 hex digits.
    pub key: String,
}

impl ClusterSection {
    /// The operators and the revoked replicas, as the replica core takes
    /// them.
    pub fn trust(&self) -> Result<Trust, String> {
        let mut trust = Trust {
            revoked: self.revoked.clone(),
            ..Trust::default()
        };
        for entry in &self.operators {
            if entry.name.is_empty() || entry.name.len() > MAX_LABEL_LEN {
                return Err(format!(
                    "operator name `{}` must be 1 to {MAX_LABEL_LEN} bytes",
                    entry.name
                ));
            }
            let key = PublicKey::from_hex(&entry.key).ok_or_else(|| {
                format!(
                    "operator `{}`: `{}` is not a public key (64 hex digits, as `officemesh whoami` prints)",
                    entry.name, entry.key
                )
            })?;
            let id = key
                .node_id()
                .ok_or_else(|| format!("operator `{}`: not a valid key", entry.name))?;
            trust.operators.insert(
                id,
                Operator {
                    name: entry.name.clone(),
                    key,
                },
            );
        }
        Ok(trust)
    }
}

/// Node ids as their 16-hex-digit text, the way `status` prints them.
fn node_ids<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeSet<NodeId>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|t| t.trim().parse::<NodeId>().map_err(serde::de::Error::custom))
        .collect()
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
