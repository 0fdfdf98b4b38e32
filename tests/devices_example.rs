//! The example device configuration parses with the exported types, so it
//! cannot drift from them.

use officemesh::control::HeatingConfig;
use officemesh::sensors::{SensorConfig, SimulatedRoomConfig};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Devices {
    sensor: Vec<SensorConfig>,
    heating: HeatingConfig,
    simulated_room: Option<SimulatedRoomConfig>,
}

/// The example with every commented-out table and key switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest)
                if rest.starts_with('[')
                    || rest
                        .split_once(" = ")
                        .is_some_and(|(k, _)| !k.contains(' ')) =>
            {
                rest.to_string()
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn example_parses_and_validates() {
    let text = include_str!("../assets/devices.example.toml");
    let devices: Devices = toml::from_str(text).expect("example parses");
    for s in &devices.sensor {
        s.validate().expect("sensor validates");
    }
    devices.heating.validate().expect("heating validates");
    assert_eq!(devices.heating.pin, Some(17));
}

#[test]
fn every_commented_option_is_a_real_key() {
    let text = uncommented(include_str!("../assets/devices.example.toml"));
    let devices: Devices = toml::from_str(&text).expect("uncommented example parses");
    assert_eq!(devices.sensor.len(), 6);
    assert!(devices.simulated_room.is_some());
    assert_eq!(devices.heating.max_duty, Some(0.8));
}
