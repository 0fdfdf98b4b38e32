//! Starting and stopping the demo's nodes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use jiff::tz::TimeZone;

use crate::config::{GossipSection, TargetsSection};
use crate::control::{HeatingConfig, OpenWindowConfig, RelayKind, ZoneProgram};
use crate::crdt::{Quantity, TargetKey};
use crate::net::{ClusterKey, IdentityError};
use crate::node::{
    self, DeviceClock, DevicesHandle, DevicesSetup, LocalWrite, NodeError, NodeHandle, Settings,
    settings::INTERFACE_POLL,
};
use crate::sensors::{
    SensorConfig, SensorKind, SharedRoom, SimulatedRoom, SimulatedRoomConfig, SystemPaths,
    lock_room,
};
use crate::time::Time;

use super::heating_day::{self, HeatingDay, SeedError};
use super::summary::{Summary, ZoneSummary};
use super::{MAX_NODES, address, interface, node_name, zone};

/// How a demo office is set up.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// How many nodes (one zone each), 1 to [`MAX_NODES`].
    pub nodes: usize,
    /// Device seconds per wall second. At the default 60 a room's
    /// three-hour time constant passes in three minutes and a heater
    /// warms its room by a degree in about five seconds, so the office
    /// visibly reaches its targets within a minute.
    pub speed: f64,
    /// The temperature target every zone starts with, °C.
    pub target: f32,
    /// Seconds (device time) between two samples of each thermometer.
    pub sample_interval: u64,
    /// The office's time zone: the demo's day and schedule run in it.
    pub time_zone: TimeZone,
    /// A schedule every zone follows (written as replicated state before
    /// the nodes start); the day then starts at 06:50 of the next weekday.
    /// Without one, zones follow their targets and the day starts now.
    pub schedule: Option<crate::crdt::Schedule>,
    /// Windows to open: a zone and the device second it opens at (it
    /// closes [`WINDOW_OPEN_FOR`] later).
    pub open_windows: Vec<(String, u64)>,
}

/// How long a demo window stays open, device time.
pub const WINDOW_OPEN_FOR: Duration = Duration::from_secs(600);

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            nodes: 5,
            speed: 60.0,
            target: 21.0,
            sample_interval: 10,
            time_zone: TimeZone::system(),
            schedule: None,
            open_windows: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("a demo office has 1 to {MAX_NODES} nodes, not {0}")]
    Nodes(usize),
    #[error("cannot create the demo's temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error(transparent)]
    Key(#[from] IdentityError),
    #[error("node {name}: {source}")]
    Node { name: String, source: NodeError },
    #[error("node {name} stopped before its first target was written")]
    Gone { name: String },
    #[error("node {name}: cannot write its schedule: {source}")]
    Seed { name: String, source: SeedError },
    #[error("--open-window: no zone {0:?} in this office")]
    NoSuchZone(String),
}

/// One node of the demo office.
pub struct DemoNode {
    pub name: String,
    pub zone: String,
    pub node: NodeHandle,
    pub devices: DevicesHandle,
    /// The thermal model its thermometer reads and its heater warms.
    pub room: SharedRoom,
}

/// A running demo office. [`DemoOffice::shutdown`] stops it; its temporary
/// directory (keys, stores) is removed when the value is dropped.
pub struct DemoOffice {
    nodes: Vec<DemoNode>,
    cluster_key: ClusterKey,
    clock: DeviceClock,
    targets: TargetsSection,
    dir: TempDir,
    time_zone: TimeZone,
    /// Calendar time (Unix ms) the device clock started at.
    start_ms: i64,
    windows: Vec<tokio::task::JoinHandle<()>>,
}

impl DemoOffice {
    /// Generates a cluster key, starts every node on its own loopback
    /// address with its devices, and sets every zone's initial target.
    pub async fn start(options: &DemoOptions) -> Result<DemoOffice, DemoError> {
        if options.nodes == 0 || options.nodes > MAX_NODES {
            return Err(DemoError::Nodes(options.nodes));
        }
        let dir = tempfile::Builder::new()
            .prefix("officemesh-demo-")
            .tempdir()
            .map_err(DemoError::TempDir)?;
        let cluster_key = ClusterKey::generate();
        let key_file = dir.path().join("cluster.key");
        cluster_key.write_new(&key_file)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let start_ms = match &options.schedule {
            Some(_) => heating_day::next_morning(&options.time_zone, now_ms),
            None => now_ms,
        };
        let clock = DeviceClock::accelerated_from(options.speed, start_ms);
        let mut office = DemoOffice {
            nodes: Vec::with_capacity(options.nodes),
            cluster_key,
            clock,
            targets: TargetsSection::default(),
            dir,
            time_zone: options.time_zone.clone(),
            start_ms,
            windows: Vec::new(),
        };
        let mut seeds: Vec<SocketAddr> = Vec::new();
        // The operator who wrote the demo's schedule, for this run only.
        let operator = crate::crdt::WriteKey::from_seed(rand::random());
        for i in 0..options.nodes {
            let zone = zone(i);
            let name = node_name(&zone);
            let data_dir = office.dir.path().join(format!("node-{i}"));
            if let Some(schedule) = &options.schedule {
                heating_day::seed(&data_dir, &operator, &zone, schedule, now_ms as u64).map_err(
                    |source| DemoError::Seed {
                        name: name.clone(),
                        source,
                    },
                )?;
            }
            let settings = Settings {
                name: name.clone(),
                zone: zone.clone(),
                listen: SocketAddr::new(address(i).into(), 0),
                seeds: seeds.clone(),
                cluster_key: key_file.clone(),
                keyring_dir: None,
                revoked: Default::default(),
                data_dir,
                targets: office.targets.clone(),
                trust: Default::default(),
                gossip: GossipSection::default(),
                interface_poll: INTERFACE_POLL,
                include_loopback: true,
                interfaces: Some(vec![interface(i)]),
            };
            let node = node::start(settings)
                .await
                .map_err(|source| DemoError::Node {
                    name: name.clone(),
                    source,
                })?;
            // Join through the first two nodes, as a small office would
            // list two seeds in its config.
            if seeds.len() < 2 {
                seeds.push(node.addr());
            }
            let room = SimulatedRoom::new(room_config(i), clock.now()).shared();
            let devices = node::devices::spawn(devices_setup(&zone, &room, options, clock), &node);
            office.nodes.push(DemoNode {
                name,
                zone,
                node,
                devices,
                room,
            });
        }
        for n in &office.nodes {
            let target = LocalWrite::Target {
                zone: n.zone.clone(),
                quantity: Quantity::Temperature,
                value: options.target,
                set_by: "demo".into(),
            };
            if n.node.local_writes().send(target).await.is_err() {
                return Err(DemoError::Gone {
                    name: n.name.clone(),
                });
            }
        }
        for (zone, at) in &options.open_windows {
            let Some(n) = office.nodes.iter().find(|n| &n.zone == zone) else {
                return Err(DemoError::NoSuchZone(zone.clone()));
            };
            let (room, opens) = (n.room.clone(), Time::ZERO + Duration::from_secs(*at));
            let zone = zone.clone();
            office.windows.push(tokio::spawn(async move {
                tokio::time::sleep_until(clock.instant(opens)).await;
                lock_room(&room).set_window_open(clock.now(), true);
                tracing::info!(%zone, "demo: window opened");
                tokio::time::sleep_until(clock.instant(opens + WINDOW_OPEN_FOR)).await;
                lock_room(&room).set_window_open(clock.now(), false);
                tracing::info!(%zone, "demo: window closed");
            }));
        }
        tracing::info!(
            nodes = office.nodes.len(),
            speed = clock.speed(),
            dir = %office.dir.path().display(),
            "demo office running"
        );
        Ok(office)
    }

    pub fn nodes(&self) -> &[DemoNode] {
        &self.nodes
    }

    /// The nodes' addresses, for attaching an observer.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|n| n.node.addr()).collect()
    }

    pub fn cluster_key(&self) -> &ClusterKey {
        &self.cluster_key
    }

    /// A directory, removed with the office, for an observer's identity.
    pub fn observer_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("observer")
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The target ranges every node accepts.
    /// The office's time zone, for the TUI's "today".
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    pub fn targets(&self) -> &TargetsSection {
        &self.targets
    }

    pub fn clock(&self) -> DeviceClock {
        self.clock
    }

    /// The office now: per zone its target, temperature, heating duty.
    pub fn summary(&self, wall: Duration) -> Summary {
        let now = self.clock.now();
        let mut zones: Vec<ZoneSummary> = Vec::new();
        for n in &self.nodes {
            let (temperature, heating_duty) = {
                let mut room = lock_room(&n.room);
                room.advance_to(now);
                (room.temperature(), room.heating_duty())
            };
            let status = n.devices.heating().borrow().clone();
            let program = n
                .node
                .programs()
                .borrow()
                .get(&n.zone)
                .cloned()
                .unwrap_or_else(ZoneProgram::default);
            let heating = status.map(|status| {
                let (expected, followed) = heating_day::check(
                    &program,
                    &self.time_zone,
                    self.start_ms,
                    self.clock.wall_ms(now),
                    &status,
                    crate::node::devices::PROGRAM_RECHECK.as_millis() as i64,
                );
                let config = HeatingConfig::new(RelayKind::Simulated).thermostat();
                HeatingDay {
                    switches_expected: expected,
                    switches_followed: followed,
                    min_times_held: status.meter.held(config.min_on, config.min_off),
                    on_seconds: status.meter.on_time(now).as_secs_f64(),
                    energy_kwh: Some(
                        status.meter.on_time(now).as_secs_f64() / 3600.0 * DEMO_HEATER_KW,
                    ),
                    windows_opened: status.windows_opened,
                    meter: status.meter,
                    effective: status.effective.as_ref().and_then(|e| e.celsius),
                    level: status
                        .effective
                        .as_ref()
                        .map_or_else(String::new, |e| e.level.to_string()),
                    why: status.why,
                }
            });
            zones.push(ZoneSummary {
                heating,
                zone: n.zone.clone(),
                target: n
                    .node
                    .target(&n.zone, Quantity::Temperature)
                    .map(|t| t.value),
                temperature,
                heating_duty,
                nodes: vec![n.name.clone()],
            });
        }
        let winners = |n: &DemoNode| -> Vec<(TargetKey, f32)> {
            n.node
                .targets()
                .borrow()
                .iter()
                .map(|(k, v)| (k.clone(), v.value))
                .collect()
        };
        let first = self.nodes.first().map(winners);
        let targets_agree = self.nodes.iter().all(|n| Some(winners(n)) == first);
        Summary {
            switches_missed: Summary::count_missed(&zones),
            min_times_held: Summary::all_held(&zones),
            zones,
            speed: self.clock.speed(),
            wall_seconds: wall.as_secs_f64(),
            simulated_seconds: wall.as_secs_f64() * self.clock.speed(),
            targets_agree,
        }
    }

    /// Switches every heater off (and publishes it), then lets every node
    /// leave the overlay and flush its store.
    pub async fn shutdown(self) {
        for w in &self.windows {
            w.abort();
        }
        let mut handles = Vec::with_capacity(self.nodes.len());
        for n in self.nodes {
            n.devices.shutdown().await;
            handles.push(n.node);
        }
        for node in handles {
            node.shutdown().await;
        }
        tracing::info!("demo office stopped");
    }
}

/// Rooms differ a little, as real ones do: some start colder, some face
/// north, some lose heat faster.
fn room_config(i: usize) -> SimulatedRoomConfig {
    SimulatedRoomConfig {
        initial: 14.0 + 0.5 * (i % 4) as f64,
        outside: 3.0 + (i % 5) as f64,
        time_constant: 9_000 + 900 * (i % 6) as u64,
        seed: i as u64,
        ..SimulatedRoomConfig::default()
    }
}

/// The rated power the demo's heaters declare (`[heating] power_kw`): a
/// common office panel heater, for the energy estimate.
pub const DEMO_HEATER_KW: f64 = 1.5;

fn devices_setup(
    zone: &str,
    room: &SharedRoom,
    options: &DemoOptions,
    clock: DeviceClock,
) -> DevicesSetup {
    let mut thermometer = SensorConfig::new(SensorKind::Simulated, "thermometer");
    thermometer.interval = options.sample_interval.max(1);
    let mut heating = HeatingConfig::new(RelayKind::Simulated);
    heating.open_window = Some(OpenWindowConfig::default());
    heating.power_kw = Some(DEMO_HEATER_KW);
    DevicesSetup {
        zone: zone.to_string(),
        sensors: vec![thermometer],
        heating: Some(heating),
        room: Some(room.clone()),
        paths: SystemPaths::default(),
        clock,
        time_zone: options.time_zone.clone(),
    }
}
