//! What a node says about itself under its `Node(id)` key.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;
use crate::wire::Role;

/// A node's (or observer's) self-description, rewritten by it whenever any
/// part changes. Kept small: it is re-broadcast whole on every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Human name (default: the hostname). An attribute, not an identity.
    pub name: String,
    /// The zone (room) the node sits in and heats.
    pub zone: String,
    pub role: Role,
    /// Software version, e.g. "0.1.0".
    pub version: String,
    pub interfaces: Vec<Interface>,
    /// Sensors configured but not working, with why, as the devices layer
    /// reported them ("bme280 on i2c-1 at 0x76: no such device").
    pub failed_sensors: Vec<FailedSensor>,
    /// The node's current overlay (active-view) neighbours, for the TUI's
    /// network map.
    pub neighbours: Vec<NodeId>,
    /// The fingerprints of the cluster keys the node accepts, its primary
    /// first: `officemesh keyring list` counts the nodes holding each key
    /// before an administrator makes it the primary or removes the old one.
    pub cluster_keys: Vec<KeyFingerprint>,
}

/// One network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub mac: [u8; 6],
    pub ipv4: Vec<Ipv4Addr>,
    pub ipv6: Vec<Ipv6Addr>,
}

/// A sensor the node should have but cannot read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedSensor {
    pub sensor: String,
    pub message: String,
}
