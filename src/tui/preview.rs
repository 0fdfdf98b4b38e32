//! A fixed, realistic office: the state the snapshot tests pin, the
//! benchmark scales up, and `examples/tui_preview.rs` shows. It is made-up
//! data (seven Pis in four rooms, one observer), not a live office.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::action::Action;
use super::app::{App, TuiConfig};
use super::event::{LogEvent, LogKind, NetworkUpdate, WriteProgress};
use super::snapshot::{
    ActuatorState, AttachedNode, Clock, ConnectionStatus, FailedSensor, Interface, NodeInfo,
    NodeStatus, OfficeSnapshot, ScheduleSibling, SensorReading, TargetSibling, TargetState,
    ZoneProgramText,
};
use super::update::update;
use crate::NodeId;
use crate::control::schedule_syntax::Printed;
use crate::crdt::{CivilDate, Days, Exception, PresetName, Schedule, Setpoint, Slot};

/// The preview's wall clock: 2026-09-21 14:13:20 UTC.
pub const NOW_MS: u64 = 1_790_000_000_000;
/// Seconds between two readings of a preview sensor.
const READING_PERIOD_S: u64 = 15;
/// Readings fed before `NOW_MS`, so sparklines have a history.
const READINGS: u64 = 40;

/// The operator's observer replica (the TUI on a laptop).
pub const OBSERVER: NodeId = NodeId(0x0b5e_77e0_0000_0001);

fn pi(n: u64) -> NodeId {
    NodeId(0x5100_0000_0000_0000 + n * 0x0101_0101)
}

fn interface(name: &str, n: u64, wifi: bool) -> Interface {
    let last = n as u8;
    Interface {
        name: name.to_string(),
        mac: if wifi {
            [0xdc, 0xa6, 0x32, 0x1e, 0x40, last]
        } else {
            [0xb8, 0x27, 0xeb, 0x5a, 0x10, last]
        },
        ipv4: vec![if wifi {
            Ipv4Addr::new(192, 168, 1, 100 + last)
        } else {
            Ipv4Addr::new(10, 0, 0, 10 + last)
        }],
        ipv6: if wifi {
            vec![]
        } else {
            vec![Ipv6Addr::new(
                0xfe80,
                0,
                0,
                0,
                0xba27,
                0xebff,
                0xfe5a,
                0x1000 + n as u16,
            )]
        },
    }
}

struct Pi {
    n: u64,
    name: &'static str,
    zone: &'static str,
    status: NodeStatus,
    neighbours: &'static [u64],
}

const PIS: [Pi; 7] = [
    Pi {
        n: 1,
        name: "office-pi-1",
        zone: "Kitchen",
        status: NodeStatus::Alive,
        neighbours: &[2, 4, 7],
    },
    Pi {
        n: 2,
        name: "office-pi-2",
        zone: "Meeting Room",
        status: NodeStatus::Alive,
        neighbours: &[1, 3, 5],
    },
    Pi {
        n: 3,
        name: "office-pi-3",
        zone: "Meeting Room",
        status: NodeStatus::Alive,
        neighbours: &[2, 4, 5],
    },
    Pi {
        n: 4,
        name: "office-pi-4",
        zone: "Open Space",
        status: NodeStatus::Alive,
        neighbours: &[1, 3, 7],
    },
    Pi {
        n: 5,
        name: "office-pi-5",
        zone: "Open Space",
        status: NodeStatus::Alive,
        neighbours: &[2, 3, 7],
    },
    Pi {
        n: 6,
        name: "office-pi-6",
        zone: "Reception",
        status: NodeStatus::Unreachable,
        neighbours: &[],
    },
    Pi {
        n: 7,
        name: "office-pi-7",
        zone: "Reception",
        status: NodeStatus::Alive,
        neighbours: &[1, 4, 5],
    },
];

/// A smooth, deterministic indoor temperature for zone-ish index `i` at step `t`.
fn temperature(i: u64, t: u64) -> f64 {
    let base = [20.4, 21.1, 20.8, 19.6, 19.9, 18.2, 19.1][i as usize % 7];
    base + 0.6 * ((t as f64 / 6.0) + i as f64).sin()
}

/// The office as of step `t` of `READINGS` (the last is `NOW_MS`).
pub fn office_at(t: u64) -> OfficeSnapshot {
    let now = NOW_MS - (READINGS - 1 - t) * READING_PERIOD_S * 1000;
    let nodes = PIS
        .iter()
        .map(|p| NodeInfo {
            id: pi(p.n),
            name: p.name.to_string(),
            zone: p.zone.to_string(),
            role: if p.n == 1 || p.n == 4 {
                "sensor+heater".into()
            } else {
                "sensor".into()
            },
            status: p.status,
            interfaces: if p.n % 3 == 0 {
                vec![interface("eth0", p.n, false), interface("wlan0", p.n, true)]
            } else {
                vec![interface("eth0", p.n, false)]
            },
            last_seen_ms: Some(if p.status == NodeStatus::Alive {
                now - 1_000 * (p.n % 3)
            } else {
                NOW_MS - 312_000
            }),
            neighbours: p.neighbours.iter().map(|n| pi(*n)).collect(),
            failed_sensors: match p.n {
                7 => vec![FailedSensor {
                    sensor: "sht4x".into(),
                    message: "i2c: no ack at 0x44".into(),
                }],
                // The kitchen's heating holds off for an open window; the
                // meeting room's relay stopped answering.
                1 => vec![FailedSensor {
                    sensor: "heating".into(),
                    message: "WINDOW OPEN since 09:12; heating held off".into(),
                }],
                3 => vec![FailedSensor {
                    sensor: "heating".into(),
                    message: "SAFETY: relay error since 09:05; heater off (gpio 17: write failed)"
                        .into(),
                }],
                _ => vec![],
            },
        })
        .collect();
    let mut readings = vec![];
    for p in &PIS {
        // The unreachable Pi's last reading is five minutes old; office-pi-5's
        // DS18B20 stopped updating 90 s ago while the node is alive.
        let measured = match p.n {
            6 => NOW_MS - 312_000,
            5 => now.min(NOW_MS - 90_000),
            _ => now - 2_000 * (p.n % 4),
        };
        let step = (measured.saturating_sub(NOW_MS - (READINGS - 1) * READING_PERIOD_S * 1000))
            / (READING_PERIOD_S * 1000);
        let (sensor, has_humidity) = match p.n {
            5 => ("ds18b20", false),
            2 | 4 => ("sht31", true),
            _ => ("bme280", true),
        };
        readings.push(SensorReading {
            node: pi(p.n),
            sensor: sensor.into(),
            zone: p.zone.into(),
            quantity: "temperature".into(),
            value: (temperature(p.n, step) * 10.0).round() / 10.0,
            unit: "°C".into(),
            measured_at_ms: measured,
        });
        if has_humidity {
            readings.push(SensorReading {
                node: pi(p.n),
                sensor: sensor.into(),
                zone: p.zone.into(),
                quantity: "humidity".into(),
                value: (40.0 + 3.0 * ((step as f64 / 9.0) + p.n as f64).cos()).round(),
                unit: "%".into(),
                measured_at_ms: measured,
            });
        }
    }
    let actuators = vec![
        ActuatorState {
            node: pi(1),
            name: "heater".into(),
            zone: "Kitchen".into(),
            on: false,
            since_ms: NOW_MS - 540_000,
        },
        ActuatorState {
            node: pi(4),
            name: "heater".into(),
            zone: "Open Space".into(),
            on: true,
            since_ms: NOW_MS - 95_000,
        },
        ActuatorState {
            node: pi(3),
            name: "heater".into(),
            zone: "Meeting Room".into(),
            on: false,
            since_ms: NOW_MS - 1_200_000,
        },
    ];
    let sibling =
        |value: f64, unit: &str, by: &str, ago_s: u64, dot: (NodeId, u64)| TargetSibling {
            value,
            unit: unit.into(),
            set_by: by.into(),
            set_at_ms: NOW_MS - ago_s * 1000,
            dot,
        };
    let targets = vec![
        TargetState {
            zone: "Kitchen".into(),
            quantity: "temperature".into(),
            siblings: vec![sibling(21.0, "°C", "maria@office-pi-1", 7_200, (pi(1), 12))],
            winner: 0,
        },
        TargetState {
            zone: "Meeting Room".into(),
            quantity: "temperature".into(),
            siblings: vec![
                sibling(21.5, "°C", "alice@office-pi-3", 42, (pi(3), 31)),
                sibling(23.0, "°C", "bob@laptop", 40, (OBSERVER, 4)),
            ],
            winner: 1,
        },
        TargetState {
            zone: "Open Space".into(),
            quantity: "temperature".into(),
            siblings: vec![sibling(21.0, "°C", "maria@office-pi-1", 86_400, (pi(1), 3))],
            winner: 0,
        },
        TargetState {
            zone: "Open Space".into(),
            quantity: "humidity".into(),
            siblings: vec![sibling(
                45.0,
                "%",
                "facilities@office-pi-4",
                600_000,
                (pi(4), 2),
            )],
            winner: 0,
        },
        TargetState {
            zone: "Reception".into(),
            quantity: "temperature".into(),
            siblings: vec![sibling(19.5, "°C", "alice@office-pi-3", 3_600, (pi(3), 28))],
            winner: 0,
        },
    ];
    // Counters per origin; office-pi-2 has not yet received office-pi-3's
    // newest write and the unreachable office-pi-6 lags on several origins.
    let newest: Vec<(NodeId, u64)> = PIS
        .iter()
        .map(|p| (pi(p.n), 10 + p.n * 7))
        .chain([(OBSERVER, 4)])
        .collect();
    let clocks: BTreeMap<NodeId, Clock> = PIS
        .iter()
        .map(|p| {
            let clock: Clock = newest
                .iter()
                .map(|(origin, counter)| {
                    let lag = match (p.n, *origin) {
                        (2, o) if o == pi(3) => 1,
                        (6, o) if o == OBSERVER => 4,
                        (6, o) if o == pi(1) || o == pi(3) => 3,
                        _ => 0,
                    };
                    (*origin, counter - lag)
                })
                .collect();
            (pi(p.n), clock)
        })
        .collect();
    let kitchen = kitchen_schedule();
    OfficeSnapshot {
        attached: Some(AttachedNode {
            name: "office-pi-3".into(),
            addr: "10.0.0.13:7070".into(),
        }),
        connection: ConnectionStatus::Connected,
        nodes,
        readings,
        actuators,
        targets,
        clocks,
        programs: BTreeMap::from([(
            "Kitchen".to_string(),
            ZoneProgramText {
                schedule: Some(Printed(&kitchen).to_string()),
                schedule_conflict: false,
                override_text: None,
                presets: vec![("comfort".into(), 21.5)],
                schedules: vec![ScheduleSibling {
                    schedule: kitchen,
                    set_at_ms: NOW_MS - 86_400_000,
                }],
            },
        )]),
    }
}

/// The Kitchen's weekly program: comfort in working hours, eco in the
/// evenings, away at weekends and over Christmas.
pub fn kitchen_schedule() -> Schedule {
    let day = |day| CivilDate {
        year: 2026,
        month: 12,
        day,
    };
    let slot = |days, minute, preset| Slot {
        days,
        minute,
        setpoint: Setpoint::Preset(preset),
    };
    Schedule {
        slots: vec![
            slot(Days::range(0, 4), 7 * 60, PresetName::Comfort),
            slot(Days::range(0, 4), 18 * 60, PresetName::Eco),
            slot(Days::range(5, 6), 0, PresetName::Away),
        ],
        exceptions: vec![Exception {
            from: day(24),
            to: day(26),
            setpoint: Setpoint::Preset(PresetName::Away),
            label: "christmas".into(),
        }],
        set_by: "alice@office-pi-3".into(),
    }
}

/// The Kitchen node's answer to a history request: two days of points
/// ending at `NOW_MS`, the room warming to its schedule's set-points.
pub fn kitchen_history() -> crate::wire::observer::HistoryAnswer {
    use crate::wire::observer::{HistoryAnswer, HistoryPoint};
    let last_min = (NOW_MS / 60_000 / 5 * 5) as u32;
    let points = (0..2 * 24 * 12u32)
        .rev()
        .map(|back| {
            let start_min = last_min - back * 5;
            // Local hour in the preview's UTC office.
            let hour = (start_min / 60) % 24;
            let target = if (7..18).contains(&hour) { 2150 } else { 1700 };
            let phase = f64::from(start_min % 45) / 45.0;
            let celsius =
                f64::from(target) / 100.0 - 0.3 + 0.5 * (phase * std::f64::consts::TAU).sin();
            let on = celsius < f64::from(target) / 100.0;
            HistoryPoint {
                start_min,
                centi_celsius: (celsius * 100.0).round() as i16,
                target_centi: target,
                on_secs: if on { 180 } else { 0 },
                cycles: u8::from(on && start_min % 15 == 0),
                level: 3,
            }
        })
        .collect();
    HistoryAnswer {
        points,
        power_w: Some(1500),
        unavailable: false,
        why: "on: 0.4 °C below 21.5 (schedule mon-fri 07:00–18:00 (comfort))".into(),
    }
}

/// The office's event log as the preview shows it.
fn events() -> Vec<LogEvent> {
    let at = |ago_s: u64| NOW_MS - ago_s * 1000;
    vec![
        LogEvent {
            at_ms: at(540),
            kind: LogKind::Join,
            text: "office-pi-7 joined (Reception)".into(),
        },
        LogEvent {
            at_ms: at(312),
            kind: LogKind::Leave,
            text: "office-pi-6 unreachable: connection reset".into(),
        },
        LogEvent {
            at_ms: at(311),
            kind: LogKind::Neighbour,
            text: "office-pi-3 promoted office-pi-5 from passive view".into(),
        },
        LogEvent {
            at_ms: at(120),
            kind: LogKind::Error,
            text: "office-pi-7 sht4x: i2c: no ack at 0x44".into(),
        },
        LogEvent {
            at_ms: at(42),
            kind: LogKind::Write,
            text: "alice@office-pi-3 set Meeting Room temperature 21.5 °C".into(),
        },
        LogEvent {
            at_ms: at(40),
            kind: LogKind::Write,
            text: "bob@laptop set Meeting Room temperature 23.0 °C (concurrent)".into(),
        },
    ]
}

/// An App as it looks after watching the office for ten minutes.
pub fn app(config: TuiConfig) -> App {
    let mut app = App::new(config, NOW_MS - READINGS * READING_PERIOD_S * 1000);
    for event in events() {
        update(&mut app, Action::Network(NetworkUpdate::Log(event)));
    }
    for t in 0..READINGS {
        update(
            &mut app,
            Action::Network(NetworkUpdate::Snapshot(office_at(t))),
        );
    }
    // A write of the operator's, half way through spreading.
    let write = app.start_write("Kitchen".into(), "temperature".into(), 21.0);
    update(
        &mut app,
        Action::Network(NetworkUpdate::WriteProgress {
            write,
            progress: WriteProgress::Converged { k: 4, n: 6 },
        }),
    );
    update(&mut app, Action::Tick { now_ms: NOW_MS });
    app
}

/// A synthetic office of `n` nodes for the rendering benchmark: every node
/// has two interfaces, four neighbours, and a full version vector.
pub fn large(n: u64) -> OfficeSnapshot {
    let zones = [
        "Kitchen",
        "Meeting Room",
        "Open Space",
        "Reception",
        "Lab",
        "Library",
    ];
    let nodes: Vec<NodeInfo> = (0..n)
        .map(|i| NodeInfo {
            id: NodeId(i + 1),
            name: format!("pi-{i:03}"),
            zone: zones[i as usize % zones.len()].into(),
            role: "sensor".into(),
            status: if i % 17 == 0 {
                NodeStatus::Unreachable
            } else {
                NodeStatus::Alive
            },
            interfaces: vec![
                interface("eth0", i % 250, false),
                interface("wlan0", i % 250, true),
            ],
            last_seen_ms: Some(NOW_MS - i * 100),
            neighbours: (1..=4).map(|d| NodeId((i + d * 7) % n + 1)).collect(),
            failed_sensors: vec![],
        })
        .collect();
    let clocks = (0..n)
        .map(|r| {
            let clock: Clock = (0..n)
                .map(|o| (NodeId(o + 1), 100 + o - u64::from((r + o) % 13 == 0)))
                .collect();
            (NodeId(r + 1), clock)
        })
        .collect();
    OfficeSnapshot {
        attached: Some(AttachedNode {
            name: "pi-000".into(),
            addr: "10.0.0.10:7070".into(),
        }),
        connection: ConnectionStatus::Connected,
        nodes,
        clocks,
        ..Default::default()
    }
}
