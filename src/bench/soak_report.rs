//! What `officemesh soak` prints: one JSON document or a few lines of
//! text, both from [`SoakReport`], and the straight line fitted to a
//! node's memory over time.

use std::fmt::Write as _;

use serde::Serialize;

use super::report::MeanMax;

/// The least-squares slope of `points` (x, y), or `None` with fewer than
/// two distinct x.
pub fn fitted_slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    Some(sxy / sxx)
}

/// One memory reading of every node (`None`: down at that moment).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RssSample {
    /// Seconds since the nodes were started.
    pub at_secs: f64,
    pub rss_kib: Vec<Option<u64>>,
}

/// How a write's acknowledgement turned out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WriteCounts {
    pub attempted: u64,
    /// Reported *stored* by the node the writer went through.
    pub acknowledged: u64,
}

/// What the churn did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChurnCounts {
    /// SIGKILL, then a restart from the same data directory.
    pub kills: u64,
    /// SIGSTOP, then SIGCONT: to its peers a node that went silent without
    /// closing its connections, as behind a partition, and came back.
    pub freezes: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SoakReport {
    pub nodes: usize,
    /// Nodes never killed or frozen: the memory slope is theirs.
    pub steady_nodes: Vec<usize>,
    pub seed: u64,
    /// Length of the churn and write phase.
    pub secs: f64,
    /// Samples before this are the warm-up, left out of the slope.
    pub warm_up_secs: f64,
    pub churn: ChurnCounts,
    pub writes: WriteCounts,
    /// Frames every node sent, summed, per second of the run.
    pub messages_per_sec: f64,
    pub bytes_per_sec: f64,
    /// `write_bytes` of `/proc/PID/io` summed over each node's processes.
    pub disk_write_bytes_per_node: Vec<u64>,
    pub disk_write_bytes_per_node_per_hour: MeanMax,
    /// Fitted slope of each steady node's RSS after the warm-up, KiB per
    /// minute, in the order of `steady_nodes`.
    pub rss_slope_kib_per_min: Vec<f64>,
    /// The largest of them in absolute value.
    pub rss_slope_kib_per_min_max: f64,
    /// Their median: one allocator step on one node moves the largest.
    pub rss_slope_kib_per_min_median: f64,
    pub rss_kib_at_end: MeanMax,
    pub rss: Vec<RssSample>,
    /// Every node's replica held the same targets and every node's entry.
    pub converged: bool,
    /// Seconds from the end of the churn until every node agreed.
    pub converge_secs: f64,
    /// Acknowledged writes neither present nor superseded on every node,
    /// as `zone=value` (empty when all are).
    pub lost_writes: Vec<String>,
}

impl SoakReport {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "soak: {} nodes ({} steady), {:.0} s (warm-up {:.0} s), seed {}",
            self.nodes,
            self.steady_nodes.len(),
            self.secs,
            self.warm_up_secs,
            self.seed
        );
        let _ = writeln!(
            out,
            "churn: {} kills with restarts, {} freezes",
            self.churn.kills, self.churn.freezes
        );
        let _ = writeln!(
            out,
            "writes: {} attempted, {} acknowledged as stored",
            self.writes.attempted, self.writes.acknowledged
        );
        let _ = writeln!(
            out,
            "traffic: {:.0} messages/s, {:.0} bytes/s over all nodes",
            self.messages_per_sec, self.bytes_per_sec
        );
        let _ = writeln!(
            out,
            "disk: {:.0} bytes/h per node (mean), {:.0} (max)",
            self.disk_write_bytes_per_node_per_hour.mean,
            self.disk_write_bytes_per_node_per_hour.max
        );
        let _ = writeln!(
            out,
            "memory: {:.0} KiB at the end (mean), {:.0} (max); slope of the steady nodes after warm-up \
             {:+.1} KiB/min (median), {:+.1} (largest)",
            self.rss_kib_at_end.mean,
            self.rss_kib_at_end.max,
            self.rss_slope_kib_per_min_median,
            self.rss_slope_kib_per_min_max
        );
        let _ = writeln!(
            out,
            "convergence: {} after {:.1} s; {} acknowledged writes lost",
            if self.converged { "yes" } else { "NO" },
            self.converge_secs,
            self.lost_writes.len()
        );
        for lost in &self.lost_writes {
            let _ = writeln!(out, "  lost: {lost}");
        }
        out
    }
}

/// The median of `values` (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line_is_its_gradient() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((fitted_slope(&line).unwrap() - 3.0).abs() < 1e-9);
        let flat: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 5.0)).collect();
        assert_eq!(fitted_slope(&flat), Some(0.0));
        assert_eq!(fitted_slope(&[(1.0, 2.0)]), None);
        assert_eq!(fitted_slope(&[(1.0, 2.0), (1.0, 3.0)]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
