//! Faults on real `officemesh node` processes: nodes killed and restarted
//! while observers write, a node killed right inside its commits again and
//! again, and an office on a slow, lossy, reordering network.
//!
//! The default runs take about a minute together. Longer variants:
//!
//! ```text
//! OFFICEMESH_FAULT_SECS=600 cargo test --test faults -- --ignored
//! ```

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use support::{Office, node_names};

/// Seconds the long variants run (`OFFICEMESH_FAULT_SECS`), or `default`.
fn fault_secs(default: u64) -> Duration {
    Duration::from_secs(
        std::env::var("OFFICEMESH_FAULT_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default),
    )
}

/// Every target on one node, zone → winning value.
fn targets(doc: &Value) -> BTreeMap<String, f64> {
    doc["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Some((t["zone"].as_str()?.to_string(), t["value"].as_f64()?)))
        .collect()
}

/// `set target ZONE VALUE --wait stored` through `node`: whether the node
/// acknowledged the write as stored.
fn set_stored(office: &Office, node: usize, zone: &str, value: f64) -> bool {
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            zone,
            &value.to_string(),
            "--wait",
            "stored",
            "--timeout",
            "5",
        ],
        node,
    );
    let stored =
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("stored:");
    if !stored {
        println!(
            "set {zone} = {value} through n{node} not stored: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    stored
}

/// A value in the default allowed range (5..=30 in steps of 0.5), unique
/// for each `k` below 51.
fn value_for(k: usize) -> f64 {
    5.0 + (k % 51) as f64 * 0.5
}

fn is_running(office: &mut Office, i: usize) -> bool {
    office.nodes[i]
        .child
        .as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

/// Kill and restart random nodes while an observer writes; afterwards every
/// write acknowledged as stored is on every node: each write to its own
/// zone as written, and the zone written over and over holds the last
/// acknowledged write or a later one.
fn sigkill_loop(run_for: Duration) {
    const NODES: usize = 4;
    let mut office = Office::new();
    for _ in 0..NODES {
        office.add("cluster.key");
    }
    let all = ["n0", "n1", "n2", "n3"];
    office.wait_status(0, Duration::from_secs(30), |d| node_names(d) == all);
    let office = Arc::new(Mutex::new(office));
    let stop = Arc::new(AtomicBool::new(false));

    let killer = {
        let (office, stop) = (office.clone(), stop.clone());
        thread::spawn(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut kills = 0;
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(rng.random_range(800..2_000)));
                let victim = rng.random_range(0..NODES);
                office.lock().unwrap().kill(victim);
                kills += 1;
                thread::sleep(Duration::from_millis(rng.random_range(200..1_500)));
                office.lock().unwrap().start(victim);
            }
            kills
        })
    };

    // Writes through a random node; the lock is not held while `set` runs,
    // so kills land in the middle of writes.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut acked_own: Vec<(String, f64)> = Vec::new();
    let mut last_acked_hall: Option<usize> = None;
    let mut attempted = 0;
    let started = Instant::now();
    let snapshot = |office: &Arc<Mutex<Office>>| {
        // A copy of what `observer_cmd` needs, so the killer is not blocked.
        let o = office.lock().unwrap();
        (
            o.dir.path().to_path_buf(),
            o.nodes.iter().map(|n| n.addr).collect::<Vec<_>>(),
        )
    };
    while started.elapsed() < run_for {
        let node = rng.random_range(0..NODES);
        let k = attempted;
        attempted += 1;
        let (dir, addrs) = snapshot(&office);
        let (zone, value) = if k % 2 == 0 {
            (format!("w{k}"), value_for(k))
        } else {
            ("hall".to_string(), value_for(k))
        };
        let out = Command::new(support::BIN)
            .args(["set", "target", &zone, &value.to_string()])
            .args(["--wait", "stored", "--timeout", "5", "--connect"])
            .arg(addrs[node].to_string())
            .arg("--key")
            .arg(dir.join("cluster.key"))
            .env("OFFICEMESH_OBSERVER_DIR", dir.join("observer"))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stored =
            out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("stored:");
        if stored {
            if zone == "hall" {
                last_acked_hall = Some(k);
            } else {
                acked_own.push((zone, value));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let kills = killer.join().unwrap();
    let mut office = Arc::try_unwrap(office)
        .ok()
        .expect("the killer is done")
        .into_inner()
        .unwrap();
    for i in 0..NODES {
        if !is_running(&mut office, i) {
            office.start(i);
        }
    }
    println!(
        "sigkill loop: {kills} kills, {attempted} writes attempted, {} stored acknowledgements \
         (plus hall up to write {last_acked_hall:?})",
        acked_own.len()
    );
    assert!(kills >= 3, "the loop killed nodes ({kills})");
    assert!(!acked_own.is_empty(), "some writes were acknowledged");
    let hall_values: Vec<f64> = (last_acked_hall.unwrap_or(0)..attempted)
        .filter(|k| k % 2 == 1)
        .map(value_for)
        .collect();
    for i in 0..NODES {
        office.wait_status(i, Duration::from_secs(60), |d| {
            let t = targets(d);
            node_names(d) == all
                && acked_own.iter().all(|(z, v)| t.get(z) == Some(v))
                && last_acked_hall
                    .is_none_or(|_| t.get("hall").is_some_and(|v| hall_values.contains(v)))
        });
    }
}

#[test]
fn every_stored_write_survives_nodes_killed_and_restarted() {
    sigkill_loop(Duration::from_secs(20));
}

#[test]
#[ignore = "long: OFFICEMESH_FAULT_SECS=600 cargo test --test faults -- --ignored"]
fn every_stored_write_survives_a_long_sigkill_loop() {
    sigkill_loop(fault_secs(600));
}

/// A single node (nobody else holds its data) killed with SIGKILL right
/// after acknowledged writes and in the middle of the commits of writes
/// still arriving, `cycles` times: its store opens every time and holds
/// every write it acknowledged.
fn power_cuts(cycles: usize) {
    let mut office = Office::new();
    office.add("cluster.key");
    office.wait_status(0, Duration::from_secs(30), |d| node_names(d) == ["n0"]);
    let mut acked: Vec<(String, f64)> = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut k = 0;
    let mut acked_first = 0;
    let mut cut = 0;
    for cycle in 0..cycles {
        // One acknowledged write, then a burst of writes in flight while the
        // power goes.
        let zone = format!("c{cycle}");
        if set_stored(&office, 0, &zone, value_for(k)) {
            acked.push((zone, value_for(k)));
            acked_first += 1;
        }
        k += 1;
        let dir = office.dir.path().to_path_buf();
        let addr = office.nodes[0].addr;
        let burst: Vec<_> = (0..3)
            .map(|j| {
                let zone = format!("c{cycle}b{j}");
                let value = value_for(k + j);
                Command::new(support::BIN)
                    .args(["set", "target", &zone, &value.to_string()])
                    .args(["--wait", "stored", "--timeout", "5", "--connect"])
                    .arg(addr.to_string())
                    .arg("--key")
                    .arg(dir.join("cluster.key"))
                    .env("OFFICEMESH_OBSERVER_DIR", dir.join(format!("observer-{j}")))
                    .env("RUST_LOG", "warn")
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map(|c| (zone, value, c))
                    .unwrap()
            })
            .collect();
        k += 3;
        // Sometimes before the burst is stored, sometimes while it commits,
        // sometimes after.
        thread::sleep(Duration::from_millis(rng.random_range(0..250)));
        office.kill(0);
        for (zone, value, child) in burst {
            let out = child.wait_with_output().unwrap();
            if out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("stored:") {
                acked.push((zone, value));
            } else {
                cut += 1;
            }
        }
        office.start(0);
        // The store reopens and holds every acknowledged write.
        office.wait_status(0, Duration::from_secs(20), |d| {
            let t = targets(d);
            acked.iter().all(|(z, v)| t.get(z) == Some(v))
        });
    }
    println!(
        "power cuts: {cycles} kills, {} acknowledged writes ({acked_first} before the burst, \
         the rest in bursts cut by the kill; {cut} writes never acknowledged) all present \
         after each restart",
        acked.len()
    );
    assert!(acked_first >= cycles / 2, "writes were acknowledged");
    assert!(
        acked.len() > acked_first,
        "some writes of a burst were acknowledged before the kill"
    );
}

#[test]
fn a_node_killed_inside_its_commits_keeps_every_acknowledged_write() {
    power_cuts(8);
}

#[test]
#[ignore = "long: OFFICEMESH_FAULT_SECS=600 cargo test --test faults -- --ignored"]
fn a_node_killed_inside_its_commits_many_times() {
    let cycles = (fault_secs(600).as_secs() / 3).max(10) as usize;
    power_cuts(cycles);
}

/// Why a network-namespace test cannot run here, if it cannot.
fn netns_unsupported() -> Option<String> {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    if !root {
        return Some("not running as root (needs a network namespace and tc)".into());
    }
    for tool in ["ip", "tc"] {
        let ok = Command::new(tool)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            return Some(format!("`{tool}` (iproute2) is missing"));
        }
    }
    // The kernel must have the netem qdisc (module sch_netem).
    let probe = format!("omp{:05}", std::process::id() % 100_000);
    if Command::new("ip")
        .args(["netns", "add", &probe])
        .status()
        .is_ok_and(|s| s.success())
    {
        let _ns = Netns(probe.clone());
        let out = Command::new("tc")
            .args([
                "-n", &probe, "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms",
            ])
            .output();
        match out {
            Ok(o) if o.status.success() => None,
            Ok(o) => Some(format!(
                "this kernel has no netem qdisc (sch_netem): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Some(format!("tc: {e}")),
        }
    } else {
        Some("cannot create a network namespace".into())
    }
}

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace of our own, deleted on drop.
struct Netns(String);

impl Netns {
    /// A namespace whose loopback delays, loses and reorders packets as
    /// `netem` says.
    fn with_netem(name: String, netem: &[&str]) -> Netns {
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        let mut args = vec!["-n", &ns.0, "qdisc", "add", "dev", "lo", "root", "netem"];
        args.extend_from_slice(netem);
        run("tc", &args);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Four nodes whose every packet is delayed 40 ± 20 ms (so packets
/// overtake each other), 5 % lost and 10 % reordered: the office still
/// converges and a write still reaches every node.
fn lossy_office(settle: Duration) {
    if let Some(why) = netns_unsupported() {
        // CI runs as root with sch_netem loaded: a skip there would hide
        // that this test never ran.
        assert!(
            std::env::var_os("OFFICEMESH_REQUIRE_NETNS").is_none(),
            "OFFICEMESH_REQUIRE_NETNS is set (.ci/run as root) but: {why}"
        );
        eprintln!("SKIPPED the lossy-network test: {why}");
        return;
    }
    let ns = Netns::with_netem(
        format!("omf{:05}", std::process::id() % 100_000),
        &[
            "delay",
            "40ms",
            "20ms",
            "distribution",
            "normal",
            "loss",
            "5%",
            "reorder",
            "10%",
        ],
    );
    let mut office = Office::new();
    office.netns = Some(ns.0.clone());
    for _ in 0..4 {
        office.add("cluster.key");
    }
    let all = ["n0", "n1", "n2", "n3"];
    for i in 0..4 {
        office.wait_status(i, Duration::from_secs(90), |d| node_names(d) == all);
    }
    thread::sleep(settle);
    let started = Instant::now();
    let mut stored = false;
    for _ in 0..5 {
        if set_stored(&office, 1, "lab", 22.5) {
            stored = true;
            break;
        }
    }
    assert!(
        stored,
        "a write through a node on the lossy network is stored"
    );
    for i in 0..4 {
        office.wait_status(i, Duration::from_secs(60), |d| {
            targets(d).get("lab") == Some(&22.5)
        });
    }
    println!(
        "lossy network: the write reached all 4 nodes {:.1} s after it was sent",
        started.elapsed().as_secs_f64()
    );
    drop(office);
    drop(ns);
}

#[test]
fn an_office_on_a_slow_lossy_reordering_network_converges() {
    lossy_office(Duration::ZERO);
}

#[test]
#[ignore = "long: OFFICEMESH_FAULT_SECS=600 cargo test --test faults -- --ignored"]
fn an_office_on_a_lossy_network_stays_converged_for_minutes() {
    lossy_office(fault_secs(600));
}
