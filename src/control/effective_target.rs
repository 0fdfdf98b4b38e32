//! The effective target of a zone: a priority resolution over the
//! replicated heating program, BACnet-style.
//!
//! | level | from | applies while |
//! |---|---|---|
//! | safety | the devices (stale or failed sensor, relay error) or nothing below | the cause lasts |
//! | override | `Override(zone)` | its set-point is given and its expiry not reached |
//! | schedule | `Schedule(zone)` with `Preset(zone, …)` values | a switch or exception covers now |
//! | target | `Target(zone, temperature)` | always, once set |
//!
//! The highest level that has an answer sets the target; the result says
//! which level it was and why, for `status`, the TUI and the "why is it
//! heating" text. Every node resolves its own zone locally from its
//! replica, so a node cut off from the mesh keeps following the program,
//! and a boost ends on every node at the same wall-clock moment.

use std::collections::BTreeMap;
use std::fmt;

use jiff::tz::TimeZone;

use super::safety::SafetyCause;
use super::schedule_clock::{self, ScheduleStep};
use crate::crdt::{OfficeState, OverrideValue, PresetName, Quantity, Schedule, Setpoint, Unit};

/// A zone's replicated heating program: the deterministic winner of each
/// register (siblings are shown elsewhere; acting needs one answer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneProgram {
    pub schedule: Option<Schedule>,
    /// Presets an operator wrote; the rest are at their defaults.
    pub presets: BTreeMap<PresetName, f32>,
    pub override_value: Option<OverrideValue>,
    /// `Target(zone, temperature)` in °C: the standing target.
    pub target: Option<f32>,
}

impl ZoneProgram {
    /// The program of `zone` as `state` holds it.
    pub fn from_state(state: &OfficeState, zone: &str) -> ZoneProgram {
        let presets = PresetName::ALL
            .into_iter()
            .filter_map(|p| {
                state
                    .preset(zone, p)
                    .and_then(|r| r.winner())
                    .map(|(_, s)| (p, s.value.celsius))
            })
            .collect();
        let target = state
            .target(zone, Quantity::Temperature)
            .and_then(|r| r.winner())
            .filter(|(_, s)| s.value.unit == Unit::Celsius)
            .map(|(_, s)| s.value.value);
        ZoneProgram {
            schedule: state
                .schedule(zone)
                .and_then(|r| r.winner())
                .map(|(_, s)| s.value.clone())
                .filter(|s| !s.is_empty()),
            presets,
            override_value: state
                .override_of(zone)
                .and_then(|r| r.winner())
                .map(|(_, s)| s.value.clone()),
            target,
        }
    }

    /// The program of every zone `state` names in a heating key or a
    /// temperature target, by zone.
    pub fn all(state: &OfficeState) -> BTreeMap<String, ZoneProgram> {
        let mut zones: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        zones.extend(state.schedules().map(|(z, _)| z.as_str()));
        zones.extend(state.presets().map(|(k, _)| k.zone.as_str()));
        zones.extend(state.overrides().map(|(z, _)| z.as_str()));
        zones.extend(
            state
                .targets()
                .filter(|(k, _)| k.quantity == Quantity::Temperature)
                .map(|(k, _)| k.zone.as_str()),
        );
        zones
            .into_iter()
            .map(|z| (z.to_string(), ZoneProgram::from_state(state, z)))
            .collect()
    }

    /// What `preset` means in this zone, in °C.
    pub fn preset(&self, preset: PresetName) -> f32 {
        self.presets
            .get(&preset)
            .copied()
            .unwrap_or_else(|| preset.default_celsius())
    }

    fn celsius(&self, setpoint: Setpoint) -> f32 {
        match setpoint {
            Setpoint::Preset(p) => self.preset(p),
            Setpoint::Celsius(c) => c,
        }
    }
}

/// Which level of the resolution set the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Safety,
    Override,
    Schedule,
    Target,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Safety => "safety",
            Level::Override => "override",
            Level::Schedule => "schedule",
            Level::Target => "target",
        })
    }
}

/// The resolved target of a zone at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    /// °C to regulate to; `None` means off (the safe state without a floor).
    pub celsius: Option<f64>,
    pub level: Level,
    /// Set when `level` is `Safety`.
    pub safety: Option<SafetyCause>,
    /// Why, in words: "schedule mon-fri 07:00–18:00 (comfort)",
    /// "override by alice until 11:15".
    pub reason: String,
    /// Unix ms when the answer may change without a write (a boost
    /// expires, the schedule switches): resolve again then.
    pub next_change_ms: Option<i64>,
}

/// Resolves `program` at `now_ms` in `tz`. `device_safety` is what the
/// devices know is wrong (a stale or failed sensor, a relay error);
/// `frost_floor` is the temperature held in the safe state when regulating
/// is still possible.
pub fn resolve(
    program: &ZoneProgram,
    tz: &TimeZone,
    now_ms: i64,
    device_safety: Option<SafetyCause>,
    frost_floor: Option<f64>,
) -> Effective {
    let safe = |cause: SafetyCause, next_change_ms| Effective {
        celsius: frost_floor.filter(|_| cause.can_regulate()),
        level: Level::Safety,
        safety: Some(cause),
        reason: match frost_floor.filter(|_| cause.can_regulate()) {
            Some(f) => format!("{cause}: frost floor {f:.1}"),
            None => format!("{cause}: heater off"),
        },
        next_change_ms,
    };
    if let Some(cause) = device_safety {
        return safe(cause, None);
    }
    let now_u = u64::try_from(now_ms).unwrap_or(0);
    let step = program
        .schedule
        .as_ref()
        .and_then(|s| schedule_clock::evaluate(s, tz, now_ms));
    if let Some(o) = &program.override_value
        && let Some(c) = o.active_at(now_u)
    {
        let until = o.expires_at_ms.map(|e| e as i64);
        let reason = match until {
            Some(end) => format!("override by {} until {}", o.set_by, local_hhmm(tz, end)),
            None => format!("override by {} until cleared", o.set_by),
        };
        return Effective {
            celsius: Some(f64::from(c)),
            level: Level::Override,
            safety: None,
            reason,
            next_change_ms: until,
        };
    }
    if let Some(step) = step {
        return from_step(program, &step);
    }
    if let Some(t) = program.target {
        return Effective {
            celsius: Some(f64::from(t)),
            level: Level::Target,
            safety: None,
            reason: "zone target".into(),
            next_change_ms: None,
        };
    }
    safe(SafetyCause::NoTarget, None)
}

fn from_step(program: &ZoneProgram, step: &ScheduleStep) -> Effective {
    let celsius = program.celsius(step.setpoint);
    let what = match step.setpoint {
        Setpoint::Preset(p) => format!(" ({p})"),
        Setpoint::Celsius(_) => String::new(),
    };
    Effective {
        celsius: Some(f64::from(celsius)),
        level: Level::Schedule,
        safety: None,
        reason: format!("schedule {}{what}", step.describe()),
        next_change_ms: step.next_change_ms,
    }
}

/// `HH:MM` of a Unix-ms instant in `tz`.
pub fn local_hhmm(tz: &TimeZone, ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => {
            let z = ts.to_zoned_datetime(tz.clone());
            format!("{:02}:{:02}", z.hour(), z.minute())
        }
        Err(_) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Days, Slot};
    use proptest::prelude::*;

    fn lisbon() -> TimeZone {
        TimeZone::get("Europe/Lisbon").expect("tzdata has Europe/Lisbon")
    }

    /// Mon 30 Nov 2026 10:00 in Lisbon (UTC+0 in winter).
    const MON_10H: i64 = 1_796_032_800_000;

    fn workdays() -> Schedule {
        Schedule {
            slots: vec![
                Slot {
                    days: Days::range(0, 4),
                    minute: 7 * 60,
                    setpoint: Setpoint::Preset(PresetName::Comfort),
                },
                Slot {
                    days: Days::range(0, 4),
                    minute: 18 * 60,
                    setpoint: Setpoint::Preset(PresetName::Eco),
                },
            ],
            exceptions: vec![],
            set_by: "alice".into(),
        }
    }

    fn boost(celsius: f32, expires_at_ms: Option<i64>) -> OverrideValue {
        OverrideValue {
            celsius: Some(celsius),
            expires_at_ms: expires_at_ms.map(|e| e as u64),
            set_by: "bob".into(),
        }
    }

    #[test]
    fn the_constant_is_monday_ten_oclock_in_lisbon() {
        assert_eq!(local_hhmm(&lisbon(), MON_10H), "10:00");
        let z = jiff::Timestamp::from_millisecond(MON_10H)
            .unwrap()
            .to_zoned_datetime(lisbon());
        assert_eq!(z.weekday(), jiff::civil::Weekday::Monday);
    }

    #[test]
    fn a_boost_reverts_to_the_schedule_at_its_expiry_without_a_write() {
        let tz = lisbon();
        let end = MON_10H + 2 * 3600 * 1000;
        let program = ZoneProgram {
            schedule: Some(workdays()),
            presets: [(PresetName::Comfort, 21.5)].into(),
            override_value: Some(boost(23.0, Some(end))),
            target: Some(19.0),
        };
        let during = resolve(&program, &tz, MON_10H, None, None);
        assert_eq!(during.level, Level::Override);
        assert_eq!(during.celsius, Some(23.0));
        assert_eq!(during.reason, "override by bob until 12:00");
        assert_eq!(during.next_change_ms, Some(end));
        let after = resolve(&program, &tz, end, None, None);
        assert_eq!(after.level, Level::Schedule);
        assert_eq!(after.celsius, Some(21.5));
        assert_eq!(after.reason, "schedule mon-fri 07:00–18:00 (comfort)");
        let evening = resolve(&program, &tz, MON_10H + 9 * 3600 * 1000, None, None);
        assert_eq!(
            evening.celsius,
            Some(f64::from(PresetName::Eco.default_celsius()))
        );
    }

    #[test]
    fn nothing_known_is_safety_off_or_the_frost_floor() {
        let tz = lisbon();
        let none = resolve(&ZoneProgram::default(), &tz, MON_10H, None, None);
        assert_eq!(none.level, Level::Safety);
        assert_eq!(none.celsius, None);
        assert_eq!(none.reason, "no target and no schedule: heater off");
        let floor = resolve(&ZoneProgram::default(), &tz, MON_10H, None, Some(7.0));
        assert_eq!(floor.celsius, Some(7.0));
        let stale = resolve(
            &ZoneProgram::default(),
            &tz,
            MON_10H,
            Some(SafetyCause::StaleReading),
            Some(7.0),
        );
        assert_eq!(
            stale.celsius, None,
            "without a reading there is no floor to hold"
        );
    }

    proptest! {
        /// The highest level with an answer sets the target, whatever is
        /// below it.
        #[test]
        fn the_highest_level_with_an_answer_wins(
            device in prop::option::of(prop::sample::select(vec![
                SafetyCause::NoReading, SafetyCause::StaleReading,
                SafetyCause::FailedSensor, SafetyCause::RelayError,
            ])),
            over in prop::option::of((10u8..28, prop::option::of(-3i64..3))),
            cleared in any::<bool>(),
            scheduled in any::<bool>(),
            target in prop::option::of(10u8..28),
            hours in 0i64..(24 * 8),
        ) {
            let tz = lisbon();
            let now = MON_10H + hours * 3600 * 1000;
            let override_value = over.map(|(c, h)| {
                let mut o = boost(f32::from(c), h.map(|h| now + h * 3600 * 1000));
                if cleared { o.celsius = None; }
                o
            });
            let program = ZoneProgram {
                schedule: scheduled.then(|| Schedule {
                    slots: vec![Slot { days: Days::ALL, minute: 0, setpoint: Setpoint::Celsius(18.0) }],
                    ..workdays()
                }),
                presets: BTreeMap::new(),
                override_value: override_value.clone(),
                target: target.map(f32::from),
            };
            let e = resolve(&program, &tz, now, device, None);
            let override_on = override_value.as_ref().and_then(|o| o.active_at(now as u64));
            let expected = if device.is_some() {
                (Level::Safety, None)
            } else if let Some(c) = override_on {
                (Level::Override, Some(f64::from(c)))
            } else if scheduled {
                (Level::Schedule, Some(18.0))
            } else if let Some(t) = target {
                (Level::Target, Some(f64::from(t)))
            } else {
                (Level::Safety, None)
            };
            prop_assert_eq!((e.level, e.celsius), expected);
            prop_assert_eq!(e.safety.is_some(), e.level == Level::Safety);
        }
    }
}
