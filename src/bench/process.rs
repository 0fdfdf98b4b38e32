//! What the kernel says about a node process: resident memory
//! (`/proc/PID/status`, VmRSS), CPU time (`/proc/PID/stat`, utime +
//! stime, in clock ticks) and the bytes it sent toward the disk
//! (`/proc/PID/io`, write_bytes).

use std::path::PathBuf;

use super::BenchError;

/// Clock ticks per second in `/proc/PID/stat` (USER_HZ: 100 on Linux).
pub const TICKS_PER_SEC: f64 = 100.0;

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = read(&path)?;
    parse_rss_kib(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "no VmRSS line".into(),
    })
}

/// User plus system CPU time so far, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = read(&path)?;
    parse_cpu_ticks(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "not a stat line".into(),
    })
}

/// Bytes the process caused to be written to the storage layer so far
/// (`write_bytes`: counted when pages are dirtied, so it includes writes
/// not yet flushed, and it is what wears an SD card, unlike `wchar`, which
/// also counts sockets and pipes).
pub fn disk_write_bytes(pid: u32) -> Result<u64, BenchError> {
    let path = PathBuf::from(format!("/proc/{pid}/io"));
    let text = read(&path)?;
    parse_write_bytes(&text).ok_or_else(|| BenchError::Proc {
        path,
        reason: "no write_bytes line".into(),
    })
}

fn parse_write_bytes(io: &str) -> Option<u64> {
    let line = io.lines().find(|l| l.starts_with("write_bytes:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn read(path: &PathBuf) -> Result<String, BenchError> {
    std::fs::read_to_string(path).map_err(|e| BenchError::Proc {
        path: path.clone(),
        reason: e.to_string(),
    })
}

fn parse_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Fields 14 and 15 (utime, stime). The command name (field 2) may hold
/// spaces and parentheses, so counting starts after its last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, index 11 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vmrss() {
        let status = "Name:\tofficemesh\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t1\n";
        assert_eq!(parse_rss_kib(status), Some(5120));
        assert_eq!(parse_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn reads_utime_and_stime_past_a_strange_command_name() {
        let stat =
            "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 300 0 0 0 17 4 0 0 20 0 1 0 100 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(21));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_write_bytes_not_cancelled_or_wchar() {
        let io = "rchar: 6976\nwchar: 512\nsyscr: 10\nsyscw: 2\nread_bytes: 0\n\
                  write_bytes: 8192\ncancelled_write_bytes: 4096\n";
        assert_eq!(parse_write_bytes(io), Some(8192));
        assert_eq!(parse_write_bytes("rchar: 1\n"), None);
    }

    #[test]
    fn this_process_has_memory_cpu_time_and_disk_counters() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        cpu_ticks(pid).unwrap();
        let before = disk_write_bytes(pid).unwrap();
        // Not the temporary directory: it may be a tmpfs, which never
        // reaches a storage layer.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, vec![7u8; 64 * 1024]).unwrap();
        std::fs::File::open(&file).unwrap().sync_all().unwrap();
        assert!(
            disk_write_bytes(pid).unwrap() >= before + 64 * 1024,
            "64 KiB written and synced must show in write_bytes"
        );
    }
}
