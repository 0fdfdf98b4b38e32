//! `[node]`: who this replica is and where it listens.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

/// The port officemesh listens on unless told otherwise (the one memberlist
/// made familiar for gossip; nothing else on a Pi uses it).
pub const DEFAULT_PORT: u16 = 7946;

/// Zone of a node whose configuration names none.
pub const DEFAULT_ZONE: &str = "default";

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Human name shown in the TUI; the hostname when absent.
    pub name: Option<String>,
    /// The zone (room) this node measures and heats.
    pub zone: String,
    /// Address to accept peers on.
    pub listen: SocketAddr,
    /// Where the key and the state live; see [`super::resolve_data_dir`].
    pub data_dir: Option<PathBuf>,
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            name: None,
            zone: DEFAULT_ZONE.to_string(),
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            data_dir: None,
        }
    }
}

impl NodeSection {
    /// The configured name, else the machine's hostname.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(hostname)
    }
}

/// The label an operator's writes carry when no operators list names it:
/// `user@host`.
pub fn operator_label() -> String {
    format!(
        "{}@{}",
        std::env::var("USER").unwrap_or_else(|_| "operator".into()),
        hostname()
    )
}

/// The kernel's hostname, or `officemesh` where there is none to read.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "officemesh".to_string())
}
