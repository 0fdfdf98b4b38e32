//! The cluster key and the node key: present, readable by this user, and
//! unreadable by anyone else. Whoever reads the cluster key can join the
//! office and read its traffic; whoever reads the node key can speak as
//! this node.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::Check;
use crate::net::{ClusterKey, KeyringDir};

/// Checks the cluster keys (every key of the keyring at `keyring_dir`
/// when it holds any, else the key file `cluster_key`) and the node key
/// in `data_dir`.
pub fn check(cluster_key: &Path, keyring_dir: &Path, data_dir: &Path) -> Vec<Check> {
    let keyring = KeyringDir::new(keyring_dir);
    let mut checks = match keyring.entries() {
        Ok(entries) if !entries.is_empty() => entries
            .iter()
            .map(|entry| {
                let what = if entry.primary {
                    "cluster key (keyring, primary)"
                } else {
                    "cluster key (keyring)"
                };
                check_file(&entry.file, what, "", || {
                    ClusterKey::load(&entry.file)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                })
            })
            .collect(),
        Ok(_) => vec![check_file(
            cluster_key,
            "cluster key",
            "write one with `officemesh keygen --out FILE` and copy it to every node",
            || {
                ClusterKey::load(cluster_key)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            },
        )],
        Err(error) => vec![Check::fail(
            format!("keyring {}", keyring_dir.display()),
            error.to_string(),
            "fix it with `officemesh keyring list|use|remove`",
        )],
    };
    let node_key = data_dir.join(crate::net::identity::KEYPAIR_FILE);
    if node_key.exists() {
        checks.push(check_file(&node_key, "node key", "", || Ok(())));
    } else {
        checks.push(Check::pass(
            format!("node key {}", node_key.display()),
            "not created yet: the node writes it (mode 0600) on first start",
        ));
    }
    checks
}

fn check_file(
    path: &Path,
    what: &str,
    create: &str,
    parse: impl FnOnce() -> Result<(), String>,
) -> Check {
    let name = format!("{what} {}", path.display());
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) => return Check::fail(name, format!("cannot read it: {error}"), create),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Check::fail(
            name,
            format!("mode {mode:04o}: readable by other users"),
            format!("chmod 600 {}", path.display()),
        );
    }
    let me = current_uid();
    if meta.uid() != me {
        return Check::fail(
            name,
            format!("owned by uid {}, this user is uid {me}", meta.uid()),
            format!(
                "the node must own its keys: `sudo chown officemesh: {}` and run doctor as the \
                 node's user (`sudo -u officemesh officemesh doctor ...`)",
                path.display()
            ),
        );
    }
    match parse() {
        Ok(()) => Check::pass(name, format!("mode {mode:04o}, owned by this user")),
        Err(error) => Check::fail(name, error, create),
    }
}

/// This process's user id: the owner of what it creates in /proc/self.
fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| m.uid())
}
