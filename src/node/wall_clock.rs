//! The calendar clock the replica core stamps writes with and judges a
//! peer's stamps against: the system clock, plus an offset a test may set
//! and change while the node runs.
//!
//! `OFFICEMESH_CLOCK_OFFSET_FILE` names a file holding a signed number of
//! milliseconds added to the system clock; it is read again at most once
//! a second, so writing a new number jumps the node's clock within a
//! second. A missing or unreadable file means no offset. It exists so the
//! clock-trouble tests can move one node's clock by hours, backwards or
//! forwards, without changing the machine's clock (which needs privileges
//! and moves every process). Unset, the node reads the system clock and
//! nothing else.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The environment variable naming the offset file.
pub const CLOCK_OFFSET_FILE_ENV: &str = "OFFICEMESH_CLOCK_OFFSET_FILE";

/// How often the offset file is read again.
const REREAD_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct WallClock {
    offset_file: Option<PathBuf>,
    offset_ms: i64,
    read_at: Option<Instant>,
}

impl WallClock {
    /// The system clock, shifted as `OFFICEMESH_CLOCK_OFFSET_FILE` says.
    pub fn from_env() -> WallClock {
        let offset_file = std::env::var_os(CLOCK_OFFSET_FILE_ENV).map(PathBuf::from);
        if let Some(path) = &offset_file {
            tracing::warn!(path = %path.display(), "the wall clock follows a test offset file");
        }
        WallClock {
            offset_file,
            ..WallClock::default()
        }
    }

    /// Unix milliseconds now, as this node sees them.
    pub fn now_ms(&mut self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        if let Some(path) = &self.offset_file
            && self.read_at.is_none_or(|at| at.elapsed() >= REREAD_EVERY)
        {
            self.read_at = Some(Instant::now());
            self.offset_ms = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse().ok())
                .unwrap_or(0);
        }
        system.saturating_add(self.offset_ms).max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_file_moves_the_clock_and_a_bad_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offset");
        std::fs::write(&path, "-10800000\n").unwrap();
        let mut clock = WallClock {
            offset_file: Some(path.clone()),
            ..WallClock::default()
        };
        let system = WallClock::default().now_ms();
        let shifted = clock.now_ms();
        assert!(
            shifted.abs_diff(system - 10_800_000) < 1_000,
            "{shifted} vs {system}"
        );
        // Not re-read within the second; then a bad file is no offset.
        std::fs::write(&path, "soon").unwrap();
        assert!(clock.now_ms() < system);
        clock.read_at = None;
        assert!(clock.now_ms() >= system);
    }
}
