//! Facts derived from a snapshot once, when it arrives, so that every frame
//! renders in well under the 2 ms budget even for 200 nodes.

use std::collections::{BTreeMap, BTreeSet};

use super::snapshot::{Clock, NodeStatus, OfficeSnapshot};
use crate::NodeId;

/// What several views need and would otherwise recompute per frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Node names by id, for neighbour lists and clock headers.
    pub names: BTreeMap<NodeId, String>,
    /// Every zone mentioned by a node, reading, actuator or target, sorted.
    pub zones: Vec<String>,
    /// Highest counter any replica has seen, per origin: what "caught up" means.
    pub origin_max: Clock,
    /// Origins sorted by name: the Clocks view's columns.
    pub origins: Vec<NodeId>,
    /// Replicas sorted by name: the Clocks view's rows.
    pub replicas: Vec<NodeId>,
    /// Per replica: how many updates it lacks against `origin_max`.
    pub behind: BTreeMap<NodeId, u64>,
    /// Every replica that is not known to be down holds every update.
    pub converged: bool,
    /// Nodes alive, and nodes not forgotten.
    pub live: usize,
    pub known: usize,
}

impl Summary {
    pub fn of(snapshot: &OfficeSnapshot) -> Self {
        let names: BTreeMap<NodeId, String> = snapshot
            .nodes
            .iter()
            .map(|n| (n.id, n.name.clone()))
            .collect();
        let mut zones = BTreeSet::new();
        zones.extend(
            snapshot
                .nodes
                .iter()
                .filter(|n| n.role != "observer")
                .map(|n| n.zone.clone()),
        );
        zones.extend(snapshot.readings.iter().map(|r| r.zone.clone()));
        zones.extend(snapshot.actuators.iter().map(|a| a.zone.clone()));
        zones.extend(snapshot.targets.iter().map(|t| t.zone.clone()));
        zones.remove("");

        let mut origin_max = Clock::new();
        for clock in snapshot.clocks.values() {
            for (origin, counter) in clock {
                let max = origin_max.entry(*origin).or_insert(0);
                *max = (*max).max(*counter);
            }
        }
        let behind: BTreeMap<NodeId, u64> = snapshot
            .clocks
            .iter()
            .map(|(replica, clock)| {
                let missing = origin_max
                    .iter()
                    .map(|(origin, max)| max - clock.get(origin).copied().unwrap_or(0).min(*max))
                    .sum();
                (*replica, missing)
            })
            .collect();
        let down: BTreeSet<NodeId> = snapshot
            .nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Alive)
            .map(|n| n.id)
            .collect();
        let converged = behind
            .iter()
            .all(|(replica, missing)| *missing == 0 || down.contains(replica));
        let live = snapshot
            .nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Alive)
            .count();
        let known = snapshot
            .nodes
            .iter()
            .filter(|n| n.status != NodeStatus::Forgotten)
            .count();
        let by_name = |ids: Vec<NodeId>| {
            let mut ids: Vec<(String, NodeId)> = ids
                .into_iter()
                .map(|id| (names.get(&id).cloned().unwrap_or_else(|| id.short()), id))
                .collect();
            ids.sort();
            ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
        };
        let origins = by_name(origin_max.keys().copied().collect());
        let replicas = by_name(snapshot.clocks.keys().copied().collect());
        Summary {
            names,
            zones: zones.into_iter().collect(),
            origin_max,
            origins,
            replicas,
            behind,
            converged,
            live,
            known,
        }
    }

    /// The node's name, or its short id when the state does not name it.
    pub fn name(&self, id: NodeId) -> String {
        self.names.get(&id).cloned().unwrap_or_else(|| id.short())
    }
}
