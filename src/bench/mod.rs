//! `officemesh bench`: N real node processes on loopback with real TCP and
//! Noise, measured from outside: convergence, idle traffic, memory, CPU and
//! disk writes per node (docs/benchmarks.md, "Node benchmark").
//!
//! Phases:
//! 1. start N `officemesh node` processes ([`Cluster`]) and attach an
//!    observer to the first; settled when every node's `Node` entry is in
//!    the observer's replica, every node has sent a clock report, and the
//!    nodes' membership traffic has fallen to an idle office's
//!    ([`MEMBERSHIP_QUIET`]): writes timed while the overlay still forms
//!    would time its joins, not the office;
//! 2. K target writes through the observer, one every `spacing`; each is
//!    timed until every node's clock report covers its dot (`reported_ms`),
//!    then the next; after the last, every node is asked (SIGUSR1) when its
//!    winning targets changed: for each write, the last node's first change
//!    at or after its start, on the same machine's clock, is `converge_ms`
//!    (timed on the targets alone, so a reading or a `Node` entry arriving
//!    meanwhile does not stretch it); the nodes' byte counters are read
//!    before and after;
//! 3. the observer leaves, the Watch leases run out (no clock reports any
//!    more, as in an office nobody watches), then a quiet window measures
//!    bytes, frames, CPU time, disk writes and memory per node.
//!
//! With `sensors`, every node also measures a simulated room and publishes
//! a reading every default sensor interval, from its start: the quiet
//! window is then a working office nobody watches, and its disk writes are
//! what an SD card sees in steady state.

pub mod cluster;
pub mod process;
pub mod report;
pub mod signing;
pub mod soak;
pub mod soak_report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

pub use cluster::Cluster;
pub use report::{BenchReport, MeanMax, Percentiles};

use crate::crdt::Quantity;
use crate::node::stats;
use crate::node_id::NodeId;
use crate::observer::{Observer, ObserverError, ObserverIdentity, Update};
use crate::replica::watch::WATCH_LEASE;
use crate::wire::traffic;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Proc { path: PathBuf, reason: String },
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Observer(#[from] ObserverError),
    #[error(
        "the overlay did not settle within {secs} s: {seen} of {nodes} nodes visible, {reported} reported"
    )]
    NotSettled {
        secs: u64,
        nodes: usize,
        seen: usize,
        reported: usize,
    },
    #[error("node {index} exited during the benchmark ({status}); its log is in {dir}")]
    NodeExited {
        index: usize,
        status: String,
        dir: PathBuf,
    },
}

#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The `officemesh` executable the nodes run.
    pub exe: PathBuf,
    pub nodes: usize,
    pub updates: usize,
    /// Time between two writes.
    pub spacing: Duration,
    /// Length of the quiet window.
    pub idle: Duration,
    /// Longest wait for the overlay to settle.
    pub settle_timeout: Duration,
    /// Longest wait for one write to reach every node.
    pub converge_timeout: Duration,
    /// Keep the scratch directory (configs, logs) after the run.
    pub keep_dir: bool,
    /// Every node publishes a simulated reading each default interval.
    pub sensors: bool,
    /// Plumtree's batching window on every node (`None`: the default).
    pub batch_window_ms: Option<u64>,
    /// Plumtree's batching burst on every node (`None`: the default).
    pub batch_burst: Option<u32>,
}

impl BenchOptions {
    pub fn new(exe: PathBuf, nodes: usize) -> BenchOptions {
        BenchOptions {
            exe,
            nodes,
            updates: 20,
            spacing: Duration::from_millis(200),
            idle: Duration::from_secs(30),
            settle_timeout: Duration::from_secs(60),
            converge_timeout: Duration::from_secs(5),
            keep_dir: false,
            sensors: false,
            batch_window_ms: None,
            batch_burst: None,
        }
    }
}

/// The quiet window's default length with sensors: long enough for four
/// readings per node at the default 30 s interval, so a disk figure per
/// hour is not one commit's luck.
pub const WORKING_IDLE: Duration = Duration::from_secs(120);

/// The Watch lease outlives the observer by at most [`WATCH_LEASE`]; this
/// much more lets the last reports drain before the quiet window.
const LEASE_DRAIN: Duration = Duration::from_secs(3);

/// Runs the benchmark. Every node process is killed when this returns or
/// its future is dropped (Ctrl-C).
pub async fn run(options: &BenchOptions) -> Result<BenchReport, BenchError> {
    if options.nodes == 0 {
        return Err(BenchError::Setup("--nodes must be at least 1".into()));
    }
    if options.updates > stats::RECENT_TARGET_CHANGES {
        return Err(BenchError::Setup(format!(
            "--updates must be at most {}: each node remembers that many target changes",
            stats::RECENT_TARGET_CHANGES
        )));
    }
    let started = Instant::now();
    let setup = cluster::NodeSetup {
        sensors: options.sensors,
        batch_window_ms: options.batch_window_ms,
        batch_burst: options.batch_burst,
    };
    let mut cluster = Cluster::start(&options.exe, options.nodes, &setup, options.keep_dir)?;
    tracing::info!(nodes = options.nodes, dir = %cluster.dir.display(), "nodes started");

    let mut observer = attach(&cluster, started + options.settle_timeout).await?;
    let node_ids = settle(&mut cluster, &mut observer, options).await?;
    let settle_ms = started.elapsed().as_secs_f64() * 1e3;
    tracing::info!(settle_ms, "overlay settled");

    let before = cluster.stats().await?;
    let mut timed_starts_us = Vec::with_capacity(options.updates);
    let mut stored_samples = Vec::with_capacity(options.updates);
    let mut reported_samples = Vec::with_capacity(options.updates);
    for k in 0..options.updates {
        let t0 = Instant::now();
        let t0_wall_us = wall_us();
        let value = 18.0 + (k % 20) as f32 * 0.5;
        let submitted =
            observer.write_target("bench", Quantity::Temperature, value, "bench".into())?;
        let dot = submitted.dot;
        let deadline = t0 + options.converge_timeout;
        let covers = |o: &Observer| {
            node_ids.iter().all(|id| {
                o.clocks()
                    .get(id)
                    .and_then(|c| c.vector.get(&dot.replica))
                    .is_some_and(|&c| c >= dot.counter)
            })
        };
        let mut stored = None;
        let mut converged = None;
        while stored.is_none() || converged.is_none() {
            match tokio::time::timeout_at(deadline, observer.next_update()).await {
                Err(_) => break,
                Ok(Update::Stored { request, .. }) if request == submitted.request => {
                    stored = Some(t0.elapsed());
                }
                Ok(Update::Rejected { request, reason }) if request == submitted.request => {
                    return Err(BenchError::Setup(format!("write refused: {reason}")));
                }
                Ok(Update::NotStored {
                    request, reason, ..
                }) if request == submitted.request => {
                    return Err(BenchError::Setup(format!("write not stored: {reason}")));
                }
                Ok(_) => {}
            }
            if converged.is_none() && covers(&observer) {
                converged = Some(t0.elapsed());
            }
        }
        tracing::debug!(update = k, ?stored, ?converged, "write timed");
        match (stored, converged) {
            (Some(s), Some(c)) => {
                stored_samples.push(s);
                reported_samples.push(c);
                timed_starts_us.push(t0_wall_us);
            }
            _ => tracing::warn!(
                update = k,
                ?stored,
                ?converged,
                "write not stored and reported by every node in time"
            ),
        }
        // Keep reading while waiting for the next write's turn.
        observer.wait_until(t0 + options.spacing, |_| false).await;
        check_alive(&mut cluster)?;
    }
    let after = cluster.stats().await?;
    let samples = applied_after(&timed_starts_us, &after);
    let update_bytes: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.counters.bytes_sent.saturating_sub(b.counters.bytes_sent))
        .sum();
    let update_traffic = by_traffic(&after, &before, options.updates.max(1) as f64);
    let update_frames: u64 = after
        .iter()
        .zip(&before)
        .map(|(a, b)| {
            a.counters
                .frames_sent
                .saturating_sub(b.counters.frames_sent)
        })
        .sum();

    // The quiet window: nobody watches, nothing is written.
    drop(observer);
    tokio::time::sleep(WATCH_LEASE + LEASE_DRAIN).await;
    check_alive(&mut cluster)?;
    let pids: Vec<u32> = cluster.nodes.iter().map(|n| n.pid()).collect();
    let idle_before = cluster.stats().await?;
    // The disk counters are read inside the two stats requests, so the
    // stats files they make the nodes write stay out of the figure.
    let disk_before = disk_write_bytes(&pids)?;
    let cpu_before = pids
        .iter()
        .map(|p| process::cpu_ticks(*p))
        .collect::<Result<Vec<_>, _>>()?;
    let window_start = Instant::now();
    tokio::time::sleep(options.idle).await;
    let cpu_after = pids
        .iter()
        .map(|p| process::cpu_ticks(*p))
        .collect::<Result<Vec<_>, _>>()?;
    let disk_after = disk_write_bytes(&pids)?;
    let window = window_start.elapsed().as_secs_f64();
    let idle_after = cluster.stats().await?;
    check_alive(&mut cluster)?;
    let idle_bytes: Vec<f64> = idle_after
        .iter()
        .zip(&idle_before)
        .map(|(a, b)| a.counters.bytes_sent.saturating_sub(b.counters.bytes_sent) as f64 / window)
        .collect();
    let idle_frames: Vec<f64> = idle_after
        .iter()
        .zip(&idle_before)
        .map(|(a, b)| {
            a.counters
                .frames_sent
                .saturating_sub(b.counters.frames_sent) as f64
                / window
        })
        .collect();
    let disk_per_hour: Vec<f64> = disk_after
        .iter()
        .zip(&disk_before)
        .map(|(a, b)| a.saturating_sub(*b) as f64 / window * 3600.0)
        .collect();
    let idle_traffic = by_traffic(&idle_after, &idle_before, window * options.nodes as f64);
    let idle_cpu: Vec<f64> = cpu_after
        .iter()
        .zip(&cpu_before)
        .map(|(a, b)| a.saturating_sub(*b) as f64 / process::TICKS_PER_SEC / window * 100.0)
        .collect();
    let rss = pids
        .iter()
        .map(|p| process::rss_kib(*p).map(|k| k as f64))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(BenchReport {
        nodes: options.nodes,
        sensors: options.sensors,
        updates: options.updates,
        converged_updates: samples.len(),
        settle_ms,
        stored_ms: Percentiles::of(&stored_samples),
        converge_ms: Percentiles::of(&samples),
        reported_ms: Percentiles::of(&reported_samples),
        bytes_per_update: if options.updates == 0 {
            0.0
        } else {
            update_bytes as f64 / options.updates as f64
        },
        bytes_per_update_by_traffic: update_traffic,
        frames_per_update: if options.updates == 0 {
            0.0
        } else {
            update_frames as f64 / options.updates as f64
        },
        idle_secs: window,
        idle_bytes_per_sec_per_node: MeanMax::of(&idle_bytes),
        idle_frames_per_sec_per_node: MeanMax::of(&idle_frames),
        idle_bytes_per_sec_per_node_by_traffic: idle_traffic,
        idle_cpu_percent_per_node: MeanMax::of(&idle_cpu),
        disk_write_bytes_per_node_per_hour: MeanMax::of(&disk_per_hour),
        rss_kib_per_node: MeanMax::of(&rss),
    })
}

/// Attaches an observer to the first node, retrying while it starts.
async fn attach(cluster: &Cluster, deadline: Instant) -> Result<Observer, BenchError> {
    let identity_dir = cluster.dir.join("observer");
    loop {
        let identity =
            ObserverIdentity::load_or_generate(&identity_dir).map_err(ObserverError::from)?;
        match Observer::connect(identity, cluster.key.clone(), vec![cluster.nodes[0].addr]).await {
            Ok(o) => return Ok(o),
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// How long after its start each timed write took effect on the last
/// node, from the nodes' own records: a node's first change of its winning
/// targets at or after a write's start is that write (the next one starts
/// only once every node reported this one). The records are read once,
/// after every write, so no node writes a file between two timed writes.
fn applied_after(starts_us: &[u64], nodes: &[stats::NodeStats]) -> Vec<Duration> {
    starts_us
        .iter()
        .filter_map(|&start| {
            nodes
                .iter()
                .map(|n| {
                    n.targets_changed_recent_us
                        .iter()
                        .copied()
                        .find(|&us| us >= start)
                })
                .collect::<Option<Vec<u64>>>()?
                .into_iter()
                .max()
                .map(|last| Duration::from_micros(last - start))
        })
        .collect()
}

/// Membership bytes per node per second under which the overlay counts as
/// formed: an idle office's shuffles cost about 50, joins many times more.
const MEMBERSHIP_QUIET: f64 = 100.0;
/// The window the membership traffic is measured over.
const MEMBERSHIP_WINDOW: Duration = Duration::from_secs(2);

/// Waits, reading the observer, until the nodes' membership traffic over
/// [`MEMBERSHIP_WINDOW`] is under [`MEMBERSHIP_QUIET`].
async fn membership_quiet(
    cluster: &mut Cluster,
    observer: &mut Observer,
    deadline: Instant,
) -> Result<(), BenchError> {
    let mut before = cluster.stats().await?;
    loop {
        observer
            .wait_until(Instant::now() + MEMBERSHIP_WINDOW, |_| false)
            .await;
        let after = cluster.stats().await?;
        let per = MEMBERSHIP_WINDOW.as_secs_f64() * after.len().max(1) as f64;
        let rate = by_traffic(&after, &before, per)
            .get(traffic::Traffic::Membership.name())
            .copied()
            .unwrap_or(0.0);
        tracing::debug!(rate, "membership bytes per node per second");
        if rate <= MEMBERSHIP_QUIET {
            return Ok(());
        }
        check_alive(cluster)?;
        if Instant::now() >= deadline {
            return Err(BenchError::Setup(format!(
                "the overlay still sent {rate:.0} membership bytes per node per second after the settle timeout"
            )));
        }
        before = after;
    }
}

/// Waits until every node is in the observer's replica and has reported
/// its clock; returns their ids.
async fn settle(
    cluster: &mut Cluster,
    observer: &mut Observer,
    options: &BenchOptions,
) -> Result<Vec<NodeId>, BenchError> {
    let deadline = Instant::now() + options.settle_timeout;
    let n = options.nodes;
    loop {
        let step = (Instant::now() + Duration::from_millis(500)).min(deadline);
        let done = observer
            .wait_until(step, |o| {
                o.state().nodes().count() == n
                    && o.state()
                        .nodes()
                        .all(|(id, _)| o.clocks().contains_key(&id))
            })
            .await;
        if done {
            membership_quiet(cluster, observer, deadline).await?;
            return Ok(observer.state().nodes().map(|(id, _)| id).collect());
        }
        check_alive(cluster)?;
        if Instant::now() >= deadline {
            let seen = observer.state().nodes().count();
            let reported = observer
                .state()
                .nodes()
                .filter(|(id, _)| observer.clocks().contains_key(id))
                .count();
            return Err(BenchError::NotSettled {
                secs: options.settle_timeout.as_secs(),
                nodes: n,
                seen,
                reported,
            });
        }
    }
}

/// The bytes every node sent between two stats readings, per traffic
/// class, divided by `per`.
fn by_traffic(
    after: &[stats::NodeStats],
    before: &[stats::NodeStats],
    per: f64,
) -> BTreeMap<&'static str, f64> {
    traffic::ALL
        .iter()
        .map(|&class| {
            let sum: u64 = after
                .iter()
                .zip(before)
                .map(|(a, b)| {
                    let (a, b) = (&a.counters.sent_by_traffic, &b.counters.sent_by_traffic);
                    a.get(class).saturating_sub(b.get(class))
                })
                .sum();
            (class.name(), sum as f64 / per)
        })
        .collect()
}

fn disk_write_bytes(pids: &[u32]) -> Result<Vec<u64>, BenchError> {
    pids.iter().map(|p| process::disk_write_bytes(*p)).collect()
}

fn wall_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
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
