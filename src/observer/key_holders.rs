//! Which nodes hold which cluster key, from the keys every node advertises
//! in its `Node` entry: what `officemesh keyring list` prints as `[4/5]`
//! so an administrator makes a key the primary only once every node has
//! installed it, and removes the old one only once no node dials with it.

use std::collections::{BTreeMap, BTreeSet};

use crate::crdt::OfficeState;
use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;
use crate::wire::Role;

/// The nodes (observers excluded) and the keys each advertises.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHolders {
    /// Every node with a `Node` entry, with its name.
    pub nodes: BTreeMap<NodeId, String>,
    /// For each advertised key, the nodes holding it.
    pub holders: BTreeMap<KeyFingerprint, BTreeSet<NodeId>>,
    /// For each node, the key it dials with (the first it advertises).
    pub primaries: BTreeMap<NodeId, KeyFingerprint>,
}

impl KeyHolders {
    /// From the state an observer holds: each node's winning entry.
    pub fn of(state: &OfficeState) -> Self {
        let mut out = KeyHolders::default();
        for (id, register) in state.nodes() {
            let Some((_, sibling)) = register.winner() else {
                continue;
            };
            let info = &sibling.value;
            if info.role != Role::Node {
                continue;
            }
            out.nodes.insert(id, info.name.clone());
            if let Some(first) = info.cluster_keys.first() {
                out.primaries.insert(id, *first);
            }
            for key in &info.cluster_keys {
                out.holders.entry(*key).or_default().insert(id);
            }
        }
        out
    }

    /// How many nodes hold `key`.
    pub fn count(&self, key: &KeyFingerprint) -> usize {
        self.holders.get(key).map_or(0, BTreeSet::len)
    }

    /// The names of the nodes that do not hold `key`.
    pub fn missing(&self, key: &KeyFingerprint) -> Vec<String> {
        let holding = self.holders.get(key);
        self.nodes
            .iter()
            .filter(|(id, _)| !holding.is_some_and(|h| h.contains(id)))
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// How many nodes dial with `key`.
    pub fn primary_count(&self, key: &KeyFingerprint) -> usize {
        self.primaries.values().filter(|k| *k == key).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{NodeInfo, Writer};

    fn info(name: &str, role: Role, keys: &[KeyFingerprint]) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            zone: "lab".into(),
            role,
            version: "0".into(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys: keys.to_vec(),
        }
    }

    #[test]
    fn nodes_are_counted_per_key_and_observers_are_not() {
        let (old, new) = (KeyFingerprint([1; 8]), KeyFingerprint([2; 8]));
        let mut state = OfficeState::new();
        let entries = [
            ("a", Role::Node, vec![new, old]),
            ("b", Role::Node, vec![old, new]),
            ("c", Role::Node, vec![old]),
            ("tui", Role::Observer, vec![new]),
        ];
        for (i, (name, role, keys)) in entries.iter().enumerate() {
            let mut writer = Writer::new(NodeId(i as u64 + 1));
            state.announce_node(&mut writer, 1, info(name, *role, keys));
        }
        let holders = KeyHolders::of(&state);
        assert_eq!(holders.nodes.len(), 3);
        assert_eq!((holders.count(&old), holders.count(&new)), (3, 2));
        assert_eq!(holders.missing(&new), vec!["c".to_string()]);
        assert_eq!(holders.primary_count(&new), 1);
        assert_eq!(holders.primary_count(&old), 2);
    }
}
