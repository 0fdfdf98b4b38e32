//! The transport counters of a running node process, written to a small
//! file in its data directory on request (SIGUSR1 for `officemesh node`).
//!
//! Why a file on request and not a periodic log line: the benchmark needs
//! exact byte counts at chosen moments from many processes, and an idle
//! node must not wake up (or write to its SD card) just to publish them.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::net::CountersSnapshot;

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
pub fn write_counters(data_dir: &Path, counters: &CountersSnapshot) -> Result<(), StatsError> {
    let path = stats_path(data_dir);
    let tmp = data_dir.join(format!("{STATS_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        let text = serde_json::to_vec(counters).map_err(std::io::Error::other)?;
        file.write_all(&text)?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|source| StatsError::Write {
        path: path.clone(),
        source,
    })
}

/// Reads what [`write_counters`] wrote.
pub fn read_counters(data_dir: &Path) -> Result<CountersSnapshot, StatsError> {
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
    fn counters_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let counters = CountersSnapshot {
            bytes_sent: 1234,
            bytes_received: 99,
            frames_sent: 7,
            ..CountersSnapshot::default()
        };
        write_counters(dir.path(), &counters).unwrap();
        assert_eq!(read_counters(dir.path()).unwrap(), counters);
    }
}
