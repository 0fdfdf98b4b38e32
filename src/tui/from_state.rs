//! The observer's replica folded into the TUI's plain model.
//!
//! The views render an [`OfficeSnapshot`] and know nothing of registers,
//! dots or clock reports; this is the one place that translates. It is a
//! pure function of what the observer holds and the two clocks passed in,
//! so a test can pin it without a network.

use std::collections::{BTreeMap, BTreeSet};

use tokio::time::Instant;

use super::snapshot::{
    ActuatorState, AttachedNode, ConnectionStatus, FailedSensor, Interface, NodeInfo, NodeStatus,
    OfficeSnapshot, ScheduleSibling, SensorReading, TargetSibling, TargetState, ZoneProgramText,
};
use crate::crdt::{ActuatorKind, ActuatorOutput, OfficeState};
use crate::node_id::NodeId;
use crate::observer::Clock;

/// Everything the conversion reads: the observer's replica, its clock
/// reports and session, and how to turn a report's arrival instant into
/// wall-clock time (`epoch` was read at wall time `epoch_ms`; one fixed
/// pair keeps "last seen" stable between two conversions).
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    pub state: &'a OfficeState,
    /// The latest clock report of every node, with when it arrived.
    pub clocks: &'a BTreeMap<NodeId, Clock>,
    /// When each node was last heard of, kept by the caller across
    /// reattachments (the observer drops the reports of a node it lost).
    pub heard: &'a BTreeMap<NodeId, Instant>,
    /// Nodes whose last report is recent (`Observer::live_nodes`).
    pub live: &'a BTreeSet<NodeId>,
    /// Whether every node has had its chance to send a first report
    /// (`Observer::reports_settled`); until then a silent node is not yet
    /// called unreachable.
    pub settled: bool,
    /// The node attached to and the address used, if any.
    pub attached: Option<(NodeId, String)>,
    pub connection: ConnectionStatus,
    pub epoch: Instant,
    pub epoch_ms: u64,
}

/// The office as the TUI shows it.
pub fn snapshot(observed: &Observed<'_>) -> OfficeSnapshot {
    let state = observed.state;
    let zones: BTreeMap<NodeId, String> = state
        .nodes()
        .filter_map(|(id, r)| r.winner().map(|(_, s)| (id, s.value.zone.clone())))
        .collect();
    let zone_of = |id: NodeId| zones.get(&id).cloned().unwrap_or_default();

    let mut nodes: Vec<NodeInfo> = state
        .nodes()
        .filter_map(|(id, register)| {
            let (_, sibling) = register.winner()?;
            Some(node_info(observed, id, &sibling.value))
        })
        .collect();
    nodes.extend(state.forgotten_nodes().map(|id| NodeInfo {
        id,
        name: id.short(),
        zone: String::new(),
        role: String::new(),
        status: NodeStatus::Forgotten,
        interfaces: Vec::new(),
        last_seen_ms: last_seen_ms(observed, id),
        neighbours: Vec::new(),
        failed_sensors: Vec::new(),
    }));

    let readings = state
        .sensors()
        .filter_map(|(key, register)| {
            let (_, sibling) = register.winner()?;
            Some(SensorReading {
                node: key.node,
                sensor: key.sensor.to_string(),
                zone: zone_of(key.node),
                quantity: key.sensor.quantity.name().to_string(),
                value: round_f32(sibling.value.value),
                unit: sibling.value.unit.symbol().to_string(),
                measured_at_ms: sibling.at.wall_ms,
            })
        })
        .collect();

    let actuators = state
        .actuators()
        .filter_map(|(key, register)| {
            let (_, sibling) = register.winner()?;
            Some(ActuatorState {
                node: key.node,
                name: key.actuator.to_string().to_lowercase(),
                zone: zone_of(key.node),
                on: match sibling.value.output {
                    ActuatorOutput::Off => false,
                    ActuatorOutput::On => true,
                    ActuatorOutput::Level(level) => level > 0.0,
                },
                since_ms: sibling.value.since.wall_ms,
            })
        })
        .collect();

    let targets = state
        .targets()
        .map(|(key, register)| {
            let winner = register.winner().map(|(dot, _)| dot);
            let siblings: Vec<TargetSibling> = register
                .siblings()
                .map(|(dot, s)| TargetSibling {
                    value: round_f32(s.value.value),
                    unit: s.value.unit.symbol().to_string(),
                    set_by: s.value.set_by.clone(),
                    set_at_ms: s.at.wall_ms,
                    dot: (dot.replica, dot.counter),
                })
                .collect();
            let winner = register
                .siblings()
                .position(|(dot, _)| Some(dot) == winner)
                .unwrap_or(0);
            TargetState {
                zone: key.zone.clone(),
                quantity: key.quantity.name().to_string(),
                siblings,
                winner,
            }
        })
        .collect();

    let clocks = observed
        .clocks
        .iter()
        .map(|(id, clock)| (*id, clock.vector.clone()))
        .collect();

    let attached = observed.attached.as_ref().map(|(id, addr)| AttachedNode {
        name: state
            .node(*id)
            .and_then(|r| r.winner())
            .map_or_else(|| id.short(), |(_, s)| s.value.name.clone()),
        addr: addr.clone(),
    });

    OfficeSnapshot {
        attached,
        connection: observed.connection,
        nodes,
        readings,
        actuators,
        targets,
        clocks,
        programs: programs(state),
    }
}

/// Every zone's replicated heating program, in words.
fn programs(state: &OfficeState) -> BTreeMap<String, ZoneProgramText> {
    use crate::control::schedule_syntax::Printed;
    crate::control::ZoneProgram::all(state)
        .into_iter()
        .map(|(zone, program)| {
            let override_text = program.override_value.as_ref().and_then(|o| {
                let celsius = o.celsius?;
                let until = match o.expires_at_ms {
                    Some(ms) => jiff::Timestamp::from_millisecond(ms as i64)
                        .map(|t| format!(" until {}", t.strftime("%H:%M UTC")))
                        .unwrap_or_default(),
                    None => " (held)".to_string(),
                };
                Some(format!("{celsius:.1} °C by {}{until}", o.set_by))
            });
            let text = ZoneProgramText {
                schedule: program.schedule.as_ref().map(|s| Printed(s).to_string()),
                schedule_conflict: state.schedule(&zone).is_some_and(|r| r.is_conflicted()),
                override_text,
                presets: program
                    .presets
                    .iter()
                    .map(|(name, c)| (name.to_string(), f64::from(*c)))
                    .collect(),
                schedules: schedule_siblings(state, &zone),
            };
            (zone, text)
        })
        .collect()
}

/// The zone's schedule siblings, the one nodes follow first.
fn schedule_siblings(state: &OfficeState, zone: &str) -> Vec<ScheduleSibling> {
    let Some(register) = state.schedule(zone) else {
        return Vec::new();
    };
    let winner = register.winner().map(|(dot, _)| dot);
    let mut siblings: Vec<_> = register.siblings().collect();
    siblings.sort_by_key(|(dot, _)| Some(*dot) != winner);
    siblings
        .into_iter()
        .map(|(_, s)| ScheduleSibling {
            schedule: s.value.clone(),
            set_at_ms: s.at.wall_ms,
        })
        .collect()
}

fn node_info(observed: &Observed<'_>, id: NodeId, info: &crate::crdt::NodeInfo) -> NodeInfo {
    let attached_here = observed.attached.as_ref().is_some_and(|(a, _)| *a == id)
        && observed.connection == ConnectionStatus::Connected;
    let reported = observed.clocks.contains_key(&id);
    let status = if observed.live.contains(&id) || attached_here || (!reported && !observed.settled)
    {
        NodeStatus::Alive
    } else {
        NodeStatus::Unreachable
    };
    NodeInfo {
        id,
        name: info.name.clone(),
        zone: info.zone.clone(),
        role: role(observed.state, id),
        status,
        interfaces: info
            .interfaces
            .iter()
            .map(|i| Interface {
                name: i.name.clone(),
                mac: i.mac,
                ipv4: i.ipv4.clone(),
                ipv6: i.ipv6.clone(),
            })
            .collect(),
        last_seen_ms: last_seen_ms(observed, id),
        neighbours: info.neighbours.clone(),
        failed_sensors: info
            .failed_sensors
            .iter()
            .map(|f| FailedSensor {
                sensor: f.sensor.clone(),
                message: f.message.clone(),
            })
            .collect(),
    }
}

/// What a node does, from what it publishes: "sensor", "sensor+heater", ...
fn role(state: &OfficeState, id: NodeId) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if state.sensors().any(|(k, _)| k.node == id) {
        parts.push("sensor");
    }
    let kinds: BTreeSet<ActuatorKind> = state
        .actuators()
        .filter(|(k, _)| k.node == id)
        .map(|(k, _)| k.actuator.kind)
        .collect();
    for kind in kinds {
        parts.push(match kind {
            ActuatorKind::Heater => "heater",
            ActuatorKind::Cooler => "cooler",
            ActuatorKind::Fan => "fan",
            ActuatorKind::Light => "light",
            ActuatorKind::Relay => "relay",
        });
    }
    if parts.is_empty() {
        "node".to_string()
    } else {
        parts.join("+")
    }
}

/// When the node's last clock report arrived, on the wall clock.
fn last_seen_ms(observed: &Observed<'_>, id: NodeId) -> Option<u64> {
    let report = observed.clocks.get(&id).and_then(|c| c.at);
    let at = report.max(observed.heard.get(&id).copied())?;
    Some(match at.checked_duration_since(observed.epoch) {
        Some(after) => observed.epoch_ms + after.as_millis() as u64,
        None => observed
            .epoch_ms
            .saturating_sub(observed.epoch.saturating_duration_since(at).as_millis() as u64),
    })
}

/// Readings travel as `f32`; widened as is, 21.3 would show as
/// 21.299999237. Six significant digits is all an `f32` holds anyway.
fn round_f32(value: f32) -> f64 {
    format!("{value}").parse().unwrap_or(f64::from(value))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::crdt::{
        ActuatorId, NodeInfo as CrdtNodeInfo, Quantity, Reading, SensorId, TargetKey, TargetValue,
        Unit, Writer,
    };
    use crate::wire::Role;

    const NOW_MS: u64 = 1_800_000_000_000;

    fn announce(state: &mut OfficeState, writer: &mut Writer, name: &str, zone: &str) {
        let info = CrdtNodeInfo {
            name: name.into(),
            zone: zone.into(),
            role: Role::Node,
            version: "0.1.0".into(),
            interfaces: vec![crate::crdt::Interface {
                name: "eth0".into(),
                mac: [0xb8, 0x27, 0xeb, 0, 0, 1],
                ipv4: vec!["10.0.0.11".parse().unwrap()],
                ipv6: vec![],
            }],
            failed_sensors: vec![],
            neighbours: vec![NodeId(2)],
            cluster_keys: Vec::new(),
        };
        state.announce_node(writer, NOW_MS - 60_000, info);
    }

    fn target(zone: &str, value: f32, by: &str) -> (TargetKey, TargetValue) {
        (
            TargetKey::new(zone, Quantity::Temperature),
            TargetValue {
                value,
                unit: Unit::Celsius,
                set_by: by.into(),
            },
        )
    }

    struct Fixture {
        state: OfficeState,
        clocks: BTreeMap<NodeId, Clock>,
        heard: BTreeMap<NodeId, Instant>,
        live: BTreeSet<NodeId>,
        now: Instant,
    }

    fn fixture() -> Fixture {
        let mut state = OfficeState::new();
        let mut a = Writer::new(NodeId(1));
        let mut b = Writer::new(NodeId(2));
        announce(&mut state, &mut a, "pi-1", "kitchen");
        announce(&mut state, &mut b, "pi-2", "hall");
        state.publish_reading(
            &mut a,
            NOW_MS - 3_000,
            SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            },
            Reading {
                value: 21.3,
                unit: Unit::Celsius,
            },
        );
        state.set_actuator(
            &mut a,
            NOW_MS - 2_500,
            ActuatorId {
                kind: ActuatorKind::Heater,
                index: 0,
            },
            ActuatorOutput::On,
        );
        let now = Instant::now();
        let mut clocks = BTreeMap::new();
        clocks.insert(
            NodeId(1),
            Clock {
                vector: [(NodeId(1), 3), (NodeId(2), 1)].into(),
                at: now.checked_sub(Duration::from_secs(2)),
            },
        );
        clocks.insert(
            NodeId(2),
            Clock {
                vector: [(NodeId(1), 1), (NodeId(2), 1)].into(),
                at: now.checked_sub(Duration::from_secs(40)),
            },
        );
        Fixture {
            state,
            clocks,
            heard: BTreeMap::new(),
            live: [NodeId(1)].into(),
            now,
        }
    }

    fn observed(f: &Fixture) -> Observed<'_> {
        Observed {
            state: &f.state,
            clocks: &f.clocks,
            heard: &f.heard,
            live: &f.live,
            settled: true,
            attached: Some((NodeId(1), "10.0.0.11:7000".into())),
            connection: ConnectionStatus::Connected,
            epoch: f.now,
            epoch_ms: NOW_MS,
        }
    }

    #[test]
    fn nodes_readings_and_actuators_are_plain() {
        let f = fixture();
        let s = snapshot(&observed(&f));
        assert_eq!(
            s.attached,
            Some(AttachedNode {
                name: "pi-1".into(),
                addr: "10.0.0.11:7000".into()
            })
        );
        assert_eq!(s.connection, ConnectionStatus::Connected);
        let names: Vec<_> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["pi-1", "pi-2"]);
        let pi1 = &s.nodes[0];
        assert_eq!(pi1.status, NodeStatus::Alive);
        assert_eq!(pi1.role, "sensor+heater");
        assert_eq!(pi1.zone, "kitchen");
        assert_eq!(pi1.interfaces[0].mac, [0xb8, 0x27, 0xeb, 0, 0, 1]);
        assert_eq!(pi1.last_seen_ms, Some(NOW_MS - 2_000));
        assert_eq!(pi1.neighbours, [NodeId(2)]);
        // No recent report and not the attached node: unreachable.
        assert_eq!(s.nodes[1].status, NodeStatus::Unreachable);
        assert_eq!(s.nodes[1].role, "node");
        assert_eq!(s.nodes[1].last_seen_ms, Some(NOW_MS - 40_000));
        // A node whose report the observer dropped is still "last seen".
        let mut f = f;
        f.clocks.remove(&NodeId(2));
        f.heard.insert(
            NodeId(2),
            f.now.checked_sub(Duration::from_secs(5)).unwrap(),
        );
        let s = snapshot(&observed(&f));
        assert_eq!(s.nodes[1].last_seen_ms, Some(NOW_MS - 5_000));

        assert_eq!(s.readings.len(), 1);
        let r = &s.readings[0];
        assert_eq!(
            (r.value, r.unit.as_str(), r.zone.as_str()),
            (21.3, "°C", "kitchen")
        );
        assert_eq!(r.quantity, "temperature");
        assert_eq!(r.measured_at_ms, NOW_MS - 3_000);
        assert_eq!(s.actuators.len(), 1);
        assert!(s.actuators[0].on);
        assert_eq!(s.actuators[0].since_ms, NOW_MS - 2_500);
        assert_eq!(s.clocks[&NodeId(1)][&NodeId(1)], 3);
    }

    #[test]
    fn silent_nodes_are_alive_until_reports_settle() {
        let mut f = fixture();
        f.clocks.clear();
        f.live.clear();
        let mut o = observed(&f);
        o.attached = None;
        o.connection = ConnectionStatus::Connecting;
        o.settled = false;
        assert!(
            snapshot(&o)
                .nodes
                .iter()
                .all(|n| n.status == NodeStatus::Alive)
        );
        o.settled = true;
        assert!(
            snapshot(&o)
                .nodes
                .iter()
                .all(|n| n.status == NodeStatus::Unreachable)
        );
    }

    #[test]
    fn concurrent_targets_keep_every_sibling_and_the_crdt_winner() {
        let mut f = fixture();
        // Two replicas write without seeing each other.
        let mut left = f.state.clone();
        let mut right = f.state.clone();
        let (key, value) = target("hall", 20.5, "alice@pi-3");
        left.set_target(&mut Writer::new(NodeId(10)), NOW_MS - 5_000, key, value);
        let (key, value) = target("hall", 22.0, "bob@laptop");
        right.set_target(&mut Writer::new(NodeId(11)), NOW_MS - 6_000, key, value);
        left.join(&right);
        f.state = left;
        let s = snapshot(&observed(&f));
        assert_eq!(s.targets.len(), 1);
        let t = &s.targets[0];
        assert_eq!(t.siblings.len(), 2);
        let winner = f
            .state
            .target("hall", Quantity::Temperature)
            .and_then(|r| r.winner())
            .map(|(d, _)| (d.replica, d.counter));
        assert_eq!(t.winning().map(|w| w.dot), winner);
        // The newer set-at wins.
        assert_eq!(t.winning().map(|w| w.value), Some(20.5));
        assert_eq!(t.winning().map(|w| w.set_by.as_str()), Some("alice@pi-3"));
        assert_eq!(t.winning().map(|w| w.set_at_ms), Some(NOW_MS - 5_000));
    }

    #[test]
    fn forgotten_nodes_stay_listed_as_forgotten() {
        let mut f = fixture();
        f.state
            .forget_node(&mut Writer::new(NodeId(9)), NOW_MS, NodeId(2));
        let s = snapshot(&observed(&f));
        let forgotten: Vec<_> = s
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Forgotten)
            .map(|n| n.id)
            .collect();
        assert_eq!(forgotten, [NodeId(2)]);
        assert_eq!(s.nodes.len(), 2);
    }

    #[test]
    fn the_attached_node_is_alive_while_connected() {
        let mut f = fixture();
        f.live.clear();
        let s = snapshot(&observed(&f));
        assert_eq!(s.nodes[0].status, NodeStatus::Alive);
        let mut o = observed(&f);
        o.connection = ConnectionStatus::Reconnecting;
        assert_eq!(snapshot(&o).nodes[0].status, NodeStatus::Unreachable);
        assert_eq!(snapshot(&o).connection, ConnectionStatus::Reconnecting);
    }
}
