//! The transport counters of a running node process (and when a write from
//! elsewhere last changed its state), written to a small
//! file in its data directory on request (SIGUSR1 for `officemesh node`).
//!
//! Why a file on request and not a periodic log line: the benchmark needs
//! exact byte counts at chosen moments from many processes, and an idle
//! node must not wake up (or write to its SD card) just to publish them.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::net::CountersSnapshot;

/// What the stats file holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeStats {
    #[serde(flatten)]
    pub counters: CountersSnapshot,
    /// Wall-clock µs since the Unix epoch when this node's winning targets
    /// changed, the latest [`RECENT_TARGET_CHANGES`], oldest first: how the
    /// benchmark times a target write's arrival, unblurred by other deltas
    /// (readings, `Node` entries). It reads them once after all its writes,
    /// so it does not ask every node for a file (a journal commit on a
    /// shared disk) between two timed writes.
    #[serde(default)]
    pub targets_changed_recent_us: Vec<u64>,
}

/// Most target changes a node remembers the time of (8 KiB at most): more
/// than one benchmark run's writes, and an office changes its targets a
/// few times a day.
pub const RECENT_TARGET_CHANGES: usize = 1024;

/// When this node's winning targets changed, shared between the node loop
/// (which records) and the stats file's writer.
#[derive(Clone, Debug, Default)]
pub struct TargetChanges(Arc<Mutex<VecDeque<u64>>>);

impl TargetChanges {
    pub fn record(&self, us: u64) {
        let mut times = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if times.len() >= RECENT_TARGET_CHANGES {
            times.pop_front();
        }
        times.push_back(us);
    }

    pub fn recent(&self) -> Vec<u64> {
        let times = self.0.lock().unwrap_or_else(|p| p.into_inner());
        times.iter().copied().collect()
    }
}

/// Name of the counters file inside the data directory.
pub const STATS_FILE: &str = "net-counters.json";

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a counters file: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub fn stats_path(data_dir: &Path) -> PathBuf {
    data_dir.join(STATS_FILE)
}

/// Writes the counters atomically (a temporary file renamed over the old
/// one), so a reader never sees half a file.
pub fn write_stats(data_dir: &Path, stats: &NodeStats) -> Result<(), StatsError> {
    let path = stats_path(data_dir);
    let tmp = data_dir.join(format!("{STATS_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        let text = serde_json::to_vec(stats).map_err(std::io::Error::other)?;
        file.write_all(&text)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| StatsError::Write {
        path: path.clone(),
        source,
    })
}

/// Reads what [`write_stats`] wrote.
pub fn read_stats(data_dir: &Path) -> Result<NodeStats, StatsError> {
    let path = stats_path(data_dir);
    let bytes = std::fs::read(&path).map_err(|source| StatsError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| StatsError::Parse { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_changes_keep_the_latest_ones() {
        let changes = TargetChanges::default();
        assert!(changes.recent().is_empty());
        for us in 0..(RECENT_TARGET_CHANGES as u64 + 10) {
            changes.record(us);
        }
        let recent = changes.recent();
        assert_eq!(recent.len(), RECENT_TARGET_CHANGES);
        assert_eq!(recent.first(), Some(&10));
        assert_eq!(recent.last(), Some(&(RECENT_TARGET_CHANGES as u64 + 9)));
    }

    #[test]
    fn counters_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let stats = NodeStats {
            counters: CountersSnapshot {
                bytes_sent: 1234,
                bytes_received: 99,
                frames_sent: 7,
                ..CountersSnapshot::default()
            },
            targets_changed_recent_us: vec![1_699_999_999_000_000, 1_700_000_000_000_000],
        };
        write_stats(dir.path(), &stats).unwrap();
        assert_eq!(read_stats(dir.path()).unwrap(), stats);
    }
}
