//! A node whose data directory fills up (a small tmpfs, filled by the
//! test), as a real process on loopback: it keeps serving, answers target
//! writes honestly ("stored" only once on its disk, otherwise "not
//! stored"), and after space is freed and it restarts, every write it
//! acknowledged as stored is still there.
//!
//! Mounting needs root (`.ci/run` runs as root and installs `mount`);
//! without it the test says why and passes.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use support::{Office, node_names, target};

/// The data directory's size: room for the store with its first writes,
/// little more.
const TMPFS_SIZE: &str = "8m";

/// Unmounts the tmpfs on drop, whether the test passed or not.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path) -> Result<Mount, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_SIZE},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Mount(dir.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

/// Writes into `path` until the file system refuses; returns the bytes
/// written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let mut written = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512] {
        let block = vec![0xa5u8; chunk];
        while file.write_all(&block).is_ok() {
            written += chunk as u64;
        }
    }
    let _ = file.flush();
    written
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_node_whose_disk_fills_serves_on_answers_honestly_and_keeps_what_it_acknowledged() {
    let mut office = Office::new();
    office.extra_config = "[gossip]\nanti_entropy_period_ms = 500\n".to_string();
    let full = office.add_stopped("cluster.key");
    let mount = match Mount::tmpfs(&office.data_dir(full)) {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: cannot mount a tmpfs as the data directory ({why}); run as root");
            return;
        }
    };
    office.start(full);
    let other = office.add("cluster.key");
    for i in [full, other] {
        office.wait_status(i, Duration::from_secs(30), |d| {
            node_names(d) == ["n0", "n1"]
        });
    }

    let mut acknowledged: Vec<(String, f64)> = Vec::new();
    let set = |zone: &str, value: f64| {
        office.observer_cmd(
            &[
                "set",
                "target",
                zone,
                &value.to_string(),
                "--wait",
                "stored",
                "--timeout",
                "15",
            ],
            full,
        )
    };
    let out = set("before", 20.0);
    assert!(out.status.success(), "{}", text(&out));
    acknowledged.push(("before".into(), 20.0));

    let filled = fill(&mount.0.join("filler"));
    eprintln!("filled the data directory with {filled} bytes");

    let mut outcomes = Vec::new();
    for (k, zone) in ["full-a", "full-b", "full-c"].into_iter().enumerate() {
        let value = 21.0 + k as f64;
        let out = set(zone, value);
        let said = text(&out);
        if out.status.success() && said.contains("stored:") {
            acknowledged.push((zone.into(), value));
            outcomes.push(format!("{zone}: stored"));
        } else if !out.status.success() && said.contains("not stored on the node") {
            outcomes.push(format!("{zone}: not stored"));
        } else {
            panic!("neither stored nor an honest not-stored for {zone}: {said}");
        }
        // The node keeps serving.
        let doc = office
            .status(full)
            .unwrap_or_else(|| panic!("no status through the full node after {zone}"));
        assert_eq!(node_names(&doc), ["n0", "n1"]);
    }
    eprintln!("with the disk full: {}", outcomes.join(", "));

    // Space back; the peer gone, so what the node shows after a crash and
    // restart comes from its own disk alone.
    std::fs::remove_file(mount.0.join("filler")).unwrap();
    office.kill(other);
    office.kill(full);
    office.start(full);
    let doc = office.wait_status(full, Duration::from_secs(30), |d| {
        acknowledged
            .iter()
            .all(|(zone, value)| target(d, zone) == Some(*value))
    });
    for (zone, value) in &acknowledged {
        assert_eq!(target(&doc, zone), Some(*value), "{zone} lost");
    }
}
