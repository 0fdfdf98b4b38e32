//! What `officemesh bench` prints: one JSON document or a few lines of
//! text, both from [`BenchReport`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// A latency distribution in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples` (none: all zero).
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| -> f64 {
            if ms.is_empty() {
                return 0.0;
            }
            let i = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[i.clamp(1, ms.len()) - 1]
        };
        Percentiles {
            p50: rank(50.0),
            p99: rank(99.0),
            max: rank(100.0),
        }
    }
}

/// Mean and maximum over the nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct MeanMax {
    pub mean: f64,
    pub max: f64,
}

impl MeanMax {
    pub fn of(values: &[f64]) -> MeanMax {
        if values.is_empty() {
            return MeanMax::default();
        }
        MeanMax {
            mean: values.iter().sum::<f64>() / values.len() as f64,
            max: values.iter().copied().fold(f64::MIN, f64::max),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BenchReport {
    pub nodes: usize,
    /// Every node published a simulated reading each default interval.
    pub sensors: bool,
    pub updates: usize,
    /// Updates whose every node reported covering them within the timeout.
    pub converged_updates: usize,
    /// From start until every node was visible and had reported its clock.
    pub settle_ms: f64,
    /// From the write until the attached node's *stored* answer (its
    /// store commit, with fsync, included).
    pub stored_ms: Percentiles,
    /// From the write (taken before the observer persists its dot) until
    /// the last node applied it, by the nodes' own record on the shared
    /// wall clock.
    pub converge_ms: Percentiles,
    /// From the write until the last node's clock report covering it
    /// reached the observer (what `set --wait converged` waits for: the
    /// reports' own trip back through the overlay included).
    pub reported_ms: Percentiles,
    /// All bytes every node wrote to its sockets during the update phase
    /// (payload, Noise tags, length prefixes; reports to the observer
    /// included), divided by the number of updates.
    pub bytes_per_update: f64,
    /// The same split by what the bytes were for (payload, tree repair,
    /// membership, anti-entropy, observer answers such as clock reports);
    /// handshakes are in no class.
    pub bytes_per_update_by_traffic: BTreeMap<&'static str, f64>,
    /// Frames every node sent during the update phase, per update.
    pub frames_per_update: f64,
    /// Length of the quiet window the idle figures come from.
    pub idle_secs: f64,
    /// Bytes each node wrote per second in the quiet window (readings
    /// included with sensors).
    pub idle_bytes_per_sec_per_node: MeanMax,
    /// Frames (messages) each node sent per second in the quiet window.
    pub idle_frames_per_sec_per_node: MeanMax,
    /// The mean node's quiet-window bytes per second, split by class.
    pub idle_bytes_per_sec_per_node_by_traffic: BTreeMap<&'static str, f64>,
    /// Share of one core each node used in the quiet window, in percent.
    pub idle_cpu_percent_per_node: MeanMax,
    /// `write_bytes` of `/proc/PID/io` over the quiet window, scaled to an
    /// hour: what each node's process sent toward its disk.
    pub disk_write_bytes_per_node_per_hour: MeanMax,
    /// Resident memory of each node process at the end.
    pub rss_kib_per_node: MeanMax,
}

impl BenchReport {
    pub fn text(&self) -> String {
        let c = &self.converge_ms;
        let split = |m: &BTreeMap<&'static str, f64>, digits: usize| {
            let mut line = String::new();
            for (k, v) in m {
                let _ = write!(line, "  {k} {v:.digits$}");
            }
            line
        };
        format!(
            "nodes: {}{}\n\
             settled in: {:.0} ms\n\
             updates: {} ({} converged)\n\
             stored_ms: p50 {:.1}  p99 {:.1}  max {:.1}\n\
             converge_ms: p50 {:.1}  p99 {:.1}  max {:.1}\n\
             reported_ms: p50 {:.1}  p99 {:.1}  max {:.1}\n\
             bytes_per_update: {:.0}\n\
             bytes_per_update by traffic:{}\n\
             frames_per_update: {:.0}\n\
             idle window: {:.0} s\n\
             idle_bytes_per_sec_per_node: mean {:.1}  max {:.1}\n\
             idle_frames_per_sec_per_node: mean {:.2}  max {:.2}\n\
             idle_bytes_per_sec_per_node by traffic (mean):{}\n\
             idle_cpu_percent_per_node: mean {:.3}  max {:.3}\n\
             disk_write_bytes_per_node_per_hour: mean {:.0}  max {:.0}\n\
             rss_kib_per_node: mean {:.0}  max {:.0}\n",
            self.nodes,
            if self.sensors {
                " (sensors publishing)"
            } else {
                ""
            },
            self.settle_ms,
            self.updates,
            self.converged_updates,
            self.stored_ms.p50,
            self.stored_ms.p99,
            self.stored_ms.max,
            c.p50,
            c.p99,
            c.max,
            self.reported_ms.p50,
            self.reported_ms.p99,
            self.reported_ms.max,
            self.bytes_per_update,
            split(&self.bytes_per_update_by_traffic, 0),
            self.frames_per_update,
            self.idle_secs,
            self.idle_bytes_per_sec_per_node.mean,
            self.idle_bytes_per_sec_per_node.max,
            self.idle_frames_per_sec_per_node.mean,
            self.idle_frames_per_sec_per_node.max,
            split(&self.idle_bytes_per_sec_per_node_by_traffic, 1),
            self.idle_cpu_percent_per_node.mean,
            self.idle_cpu_percent_per_node.max,
            self.disk_write_bytes_per_node_per_hour.mean,
            self.disk_write_bytes_per_node_per_hour.max,
            self.rss_kib_per_node.mean,
            self.rss_kib_per_node.max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!((p.p50, p.p99, p.max), (50.0, 99.0, 100.0));
        let one = Percentiles::of(&[Duration::from_millis(7)]);
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Percentiles::of(&[]), Percentiles::default());
    }

    #[test]
    fn mean_and_max() {
        let m = MeanMax::of(&[1.0, 2.0, 6.0]);
        assert_eq!((m.mean, m.max), (3.0, 6.0));
    }
}
