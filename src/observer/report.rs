//! What `officemesh status` prints: one stable JSON document, or the same
//! as text for a person.

use serde_json::{Value, json};

use super::client::Observer;
use crate::crdt::{ActuatorOutput, Dot, Timestamp};
use crate::node::interfaces::format_mac;

fn dot(d: Dot) -> Value {
    json!({ "replica": d.replica.to_string(), "counter": d.counter })
}

fn ts(t: Timestamp) -> Value {
    json!(t.wall_ms)
}

/// The status document. Keys and list orders are stable (sorted by id or
/// key), so two runs on a quiet office print the same document.
pub fn document(observer: &Observer, tz: &jiff::tz::TimeZone) -> Value {
    let state = observer.state();
    let heating = super::heating_report::zones(state, tz, Observer::wall_ms() as i64);
    let live = observer.live_nodes();
    let clocks = observer.clocks();
    let nodes: Vec<Value> = state
        .nodes()
        .map(|(id, register)| {
            let (_, info) = register.winner().map_or((None, None), |(d, s)| (Some(d), Some(s)));
            let last_seen_ms = clocks
                .get(&id)
                .and_then(|c| c.at)
                .map(|at| at.elapsed().as_millis() as u64);
            let info_json = info.map(|s| {
                let v = &s.value;
                json!({
                    "name": v.name,
                    "zone": v.zone,
                    "role": format!("{:?}", v.role).to_lowercase(),
                    "version": v.version,
                    "interfaces": v.interfaces.iter().map(|i| json!({
                        "name": i.name,
                        "mac": format_mac(&i.mac),
                        "ipv4": i.ipv4.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                        "ipv6": i.ipv6.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>(),
                    "failed_sensors": v.failed_sensors.iter().map(|f| json!({"sensor": f.sensor, "message": f.message})).collect::<Vec<_>>(),
                    "neighbours": v.neighbours.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
                    "cluster_keys": v.cluster_keys.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    "announced_at_ms": ts(s.at),
                })
            });
            let mut entry = json!({
                "id": id.to_string(),
                "status": if live.contains(&id) { "alive" } else { "unreachable" },
                "last_seen_ms_ago": last_seen_ms,
            });
            if let (Some(obj), Some(Value::Object(extra))) = (entry.as_object_mut(), info_json) {
                obj.extend(extra);
            }
            entry
        })
        .collect();
    let sensors: Vec<Value> = state
        .sensors()
        .filter_map(|(key, register)| {
            let (_, s) = register.winner()?;
            Some(json!({
                "node": key.node.to_string(),
                "sensor": key.sensor.to_string(),
                "value": s.value.value,
                "unit": s.value.unit.symbol(),
                "measured_at_ms": ts(s.at),
            }))
        })
        .collect();
    let actuators: Vec<Value> = state
        .actuators()
        .filter_map(|(key, register)| {
            let (_, s) = register.winner()?;
            let output = match s.value.output {
                ActuatorOutput::Off => json!("off"),
                ActuatorOutput::On => json!("on"),
                ActuatorOutput::Level(l) => json!(l),
            };
            Some(json!({
                "node": key.node.to_string(),
                "actuator": key.actuator.to_string(),
                "output": output,
                "since_ms": ts(s.value.since),
            }))
        })
        .collect();
    let targets: Vec<Value> = state
        .targets()
        .map(|(key, register)| {
            let winner = register.winner().map(|(d, _)| d);
            let siblings: Vec<Value> = register
                .siblings()
                .map(|(d, s)| {
                    json!({
                        "value": s.value.value,
                        "unit": s.value.unit.symbol(),
                        "set_by": s.value.set_by,
                        "set_at_ms": ts(s.at),
                        "dot": dot(d),
                        "winner": Some(d) == winner,
                    })
                })
                .collect();
            let value = register.winner().map(|(_, s)| s.value.value);
            json!({
                "zone": key.zone,
                "quantity": key.quantity.name(),
                "value": value,
                "conflict": register.is_conflicted(),
                "siblings": siblings,
            })
        })
        .collect();
    let mut vectors = serde_json::Map::new();
    for (node, clock) in clocks {
        let entries: serde_json::Map<String, Value> = clock
            .vector
            .iter()
            .map(|(r, c)| (r.to_string(), json!(c)))
            .collect();
        vectors.insert(node.to_string(), Value::Object(entries));
    }
    let attached = observer.attached();
    json!({
        "observer": observer.id().to_string(),
        "attached_to": attached.map(|p| json!({"id": p.id.to_string(), "addr": p.addr.to_string()})),
        "synced": observer.is_synced(),
        "nodes": nodes,
        "sensors": sensors,
        "actuators": actuators,
        "targets": targets,
        "heating": heating,
        "version_vectors": vectors,
        "own_version_vector": observer.state().version_vector().iter()
            .map(|(r, c)| (r.to_string(), json!(c))).collect::<serde_json::Map<_, _>>(),
    })
}

/// The document as text for a terminal.
pub fn text(doc: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    out.push_str(&format!(
        "attached to {}\n\nNODES\n",
        doc["attached_to"]["addr"].as_str().unwrap_or("-")
    ));
    for n in doc["nodes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:<16} zone {:<12} {:<11} last seen {}\n",
            s(&n["id"]),
            s(&n["name"]),
            s(&n["zone"]),
            s(&n["status"]),
            n["last_seen_ms_ago"]
                .as_u64()
                .map_or("never".to_string(), |ms| format!("{ms} ms ago")),
        ));
        for i in n["interfaces"].as_array().into_iter().flatten() {
            let ips: Vec<String> = i["ipv4"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(i["ipv6"].as_array().into_iter().flatten())
                .map(s)
                .collect();
            out.push_str(&format!(
                "      {:<10} {}  {}\n",
                s(&i["name"]),
                s(&i["mac"]),
                ips.join(" ")
            ));
        }
    }
    out.push_str("\nSENSORS\n");
    for x in doc["sensors"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:<16} {} {}\n",
            s(&x["node"]),
            s(&x["sensor"]),
            x["value"],
            s(&x["unit"])
        ));
    }
    out.push_str("\nACTUATORS\n");
    for x in doc["actuators"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {}  {:<16} {}\n",
            s(&x["node"]),
            s(&x["actuator"]),
            x["output"]
        ));
    }
    out.push_str("\nTARGETS\n");
    for t in doc["targets"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:<12} {:<12} {}{}\n",
            s(&t["zone"]),
            s(&t["quantity"]),
            t["value"],
            if t["conflict"].as_bool() == Some(true) {
                "  (conflict)"
            } else {
                ""
            }
        ));
        for sib in t["siblings"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "      {} {} by {} dot {}:{}\n",
                sib["value"],
                s(&sib["unit"]),
                s(&sib["set_by"]),
                s(&sib["dot"]["replica"]),
                sib["dot"]["counter"]
            ));
        }
    }
    out.push_str(&super::heating_report::text(&doc["heating"]));
    out.push_str("\nVERSION VECTORS\n");
    if let Some(map) = doc["version_vectors"].as_object() {
        for (node, vv) in map {
            let entries: Vec<String> = vv
                .as_object()
                .into_iter()
                .flatten()
                .map(|(r, c)| format!("{}:{}", &r[..4.min(r.len())], c))
                .collect();
            out.push_str(&format!("  {node}  [{}]\n", entries.join(" ")));
        }
    }
    out
}
