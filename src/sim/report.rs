//! A scenario's figures, as one JSON object or a table for people.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use serde::Serialize;

use super::metrics::{BroadcastRecord, MessageCounters};
pub use super::quantiles::Quantiles;
use super::quantiles::ms;

/// One broadcast's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BroadcastFigures {
    pub reliability: f64,
    pub rmr: f64,
    pub ldh: u16,
    pub time_to_all_ms: f64,
    pub payload_messages: u64,
}

impl BroadcastFigures {
    pub fn of(r: &BroadcastRecord, live: &[bool]) -> Self {
        BroadcastFigures {
            reliability: r.reliability(|n| live.get(n).copied().unwrap_or(false)),
            rmr: r.rmr(),
            ldh: r.max_hops,
            time_to_all_ms: ms(r.time_to_last()),
            payload_messages: r.payload_messages,
        }
    }
}

/// The `failure` scenario's extra figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureFigures {
    pub fail_fraction: f64,
    pub crashed: usize,
    /// Reliability of each broadcast round after the crash, in order.
    pub reliability_by_round: Vec<f64>,
    /// The same broadcasts' reliability at the end of the run: deliveries
    /// that needed the overlay's repair (GRAFTs over new links) count too.
    pub eventual_by_round: Vec<f64>,
    /// The first round (1-based) whose broadcast reached every live node,
    /// if any did.
    pub rounds_to_full: Option<usize>,
}

/// Everything `officemesh sim` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub scenario: String,
    pub protocol: String,
    pub nodes: usize,
    pub seed: u64,
    pub latency: String,
    pub loss: f64,
    /// Measured broadcasts (warm-up excluded).
    pub broadcasts: usize,
    pub reliability_min: f64,
    pub reliability_mean: f64,
    /// Mean RMR over the measured broadcasts.
    pub rmr: f64,
    pub ldh_max: u16,
    /// Over all deliveries (glomers: over broadcasts, the time until every
    /// live node had the value).
    pub latency_ms: Quantiles,
    /// Mean over broadcasts of the time until the last delivery.
    pub time_to_all_ms: f64,
    pub msgs_per_op: Option<f64>,
    /// Broadcasts that did not reach every live node by the end.
    pub lost: usize,
    /// Messages sent by kind over the measured window.
    pub messages: BTreeMap<String, u64>,
    pub messages_total: u64,
    /// Framed bytes sent over the measured window.
    pub bytes: u64,
    pub warmup: Option<BroadcastFigures>,
    pub failure: Option<FailureFigures>,
    /// One row per fail fraction when several are asked for.
    pub failure_table: Vec<FailureFigures>,
    /// Simulated time at the end, and events processed.
    pub virtual_ms: u64,
    pub events: u64,
    /// Wall-clock time of the run, filled in by the caller (the simulator
    /// never reads a clock); 0 when not measured.
    pub wall_ms: u64,
    /// `glomers`: the same values flooded over the same views (see
    /// [`super::flood_bound`]), the limit its latency is judged against.
    pub flood_bound: Option<super::flood_bound::FloodBound>,
    /// The `office` scenario's figures, flattened into the JSON object.
    #[serde(flatten)]
    pub office: Option<super::scenario::OfficeFigures>,
}

impl Report {
    /// The figures common to every scenario, from the measured broadcasts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_records(
        scenario: &str,
        protocol: &str,
        nodes: usize,
        seed: u64,
        latency: String,
        loss: f64,
        records: &[&BroadcastRecord],
        live: &[bool],
        counters: &MessageCounters,
    ) -> Self {
        let figures: Vec<BroadcastFigures> = records
            .iter()
            .map(|r| BroadcastFigures::of(r, live))
            .collect();
        let n = figures.len().max(1) as f64;
        let mut delays: Vec<Duration> = records
            .iter()
            .flat_map(|r| r.delays.iter().copied())
            .collect();
        Report {
            scenario: scenario.to_string(),
            protocol: protocol.to_string(),
            nodes,
            seed,
            latency,
            loss,
            broadcasts: records.len(),
            reliability_min: figures.iter().map(|f| f.reliability).fold(1.0, f64::min),
            reliability_mean: if figures.is_empty() {
                1.0
            } else {
                figures.iter().map(|f| f.reliability).sum::<f64>() / n
            },
            rmr: figures.iter().map(|f| f.rmr).sum::<f64>() / n,
            ldh_max: figures.iter().map(|f| f.ldh).max().unwrap_or(0),
            latency_ms: Quantiles::of(&mut delays),
            time_to_all_ms: figures.iter().map(|f| f.time_to_all_ms).sum::<f64>() / n,
            msgs_per_op: None,
            lost: figures.iter().filter(|f| f.reliability < 1.0).count(),
            messages: counters
                .by_kind
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            messages_total: counters.total(),
            bytes: counters.bytes,
            warmup: None,
            failure: None,
            failure_table: Vec::new(),
            virtual_ms: 0,
            events: 0,
            wall_ms: 0,
            flood_bound: None,
            office: None,
        }
    }

    /// The JSON object (one line).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rows: Vec<(String, String)> = vec![
            ("scenario".into(), self.scenario.clone()),
            ("protocol".into(), self.protocol.clone()),
            ("nodes".into(), self.nodes.to_string()),
            ("seed".into(), self.seed.to_string()),
            (
                "latency / loss".into(),
                format!("{} / {}", self.latency, self.loss),
            ),
            ("broadcasts".into(), self.broadcasts.to_string()),
            (
                "reliability min / mean".into(),
                format!("{:.4} / {:.4}", self.reliability_min, self.reliability_mean),
            ),
            ("RMR (mean)".into(), format!("{:.4}", self.rmr)),
            ("LDH max".into(), self.ldh_max.to_string()),
            (
                "latency ms p50/p95/p99/max".into(),
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1}",
                    self.latency_ms.p50,
                    self.latency_ms.p95,
                    self.latency_ms.p99,
                    self.latency_ms.max
                ),
            ),
            (
                "time to all ms (mean)".into(),
                format!("{:.1}", self.time_to_all_ms),
            ),
        ];
        if let Some(b) = &self.flood_bound {
            rows.push((
                "flood bound ms p50/max".into(),
                format!(
                    "{:.1} / {:.1} (same views; {} values, {} without a bound)",
                    b.latency_ms.p50, b.latency_ms.max, b.values, b.unreachable
                ),
            ));
        }
        if let Some(m) = self.msgs_per_op {
            rows.push(("msgs per op".into(), format!("{m:.2}")));
        }
        rows.push(("lost".into(), self.lost.to_string()));
        if let Some(w) = &self.warmup {
            rows.push((
                "warm-up broadcast".into(),
                format!(
                    "reliability {:.4}, RMR {:.4}, LDH {}, time to all {:.1} ms",
                    w.reliability, w.rmr, w.ldh, w.time_to_all_ms
                ),
            ));
        }
        for fail in self.failure.iter().chain(&self.failure_table) {
            rows.push((
                format!(
                    "crash {:.0}% ({} nodes)",
                    fail.fail_fraction * 100.0,
                    fail.crashed
                ),
                failure_line(fail),
            ));
        }
        if let Some(o) = &self.office {
            rows.push((
                "office: converged".into(),
                format!(
                    "{} (after {} ms; anti-entropy period {} ms)",
                    o.converged,
                    o.converge_ms.map_or("-".to_string(), |ms| ms.to_string()),
                    o.anti_entropy_period_ms
                ),
            ));
            rows.push((
                "office: writes".into(),
                format!(
                    "{} targets ({} lost), {} readings; {} observers, partition {}, {} crashed",
                    o.target_writes, o.lost_writes, o.readings, o.observers, o.partition, o.crashed
                ),
            ));
            rows.push((
                "office: refused writes".into(),
                format!(
                    "{} refused by their node, {} applied on some replica",
                    o.refused_writes, o.refused_applied
                ),
            ));
            rows.push((
                "office: siblings max / state".into(),
                format!("{} / {} bytes", o.siblings_max, o.state_bytes),
            ));
            rows.push((
                "office: overlay components".into(),
                o.overlay_components.to_string(),
            ));
            rows.push((
                "office: anti-entropy / all bytes".into(),
                format!("{} / {}", o.anti_entropy_bytes, o.bytes_sent),
            ));
        }
        let mut kinds = String::new();
        for (k, v) in &self.messages {
            let _ = write!(kinds, "{k} {v}  ");
        }
        rows.push((
            "messages".into(),
            format!("{} total: {}", self.messages_total, kinds.trim_end()),
        ));
        rows.push(("bytes".into(), self.bytes.to_string()));
        rows.push((
            "virtual time / events".into(),
            format!("{} ms / {}", self.virtual_ms, self.events),
        ));
        rows.push(("wall time".into(), format!("{} ms", self.wall_ms)));
        let width = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in rows {
            writeln!(f, "{k:<width$}  {v}")?;
        }
        Ok(())
    }
}

fn failure_line(fail: &FailureFigures) -> String {
    let first = fail.reliability_by_round.first().copied().unwrap_or(1.0);
    let eventual = fail.eventual_by_round.first().copied().unwrap_or(1.0);
    let rounds = fail
        .rounds_to_full
        .map_or("not within the run".to_string(), |r| r.to_string());
    let shown: Vec<String> = fail
        .reliability_by_round
        .iter()
        .take(8)
        .map(|r| format!("{r:.4}"))
        .collect();
    format!(
        "first broadcast {first:.4} after 1 s, {eventual:.4} by the end; back to 1.0 at round {rounds}; rounds: {}",
        shown.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let q = Quantiles::of(&mut d);
        assert_eq!(
            q,
            Quantiles {
                p50: 50.0,
                p95: 95.0,
                p99: 99.0,
                max: 100.0
            }
        );
        assert_eq!(Quantiles::of(&mut []), Quantiles::default());
    }
}
