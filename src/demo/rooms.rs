//! The names of the demo's rooms, so its network map reads like an office.

/// Rooms in the order the demo fills them.
const ROOMS: [&str; 12] = [
    "Kitchen",
    "Meeting Room",
    "Open Space",
    "Reception",
    "Library",
    "Board Room",
    "Quiet Room",
    "Lounge",
    "Workshop",
    "Studio",
    "Lab",
    "Server Room",
];

/// The zone of the demo's `i`th node: a real room's name, then
/// "Office 13", "Office 14", … past the list.
pub fn zone(i: usize) -> String {
    match ROOMS.get(i) {
        Some(name) => (*name).to_string(),
        None => format!("Office {}", i + 1),
    }
}

/// The node's name, as a Pi in that room would be called: `pi-meeting-room`.
pub fn node_name(zone: &str) -> String {
    format!("pi-{}", zone.to_lowercase().replace(' ', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_readable() {
        let zones: std::collections::BTreeSet<String> = (0..40).map(zone).collect();
        assert_eq!(zones.len(), 40);
        assert_eq!(zone(1), "Meeting Room");
        assert_eq!(zone(12), "Office 13");
        assert_eq!(node_name("Meeting Room"), "pi-meeting-room");
    }
}
