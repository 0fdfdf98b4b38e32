//! Home Assistant MQTT discovery: one retained config message per entity.
//!
//! Each zone is a `climate` entity on a device of its own; each node is a
//! device with a `binary_sensor` (connectivity: is it in the mesh) and one
//! `sensor` per reading it publishes. Every entity is unavailable while
//! the bridge is gone (its last will), a sensor also while its node is.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::office_view::{NodeView, OfficeView};
use super::topics::{self, OFFLINE, ONLINE, Topics};
use crate::config::TargetRange;
use crate::crdt::{Quantity, SensorId};
use crate::node_id::NodeId;

/// Every discovery config for `view`, by topic. Built only from the
/// replicated state and the configuration, so it is the same on every
/// bridge of the office.
pub fn configs(
    view: &OfficeView,
    topics: &Topics,
    range: &TargetRange,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for zone in view.zones.keys() {
        out.insert(
            topics.climate_config(zone),
            climate(zone, topics, range).to_string(),
        );
    }
    for (id, node) in &view.nodes {
        out.insert(
            topics.node_connectivity_config(*id),
            connectivity(*id, node, topics).to_string(),
        );
        for sensor in node.sensors.keys() {
            out.insert(
                topics.sensor_config(*id, *sensor),
                sensor_config(*id, node, *sensor, topics).to_string(),
            );
        }
    }
    out
}

/// Who published the entity (Home Assistant shows it on the device page).
fn origin() -> Value {
    json!({
        "name": "officemesh",
        "sw_version": env!("CARGO_PKG_VERSION"),
    })
}

fn climate(zone: &str, topics: &Topics, range: &TargetRange) -> Value {
    let id = topics::climate_unique_id(zone);
    json!({
        // The entity takes its device's name: the zone's.
        "name": null,
        "unique_id": id,
        "device": {
            "identifiers": [id],
            "name": zone,
            "manufacturer": "officemesh",
            "model": "officemesh zone",
            "suggested_area": zone,
        },
        "origin": origin(),
        "availability": [
            { "topic": topics.bridge_availability() },
            { "topic": topics.zone(zone, "availability") },
        ],
        "availability_mode": "all",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "current_temperature_topic": topics.zone(zone, "current_temperature"),
        "temperature_state_topic": topics.zone(zone, "target"),
        "temperature_command_topic": topics.zone_target_command(zone),
        "mode_state_topic": topics.zone(zone, "mode"),
        "modes": ["heat", "off"],
        "action_topic": topics.zone(zone, "action"),
        "json_attributes_topic": topics.zone(zone, "attributes"),
        "min_temp": range.min,
        "max_temp": range.max,
        "temp_step": range.step,
        "temperature_unit": "C",
        "precision": 0.1,
        "optimistic": false,
    })
}

fn device(id: NodeId, node: &NodeView) -> Value {
    let connections: Vec<Value> = node.macs.iter().map(|mac| json!(["mac", mac])).collect();
    json!({
        "identifiers": [format!("officemesh_node_{id}")],
        "name": node.name,
        "manufacturer": "officemesh",
        "model": "officemesh node",
        "sw_version": node.version,
        "connections": connections,
        "suggested_area": node.zone,
    })
}

fn connectivity(id: NodeId, node: &NodeView, topics: &Topics) -> Value {
    json!({
        "name": "Mesh",
        "unique_id": format!("officemesh_{id}_mesh"),
        "device": device(id, node),
        "origin": origin(),
        "device_class": "connectivity",
        "entity_category": "diagnostic",
        "state_topic": topics.node_availability(id),
        "payload_on": ONLINE,
        "payload_off": OFFLINE,
        "availability": [{ "topic": topics.bridge_availability() }],
    })
}

/// Home Assistant's device class and unit for a quantity (the units are
/// the ones officemesh publishes in).
fn class_and_unit(quantity: Quantity) -> (&'static str, &'static str) {
    match quantity {
        Quantity::Temperature => ("temperature", "°C"),
        Quantity::Humidity => ("humidity", "%"),
        Quantity::Pressure => ("atmospheric_pressure", "hPa"),
        Quantity::Co2 => ("carbon_dioxide", "ppm"),
        Quantity::Illuminance => ("illuminance", "lx"),
    }
}

fn sensor_config(id: NodeId, node: &NodeView, sensor: SensorId, topics: &Topics) -> Value {
    let (class, unit) = class_and_unit(sensor.quantity);
    let mut name = match sensor.quantity {
        Quantity::Temperature => "Temperature",
        Quantity::Humidity => "Humidity",
        Quantity::Pressure => "Pressure",
        Quantity::Co2 => "CO2",
        Quantity::Illuminance => "Illuminance",
    }
    .to_string();
    if sensor.index > 0 {
        name.push_str(&format!(" {}", sensor.index + 1));
    }
    json!({
        "name": name,
        "unique_id": topics::sensor_unique_id(id, sensor),
        "device": device(id, node),
        "origin": origin(),
        "state_topic": topics.sensor_state(id, sensor),
        "value_template": "{{ value_json.value }}",
        "json_attributes_topic": topics.sensor_state(id, sensor),
        "json_attributes_template": "{{ {'measured_at_ms': value_json.measured_at_ms} | tojson }}",
        "device_class": class,
        "unit_of_measurement": unit,
        "state_class": "measurement",
        "availability": [
            { "topic": topics.bridge_availability() },
            { "topic": topics.node_availability(id) },
        ],
        "availability_mode": "all",
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::bridge::office_view::{SensorView, ZoneView};
    use crate::crdt::Unit;

    fn view() -> OfficeView {
        let mut view = OfficeView::default();
        let mut sensors = BTreeMap::new();
        for index in 0..2 {
            sensors.insert(
                SensorId {
                    quantity: Quantity::Temperature,
                    index,
                },
                SensorView {
                    value: 20.0,
                    unit: Unit::Celsius,
                    measured_at_ms: 1,
                },
            );
        }
        view.nodes.insert(
            NodeId(1),
            NodeView {
                name: "pi-1".into(),
                zone: "lab".into(),
                version: "0.1.0".into(),
                macs: vec!["02:00:00:00:00:01".into()],
                live: Some(true),
                sensors,
            },
        );
        view.zones.insert(
            "lab".into(),
            ZoneView {
                nodes: BTreeSet::from([NodeId(1)]),
                ..ZoneView::default()
            },
        );
        view
    }

    #[test]
    fn every_entity_has_what_home_assistant_requires_and_a_unique_id() {
        let topics = Topics::new("officemesh", "homeassistant");
        let range = crate::config::TargetsSection::default().temperature;
        let configs = configs(&view(), &topics, &range);
        assert_eq!(configs.len(), 4);
        let mut ids = BTreeSet::new();
        for (topic, payload) in &configs {
            let doc: Value = serde_json::from_str(payload).unwrap();
            assert!(ids.insert(doc["unique_id"].as_str().unwrap().to_string()));
            assert!(doc["device"]["identifiers"][0].is_string(), "{topic}");
            if topic.contains("/climate/") {
                assert_eq!(doc["min_temp"], 5.0);
                assert_eq!(doc["max_temp"], 30.0);
                assert_eq!(doc["temp_step"], 0.5);
                assert_eq!(
                    doc["temperature_command_topic"],
                    "officemesh/zone/lab/target/set"
                );
            } else {
                assert!(doc["state_topic"].is_string(), "{topic}");
            }
        }
        let names: BTreeSet<String> = configs
            .values()
            .map(|p| serde_json::from_str::<Value>(p).unwrap()["name"].to_string())
            .collect();
        assert!(names.contains("\"Temperature\"") && names.contains("\"Temperature 2\""));
    }
}
