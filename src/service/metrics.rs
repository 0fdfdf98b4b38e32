//! The node's Prometheus metrics, read from its [`Health`] at each scrape
//! (no second set of counters to keep in step). Names follow Prometheus'
//! conventions: an `officemesh_` prefix, base units in the name
//! (`_bytes`, `_celsius`), `_total` on counters.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::node::health::Health;
use crate::replica::histogram::Histogram;

/// A registry holding one node's metrics.
pub fn registry(health: Health) -> Registry {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(NodeCollector { health }));
    registry
}

/// The registry in the Prometheus text format (version 0.0.4), what
/// `GET /metrics` answers.
pub fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, registry)?;
    Ok(text)
}

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Debug)]
struct NodeCollector {
    health: Health,
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// One family of counters with a single label.
fn labelled_counters(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(
        name,
        help,
        None,
        prometheus_client::metrics::MetricType::Counter,
    )?;
    for (value_label, value) in values {
        ConstCounter::new(*value).encode(family.encode_family(&[(label, *value_label)])?)?;
    }
    Ok(())
}

/// A histogram the replica core keeps, in seconds.
struct Seconds<'a>(&'a Histogram);

impl EncodeMetric for Seconds<'_> {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = self
            .0
            .buckets()
            .map(|(bound, n)| (bound.map_or(f64::INFINITY, |d| d.as_secs_f64()), n))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(
            self.0.sum().as_secs_f64(),
            self.0.count(),
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// Bytes this process caused to be written to storage (`write_bytes` of
/// `/proc/self/io`: what reached the block layer, the SD card's wear),
/// or `None` where the kernel does not say.
fn disk_written_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .and_then(|n| n.trim().parse().ok())
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let summary = self.health.summary();
        let net = self.health.counters();
        let e = &mut encoder;

        let info = ConstGauge::new(1i64);
        info.encode(
            e.encode_descriptor(
                "officemesh_build_info",
                "The running version (always 1).",
                None,
                info.metric_type(),
            )?
            .encode_family(&[("version", env!("CARGO_PKG_VERSION"))])?,
        )?;
        counter(
            e,
            "officemesh_loop_iterations",
            "Iterations of the node loop; stalls when the loop hangs.",
            self.health.loop_ticks(),
        )?;

        let views = ConstGauge::new(0i64);
        let mut peers = e.encode_descriptor(
            "officemesh_peers",
            "Peers in each HyParView view: active (gossiped with) and passive (in reserve).",
            None,
            views.metric_type(),
        )?;
        ConstGauge::new(summary.active_peers as i64)
            .encode(peers.encode_family(&[("view", "active")])?)?;
        ConstGauge::new(summary.passive_peers as i64)
            .encode(peers.encode_family(&[("view", "passive")])?)?;
        gauge(
            e,
            "officemesh_nodes_known",
            "Nodes in this node's replica of the office state, itself included.",
            summary.nodes_known as i64,
        )?;
        gauge(
            e,
            "officemesh_zones_heating",
            "Zones with a heater on, as this node's replica sees them.",
            summary.zones_heating.len() as i64,
        )?;

        counter(
            e,
            "officemesh_transport_sent_bytes",
            "Bytes written to peer sockets (handshakes and framing included).",
            net.bytes_sent,
        )?;
        counter(
            e,
            "officemesh_transport_received_bytes",
            "Bytes read from peer sockets.",
            net.bytes_received,
        )?;
        counter(
            e,
            "officemesh_transport_sent_frames",
            "Frames sent to peers.",
            net.frames_sent,
        )?;
        counter(
            e,
            "officemesh_transport_received_frames",
            "Frames received from peers.",
            net.frames_received,
        )?;
        counter(
            e,
            "officemesh_connections_established",
            "Connections that completed the handshake.",
            net.connections_established,
        )?;
        labelled_counters(
            e,
            "officemesh_handshake_failures",
            "Handshakes that failed, by reason (refused: wrong cluster key, not Noise or wrong version; unknown_key: a key not in the keyring; revoked: a revoked replica).",
            "reason",
            &[
                ("refused", net.handshakes_refused),
                ("unknown_key", net.handshakes_unknown_key),
                ("revoked", net.handshakes_revoked),
                ("timed_out", net.handshakes_timed_out),
            ],
        )?;
        counter(
            e,
            "officemesh_connections_refused_busy",
            "Inbound connections closed at accept because too many were pending.",
            net.busy_refused,
        )?;
        labelled_counters(
            e,
            "officemesh_frames_rejected",
            "Frames rejected and their connection closed, by reason.",
            "reason",
            &[
                ("undecodable", net.bad_frames),
                ("oversized", net.oversized_frames),
            ],
        )?;
        counter(
            e,
            "officemesh_slow_peers_dropped",
            "Peers disconnected because their send queue filled or a write stalled.",
            net.slow_peers_dropped,
        )?;

        let rejected: Vec<(&str, u64)> = summary
            .replica
            .rejected
            .iter()
            .map(|(reason, n)| (*reason, *n))
            .collect();
        if !rejected.is_empty() {
            labelled_counters(
                e,
                "officemesh_writes_rejected",
                "Registers from peers or observers refused at admission, by reason.",
                "reason",
                &rejected,
            )?;
        }
        counter(
            e,
            "officemesh_store_commits",
            "Commits of the node's durable state to its store.",
            summary.replica.commits,
        )?;
        counter(
            e,
            "officemesh_store_commit_failures",
            "Commits that failed (a full or failing SD card).",
            summary.replica.commit_failures,
        )?;
        if let Some(bytes) = disk_written_bytes() {
            counter(
                e,
                "officemesh_disk_written_bytes",
                "Bytes this process wrote to storage (/proc/self/io write_bytes): the SD card's wear.",
                bytes,
            )?;
        }
        let m = &summary.replica.metrics;
        Seconds(&m.commit_latency).encode(e.encode_descriptor(
            "officemesh_store_commit_duration_seconds",
            "From a commit's hand-over to the disk thread to its answer.",
            None,
            MetricType::Histogram,
        )?)?;
        let mut lag = e.encode_descriptor(
            "officemesh_convergence_lag_seconds",
            "From another replica's write (its set-at) to its arrival here, by route; \
             for anti-entropy the newest write of each answer part.",
            None,
            MetricType::Histogram,
        )?;
        for (route, histogram) in &m.convergence_lag {
            Seconds(histogram).encode(lag.encode_family(&[("route", route.as_str())])?)?;
        }
        let kinds = |counts: &std::collections::BTreeMap<&'static str, u64>| {
            counts.iter().map(|(k, n)| (*k, *n)).collect::<Vec<_>>()
        };
        labelled_counters(
            e,
            "officemesh_broadcasts_sent",
            "Broadcasts this node originated, by what they carry.",
            "kind",
            &kinds(&m.broadcasts_sent),
        )?;
        labelled_counters(
            e,
            "officemesh_broadcasts_received",
            "Broadcasts from elsewhere delivered here (first copy), by what they carry.",
            "kind",
            &kinds(&m.broadcasts_received),
        )?;
        let ae = &summary.replica.anti_entropy;
        counter(
            e,
            "officemesh_anti_entropy_rounds",
            "Anti-entropy rounds this node opened with a random neighbour.",
            m.anti_entropy_rounds,
        )?;
        counter(
            e,
            "officemesh_anti_entropy_sent_bytes",
            "Bytes of anti-entropy messages sent (summaries, digests, answers).",
            ae.bytes_sent,
        )?;
        counter(
            e,
            "officemesh_anti_entropy_received_bytes",
            "Bytes of anti-entropy messages received.",
            m.anti_entropy_received_bytes,
        )?;
        counter(
            e,
            "officemesh_anti_entropy_repaired_keys",
            "Registers anti-entropy answers brought here.",
            ae.keys_received,
        )?;
        counter(
            e,
            "officemesh_watches_refused",
            "Observer Watch leases refused by their bounds.",
            summary.replica.watches_refused,
        )?;
        counter(
            e,
            "officemesh_announcements_refused",
            "Broadcast ids announced by neighbours (IHAVE) and not awaited: past the bounds on missing messages.",
            summary.replica.announcements_refused,
        )?;
        counter(
            e,
            "officemesh_anti_entropy_answers_cut",
            "Anti-entropy answers cut at their part bound; the rest goes in later rounds.",
            ae.answers_cut,
        )?;
        counter(
            e,
            "officemesh_anti_entropy_second_looks",
            "Opening anti-entropy summaries that differed and were compared again a second later (broadcasts in flight).",
            ae.second_looks,
        )?;
        counter(
            e,
            "officemesh_pending_messages_dropped",
            "Messages dropped while waiting for a connection to open (queue full).",
            summary.replica.pending_dropped,
        )?;

        let celsius = ConstGauge::new(0.0f64);
        if !summary.temperatures.is_empty() {
            let mut family = e.encode_descriptor(
                "officemesh_zone_temperature_celsius",
                "This node's temperature readings, by zone and sensor.",
                None,
                celsius.metric_type(),
            )?;
            for (sensor, value) in &summary.temperatures {
                ConstGauge::new(f64::from(*value)).encode(family.encode_family(&[
                    ("zone", summary.zone.as_str()),
                    ("sensor", sensor.as_str()),
                ])?)?;
            }
        }
        if let Some(target) = summary.target_celsius {
            ConstGauge::new(f64::from(target)).encode(
                e.encode_descriptor(
                    "officemesh_zone_target_celsius",
                    "The winning temperature target of this node's zone.",
                    None,
                    celsius.metric_type(),
                )?
                .encode_family(&[("zone", summary.zone.as_str())])?,
            )?;
        }
        if let Some(on) = summary.heater_on {
            ConstGauge::new(i64::from(on)).encode(
                e.encode_descriptor(
                    "officemesh_heater_on",
                    "1 while this node's heater is on, else 0.",
                    None,
                    views.metric_type(),
                )?
                .encode_family(&[("zone", summary.zone.as_str())])?,
            )?;
        }
        Ok(())
    }
}
