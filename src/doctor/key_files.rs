//! The cluster key and the node key: present, readable by this user, and
//! unreadable by anyone else. Whoever reads the cluster key can join the
//! office and read its traffic; whoever reads the node key can speak as
//! this node.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::Check;
use crate::net::ClusterKey;

/// Checks the cluster key at `cluster_key` and the node key in `data_dir`.
pub fn check(cluster_key: &Path, data_dir: &Path) -> Vec<Check> {
    let mut checks = vec![check_file(
        cluster_key,
        "cluster key",
        "write one with `officemesh keygen --out FILE` and copy it to every node",
        || {
            ClusterKey::load(cluster_key)
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )];
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
