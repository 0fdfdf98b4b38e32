//! The devices task: a node's sensors, its heater and the thermostat
//! between them, running beside the node task (DESIGN.md, "Devices").
//!
//! It knows nothing of the protocol. It reads the zone's winning target
//! from [`NodeHandle::targets`] and hands everything it has to say to the
//! node as a [`LocalWrite`]:
//! - each sensor is sampled at start, then every `interval` from a phase
//!   drawn at random within the first interval (see [`Slot::first_gap`]);
//!   a reading is published when [`PublishPolicy`] says so (moved past the
//!   deadband, or the heartbeat);
//! - sensors that did not open or currently return garbage are reported as
//!   [`LocalWrite::FailedSensors`] (shown in the node's `Node` entry, with
//!   the message saying how to enable the device) and the rest keeps
//!   running;
//! - the [`Thermostat`] is fed the zone's *effective* target and the
//!   heating sensor's latest sample on every sample, program change and
//!   recheck; the relay follows its decision and every change is published
//!   as [`LocalWrite::Actuator`]. The effective target is resolved here,
//!   from the replicated program ([`NodeHandle::programs`], the zone's
//!   target) in the office's time zone at the clock's calendar time
//!   (`control::effective_target`): safety > override > schedule > target,
//!   so the schedule switches and a boost expires with no network;
//! - an open window (`[heating.open_window]`) holds the heater off, and the
//!   safe state is entered on a stale or failed sensor, a relay error or
//!   when nothing says what the zone should be at; while it lasts it is
//!   listed with the broken devices ("SAFETY: stale reading since 09:12",
//!   "WINDOW OPEN since 09:12; heating held off");
//! - what the heating does and why is kept in [`HeatingStatus`], logged on
//!   change and readable through [`DevicesHandle::heating`];
//! - on shutdown the heater is switched off (fail-safe) and that is
//!   published before the node leaves.
//!
//! All device times come from one [`DeviceClock`], real on a Pi and
//! accelerated in the demo.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use jiff::tz::TimeZone;

use crate::config::Config;
use crate::control::effective_target::local_hhmm;
use crate::control::{
    Effective, HeaterMeter, HeatingConfig, Level, OpenWindow, Reason, Relay, SafetyCause, Sample,
    Thermostat, ZoneProgram, open_relay, resolve, why,
};
use crate::crdt::{
    ActuatorId, ActuatorKind, ActuatorOutput, FailedSensor, TargetKey, TargetValue, Unit,
};
use crate::history::NodeHistory;
use crate::sensors::{
    self, PublishPolicy, Sensor, SensorConfig, SensorFailure, SharedRoom, SimulatedRoom,
    SystemPaths,
};
use crate::time::Time;

use super::device_clock::DeviceClock;
use super::{LocalWrite, NodeHandle, readings};

/// The heater's key in the office state: one heater per node.
pub const HEATER: ActuatorId = ActuatorId {
    kind: ActuatorKind::Heater,
    index: 0,
};

/// How long shutdown waits to hand the node the heater's final "off".
pub const FAIL_SAFE_PUBLISH: Duration = Duration::from_secs(1);

/// The name a broken heater is listed under among the failed sensors (the
/// `Node` entry has one list of broken devices).
pub const HEATING_ENTRY: &str = "heating";

/// Everything a node's devices task needs.
pub struct DevicesSetup {
    /// The node's zone: the thermostat follows `Target(zone, temperature)`.
    pub zone: String,
    /// The `[[sensor]]` tables, in file order (the order gives each its
    /// index in the office state, see [`readings::sensor_id`]).
    pub sensors: Vec<SensorConfig>,
    pub heating: Option<HeatingConfig>,
    /// The node's simulated room, for `simulated` sensors and relays.
    pub room: Option<SharedRoom>,
    pub paths: SystemPaths,
    pub clock: DeviceClock,
    /// The office's time zone (`[office] timezone`): schedules are read in it.
    pub time_zone: TimeZone,
}

/// How often the effective target is resolved again while nothing else
/// wakes the task: a safety net under the exact switch times, and the
/// granularity a changed system clock is noticed at.
pub const PROGRAM_RECHECK: Duration = Duration::from_secs(60);

/// What a zone's heating does and why, after the last decision.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatingStatus {
    pub on: bool,
    pub effective: Option<Effective>,
    /// "on: 0.6 °C below 21.0 (schedule mon-fri 07:00–18:00 (comfort))".
    pub why: String,
    /// The safe state's cause and when it began (Unix ms), while in it.
    pub safety: Option<(SafetyCause, i64)>,
    /// When the window was seen open (Unix ms), while heating is held off.
    pub window_open_since: Option<i64>,
    /// On-time, cycles and the shortest periods so far.
    pub meter: HeaterMeter,
    /// Windows seen opening so far.
    pub windows_opened: u64,
    /// The last changes of the effective target, oldest first (at most
    /// [`TARGET_CHANGES_KEPT`]): what the demo checks the schedule against.
    pub changes: VecDeque<TargetChange>,
}

/// One change of a zone's effective target.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetChange {
    /// Calendar time, Unix ms.
    pub wall_ms: i64,
    pub celsius: Option<f64>,
    pub level: Level,
}

/// Effective-target changes kept in [`HeatingStatus::changes`]: a day of a
/// busy schedule with boosts fits.
pub const TARGET_CHANGES_KEPT: usize = 64;

impl DevicesSetup {
    /// The devices a config describes, on `clock`; `None` when it has no
    /// sensor and no heating (the node then only relays and stores).
    pub fn from_config(config: &Config, clock: DeviceClock) -> Option<DevicesSetup> {
        if config.sensor.is_empty() && config.heating.is_none() {
            return None;
        }
        let room = config
            .simulated_room
            .clone()
            .map(|c| SimulatedRoom::new(c, clock.now()).shared());
        Some(DevicesSetup {
            zone: config.node.zone.clone(),
            sensors: config.sensor.clone(),
            heating: config.heating.clone(),
            room,
            paths: SystemPaths::default(),
            clock,
            // Validated when the file was loaded.
            time_zone: config
                .office
                .time_zone()
                .unwrap_or_else(|_| TimeZone::system()),
        })
    }
}

/// The running devices task.
#[derive(Debug)]
pub struct DevicesHandle {
    shutdown: watch::Sender<bool>,
    heating: watch::Receiver<Option<HeatingStatus>>,
    task: tokio::task::JoinHandle<()>,
}

impl DevicesHandle {
    /// Switches the heater off, publishes that, and waits for the task to
    /// end. Call it before shutting the node down, so the last actuator
    /// state still reaches the mesh.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }

    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// What the heating does and why (`None` without a heater, or before
    /// its first decision).
    pub fn heating(&self) -> watch::Receiver<Option<HeatingStatus>> {
        self.heating.clone()
    }
}

/// The zone-level inputs the devices task follows.
pub struct Inputs {
    pub targets: watch::Receiver<BTreeMap<TargetKey, TargetValue>>,
    pub programs: watch::Receiver<BTreeMap<String, ZoneProgram>>,
    /// Where the temperature, target and heater are recorded.
    pub history: NodeHistory,
}

/// Starts the devices task of `node`.
pub fn spawn(setup: DevicesSetup, node: &NodeHandle) -> DevicesHandle {
    spawn_on(
        setup,
        node.local_writes(),
        Inputs {
            targets: node.targets(),
            programs: node.programs(),
            history: node.history(),
        },
    )
}

/// Starts a devices task that writes to `writes` and follows `inputs`
/// (what [`spawn`] takes from a node; tests pass their own channels).
pub fn spawn_on(
    setup: DevicesSetup,
    writes: mpsc::Sender<LocalWrite>,
    inputs: Inputs,
) -> DevicesHandle {
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (status_tx, heating) = watch::channel(None);
    let task = tokio::spawn(run(setup, writes, inputs, status_tx, shutdown_rx));
    DevicesHandle {
        shutdown,
        heating,
        task,
    }
}

/// One working sensor.
struct Slot {
    /// Position in the `[[sensor]]` list.
    position: usize,
    name: String,
    interval: Duration,
    next: Time,
    /// The gap after the first sample, drawn at random up to `interval`.
    /// Nodes started together (a whole office powered on at once, or
    /// after a power cut) would otherwise sample in step for good, and
    /// every node would take every node's reading in the same instant
    /// each interval; spread over the interval, readings arrive a few at
    /// a time, as the tree and the links are sized for.
    first_gap: Option<Duration>,
    /// Lent to a blocking task while it is read; `None` after its driver
    /// panicked.
    sensor: Option<Box<dyn Sensor>>,
    policy: PublishPolicy,
    /// The last read error, in words, while the sensor keeps failing.
    error: Option<String>,
}

/// A duration drawn uniformly from zero to `whole`, to the millisecond.
fn random_part(whole: Duration) -> Duration {
    let ms = u64::try_from(whole.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::random_range(0..=ms))
}

struct Heating {
    relay: Box<dyn Relay>,
    thermostat: Thermostat,
    /// The sensor whose temperature drives the thermostat; chosen at the
    /// first temperature when `[heating] sensor` is not given.
    sensor: Option<String>,
    /// Whether `sensor` was named in the config (it then never changes).
    named: bool,
    last: Option<Sample>,
    recheck: Option<Time>,
    /// The last relay failure, in words.
    error: Option<String>,
    frost_floor: Option<f64>,
    window: Option<OpenWindow>,
    /// The safe state's cause and since when (Unix ms).
    safety: Option<(SafetyCause, i64)>,
    status: Option<HeatingStatus>,
    meter: HeaterMeter,
    changes: VecDeque<TargetChange>,
    windows_opened: u64,
}

struct Devices {
    zone: String,
    clock: DeviceClock,
    time_zone: TimeZone,
    writes: mpsc::Sender<LocalWrite>,
    targets: watch::Receiver<BTreeMap<TargetKey, TargetValue>>,
    programs: watch::Receiver<BTreeMap<String, ZoneProgram>>,
    status: watch::Sender<Option<HeatingStatus>>,
    slots: Vec<Slot>,
    /// Sensors (and the heater) that did not open: fixed for the run.
    open_failures: Vec<SensorFailure>,
    heating: Option<Heating>,
    reported: Option<Vec<FailedSensor>>,
    history: NodeHistory,
    /// The sensor whose temperature the history keeps when there is no
    /// heating (with heating, the heating's sensor).
    history_sensor: Option<String>,
}

async fn run(
    setup: DevicesSetup,
    writes: mpsc::Sender<LocalWrite>,
    inputs: Inputs,
    status: watch::Sender<Option<HeatingStatus>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut devices) = Devices::open(setup, writes, inputs, status).await else {
        return;
    };
    if !devices.publish_heater(false).await {
        return;
    }
    let mut flush = tokio::time::interval_at(
        tokio::time::Instant::now() + crate::history::FLUSH_EVERY,
        crate::history::FLUSH_EVERY,
    );
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let now = devices.clock.now();
        if !devices.sample_due(now).await {
            break;
        }
        let now = devices.clock.now();
        if !devices.regulate(now).await || !devices.report_failures().await {
            break;
        }
        let next = devices.next_wake();
        let sleep = async {
            match next {
                Some(t) => tokio::time::sleep_until(devices.clock.instant(t)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            changed = devices.targets.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            changed = devices.programs.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            _ = flush.tick() => {
                let wall_ms = devices.clock.wall_ms(devices.clock.now());
                devices.history.with(|h| h.advance(wall_ms));
                let written = devices.history.flush().await;
                tracing::debug!(bytes = written, "history flushed");
            }
            _ = shutdown.changed() => break,
        }
    }
    devices.fail_safe().await;
    devices.history.flush().await;
}

impl Devices {
    /// Opens the sensors (on a blocking thread: I2C drivers wait for their
    /// chips) and the relay. `None` when the blocking pool is gone.
    async fn open(
        setup: DevicesSetup,
        writes: mpsc::Sender<LocalWrite>,
        inputs: Inputs,
        status: watch::Sender<Option<HeatingStatus>>,
    ) -> Option<Devices> {
        let DevicesSetup {
            zone,
            sensors: configs,
            heating: heating_config,
            room,
            paths,
            clock,
            time_zone,
        } = setup;
        let (opened, configs, paths, room) = tokio::task::spawn_blocking(move || {
            let opened = sensors::open_all(&configs, &paths, room.as_ref());
            (opened, configs, paths, room)
        })
        .await
        .ok()?;
        let start = clock.now();
        let mut open_failures = opened.failed;
        let mut slots = Vec::new();
        for working in opened.working {
            let Some(position) = configs.iter().position(|c| c.name == working.config.name) else {
                continue;
            };
            if position > usize::from(u8::MAX) {
                open_failures.push(SensorFailure {
                    name: working.config.name.clone(),
                    message: "a node reports at most 256 sensors".into(),
                });
                continue;
            }
            slots.push(Slot {
                position,
                name: working.config.name.clone(),
                interval: working.config.interval(),
                next: start,
                first_gap: Some(random_part(working.config.interval())),
                sensor: Some(working.sensor),
                policy: working.policy,
                error: None,
            });
        }
        let heating = match heating_config {
            None => None,
            Some(config) => match open_relay(&config, &paths.dev, room.as_ref()) {
                Ok(relay) => {
                    inputs.history.with(|h| h.set_power_kw(config.power_kw));
                    if let Some(name) = &config.sensor
                        && !configs.iter().any(|c| &c.name == name)
                    {
                        open_failures.push(SensorFailure {
                            name: HEATING_ENTRY.into(),
                            message: format!(
                                "[heating] sensor = {name:?} names no [[sensor]]; the heater stays off"
                            ),
                        });
                    }
                    tracing::info!(relay = %relay.describe(), zone = %zone, "heating opened");
                    Some(Heating {
                        relay,
                        thermostat: Thermostat::new(config.thermostat(), start),
                        named: config.sensor.is_some(),
                        sensor: config.sensor.clone(),
                        last: None,
                        recheck: None,
                        error: None,
                        frost_floor: config.frost_floor,
                        window: config.open_window.map(OpenWindow::new),
                        safety: None,
                        status: None,
                        meter: HeaterMeter::default(),
                        changes: VecDeque::new(),
                        windows_opened: 0,
                    })
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the heating relay failed to open");
                    open_failures.push(SensorFailure {
                        name: HEATING_ENTRY.into(),
                        message: err.to_string(),
                    });
                    None
                }
            },
        };
        Some(Devices {
            zone,
            clock,
            time_zone,
            writes,
            targets: inputs.targets,
            programs: inputs.programs,
            status,
            slots,
            open_failures,
            heating,
            reported: None,
            history: inputs.history,
            history_sensor: None,
        })
    }

    /// Samples every sensor that is due. False when the node is gone.
    async fn sample_due(&mut self, now: Time) -> bool {
        for i in 0..self.slots.len() {
            if self.slots[i].next > now {
                continue;
            }
            let slot = &mut self.slots[i];
            slot.next = now + slot.first_gap.take().unwrap_or(slot.interval);
            let Some(mut sensor) = slot.sensor.take() else {
                continue;
            };
            let result = tokio::task::spawn_blocking(move || {
                let result = sensor.read(now);
                (sensor, result)
            })
            .await;
            let readings = match result {
                Ok((sensor, Ok(readings))) => {
                    slot.sensor = Some(sensor);
                    if slot.error.take().is_some() {
                        tracing::info!(sensor = %slot.name, "sensor reads again");
                    }
                    readings
                }
                Ok((sensor, Err(err))) => {
                    slot.sensor = Some(sensor);
                    let message = err.to_string();
                    if slot.error.as_ref() != Some(&message) {
                        tracing::warn!(sensor = %slot.name, error = %message, "sensor read failed");
                    }
                    slot.error = Some(message);
                    continue;
                }
                Err(_) => {
                    tracing::error!(sensor = %slot.name, "sensor driver panicked; sensor disabled");
                    slot.error = Some("the driver crashed; restart the node".into());
                    continue;
                }
            };
            let (position, name) = (slot.position, slot.name.clone());
            let mut publish = Vec::new();
            for reading in &readings {
                if slot.policy.offer(reading)
                    && let Some(sensor) = readings::sensor_id(position, reading.quantity)
                {
                    publish.push(LocalWrite::Reading {
                        sensor,
                        reading: readings::reading(reading),
                    });
                }
            }
            self.record_temperature(&name, &readings);
            if let Some(heating) = &mut self.heating
                && let Some(sample) = readings.iter().find_map(Sample::from_reading)
            {
                if heating.sensor.is_none() && !heating.named {
                    tracing::info!(sensor = %name, "the heating follows this sensor");
                    heating.sensor = Some(name.clone());
                }
                if heating.sensor.as_ref() == Some(&name) {
                    heating.last = Some(sample);
                    if let Some(window) = &mut heating.window
                        && window.observe(sample.at, sample.celsius)
                    {
                        heating.windows_opened += 1;
                        tracing::info!(zone = %self.zone, celsius = sample.celsius, "window open: heating held off");
                    }
                }
            }
            for write in publish {
                if self.writes.send(write).await.is_err() {
                    return false;
                }
            }
        }
        true
    }

    /// Keeps the temperature of the heating's sensor (or, without heating,
    /// of the first sensor that reports one) in the history.
    fn record_temperature(&mut self, name: &str, readings: &[sensors::Reading]) {
        let Some(sample) = readings.iter().find_map(Sample::from_reading) else {
            return;
        };
        let kept = match &self.heating {
            Some(h) => h.sensor.as_deref().is_none_or(|s| s == name),
            None => self.history_sensor.get_or_insert_with(|| name.to_string()) == name,
        };
        if kept {
            let wall_ms = self.clock.wall_ms(sample.at);
            self.history
                .with(|h| h.temperature(wall_ms, sample.celsius));
        }
    }

    /// The zone's winning temperature target in °C, if one is known.
    fn target(&self) -> Option<f64> {
        let targets = self.targets.borrow();
        let target = targets.get(&TargetKey::new(
            self.zone.clone(),
            crate::crdt::Quantity::Temperature,
        ))?;
        if target.unit != Unit::Celsius {
            tracing::warn!(zone = %self.zone, unit = %target.unit, "temperature target not in °C; ignored");
            return None;
        }
        Some(f64::from(target.value))
    }

    /// What the devices know is wrong with the heating, before resolving
    /// the target: a failed heating sensor or a relay error. (A stale or
    /// missing reading is the thermostat's own fail-safe.)
    fn device_safety(&self) -> Option<SafetyCause> {
        let heating = self.heating.as_ref()?;
        if heating.error.is_some() {
            return Some(SafetyCause::RelayError);
        }
        let sensor = heating.sensor.as_ref()?;
        let failed = self
            .slots
            .iter()
            .any(|s| &s.name == sensor && s.error.is_some())
            || self.open_failures.iter().any(|f| &f.name == sensor);
        failed.then_some(SafetyCause::FailedSensor)
    }

    /// The zone's program: the replicated schedule, presets and override,
    /// with the zone's winning target.
    fn program(&self) -> ZoneProgram {
        let mut program = self
            .programs
            .borrow()
            .get(&self.zone)
            .cloned()
            .unwrap_or_default();
        program.target = self.target().map(|t| t as f32);
        program
    }

    /// Resolves the effective target, asks the thermostat and applies a
    /// change to the relay. False when the node is gone.
    async fn regulate(&mut self, now: Time) -> bool {
        if self.heating.is_none() {
            return true;
        }
        let wall_ms = self.clock.wall_ms(now);
        let device_safety = self.device_safety();
        let program = self.program();
        let (clock, tz) = (self.clock, self.time_zone.clone());
        let Some(heating) = &mut self.heating else {
            return true;
        };
        let effective = resolve(&program, &tz, wall_ms, device_safety, heating.frost_floor);
        let window_since = heating.window.as_ref().and_then(|w| w.open_at(now));
        let decision = heating.thermostat.update_held(
            now,
            effective.celsius,
            heating.last,
            window_since.is_some(),
        );
        // The safe state: what the resolution says, or the thermostat's
        // own fail-safe on a missing or stale reading.
        let cause = match decision.reason {
            Reason::NoReading => Some(SafetyCause::NoReading),
            Reason::StaleReading => Some(SafetyCause::StaleReading),
            _ => effective.safety,
        };
        match (cause, heating.safety) {
            (Some(c), Some((was, _))) if c == was => {}
            (Some(c), _) => {
                tracing::warn!(zone = %self.zone, cause = %c, "heating in its safe state");
                heating.safety = Some((c, wall_ms));
            }
            (None, Some(_)) => {
                tracing::info!(zone = %self.zone, "heating left its safe state");
                heating.safety = None;
            }
            (None, None) => {}
        }
        let wall_at = |t: Time| clock.wall_ms(t);
        let window_open_since = window_since.map(wall_at);
        let text = why::explain(
            &decision,
            &heating.thermostat,
            now,
            &why::Context {
                effective: &effective,
                celsius: heating.last.map(|s| s.celsius),
                window_since: window_open_since.map(|ms| local_hhmm(&tz, ms)),
                safety_since: heating.safety.map(|(_, ms)| local_hhmm(&tz, ms)),
            },
        );
        // Wake for the next switch, boost expiry or window hold end.
        let program_wake = effective
            .next_change_ms
            .map(|ms| clock.at_wall_ms(ms, now))
            .into_iter()
            .chain(heating.window.as_ref().and_then(|w| w.hold_until(now)))
            .chain((effective.level != Level::Target).then(|| now + PROGRAM_RECHECK))
            .min();
        heating.recheck = match (decision.recheck_at, program_wake) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        heating
            .meter
            .record(now, decision.on, decision.reason.is_fail_safe());
        self.history.with(|h| {
            h.heating(wall_ms, decision.on, effective.celsius, effective.level);
            h.set_why(&text);
        });
        let last = heating.changes.back();
        if last.is_none_or(|c| c.celsius != effective.celsius || c.level != effective.level) {
            if heating.changes.len() == TARGET_CHANGES_KEPT {
                heating.changes.pop_front();
            }
            heating.changes.push_back(TargetChange {
                wall_ms,
                celsius: effective.celsius,
                level: effective.level,
            });
        }
        let status = HeatingStatus {
            on: decision.on,
            effective: Some(effective),
            why: text,
            safety: heating.safety,
            window_open_since,
            meter: heating.meter,
            windows_opened: heating.windows_opened,
            changes: heating.changes.clone(),
        };
        if heating.status.as_ref().map(|s| &s.why) != Some(&status.why) {
            tracing::info!(zone = %self.zone, why = %status.why, "heating");
        }
        heating.status = Some(status.clone());
        self.status.send_replace(Some(status));
        if !decision.changed {
            return true;
        }
        let Some(heating) = &mut self.heating else {
            return true;
        };
        tracing::info!(
            zone = %self.zone,
            on = decision.on,
            reason = ?decision.reason,
            "heater switched"
        );
        match heating.relay.set(now, decision.on) {
            Ok(()) => heating.error = None,
            Err(err) => {
                tracing::error!(error = %err, "the heating relay did not switch");
                heating.error = Some(err.to_string());
            }
        }
        let on = heating.relay.is_on();
        self.publish_heater(on).await
    }

    async fn publish_heater(&mut self, on: bool) -> bool {
        if self.heating.is_none() {
            return true;
        }
        let output = if on {
            ActuatorOutput::On
        } else {
            ActuatorOutput::Off
        };
        self.writes
            .send(LocalWrite::Actuator {
                actuator: HEATER,
                output,
            })
            .await
            .is_ok()
    }

    /// Tells the node which devices are broken, when that changed.
    async fn report_failures(&mut self) -> bool {
        let mut failed: Vec<FailedSensor> = self
            .open_failures
            .iter()
            .map(|f| FailedSensor {
                sensor: f.name.clone(),
                message: f.message.clone(),
            })
            .collect();
        failed.extend(self.slots.iter().filter_map(|s| {
            s.error.as_ref().map(|message| FailedSensor {
                sensor: s.name.clone(),
                message: message.clone(),
            })
        }));
        if let Some(heating) = &self.heating {
            let safety = heating.safety.map(|(cause, since)| {
                format!(
                    "SAFETY: {cause} since {}; {}",
                    local_hhmm(&self.time_zone, since),
                    match heating.frost_floor.filter(|_| cause.can_regulate()) {
                        Some(f) => format!("held at the frost floor {f:.1} °C"),
                        None => "heater off".into(),
                    }
                )
            });
            // The heating's state in words, for every operator's screen:
            // the node's broken-device list is what reaches them.
            let window = heating
                .status
                .as_ref()
                .and_then(|st| st.window_open_since)
                .map(|since| {
                    format!(
                        "WINDOW OPEN since {}; heating held off",
                        local_hhmm(&self.time_zone, since)
                    )
                });
            let safety = safety.or(window);
            let message = match (&heating.error, safety) {
                (Some(e), Some(s)) => Some(format!("{s} ({e})")),
                (Some(e), None) => Some(e.clone()),
                (None, s) => s,
            };
            if let Some(message) = message {
                failed.push(FailedSensor {
                    sensor: HEATING_ENTRY.into(),
                    message,
                });
            }
        }
        if self.reported.as_ref() == Some(&failed) {
            return true;
        }
        self.reported = Some(failed.clone());
        self.writes
            .send(LocalWrite::FailedSensors(failed))
            .await
            .is_ok()
    }

    /// The earliest time something is due: a sample or a thermostat recheck.
    fn next_wake(&self) -> Option<Time> {
        let samples = self
            .slots
            .iter()
            .filter(|s| s.sensor.is_some())
            .map(|s| s.next);
        let recheck = self.heating.as_ref().and_then(|h| h.recheck);
        samples.chain(recheck).min()
    }

    /// Heater off, and say so while the node still listens.
    async fn fail_safe(&mut self) {
        let now = self.clock.now();
        let Some(heating) = &mut self.heating else {
            return;
        };
        if let Err(err) = heating.relay.set(now, false) {
            tracing::error!(error = %err, "could not switch the heater off on shutdown");
        }
        tracing::info!(zone = %self.zone, "heater off (shutting down)");
        let off = LocalWrite::Actuator {
            actuator: HEATER,
            output: ActuatorOutput::Off,
        };
        // Bounded: a node that stopped reading must not hold up shutdown.
        let _ = tokio::time::timeout(FAIL_SAFE_PUBLISH, self.writes.send(off)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::DevRoot;
    use crate::control::RelayKind;
    use crate::sensors::{SensorKind, SimulatedRoomConfig, lock_room};

    fn target(value: f32) -> BTreeMap<TargetKey, TargetValue> {
        BTreeMap::from([(
            TargetKey::new("lab", crate::crdt::Quantity::Temperature),
            TargetValue {
                value,
                unit: Unit::Celsius,
                set_by: "test".into(),
            },
        )])
    }

    /// A simulated room at 600×, a broken BME280 beside its thermometer:
    /// the broken one is reported, the room is measured and heated toward
    /// the target, and shutdown leaves the heater off.
    #[tokio::test(flavor = "current_thread")]
    async fn heats_a_simulated_room_and_reports_the_broken_sensor() {
        let tmp = tempfile::tempdir().unwrap();
        let clock = DeviceClock::accelerated(600.0);
        let room = SimulatedRoom::new(
            SimulatedRoomConfig {
                noise: 0.0,
                ..SimulatedRoomConfig::default()
            },
            clock.now(),
        )
        .shared();
        let mut thermometer = SensorConfig::new(SensorKind::Simulated, "thermometer");
        thermometer.interval = 10;
        let setup = DevicesSetup {
            zone: "lab".into(),
            sensors: vec![SensorConfig::new(SensorKind::Bme280, "desk"), thermometer],
            heating: Some(HeatingConfig::new(RelayKind::Simulated)),
            room: Some(room.clone()),
            paths: SystemPaths {
                sys: tmp.path().join("sys"),
                dev: DevRoot(tmp.path().join("dev")),
            },
            clock,
            time_zone: TimeZone::UTC,
        };
        let (writes_tx, mut writes) = mpsc::channel(1024);
        let (_targets_tx, targets) = watch::channel(target(21.0));
        let (_programs_tx, programs) = watch::channel(BTreeMap::new());
        let devices = spawn_on(
            setup,
            writes_tx,
            Inputs {
                targets,
                programs,
                history: NodeHistory::in_memory(),
            },
        );

        let mut failed = None;
        let mut heater = Vec::new();
        let mut readings = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while lock_room(&room).temperature() < 20.5 {
            let write = tokio::time::timeout_at(deadline, writes.recv())
                .await
                .expect("the room warms within 20 s at 600×")
                .expect("the task runs");
            match write {
                LocalWrite::FailedSensors(f) => failed = Some(f),
                LocalWrite::Actuator { actuator, output } => {
                    assert_eq!(actuator, HEATER);
                    heater.push(output);
                }
                LocalWrite::Reading { sensor, reading } => {
                    assert_eq!(sensor.index, 1, "the thermometer is the second sensor");
                    assert_eq!(reading.unit, Unit::Celsius);
                    readings += 1;
                }
                LocalWrite::Target { .. } => panic!("devices never set targets"),
            }
        }
        let failed = failed.expect("the broken sensor is reported");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].sensor, "desk");
        assert!(failed[0].message.contains("raspi-config"), "{failed:?}");
        assert_eq!(heater.first(), Some(&ActuatorOutput::Off));
        assert!(heater.contains(&ActuatorOutput::On), "{heater:?}");
        assert!(readings > 1);

        devices.shutdown().await;
        assert!(!lock_room(&room).heater_on(), "fail-safe off on shutdown");
        let mut last = None;
        while let Ok(write) = writes.try_recv() {
            if let LocalWrite::Actuator { output, .. } = write {
                last = Some(output);
            }
        }
        assert!(matches!(last, None | Some(ActuatorOutput::Off)), "{last:?}");
    }

    /// A node with no mesh at all (its inputs never change after start)
    /// still switches at 07:00 local time from the schedule it holds, and
    /// a boost it holds ends at its expiry without any write.
    #[tokio::test(flavor = "current_thread")]
    async fn a_cut_off_node_follows_its_schedule_and_drops_an_expired_boost() {
        use crate::control::schedule_syntax;
        use crate::crdt::OverrideValue;
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        // Mon 30 Nov 2026 06:50 in Lisbon (UTC+0 in winter).
        let start_ms = 1_796_021_400_000;
        let clock = DeviceClock::accelerated_from(600.0, start_ms);
        let room = SimulatedRoom::new(
            SimulatedRoomConfig {
                noise: 0.0,
                initial: 18.0,
                ..SimulatedRoomConfig::default()
            },
            clock.now(),
        )
        .shared();
        let mut thermometer = SensorConfig::new(SensorKind::Simulated, "thermometer");
        thermometer.interval = 10;
        let tmp = tempfile::tempdir().unwrap();
        let setup = DevicesSetup {
            zone: "lab".into(),
            sensors: vec![thermometer],
            heating: Some(HeatingConfig::new(RelayKind::Simulated)),
            room: Some(room.clone()),
            paths: SystemPaths {
                sys: tmp.path().join("sys"),
                dev: DevRoot(tmp.path().join("dev")),
            },
            clock,
            time_zone: tz,
        };
        let program = ZoneProgram {
            schedule: Some(
                schedule_syntax::parse("mon-fri 07:00 comfort, 18:00 eco; sat-sun away", "t")
                    .unwrap(),
            ),
            // A boost to 23 °C that ends at 07:30.
            override_value: Some(OverrideValue {
                celsius: Some(23.0),
                expires_at_ms: Some((start_ms + 40 * 60_000) as u64),
                set_by: "alice".into(),
            }),
            ..ZoneProgram::default()
        };
        let (writes_tx, mut writes) = mpsc::channel(4096);
        let (_targets_tx, targets) = watch::channel(BTreeMap::new());
        let (_programs_tx, programs) =
            watch::channel(BTreeMap::from([("lab".to_string(), program)]));
        let devices = spawn_on(
            setup,
            writes_tx,
            Inputs {
                targets,
                programs,
                history: NodeHistory::in_memory(),
            },
        );
        let status = devices.heating();
        let drain = tokio::spawn(async move { while writes.recv().await.is_some() {} });
        // 60 device minutes at 600× is 6 s.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let done = status.borrow().as_ref().is_some_and(|s| {
                clock.wall_ms(clock.now()) > start_ms + 60 * 60_000 && !s.changes.is_empty()
            });
            if done {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "an hour passes within 15 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s = status.borrow().clone().unwrap();
        let changes: Vec<(i64, Option<f64>, Level)> = s
            .changes
            .iter()
            .map(|c| ((c.wall_ms - start_ms) / 60_000, c.celsius, c.level))
            .collect();
        assert_eq!(changes[0], (0, Some(23.0), Level::Override), "{changes:?}");
        assert_eq!(changes[1], (40, Some(21.0), Level::Schedule), "{changes:?}");
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            s.why.contains("schedule mon-fri 07:00–18:00 (comfort)"),
            "{}",
            s.why
        );
        assert!(
            s.meter
                .held(Duration::from_secs(120), Duration::from_secs(120))
        );
        devices.shutdown().await;
        drain.abort();
    }
}
