//! The office as Home Assistant sees it: zones with a thermometer, a
//! target and heaters; nodes as devices with their sensors. Derived from
//! the observer's replica and the nodes' liveness, and nothing else, so
//! two bridges on one office derive the same view.

use std::collections::{BTreeMap, BTreeSet};

use crate::crdt::{ActuatorKind, ActuatorOutput, OfficeState, Quantity, SensorId, Unit};
use crate::node::interfaces::format_mac;
use crate::node_id::NodeId;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfficeView {
    pub zones: BTreeMap<String, ZoneView>,
    pub nodes: BTreeMap<NodeId, NodeView>,
}

/// What the bridge knows of the nodes' liveness.
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    /// Nodes heard from recently.
    pub live: BTreeSet<NodeId>,
    /// Nodes not heard from since the bridge attached, while that is too
    /// recent to call them gone: an idle node reports only every 10 s.
    pub unknown: BTreeSet<NodeId>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneView {
    /// The nodes that sit in this zone.
    pub nodes: BTreeSet<NodeId>,
    /// The temperature the zone's thermostat sees (see [`OfficeView::from_state`]).
    pub current_temperature: Option<f32>,
    pub target: Option<TargetView>,
    /// Every heater in the zone and whether it is on.
    pub heaters: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TargetView {
    pub value: f32,
    pub set_by: String,
    pub set_at_ms: u64,
    /// Concurrent writes are both kept; the value is the one nodes act on.
    pub conflict: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub zone: String,
    pub version: String,
    /// Hardware addresses, `aa:bb:cc:dd:ee:ff`, without the all-zero one
    /// of loopback.
    pub macs: Vec<String>,
    /// In the mesh (`None`: not known yet).
    pub live: Option<bool>,
    pub sensors: BTreeMap<SensorId, SensorView>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SensorView {
    pub value: f32,
    pub unit: Unit,
    pub measured_at_ms: u64,
}

impl ZoneView {
    /// Home Assistant's `hvac_action`: a zone without a heater is `off`.
    pub fn action(&self) -> &'static str {
        if self.heaters.is_empty() {
            "off"
        } else if self.heaters.iter().any(|on| *on) {
            "heating"
        } else {
            "idle"
        }
    }

    /// Home Assistant's `hvac_mode`: a zone heats toward its target when
    /// it has a heater.
    pub fn mode(&self) -> &'static str {
        if self.heaters.is_empty() {
            "off"
        } else {
            "heat"
        }
    }
}

impl OfficeView {
    /// The view of `state` and the nodes' `liveness`.
    ///
    /// A zone's current temperature is the first temperature sensor of a
    /// node in the zone that drives a heater (the reading its thermostat
    /// follows), else of any node in the zone, by node id then index.
    pub fn from_state(state: &OfficeState, liveness: &Liveness) -> Self {
        let mut view = OfficeView::default();
        for (id, register) in state.nodes() {
            let Some((_, info)) = register.winner() else {
                continue;
            };
            let info = &info.value;
            view.nodes.insert(
                id,
                NodeView {
                    name: info.name.clone(),
                    zone: info.zone.clone(),
                    version: info.version.clone(),
                    macs: info
                        .interfaces
                        .iter()
                        .filter(|i| i.mac != [0; 6])
                        .map(|i| format_mac(&i.mac))
                        .collect(),
                    live: if liveness.live.contains(&id) {
                        Some(true)
                    } else if liveness.unknown.contains(&id) {
                        None
                    } else {
                        Some(false)
                    },
                    sensors: BTreeMap::new(),
                },
            );
            view.zones
                .entry(info.zone.clone())
                .or_default()
                .nodes
                .insert(id);
        }
        for (key, register) in state.sensors() {
            let (Some(node), Some((_, reading))) =
                (view.nodes.get_mut(&key.node), register.winner())
            else {
                continue;
            };
            node.sensors.insert(
                key.sensor,
                SensorView {
                    value: reading.value.value,
                    unit: reading.value.unit,
                    measured_at_ms: reading.at.wall_ms,
                },
            );
        }
        let mut heating_nodes = BTreeSet::new();
        for (key, register) in state.actuators() {
            if key.actuator.kind != ActuatorKind::Heater {
                continue;
            }
            let (Some(node), Some((_, actuator))) = (view.nodes.get(&key.node), register.winner())
            else {
                continue;
            };
            let on = match actuator.value.output {
                ActuatorOutput::Off => false,
                ActuatorOutput::On => true,
                ActuatorOutput::Level(level) => level > 0.0,
            };
            if let Some(zone) = view.zones.get_mut(&node.zone) {
                zone.heaters.push(on);
            }
            heating_nodes.insert(key.node);
        }
        for (name, zone) in &mut view.zones {
            let temperature = |node: &NodeId| {
                view.nodes.get(node).and_then(|n| {
                    n.sensors
                        .iter()
                        .find(|(id, _)| id.quantity == Quantity::Temperature)
                        .map(|(_, s)| s.value)
                })
            };
            zone.current_temperature = zone
                .nodes
                .iter()
                .filter(|n| heating_nodes.contains(n))
                .find_map(temperature)
                .or_else(|| zone.nodes.iter().find_map(temperature));
            zone.target = state
                .target(name, Quantity::Temperature)
                .and_then(|register| {
                    let (_, winner) = register.winner()?;
                    Some(TargetView {
                        value: winner.value.value,
                        set_by: winner.value.set_by.clone(),
                        set_at_ms: winner.at.wall_ms,
                        conflict: register.is_conflicted(),
                    })
                });
        }
        view
    }

    /// Whether a node of `zone` is in the mesh (`None`: none is known to
    /// be, and some are not known yet).
    pub fn zone_live(&self, zone: &ZoneView) -> Option<bool> {
        let lives: Vec<Option<bool>> = zone
            .nodes
            .iter()
            .filter_map(|n| self.nodes.get(n).map(|n| n.live))
            .collect();
        if lives.contains(&Some(true)) {
            Some(true)
        } else if lives.contains(&None) {
            None
        } else {
            Some(false)
        }
    }

    /// The zone whose topic slug is `slug`.
    pub fn zone_by_slug(&self, slug: &str) -> Option<&str> {
        self.zones
            .keys()
            .find(|z| super::topics::zone_slug(z) == slug)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{ActuatorId, NodeInfo, Reading, TargetKey, TargetValue, Writer};
    use crate::wire::Role;

    fn announce(state: &mut OfficeState, id: u64, zone: &str) -> Writer {
        let mut writer = Writer::new(NodeId(id));
        state.announce_node(
            &mut writer,
            1_000,
            NodeInfo {
                name: format!("pi-{id}"),
                zone: zone.into(),
                role: Role::Node,
                version: "0.1.0".into(),
                interfaces: vec![],
                failed_sensors: vec![],
                neighbours: vec![],
                cluster_keys: vec![],
            },
        );
        writer
    }

    fn temperature(index: u8) -> SensorId {
        SensorId {
            quantity: Quantity::Temperature,
            index,
        }
    }

    #[test]
    fn a_zone_takes_its_thermostats_reading_target_and_heater() {
        let mut state = OfficeState::new();
        let mut plain = announce(&mut state, 1, "lab");
        let mut heating = announce(&mut state, 2, "lab");
        let reading = |v| Reading {
            value: v,
            unit: Unit::Celsius,
        };
        state.publish_reading(&mut plain, 2_000, temperature(0), reading(18.0));
        state.publish_reading(&mut heating, 2_000, temperature(0), reading(19.5));
        state.set_actuator(
            &mut heating,
            2_000,
            ActuatorId {
                kind: ActuatorKind::Heater,
                index: 0,
            },
            ActuatorOutput::On,
        );
        let mut operator = Writer::new(NodeId(9));
        state.set_target(
            &mut operator,
            3_000,
            TargetKey::new("lab", Quantity::Temperature),
            TargetValue {
                value: 21.0,
                unit: Unit::Celsius,
                set_by: "ops".into(),
            },
        );
        let liveness = Liveness {
            live: BTreeSet::from([NodeId(2)]),
            unknown: BTreeSet::new(),
        };
        let view = OfficeView::from_state(&state, &liveness);
        let lab = &view.zones["lab"];
        assert_eq!(lab.current_temperature, Some(19.5));
        assert_eq!(lab.target.as_ref().map(|t| t.value), Some(21.0));
        assert_eq!((lab.mode(), lab.action()), ("heat", "heating"));
        assert_eq!(view.nodes[&NodeId(1)].live, Some(false));
        assert_eq!(view.nodes[&NodeId(2)].live, Some(true));
        assert_eq!(view.zone_live(lab), Some(true));
        assert_eq!(view.zone_by_slug("lab"), Some("lab"));
    }

    #[test]
    fn a_zone_without_heater_is_off() {
        let mut state = OfficeState::new();
        announce(&mut state, 1, "hall");
        let liveness = Liveness {
            live: BTreeSet::new(),
            unknown: BTreeSet::from([NodeId(1)]),
        };
        let view = OfficeView::from_state(&state, &liveness);
        let hall = &view.zones["hall"];
        assert_eq!(view.zone_live(hall), None);
        assert_eq!((hall.mode(), hall.action()), ("off", "off"));
        assert_eq!(hall.current_temperature, None);
    }
}
