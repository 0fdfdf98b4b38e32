//! What the outside watches a running node by: the systemd notifier (its
//! watchdog and `STATUS=` line) and the metrics endpoint read a [`Health`],
//! never the node task's internals.
//!
//! The node task owns the one [`HealthRecorder`] and calls
//! [`HealthRecorder::record`] once per loop iteration. A loop tick is the
//! proof of life the watchdog needs: a loop stuck anywhere stops counting,
//! so the pings stop and systemd restarts the node. The rest (views, the
//! office summary) is recomputed at most every [`SUMMARY_EVERY`], so a
//! busy loop does not walk the office state on every frame.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::crdt::{ActuatorKind, ActuatorOutput, OfficeState, Quantity, Unit};
use crate::net::{CountersSnapshot, NetCounters};
use crate::node_id::NodeId;
use crate::proto::Overlay;
use crate::replica::{Replica, Stats};

/// An idle loop still iterates this often (the node task wakes for it), so
/// a quiet office is never mistaken for a hung loop. The watchdog interval
/// must be well above it: `WatchdogSec=` of at least 4 s.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// The views and the office summary are refreshed at most this often.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(1);
/// Test hook: with this variable set to N, the node loop stops for good N
/// milliseconds after start (as a deadlock would), so a test can see the
/// watchdog pings stop while the process lives on.
pub const WEDGE_ENV: &str = "OFFICEMESH_TEST_WEDGE_AFTER_MS";

/// What one node knows of itself and the office, as of the last refresh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthSummary {
    /// HyParView active view: the peers this node gossips with.
    pub active_peers: usize,
    /// HyParView passive view: known peers kept in reserve.
    pub passive_peers: usize,
    /// Nodes in the office state (this one included).
    pub nodes_known: usize,
    /// Zones with at least one heater on, in name order.
    pub zones_heating: Vec<String>,
    /// This node's zone.
    pub zone: String,
    /// This node's own temperature readings, by sensor ("temperature#0").
    pub temperatures: Vec<(String, f32)>,
    /// The winning temperature target of this node's zone, in °C.
    pub target_celsius: Option<f32>,
    /// Whether this node's heater is on; `None` without a heater.
    pub heater_on: Option<bool>,
    /// The replica core's counters: writes rejected by reason, commits.
    pub replica: Stats,
}

#[derive(Debug)]
struct Shared {
    ticks: AtomicU64,
}

/// The read side: clone it freely.
#[derive(Clone, Debug)]
pub struct Health {
    shared: Arc<Shared>,
    net: Arc<NetCounters>,
    summary: watch::Receiver<HealthSummary>,
}

impl Health {
    /// Loop iterations since start; the watchdog pings only while it moves.
    pub fn loop_ticks(&self) -> u64 {
        self.shared.ticks.load(Ordering::Relaxed)
    }

    /// The transport's byte, frame and handshake counters, live.
    pub fn counters(&self) -> CountersSnapshot {
        self.net.snapshot()
    }

    pub fn summary(&self) -> HealthSummary {
        self.summary.borrow().clone()
    }
}

/// The write side, owned by the node task.
#[derive(Debug)]
pub struct HealthRecorder {
    shared: Arc<Shared>,
    summary: watch::Sender<HealthSummary>,
    me: NodeId,
    zone: String,
    last_tick: Option<Instant>,
    last_summary: Option<Instant>,
    wedge_at: Option<Instant>,
}

/// A recorder for node `me` in `zone`, and the reader for everyone else;
/// `net` is the node's transport counters.
pub fn channel(me: NodeId, zone: &str, net: Arc<NetCounters>) -> (HealthRecorder, Health) {
    let shared = Arc::new(Shared {
        ticks: AtomicU64::new(0),
    });
    let (tx, rx) = watch::channel(HealthSummary {
        zone: zone.to_string(),
        nodes_known: 1,
        ..HealthSummary::default()
    });
    let wedge_at = std::env::var(WEDGE_ENV)
        .ok()
        .and_then(|ms| ms.parse::<u64>().ok())
        .map(|ms| Instant::now() + Duration::from_millis(ms));
    (
        HealthRecorder {
            shared: shared.clone(),
            summary: tx,
            me,
            zone: zone.to_string(),
            last_tick: None,
            last_summary: None,
            wedge_at,
        },
        Health {
            shared,
            net,
            summary: rx,
        },
    )
}

impl HealthRecorder {
    /// Counts one loop iteration and, at most every [`SUMMARY_EVERY`],
    /// refreshes the summary from the replica core.
    pub async fn record(&mut self, replica: &Replica) {
        let now = Instant::now();
        if self.wedge_at.is_some_and(|at| now >= at) {
            tracing::warn!("{WEDGE_ENV} is set: the node loop stops here");
            std::future::pending::<()>().await;
        }
        self.shared.ticks.fetch_add(1, Ordering::Relaxed);
        self.last_tick = Some(now);
        if self
            .last_summary
            .is_some_and(|at| now.duration_since(at) < SUMMARY_EVERY)
        {
            return;
        }
        self.last_summary = Some(now);
        let mut summary = summarize(self.me, &self.zone, replica.overlay(), replica.state());
        summary.replica = replica.stats();
        self.summary.send_if_modified(|old| {
            let changed = *old != summary;
            *old = summary;
            changed
        });
    }

    /// Resolves [`HEARTBEAT`] after the last recorded iteration: a branch
    /// of the loop's `select!` that keeps an idle loop ticking.
    pub async fn heartbeat(&self) {
        match self.last_tick {
            Some(at) => tokio::time::sleep_until(at + HEARTBEAT).await,
            None => tokio::time::sleep(HEARTBEAT).await,
        }
    }
}

fn summarize(me: NodeId, zone: &str, overlay: &Overlay, state: &OfficeState) -> HealthSummary {
    let zone_of = |node: NodeId| {
        state
            .node(node)
            .and_then(|r| r.winner())
            .map(|(_, s)| s.value.zone.clone())
    };
    let mut zones_heating: Vec<String> = state
        .actuators()
        .filter(|(key, _)| key.actuator.kind == ActuatorKind::Heater)
        .filter(|(_, reg)| reg.winner().is_some_and(|(_, s)| heating(s.value.output)))
        .filter_map(|(key, _)| zone_of(key.node))
        .collect();
    zones_heating.sort();
    zones_heating.dedup();
    let temperatures = state
        .sensors()
        .filter(|(key, _)| key.node == me && key.sensor.quantity == Quantity::Temperature)
        .filter_map(|(key, reg)| {
            let (_, s) = reg.winner()?;
            (s.value.unit == Unit::Celsius).then(|| (key.sensor.to_string(), s.value.value))
        })
        .collect();
    let target_celsius = state
        .target(zone, Quantity::Temperature)
        .and_then(|r| r.winner())
        .filter(|(_, s)| s.value.unit == Unit::Celsius)
        .map(|(_, s)| s.value.value);
    let heater_on = state
        .actuators()
        .filter(|(key, _)| key.node == me && key.actuator.kind == ActuatorKind::Heater)
        .filter_map(|(_, reg)| reg.winner().map(|(_, s)| heating(s.value.output)))
        .reduce(|a, b| a || b);
    HealthSummary {
        active_peers: overlay.active_view().len(),
        passive_peers: overlay.passive_view().len(),
        nodes_known: state.nodes().count().max(1),
        zones_heating,
        zone: zone.to_string(),
        temperatures,
        target_celsius,
        heater_on,
        replica: Stats::default(),
    }
}

fn heating(output: ActuatorOutput) -> bool {
    match output {
        ActuatorOutput::Off => false,
        ActuatorOutput::On => true,
        ActuatorOutput::Level(level) => level > 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{ActuatorId, NodeInfo, Reading, SensorId, TargetKey, TargetValue, Writer};
    use crate::wire::{PeerInfo, Role};

    fn announce(state: &mut OfficeState, writer: &mut Writer, zone: &str) {
        let info = NodeInfo {
            name: zone.into(),
            zone: zone.into(),
            role: Role::Node,
            version: "0".into(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys: Vec::new(),
        };
        state.announce_node(writer, 1, info);
    }

    fn heater(state: &mut OfficeState, writer: &mut Writer, output: ActuatorOutput) {
        let id = ActuatorId {
            kind: ActuatorKind::Heater,
            index: 0,
        };
        state.set_actuator(writer, 2, id, output);
    }

    #[test]
    fn the_summary_names_heating_zones_and_this_nodes_own_figures() {
        let (me, other, third) = (NodeId(1), NodeId(2), NodeId(3));
        let mut state = OfficeState::new();
        let (mut wm, mut wo, mut wt) = (Writer::new(me), Writer::new(other), Writer::new(third));
        announce(&mut state, &mut wm, "kitchen");
        announce(&mut state, &mut wo, "lab");
        announce(&mut state, &mut wt, "hall");
        heater(&mut state, &mut wm, ActuatorOutput::On);
        heater(&mut state, &mut wo, ActuatorOutput::Level(0.5));
        heater(&mut state, &mut wt, ActuatorOutput::Off);
        let thermometer = SensorId {
            quantity: Quantity::Temperature,
            index: 0,
        };
        let reading = |value| Reading {
            value,
            unit: Unit::Celsius,
        };
        state.publish_reading(&mut wm, 3, thermometer, reading(19.5));
        state.publish_reading(&mut wo, 3, thermometer, reading(23.0));
        let target = TargetValue {
            value: 21.0,
            unit: Unit::Celsius,
            set_by: "alice".into(),
        };
        state.set_target(
            &mut wo,
            4,
            TargetKey::new("kitchen", Quantity::Temperature),
            target,
        );
        let overlay = Overlay::new(
            PeerInfo {
                id: me,
                addr: "127.0.0.1:1".parse().unwrap(),
            },
            crate::proto::Config::default(),
            1,
        );

        let summary = summarize(me, "kitchen", &overlay, &state);
        assert_eq!(summary.nodes_known, 3);
        assert_eq!(summary.zones_heating, vec!["kitchen", "lab"]);
        assert_eq!(
            summary.temperatures,
            vec![("temperature#0".to_string(), 19.5)]
        );
        assert_eq!(summary.target_celsius, Some(21.0));
        assert_eq!(summary.heater_on, Some(true));
        assert_eq!((summary.active_peers, summary.passive_peers), (0, 0));
    }

    #[test]
    fn heating_means_any_output_above_off() {
        assert!(heating(ActuatorOutput::On));
        assert!(heating(ActuatorOutput::Level(0.3)));
        assert!(!heating(ActuatorOutput::Level(0.0)));
        assert!(!heating(ActuatorOutput::Off));
    }
}
