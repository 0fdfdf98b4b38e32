//! The retained state topics: what each entity shows, derived from the
//! office view. A value nobody has yet (a zone never given a target, a
//! node not heard from since the bridge attached) has no topic, rather
//! than a made-up one.

use std::collections::BTreeMap;

use serde_json::json;

use super::office_view::OfficeView;
use super::topics::{OFFLINE, ONLINE, Topics};

/// Every state topic and its payload for `view`.
pub fn states(view: &OfficeView, topics: &Topics) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, zone) in &view.zones {
        let mut put = |leaf: &str, payload: String| {
            out.insert(topics.zone(name, leaf), payload);
        };
        if let Some(t) = zone.current_temperature {
            put("current_temperature", number(t));
        }
        if let Some(target) = &zone.target {
            put("target", number(target.value));
            put(
                "attributes",
                json!({
                    "set_by": target.set_by,
                    "set_at_ms": target.set_at_ms,
                    "conflict": target.conflict,
                    "nodes": zone.nodes.iter()
                        .filter_map(|n| view.nodes.get(n).map(|n| n.name.clone()))
                        .collect::<Vec<_>>(),
                })
                .to_string(),
            );
        }
        put("mode", zone.mode().into());
        put("action", zone.action().into());
        if let Some(live) = view.zone_live(zone) {
            put("availability", availability(live));
        }
    }
    for (id, node) in &view.nodes {
        if let Some(live) = node.live {
            out.insert(topics.node_availability(*id), availability(live));
        }
        for (sensor, reading) in &node.sensors {
            out.insert(
                topics.sensor_state(*id, *sensor),
                json!({
                    "value": round(reading.value),
                    "unit": reading.unit.symbol(),
                    "measured_at_ms": reading.measured_at_ms,
                })
                .to_string(),
            );
        }
    }
    out
}

fn availability(live: bool) -> String {
    if live { ONLINE } else { OFFLINE }.to_string()
}

/// An `f32` as the shortest decimal that reads back as the same `f32`
/// (`21.5`, not `21.5000003814697`).
fn round(value: f32) -> serde_json::Value {
    value
        .to_string()
        .parse::<f64>()
        .map_or(serde_json::Value::Null, |v| json!(v))
}

fn number(value: f32) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::bridge::office_view::{NodeView, TargetView, ZoneView};
    use crate::node_id::NodeId;

    #[test]
    fn a_zone_publishes_what_it_has_and_liveness_once_known() {
        let mut view = OfficeView::default();
        view.nodes.insert(
            NodeId(1),
            NodeView {
                name: "pi-1".into(),
                zone: "lab".into(),
                version: "0".into(),
                macs: vec![],
                live: None,
                sensors: BTreeMap::new(),
            },
        );
        view.zones.insert(
            "lab".into(),
            ZoneView {
                nodes: BTreeSet::from([NodeId(1)]),
                current_temperature: Some(19.25),
                target: Some(TargetView {
                    value: 21.5,
                    set_by: "ops".into(),
                    set_at_ms: 5,
                    conflict: false,
                }),
                heaters: vec![false],
            },
        );
        let topics = Topics::new("om", "ha");
        let s = states(&view, &topics);
        assert_eq!(s["om/zone/lab/current_temperature"], "19.25");
        assert_eq!(s["om/zone/lab/target"], "21.5");
        assert_eq!(s["om/zone/lab/mode"], "heat");
        assert_eq!(s["om/zone/lab/action"], "idle");
        assert!(!s.contains_key("om/zone/lab/availability"));
        assert!(!s.contains_key("om/node/0000000000000001/availability"));
        if let Some(node) = view.nodes.get_mut(&NodeId(1)) {
            node.live = Some(false);
        }
        let s = states(&view, &topics);
        assert_eq!(s["om/zone/lab/availability"], "offline");
        assert_eq!(s["om/node/0000000000000001/availability"], "offline");
        assert_eq!(round(0.1), json!(0.1));
    }
}
