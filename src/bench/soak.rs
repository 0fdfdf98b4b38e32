//! `officemesh soak`: real node processes left running for a bounded time
//! under churn and writing observers, watched from outside, to show that
//! nothing is lost and that memory stays flat.
//!
//! - Half the nodes (rounded down) are *churned*: one at a time, every
//!   few seconds, one is killed with SIGKILL and restarted from its data
//!   directory a few seconds later, or frozen with SIGSTOP and resumed
//!   with SIGCONT tens of seconds later (to its peers a node gone silent
//!   with its connections open, as behind a partition, then back). At most
//!   a quarter of the office is disturbed at once.
//! - The other nodes are *steady*: never disturbed, their memory over
//!   time is the flatness figure (a restarted process starts small, which
//!   would hide a leak).
//! - Writers run `officemesh set target … --wait stored` through random
//!   nodes, each on its own few zones, so the state stays bounded and any
//!   growth in memory is the nodes' own.
//! - At the end every node is resumed or restarted, and the soak waits
//!   until every node's replica (read with `officemesh status --json`
//!   through it) lists every node and the same targets, then checks every
//!   acknowledged write: present, or superseded by a later write of its
//!   zone.
//!
//! Memory is sampled from `/proc/PID/status` (VmRSS), disk writes from
//! `/proc/PID/io` (`write_bytes`, summed over each node's processes), and
//! messages from the node's counters (SIGUSR1; each request makes the
//! node write its small counters file, which `write_bytes` includes).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use super::cluster::{Cluster, NodeSetup};
use super::report::MeanMax;
use super::soak_report::{ChurnCounts, RssSample, SoakReport, WriteCounts, fitted_slope, median};
use super::{BenchError, process};
use crate::node::stats;

#[derive(Clone, Debug)]
pub struct SoakOptions {
    /// The `officemesh` executable the nodes, writers and readers run.
    pub exe: PathBuf,
    pub nodes: usize,
    /// Length of the churn and write phase.
    pub duration: Duration,
    /// Memory samples before this are left out of the slope.
    pub warm_up: Duration,
    /// Concurrent writers.
    pub writers: usize,
    /// Pause between two writes of one writer.
    pub write_every: Duration,
    /// Mean time between two churn events.
    pub churn_every: Duration,
    pub rss_every: Duration,
    pub stats_every: Duration,
    /// Longest wait for the office to settle before the churn starts.
    pub settle_timeout: Duration,
    /// Longest wait for every node to agree after the churn.
    pub converge_timeout: Duration,
    pub seed: u64,
    pub keep_dir: bool,
}

impl SoakOptions {
    pub fn new(exe: PathBuf, nodes: usize, duration: Duration) -> SoakOptions {
        SoakOptions {
            exe,
            nodes,
            duration,
            // A fifth of the run, at most two minutes: the allocator's
            // arenas and the overlay's views fill in the first minute.
            warm_up: (duration / 5).min(Duration::from_secs(120)),
            writers: 3,
            write_every: Duration::from_millis(1_000),
            churn_every: Duration::from_secs(8),
            rss_every: Duration::from_secs(5),
            stats_every: Duration::from_secs(60),
            settle_timeout: Duration::from_secs(90),
            converge_timeout: Duration::from_secs(180),
            seed: 1,
            keep_dir: false,
        }
    }
}

/// Zones each writer writes, in turn.
const ZONES_PER_WRITER: usize = 4;

/// The `k`th value written to a zone: the default allowed range (5 to 30
/// in steps of 0.5) in turn, so 51 writes in a row are told apart.
fn value_for(k: usize) -> f64 {
    5.0 + (k % 51) as f64 * 0.5
}

/// One write a writer attempted.
#[derive(Clone, Debug)]
struct Attempt {
    zone: String,
    value: f64,
    acknowledged: bool,
}

/// What one node is going through.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Disturbance {
    Up,
    Down { until: Instant },
    Frozen { until: Instant },
}

/// Per-node accounting across its processes.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    /// Disk bytes of processes that have ended.
    disk_done: u64,
    /// The latest `write_bytes` of the running process.
    disk_current: u64,
    frames: u64,
    bytes: u64,
    /// The running process's counters at the last reading.
    last_frames: u64,
    last_bytes: u64,
}

/// Runs the soak; every node process is killed when it returns.
pub fn run(options: &SoakOptions) -> Result<SoakReport, BenchError> {
    if options.nodes < 2 {
        return Err(BenchError::Setup("a soak needs at least 2 nodes".into()));
    }
    let started = Instant::now();
    let mut cluster = Cluster::start(
        &options.exe,
        options.nodes,
        &NodeSetup::default(),
        options.keep_dir,
    )?;
    let n = options.nodes;
    let key = cluster.dir.join("cluster.key");
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.addr.to_string()).collect();
    let reader = Reader {
        exe: options.exe.clone(),
        key: key.clone(),
        observer_dir: cluster.dir.join("observer-reader"),
    };
    let settle_deadline = started + options.settle_timeout;
    loop {
        if reader
            .status(&addrs[0])
            .is_some_and(|d| node_names(&d).len() == n)
        {
            break;
        }
        if Instant::now() >= settle_deadline {
            return Err(BenchError::Setup(format!(
                "the office did not list all {n} nodes within {} s",
                options.settle_timeout.as_secs()
            )));
        }
        check_alive(&mut cluster)?;
        thread::sleep(Duration::from_millis(500));
    }
    tracing::info!(
        secs = started.elapsed().as_secs_f64(),
        "office settled; churn starts"
    );

    let steady: Vec<usize> = (0..n - n / 2).collect();
    let churned: Vec<usize> = (n - n / 2..n).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..options.writers)
        .map(|w| {
            let writer = Writer {
                exe: options.exe.clone(),
                key: key.clone(),
                observer_dir: cluster.dir.join(format!("observer-{w}")),
                addrs: addrs.clone(),
                index: w,
                every: options.write_every,
                seed: options.seed.wrapping_add(1 + w as u64),
            };
            let stop = stop.clone();
            thread::spawn(move || writer.run(&stop))
        })
        .collect();

    let soak_start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut state = vec![Disturbance::Up; n];
    let mut totals = vec![Totals::default(); n];
    let mut churn = ChurnCounts::default();
    let mut rss = Vec::new();
    let mut next_churn = soak_start + jitter(&mut rng, options.churn_every);
    let mut next_rss = soak_start;
    let mut next_stats = soak_start;
    let max_disturbed = (n / 4).max(1);
    while soak_start.elapsed() < options.duration {
        let now = Instant::now();
        for i in 0..n {
            match state[i] {
                Disturbance::Down { until } if now >= until => {
                    cluster.restart(i)?;
                    totals[i].last_frames = 0;
                    totals[i].last_bytes = 0;
                    totals[i].disk_current = 0;
                    state[i] = Disturbance::Up;
                }
                Disturbance::Frozen { until } if now >= until => {
                    signal(cluster.nodes[i].pid(), "-CONT")?;
                    state[i] = Disturbance::Up;
                }
                _ => {}
            }
        }
        let disturbed = state.iter().filter(|s| **s != Disturbance::Up).count();
        if now >= next_churn {
            next_churn = now + jitter(&mut rng, options.churn_every);
            let candidates: Vec<usize> = churned
                .iter()
                .copied()
                .filter(|&i| state[i] == Disturbance::Up)
                .collect();
            if disturbed < max_disturbed && !candidates.is_empty() {
                let victim = candidates[rng.random_range(0..candidates.len())];
                if rng.random_bool(0.6) {
                    let pid = cluster.nodes[victim].pid();
                    if let Ok(bytes) = process::disk_write_bytes(pid) {
                        totals[victim].disk_current = bytes;
                    }
                    cluster.kill(victim)?;
                    let t = &mut totals[victim];
                    t.disk_done += t.disk_current;
                    t.disk_current = 0;
                    churn.kills += 1;
                    let down = Duration::from_millis(rng.random_range(2_000..10_000));
                    state[victim] = Disturbance::Down { until: now + down };
                    tracing::info!(node = victim, ?down, "killed");
                } else {
                    signal(cluster.nodes[victim].pid(), "-STOP")?;
                    churn.freezes += 1;
                    let frozen = Duration::from_millis(rng.random_range(10_000..40_000));
                    state[victim] = Disturbance::Frozen {
                        until: now + frozen,
                    };
                    tracing::info!(node = victim, ?frozen, "frozen");
                }
            }
        }
        if now >= next_rss {
            next_rss += options.rss_every;
            let sample = RssSample {
                at_secs: soak_start.elapsed().as_secs_f64(),
                rss_kib: (0..n)
                    .map(|i| match state[i] {
                        Disturbance::Down { .. } => None,
                        _ => process::rss_kib(cluster.nodes[i].pid()).ok(),
                    })
                    .collect(),
            };
            rss.push(sample);
        }
        if now >= next_stats {
            next_stats += options.stats_every;
            read_counters(&cluster, &state, &mut totals);
        }
        if let Some((i, status)) = exited(&mut cluster, &state) {
            stop.store(true, Ordering::Relaxed);
            return Err(BenchError::NodeExited {
                index: i,
                status: status.to_string(),
                dir: cluster.dir.clone(),
            });
        }
        thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let attempts: Vec<Attempt> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_default())
        .collect();
    let secs = soak_start.elapsed().as_secs_f64();
    // Everyone back.
    for (i, s) in state.iter_mut().enumerate() {
        match *s {
            Disturbance::Down { .. } => {
                cluster.restart(i)?;
                totals[i].last_frames = 0;
                totals[i].last_bytes = 0;
                totals[i].disk_current = 0;
            }
            Disturbance::Frozen { .. } => signal(cluster.nodes[i].pid(), "-CONT")?,
            Disturbance::Up => {}
        }
        *s = Disturbance::Up;
    }
    read_counters(&cluster, &state, &mut totals);
    for (i, t) in totals.iter_mut().enumerate() {
        if let Ok(bytes) = process::disk_write_bytes(cluster.nodes[i].pid()) {
            t.disk_current = bytes;
        }
    }

    // Convergence.
    let churn_end = Instant::now();
    let mut converged = None;
    let mut last_docs = Vec::new();
    while churn_end.elapsed() < options.converge_timeout {
        let docs: Vec<Option<Value>> = addrs.iter().map(|a| reader.status(a)).collect();
        let views: Vec<Option<View>> = docs.iter().map(|d| d.as_ref().map(view)).collect();
        let agreed = views.first().and_then(|v| v.as_ref()).is_some_and(|first| {
            first.names.len() == n && views.iter().all(|v| v.as_ref() == Some(first))
        });
        last_docs = docs;
        if agreed {
            converged = Some(churn_end.elapsed());
            break;
        }
        check_alive(&mut cluster)?;
        thread::sleep(Duration::from_secs(1));
    }
    let lost_writes = match last_docs.first().and_then(|d| d.as_ref()) {
        Some(doc) => lost_writes(&attempts, &view(doc)),
        None => vec!["no status from node 0 at the end".into()],
    };

    let warm_up = options.warm_up.as_secs_f64();
    let rss_slope_kib_per_min: Vec<f64> = steady
        .iter()
        .map(|&i| {
            let points: Vec<(f64, f64)> = rss
                .iter()
                .filter(|s| s.at_secs >= warm_up)
                .filter_map(|s| s.rss_kib[i].map(|k| (s.at_secs / 60.0, k as f64)))
                .collect();
            fitted_slope(&points).unwrap_or(0.0)
        })
        .collect();
    let rss_at_end: Vec<f64> = cluster
        .nodes
        .iter()
        .filter_map(|node| process::rss_kib(node.pid()).ok().map(|k| k as f64))
        .collect();
    let disk: Vec<u64> = totals
        .iter()
        .map(|t| t.disk_done + t.disk_current)
        .collect();
    let disk_per_hour: Vec<f64> = disk.iter().map(|&b| b as f64 / secs * 3600.0).collect();
    Ok(SoakReport {
        nodes: n,
        steady_nodes: steady,
        seed: options.seed,
        secs,
        warm_up_secs: warm_up,
        churn,
        writes: WriteCounts {
            attempted: attempts.len() as u64,
            acknowledged: attempts.iter().filter(|a| a.acknowledged).count() as u64,
        },
        messages_per_sec: totals.iter().map(|t| t.frames).sum::<u64>() as f64 / secs,
        bytes_per_sec: totals.iter().map(|t| t.bytes).sum::<u64>() as f64 / secs,
        disk_write_bytes_per_node: disk,
        disk_write_bytes_per_node_per_hour: MeanMax::of(&disk_per_hour),
        rss_slope_kib_per_min_max: rss_slope_kib_per_min
            .iter()
            .copied()
            .fold(0.0, |m: f64, s| if s.abs() > m.abs() { s } else { m }),
        rss_slope_kib_per_min_median: median(&rss_slope_kib_per_min),
        rss_slope_kib_per_min,
        rss_kib_at_end: MeanMax::of(&rss_at_end),
        rss,
        converged: converged.is_some(),
        converge_secs: converged.map_or(f64::NAN, |d| d.as_secs_f64()),
        lost_writes,
    })
}

/// A time around `mean` (half to one and a half of it).
fn jitter(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    mean.mul_f64(rng.random_range(0.5..1.5))
}

fn signal(pid: u32, which: &str) -> Result<(), BenchError> {
    let status = Command::new("kill")
        .args([which, &pid.to_string()])
        .status()
        .map_err(|source| BenchError::Io {
            what: format!("kill {which} {pid}"),
            source,
        })?;
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Setup(format!("kill {which} {pid}: {status}")))
    }
}

/// The first node that exited on its own (not one the soak killed).
fn exited(
    cluster: &mut Cluster,
    state: &[Disturbance],
) -> Option<(usize, std::process::ExitStatus)> {
    match cluster.exited() {
        Some((i, status)) if !matches!(state[i], Disturbance::Down { .. }) => Some((i, status)),
        _ => None,
    }
}

fn check_alive(cluster: &mut Cluster) -> Result<(), BenchError> {
    match cluster.exited() {
        Some((index, status)) => Err(BenchError::NodeExited {
            index,
            status: status.to_string(),
            dir: cluster.dir.clone(),
        }),
        None => Ok(()),
    }
}

/// Asks every running node for its counters (SIGUSR1) and adds what each
/// sent since the last reading. A frozen node cannot answer; its share is
/// counted at the next reading.
fn read_counters(cluster: &Cluster, state: &[Disturbance], totals: &mut [Totals]) {
    let up: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| state[i] == Disturbance::Up)
        .collect();
    for &i in &up {
        let _ = std::fs::remove_file(stats::stats_path(&cluster.nodes[i].data_dir));
        let _ = signal(cluster.nodes[i].pid(), "-USR1");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for &i in &up {
        loop {
            if let Ok(s) = stats::read_stats(&cluster.nodes[i].data_dir) {
                let t = &mut totals[i];
                t.frames += s.counters.frames_sent.saturating_sub(t.last_frames);
                t.bytes += s.counters.bytes_sent.saturating_sub(t.last_bytes);
                t.last_frames = s.counters.frames_sent;
                t.last_bytes = s.counters.bytes_sent;
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(node = i, "no counters in time");
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Reads the office through one node with `officemesh status --json`.
struct Reader {
    exe: PathBuf,
    key: PathBuf,
    observer_dir: PathBuf,
}

impl Reader {
    fn status(&self, addr: &str) -> Option<Value> {
        let out = Command::new(&self.exe)
            .args(["status", "--json", "--timeout", "10", "--connect", addr])
            .arg("--key")
            .arg(&self.key)
            .env("OFFICEMESH_OBSERVER_DIR", &self.observer_dir)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }
}

/// One writer: `set target` through random nodes, on its own zones.
struct Writer {
    exe: PathBuf,
    key: PathBuf,
    observer_dir: PathBuf,
    addrs: Vec<String>,
    index: usize,
    every: Duration,
    seed: u64,
}

impl Writer {
    fn run(&self, stop: &AtomicBool) -> Vec<Attempt> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut attempts = Vec::new();
        let mut per_zone = [0usize; ZONES_PER_WRITER];
        let mut turn = 0;
        while !stop.load(Ordering::Relaxed) {
            let j = turn % ZONES_PER_WRITER;
            turn += 1;
            let zone = format!("soak-{}-{j}", self.index);
            let value = value_for(per_zone[j]);
            per_zone[j] += 1;
            let addr = &self.addrs[rng.random_range(0..self.addrs.len())];
            let out = Command::new(&self.exe)
                .args(["set", "target", &zone, &value.to_string()])
                .args(["--wait", "stored", "--timeout", "5", "--connect", addr])
                .arg("--key")
                .arg(&self.key)
                .env("OFFICEMESH_OBSERVER_DIR", &self.observer_dir)
                .env("RUST_LOG", "error")
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output();
            let acknowledged = out.is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("stored:")
            });
            attempts.push(Attempt {
                zone,
                value,
                acknowledged,
            });
            thread::sleep(self.every);
        }
        attempts
    }
}

/// What must agree across nodes: the node names and every target's
/// sibling values.
#[derive(Debug, PartialEq)]
struct View {
    names: Vec<String>,
    targets: BTreeMap<String, Vec<f64>>,
}

fn node_names(doc: &Value) -> Vec<String> {
    let mut names: Vec<String> = doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["name"].as_str().map(String::from))
        .collect();
    names.sort();
    names
}

fn view(doc: &Value) -> View {
    let targets = doc["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let zone = t["zone"].as_str()?.to_string();
            let mut values: Vec<f64> = t["siblings"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["value"].as_f64())
                .collect();
            values.sort_by(f64::total_cmp);
            Some((zone, values))
        })
        .collect();
    View {
        names: node_names(doc),
        targets,
    }
}

/// Acknowledged writes neither present nor superseded in `view`: for each
/// zone, the last acknowledged write or one attempted after it must be
/// among the zone's siblings (an earlier acknowledged write is then
/// superseded, or still a sibling).
fn lost_writes(attempts: &[Attempt], view: &View) -> Vec<String> {
    let mut by_zone: BTreeMap<&str, Vec<&Attempt>> = BTreeMap::new();
    for a in attempts {
        by_zone.entry(&a.zone).or_default().push(a);
    }
    let mut lost = Vec::new();
    for (zone, tries) in by_zone {
        let Some(last_ack) = tries.iter().rposition(|a| a.acknowledged) else {
            continue;
        };
        let held = view.targets.get(zone).cloned().unwrap_or_default();
        let present = tries[last_ack..]
            .iter()
            .any(|a| held.iter().any(|v| (v - a.value).abs() < 1e-6));
        if !present {
            lost.push(format!("{zone}={} (held: {held:?})", tries[last_ack].value));
        }
    }
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(zone: &str, value: f64, acknowledged: bool) -> Attempt {
        Attempt {
            zone: zone.into(),
            value,
            acknowledged,
        }
    }

    #[test]
    fn an_acknowledged_write_counts_when_it_or_a_later_one_is_held() {
        let attempts = [
            attempt("a", 5.0, true),
            attempt("a", 5.5, true),
            attempt("a", 6.0, false),
            attempt("b", 5.0, true),
            attempt("c", 5.0, false),
        ];
        let held = |a: &[f64], b: &[f64]| View {
            names: vec![],
            targets: [("a".to_string(), a.to_vec()), ("b".to_string(), b.to_vec())]
                .into_iter()
                .collect(),
        };
        assert!(lost_writes(&attempts, &held(&[5.5], &[5.0])).is_empty());
        // Superseded by a write that was not acknowledged but arrived.
        assert!(lost_writes(&attempts, &held(&[6.0], &[5.0])).is_empty());
        // Only an older write: the last acknowledged one was lost.
        assert_eq!(lost_writes(&attempts, &held(&[5.0], &[5.0])).len(), 1);
        assert_eq!(lost_writes(&attempts, &held(&[5.5], &[])).len(), 1);
    }
}
