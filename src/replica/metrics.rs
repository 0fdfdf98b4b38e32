//! What the replica core measures of its own work: broadcasts by kind,
//! anti-entropy rounds and bytes received, how long commits take and how
//! late other replicas' writes arrive. The core counts, since it sees
//! every input and output (in virtual time under the simulator); the node
//! only exports the figures (`service::metrics`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::histogram::Histogram;
use crate::crdt::Delta;
use crate::time::Time;
use crate::wire::payload::Payload;

/// Commit latency buckets, in µs: an fsync on a good SD card takes a few
/// milliseconds, a worn or full one seconds.
pub const COMMIT_BOUNDS_US: &[u64] = &[
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];
/// Convergence lag buckets, in µs: a broadcast reaches every node of an
/// office in tens of milliseconds; anti-entropy repairs within its period
/// (10 s by default) or, after a partition or a restart, much later.
pub const LAG_BOUNDS_US: &[u64] = &[
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    30_000_000,
    60_000_000,
    300_000_000,
];

/// Every kind of broadcast this code base sends ([`payload_kind`]); the
/// counters start at zero for each, so a scrape always lists them.
pub const BROADCAST_KINDS: &[&str] = &[
    "node_announcement",
    "reading",
    "actuator",
    "target",
    "schedule",
    "preset",
    "override",
    "watch",
    "refusal_notice",
    "skipped_notice",
];

/// How a write from elsewhere reached this replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// A Plumtree broadcast (the write's own delta).
    Broadcast,
    /// An anti-entropy answer (what the broadcasts missed).
    AntiEntropy,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Broadcast => "broadcast",
            Route::AntiEntropy => "anti_entropy",
        }
    }
}

/// The core's own measurements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metrics {
    /// Broadcasts this replica originated, by [`payload_kind`].
    pub broadcasts_sent: BTreeMap<&'static str, u64>,
    /// Broadcasts from elsewhere delivered here (first copy only), by
    /// [`payload_kind`]; `undecodable` for payloads that did not decode.
    pub broadcasts_received: BTreeMap<&'static str, u64>,
    /// Periodic anti-entropy rounds this replica opened (a summary to a
    /// random neighbour).
    pub anti_entropy_rounds: u64,
    /// Encoded size of every anti-entropy message received, envelope
    /// included (the sending side counts in `AntiEntropy::stats`).
    pub anti_entropy_received_bytes: u64,
    /// From a commit job's hand-over to the driver to its answer: the
    /// disk's time plus any wait for the disk thread.
    pub commit_latency: Histogram,
    /// From a write's set-at (its HLC wall time, on the writer's clock) to
    /// its arrival here, by route. For anti-entropy, the newest write of
    /// each answer part: how far behind this replica was.
    pub convergence_lag: BTreeMap<Route, Histogram>,
    /// The commit in flight: its token and when it was handed over.
    commit_started: Option<(u64, Time)>,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros: BTreeMap<&'static str, u64> =
            BROADCAST_KINDS.iter().map(|&kind| (kind, 0)).collect();
        Metrics {
            broadcasts_sent: zeros.clone(),
            broadcasts_received: zeros,
            anti_entropy_rounds: 0,
            anti_entropy_received_bytes: 0,
            commit_latency: Histogram::new(COMMIT_BOUNDS_US),
            convergence_lag: [Route::Broadcast, Route::AntiEntropy]
                .into_iter()
                .map(|route| (route, Histogram::new(LAG_BOUNDS_US)))
                .collect(),
            commit_started: None,
        }
    }
}

impl Metrics {
    pub fn broadcast_sent(&mut self, kind: &'static str) {
        *self.broadcasts_sent.entry(kind).or_default() += 1;
    }

    pub fn broadcast_received(&mut self, kind: &'static str) {
        *self.broadcasts_received.entry(kind).or_default() += 1;
    }

    pub fn anti_entropy_round(&mut self) {
        self.anti_entropy_rounds += 1;
    }

    pub fn anti_entropy_received(&mut self, bytes: usize) {
        self.anti_entropy_received_bytes += bytes as u64;
    }

    /// A commit job was handed to the driver at `now`.
    pub fn commit_started(&mut self, token: u64, now: Time) {
        self.commit_started = Some((token, now));
    }

    /// The answer to job `token` arrived at `now` (landed or failed).
    pub fn commit_answered(&mut self, token: u64, now: Time) {
        if let Some((_, at)) = self.commit_started.take_if(|(t, _)| *t == token) {
            let us = now.as_micros().saturating_sub(at.as_micros());
            self.commit_latency.observe(Duration::from_micros(us));
        }
    }

    /// A write set at `set_at_ms` (wall clock, ms) arrived by `route` when
    /// this replica's wall clock read `wall_ms`. A writer's clock ahead of
    /// this one counts as no lag.
    pub fn arrived(&mut self, route: Route, set_at_ms: u64, wall_ms: u64) {
        let lag = Duration::from_millis(wall_ms.saturating_sub(set_at_ms));
        self.convergence_lag
            .entry(route)
            .or_insert_with(|| Histogram::new(LAG_BOUNDS_US))
            .observe(lag);
    }
}

/// What a broadcast carries, as a metric label.
pub fn payload_kind(payload: &Payload) -> &'static str {
    match payload {
        Payload::Delta(bytes) => Delta::decode(bytes).map_or("undecodable", |d| delta_kind(&d)),
        Payload::Watch { .. } => "watch",
        Payload::ClockReport { .. } => "clock_report",
        Payload::Refused { .. } => "refusal_notice",
        Payload::Skipped { .. } => "skipped_notice",
        Payload::HistoryRequest { .. } => "history_request",
    }
}

/// What a delta writes, as a metric label: the kind of its keys
/// (`node_announcement`, `reading`, …), or `mixed` when it writes several
/// kinds (no write of this code base does).
pub fn delta_kind(delta: &Delta) -> &'static str {
    let r = &delta.0;
    let kinds = [
        (r.nodes.is_empty(), "node_announcement"),
        (r.sensors.is_empty(), "reading"),
        (r.actuators.is_empty(), "actuator"),
        (r.targets.is_empty(), "target"),
        (r.schedules.is_empty(), "schedule"),
        (r.presets.is_empty(), "preset"),
        (r.overrides.is_empty(), "override"),
    ];
    let mut present = kinds.iter().filter(|(empty, _)| !empty).map(|(_, k)| *k);
    match (present.next(), present.next()) {
        (Some(kind), None) => kind,
        (None, _) => "empty",
        (Some(_), Some(_)) => "mixed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_is_timed_from_hand_over_to_answer() {
        let mut m = Metrics::default();
        m.commit_started(7, Time::from_micros(1_000));
        // An answer for another job is not this one's.
        m.commit_answered(6, Time::from_micros(2_000));
        assert_eq!(m.commit_latency.count(), 0);
        m.commit_answered(7, Time::from_micros(4_000));
        assert_eq!(m.commit_latency.count(), 1);
        assert_eq!(m.commit_latency.sum(), Duration::from_millis(3));
        // Answered once only.
        m.commit_answered(7, Time::from_micros(9_000));
        assert_eq!(m.commit_latency.count(), 1);
    }

    #[test]
    fn lag_is_never_negative_and_is_kept_by_route() {
        let mut m = Metrics::default();
        m.arrived(Route::Broadcast, 10_000, 10_020);
        m.arrived(Route::Broadcast, 10_050, 10_020);
        m.arrived(Route::AntiEntropy, 0, 20_000);
        let broadcast = &m.convergence_lag[&Route::Broadcast];
        assert_eq!(broadcast.count(), 2);
        assert_eq!(broadcast.sum(), Duration::from_millis(20));
        let repair = &m.convergence_lag[&Route::AntiEntropy];
        assert_eq!(repair.sum(), Duration::from_secs(20));
    }
}
