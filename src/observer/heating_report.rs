//! The heating part of `officemesh status`: per zone, the effective
//! target and the level that set it, the heater, and why it is on or off,
//! resolved from the observer's replica in the office's time zone the way
//! the zone's node resolves it.

use jiff::tz::TimeZone;
use serde_json::{Value, json};

use crate::control::effective_target::{self, ZoneProgram};
use crate::control::schedule_syntax::Printed;
use crate::control::why;
use crate::crdt::{ActuatorKind, ActuatorOutput, OfficeState, Quantity};
use crate::node::devices::HEATING_ENTRY;

/// One JSON object per zone that has a heater or a heating program, in
/// zone order.
pub fn zones(state: &OfficeState, tz: &TimeZone, now_ms: i64) -> Vec<Value> {
    let programs = ZoneProgram::all(state);
    let mut zones: std::collections::BTreeSet<String> = programs.keys().cloned().collect();
    let infos: Vec<_> = state
        .nodes()
        .filter_map(|(id, r)| r.winner().map(|(_, s)| (id, s.value.clone())))
        .collect();
    for (id, info) in &infos {
        if state
            .actuators()
            .any(|(k, _)| k.node == *id && k.actuator.kind == ActuatorKind::Heater)
        {
            zones.insert(info.zone.clone());
        }
    }
    zones
        .into_iter()
        .map(|zone| {
            let program = programs.get(&zone).cloned().unwrap_or_default();
            let effective = effective_target::resolve(&program, tz, now_ms, None, None);
            let nodes: Vec<_> = infos.iter().filter(|(_, i)| i.zone == zone).collect();
            let heater_on = nodes.iter().any(|(id, _)| {
                state.actuators().any(|(k, r)| {
                    k.node == *id
                        && k.actuator.kind == ActuatorKind::Heater
                        && r.winner()
                            .is_some_and(|(_, s)| s.value.output == ActuatorOutput::On)
                })
            });
            let celsius = nodes.iter().find_map(|(id, _)| {
                state
                    .sensors()
                    .find(|(k, _)| k.node == *id && k.sensor.quantity == Quantity::Temperature)
                    .and_then(|(_, r)| r.winner())
                    .map(|(_, s)| f64::from(s.value.value))
            });
            // The zone's node says when it is in its safe state or holds
            // off for an open window, and since when, among its broken
            // devices.
            let safety = nodes.iter().find_map(|(_, i)| {
                i.failed_sensors
                    .iter()
                    .find(|f| {
                        f.sensor == HEATING_ENTRY
                            && (f.message.starts_with("SAFETY") || f.message.starts_with("WINDOW"))
                    })
                    .map(|f| f.message.clone())
            });
            let why_text = match &safety {
                Some(message) => format!("{}: {message}", if heater_on { "on" } else { "off" }),
                None => why::explain_observed(
                    heater_on,
                    &why::Context {
                        effective: &effective,
                        celsius,
                        window_since: None,
                        safety_since: None,
                    },
                ),
            };
            let schedule = state.schedule(&zone);
            json!({
                "zone": zone,
                "effective_celsius": effective.celsius,
                "level": effective.level.to_string(),
                "reason": effective.reason,
                "next_change_ms": effective.next_change_ms,
                "heater": if heater_on { "on" } else { "off" },
                "temperature": celsius,
                "why": why_text,
                "safety": safety,
                "schedule": program.schedule.as_ref().map(|s| Printed(s).to_string()),
                "schedule_conflict": schedule.is_some_and(|r| r.is_conflicted()),
                "override": program.override_value.as_ref().map(|o| json!({
                    "celsius": o.celsius,
                    "expires_at_ms": o.expires_at_ms,
                    "set_by": o.set_by,
                })),
            })
        })
        .collect()
}

/// The heating section as text.
pub fn text(zones: &Value) -> String {
    let mut out = String::from("\nHEATING\n");
    let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
    for z in zones.as_array().into_iter().flatten() {
        let target = z["effective_celsius"]
            .as_f64()
            .map_or("off".to_string(), |c| format!("{c:.1} °C"));
        out.push_str(&format!(
            "  {:<14} {:>8}  {:<9} {}\n",
            s(&z["zone"]),
            target,
            s(&z["level"]),
            s(&z["why"])
        ));
        if let Some(schedule) = z["schedule"].as_str() {
            let conflict = if z["schedule_conflict"].as_bool() == Some(true) {
                "  (conflict: concurrent edits)"
            } else {
                ""
            };
            out.push_str(&format!("  {:<14} schedule {schedule}{conflict}\n", ""));
        }
    }
    out
}
