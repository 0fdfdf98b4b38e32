//! What happened between two snapshots, as lines for the Events view:
//! nodes joining, going silent or coming back, overlay neighbour changes,
//! and target writes (anyone's, not only this TUI's).
//!
//! Derived from the snapshots rather than from protocol events because an
//! observer never sees its node's membership messages, only their effects
//! in the office state (a node's `Node` entry lists its active view).

use std::collections::{BTreeMap, BTreeSet};

use super::event::{LogEvent, LogKind};
use super::snapshot::{NodeInfo, NodeStatus, OfficeSnapshot, TargetState};
use crate::NodeId;

/// The log lines that turn `before` into `after`, oldest first.
pub fn changes(before: &OfficeSnapshot, after: &OfficeSnapshot, now_ms: u64) -> Vec<LogEvent> {
    let mut out = Vec::new();
    let mut log = |kind, text: String| {
        out.push(LogEvent {
            at_ms: now_ms,
            kind,
            text,
        })
    };
    let names: BTreeMap<NodeId, &str> = before
        .nodes
        .iter()
        .chain(&after.nodes)
        .map(|n| (n.id, n.name.as_str()))
        .collect();
    let name = |id: NodeId| {
        names
            .get(&id)
            .map_or_else(|| id.short(), |n| (*n).to_string())
    };
    let old: BTreeMap<NodeId, &NodeInfo> = before.nodes.iter().map(|n| (n.id, n)).collect();
    for node in &after.nodes {
        match old.get(&node.id) {
            None if node.status != NodeStatus::Forgotten => log(
                LogKind::Join,
                format!("{} joined ({})", node.name, zone_text(&node.zone)),
            ),
            None => {}
            Some(was) => {
                match (was.status, node.status) {
                    (a, b) if a == b => {}
                    (_, NodeStatus::Alive) => log(LogKind::Join, format!("{} is back", node.name)),
                    (_, NodeStatus::Unreachable) => log(
                        LogKind::Leave,
                        format!("{} is unreachable (no clock report)", node.name),
                    ),
                    (_, NodeStatus::Forgotten) => {
                        log(LogKind::Leave, format!("{} was forgotten", name(node.id)))
                    }
                }
                let was_n: BTreeSet<NodeId> = was.neighbours.iter().copied().collect();
                let now_n: BTreeSet<NodeId> = node.neighbours.iter().copied().collect();
                if was_n != now_n && node.status != NodeStatus::Forgotten {
                    let mut parts: Vec<String> = now_n
                        .difference(&was_n)
                        .map(|n| format!("+{}", name(*n)))
                        .collect();
                    parts.extend(was_n.difference(&now_n).map(|n| format!("-{}", name(*n))));
                    log(
                        LogKind::Neighbour,
                        format!("{} neighbours {}", node.name, parts.join(" ")),
                    );
                }
            }
        }
    }
    let still: BTreeSet<NodeId> = after.nodes.iter().map(|n| n.id).collect();
    for gone in before.nodes.iter().filter(|n| !still.contains(&n.id)) {
        log(
            LogKind::Leave,
            format!("{} left the office state", gone.name),
        );
    }

    let old_targets: BTreeMap<(&str, &str), &TargetState> = before
        .targets
        .iter()
        .map(|t| ((t.zone.as_str(), t.quantity.as_str()), t))
        .collect();
    for target in &after.targets {
        let was = old_targets.get(&(target.zone.as_str(), target.quantity.as_str()));
        let was_dots: BTreeSet<(NodeId, u64)> = was
            .map(|t| t.siblings.iter().map(|s| s.dot).collect())
            .unwrap_or_default();
        for sibling in target
            .siblings
            .iter()
            .filter(|s| !was_dots.contains(&s.dot))
        {
            log(
                LogKind::Write,
                format!(
                    "{} {} set to {} {} by {}",
                    target.zone, target.quantity, sibling.value, sibling.unit, sibling.set_by
                ),
            );
        }
        let was_conflicted = was.is_some_and(|t| t.siblings.len() > 1);
        if target.siblings.len() > 1 && !was_conflicted {
            log(
                LogKind::Write,
                format!(
                    "{} {} has {} concurrent values (CONFLICT); set it again to resolve",
                    target.zone,
                    target.quantity,
                    target.siblings.len()
                ),
            );
        }
    }
    out
}

fn zone_text(zone: &str) -> String {
    if zone.is_empty() {
        "no zone".to_string()
    } else {
        format!("zone {zone}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::snapshot::TargetSibling;

    fn node(id: u64, name: &str, status: NodeStatus, neighbours: &[u64]) -> NodeInfo {
        NodeInfo {
            id: NodeId(id),
            name: name.into(),
            zone: "lab".into(),
            role: "sensor".into(),
            status,
            interfaces: vec![],
            last_seen_ms: None,
            neighbours: neighbours.iter().map(|n| NodeId(*n)).collect(),
            failed_sensors: vec![],
        }
    }

    fn sibling(value: f64, counter: u64) -> TargetSibling {
        TargetSibling {
            value,
            unit: "°C".into(),
            set_by: "alice@pi".into(),
            set_at_ms: 0,
            dot: (NodeId(9), counter),
        }
    }

    fn texts(events: &[LogEvent]) -> Vec<(LogKind, &str)> {
        events.iter().map(|e| (e.kind, e.text.as_str())).collect()
    }

    #[test]
    fn joins_silences_returns_and_neighbours() {
        let before = OfficeSnapshot {
            nodes: vec![
                node(1, "a", NodeStatus::Alive, &[2]),
                node(2, "b", NodeStatus::Alive, &[1]),
            ],
            ..Default::default()
        };
        let after = OfficeSnapshot {
            nodes: vec![
                node(1, "a", NodeStatus::Alive, &[3]),
                node(2, "b", NodeStatus::Unreachable, &[1]),
                node(3, "c", NodeStatus::Alive, &[1]),
            ],
            ..Default::default()
        };
        let events = changes(&before, &after, 5);
        assert_eq!(
            texts(&events),
            [
                (LogKind::Neighbour, "a neighbours +c -b"),
                (LogKind::Leave, "b is unreachable (no clock report)"),
                (LogKind::Join, "c joined (zone lab)"),
            ]
        );
        assert!(events.iter().all(|e| e.at_ms == 5));
        let back = changes(&after, &before, 6);
        assert!(texts(&back).contains(&(LogKind::Join, "b is back")));
        assert!(texts(&back).contains(&(LogKind::Leave, "c left the office state")));
        assert!(changes(&after, &after, 7).is_empty());
    }

    #[test]
    fn new_target_values_and_conflicts_are_logged_once() {
        let target = |siblings: Vec<TargetSibling>| TargetState {
            zone: "hall".into(),
            quantity: "temperature".into(),
            siblings,
            winner: 0,
        };
        let before = OfficeSnapshot {
            targets: vec![target(vec![sibling(20.0, 1)])],
            ..Default::default()
        };
        let after = OfficeSnapshot {
            targets: vec![target(vec![sibling(21.5, 2)])],
            ..Default::default()
        };
        assert_eq!(
            texts(&changes(&before, &after, 0)),
            [(
                LogKind::Write,
                "hall temperature set to 21.5 °C by alice@pi"
            )]
        );
        let conflict = OfficeSnapshot {
            targets: vec![target(vec![sibling(21.5, 2), sibling(19.0, 3)])],
            ..Default::default()
        };
        let events = changes(&after, &conflict, 0);
        assert_eq!(events.len(), 2);
        assert!(events[1].text.contains("CONFLICT"));
        assert!(changes(&conflict, &conflict, 0).is_empty());
    }
}
