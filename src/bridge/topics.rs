//! Every topic the bridge publishes or listens on, in one place, so the
//! discovery configs, the publisher and the command handler cannot
//! disagree about a name (docs/home-assistant.md lists them).

use crate::crdt::SensorId;
use crate::node_id::NodeId;

/// The payloads of every availability topic (Home Assistant's defaults).
pub const ONLINE: &str = "online";
pub const OFFLINE: &str = "offline";

/// Topic names under one base topic and one discovery prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    base: String,
    discovery: String,
}

impl Topics {
    pub fn new(base: &str, discovery_prefix: &str) -> Self {
        Topics {
            base: base.to_string(),
            discovery: discovery_prefix.to_string(),
        }
    }

    /// The bridge's own availability: `online` while it is connected,
    /// `offline` (its MQTT last will) once it is gone.
    pub fn bridge_availability(&self) -> String {
        format!("{}/bridge/availability", self.base)
    }

    /// Refused commands, one JSON document each (not retained).
    pub fn bridge_error(&self) -> String {
        format!("{}/bridge/error", self.base)
    }

    /// Which bridge publishes under this base topic (retained): a second
    /// bridge sees the first one's here.
    pub fn bridge_instance(&self) -> String {
        format!("{}/bridge/instance", self.base)
    }

    /// Home Assistant's birth and last-will messages.
    pub fn home_assistant_status(&self) -> String {
        format!("{}/status", self.discovery)
    }

    pub fn node_availability(&self, node: NodeId) -> String {
        format!("{}/node/{node}/availability", self.base)
    }

    pub fn sensor_state(&self, node: NodeId, sensor: SensorId) -> String {
        format!("{}/node/{node}/sensor/{}", self.base, sensor_slug(sensor))
    }

    /// One topic under a zone: `current_temperature`, `target`, `mode`,
    /// `action`, `availability`, `attributes`.
    pub fn zone(&self, zone: &str, leaf: &str) -> String {
        format!("{}/zone/{}/{leaf}", self.base, zone_slug(zone))
    }

    /// Where Home Assistant sends a new target for a zone.
    pub fn zone_target_command(&self, zone: &str) -> String {
        self.zone(zone, "target/set")
    }

    /// The subscription that receives every zone's target command.
    pub fn zone_target_commands(&self) -> String {
        format!("{}/zone/+/target/set", self.base)
    }

    /// The slug of the zone a command topic names, if it is one.
    pub fn command_zone_slug<'a>(&self, topic: &'a str) -> Option<&'a str> {
        topic
            .strip_prefix(self.base.as_str())?
            .strip_prefix("/zone/")?
            .strip_suffix("/target/set")
            .filter(|slug| !slug.is_empty() && !slug.contains('/'))
    }

    pub fn climate_config(&self, zone: &str) -> String {
        format!(
            "{}/climate/{}/config",
            self.discovery,
            climate_unique_id(zone)
        )
    }

    pub fn sensor_config(&self, node: NodeId, sensor: SensorId) -> String {
        format!(
            "{}/sensor/{}/config",
            self.discovery,
            sensor_unique_id(node, sensor)
        )
    }

    pub fn node_connectivity_config(&self, node: NodeId) -> String {
        format!(
            "{}/binary_sensor/officemesh_{node}_mesh/config",
            self.discovery
        )
    }

    /// Whether `topic` is a discovery config (published before states).
    pub fn is_discovery(&self, topic: &str) -> bool {
        topic
            .strip_prefix(self.discovery.as_str())
            .is_some_and(|rest| rest.starts_with('/') && rest.ends_with("/config"))
    }
}

pub fn climate_unique_id(zone: &str) -> String {
    format!("officemesh_zone_{}", zone_slug(zone))
}

pub fn sensor_unique_id(node: NodeId, sensor: SensorId) -> String {
    format!("officemesh_{node}_{}", sensor_slug(sensor))
}

/// `temperature_0`: the quantity and which of several.
pub fn sensor_slug(sensor: SensorId) -> String {
    format!("{}_{}", sensor.quantity.name(), sensor.index)
}

/// A zone's name as one topic level and part of a Home Assistant id
/// (`[A-Za-z0-9_-]`). A name that needs changing gets a digest of the
/// original appended, so "Room 1" and "Room_1" stay two zones.
pub fn zone_slug(zone: &str) -> String {
    let clean: String = zone
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == zone && !zone.is_empty() {
        return clean;
    }
    // FNV-1a: stable across versions and platforms, unlike `DefaultHasher`.
    let digest = zone.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{clean}_{:08x}", digest as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::Quantity;

    #[test]
    fn zone_slugs_are_topic_levels_and_distinct() {
        assert_eq!(zone_slug("meeting-2"), "meeting-2");
        let a = zone_slug("Room 1");
        let b = zone_slug("Room_1");
        assert_ne!(a, b);
        assert_eq!(a, "Room_1_9b434e2d");
        for z in ["a/b", "x+y", "#", "", "café"] {
            let s = zone_slug(z);
            assert!(!s.is_empty());
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
                "{s}"
            );
        }
    }

    #[test]
    fn command_topics_round_trip() {
        let t = Topics::new("officemesh", "homeassistant");
        let topic = t.zone_target_command("lab");
        assert_eq!(topic, "officemesh/zone/lab/target/set");
        assert_eq!(t.command_zone_slug(&topic), Some("lab"));
        assert_eq!(t.command_zone_slug("officemesh/zone/lab/target"), None);
        assert_eq!(t.command_zone_slug("other/zone/lab/target/set"), None);
        assert!(t.is_discovery(&t.climate_config("lab")));
        let sensor = SensorId {
            quantity: Quantity::Humidity,
            index: 1,
        };
        assert!(t.is_discovery(&t.sensor_config(NodeId(7), sensor)));
        assert!(!t.is_discovery(&t.sensor_state(NodeId(7), sensor)));
    }
}
