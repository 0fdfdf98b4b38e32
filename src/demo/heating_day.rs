//! The demo's heating day: every zone gets the same office schedule, the
//! device clock starts a little before the morning switch, and at the end
//! each zone is checked against what its schedule said.
//!
//! The schedule is written as replicated state by a demo operator (its own
//! replica id and dots) into the kept part of each node's store before the
//! node starts, exactly as it would be there after an operator's write
//! reached it, so the nodes follow it from their own replicas.

use std::path::Path;

use jiff::tz::TimeZone;
use serde::Serialize;

use crate::control::schedule_clock;
use crate::control::schedule_syntax;
use crate::control::{HeaterMeter, Level, ZoneProgram};
use crate::crdt::{OfficeState, Schedule, Setpoint, WriteKey, Writer};
use crate::net::StaticKeypair;
use crate::node::devices::HeatingStatus;
use crate::node::{Durable, DurableError};
use crate::replica::PersistJob;
use crate::replica::persistence;

/// The program every demo zone follows.
pub const DEMO_SCHEDULE: &str =
    "mon-fri 07:00 comfort, 12:00 eco, 13:00 comfort, 18:00 eco; sat-sun away";

/// The demo schedule.
pub fn demo_schedule() -> Schedule {
    // A constant of this module: a parse error is a bug in the line above,
    // caught by the tests.
    schedule_syntax::parse(DEMO_SCHEDULE, "demo").unwrap_or_default()
}

/// Writes `schedule` for `zone` into the store in `dir` of the node whose
/// key is there (generated now if it is not), as the demo operator's
/// write, signed with `operator` (one key for the whole demo, so every
/// node holds the same signed write).
pub fn seed(
    dir: &Path,
    operator: &WriteKey,
    zone: &str,
    schedule: &Schedule,
    wall_ms: u64,
) -> Result<(), SeedError> {
    let keypair = StaticKeypair::load_or_generate(dir)?;
    let (mut durable, mut loaded) = Durable::open(dir, keypair.node_id())?;
    let mut operator = Writer::signing(operator.clone()).carry_key();
    let write =
        OfficeState::new().set_schedule(&mut operator, wall_ms, zone.to_string(), schedule.clone());
    loaded.state.apply(&write.delta);
    let kept = persistence::kept_delta(&loaded.state)
        .encode()
        .map_err(|e| SeedError::Encode(e.to_string()))?;
    durable.run(&PersistJob {
        token: 0,
        puts: vec![(persistence::KEPT_KEY, kept)],
        dot_bound: None,
    })?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Identity(#[from] crate::net::IdentityError),
    #[error(transparent)]
    Durable(#[from] DurableError),
    #[error("cannot encode the schedule: {0}")]
    Encode(String),
}

/// Calendar time 10 minutes before 07:00 on the next weekday morning in
/// `tz`, after `now_ms`: the demo's day starts just before the first switch.
pub fn next_morning(tz: &TimeZone, now_ms: i64) -> i64 {
    let Ok(now) = jiff::Timestamp::from_millisecond(now_ms) else {
        return now_ms;
    };
    let mut date = now.to_zoned_datetime(tz.clone()).date();
    for _ in 0..8 {
        date = match date.tomorrow() {
            Ok(d) => d,
            Err(_) => return now_ms,
        };
        if date.weekday().to_monday_zero_offset() < 5
            && let Ok(z) = date.at(6, 50, 0, 0).to_zoned_datetime(tz.clone())
        {
            return z.timestamp().as_millisecond();
        }
    }
    now_ms
}

/// One zone's heating over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeatingDay {
    /// Schedule switches (a change of set-point) between start and end.
    pub switches_expected: usize,
    /// Of those, the ones the node's effective target followed.
    pub switches_followed: usize,
    /// Heater cycles, on-time up to the last switch and the shortest periods.
    pub meter: HeaterMeter,
    /// Seconds the heater was on over the run, device time.
    pub on_seconds: f64,
    /// On-time × the heater's `power_kw`, when it declares one.
    pub energy_kwh: Option<f64>,
    /// Open windows the zone's detector saw.
    pub windows_opened: u64,
    /// min_on and min_off held for every regulating period.
    pub min_times_held: bool,
    /// The effective target at the end, °C, and the level that set it.
    pub effective: Option<f64>,
    pub level: String,
    /// The "why" text at the end.
    pub why: String,
}

/// Checks a zone's `status` against `program` over `[start_ms, end_ms]`:
/// every switch the schedule made is expected to show in the effective
/// target's changes (at the schedule level, with the new value) no later
/// than `tolerance_ms` after it.
pub fn check(
    program: &ZoneProgram,
    tz: &TimeZone,
    start_ms: i64,
    end_ms: i64,
    status: &HeatingStatus,
    tolerance_ms: i64,
) -> (usize, usize) {
    let Some(schedule) = &program.schedule else {
        return (0, 0);
    };
    let mut expected = 0;
    let mut followed = 0;
    let Some(mut step) = schedule_clock::evaluate(schedule, tz, start_ms) else {
        return (0, 0);
    };
    while let Some(at) = step.next_change_ms {
        if at > end_ms - tolerance_ms {
            break;
        }
        let Some(next) = schedule_clock::evaluate(schedule, tz, at) else {
            break;
        };
        let celsius = |s: &schedule_clock::ScheduleStep| {
            f64::from(match s.setpoint {
                Setpoint::Preset(p) => program.preset(p),
                Setpoint::Celsius(c) => c,
            })
        };
        if celsius(&next) != celsius(&step) {
            expected += 1;
            let seen = status.changes.iter().any(|c| {
                c.level == Level::Schedule
                    && c.celsius == Some(celsius(&next))
                    && c.wall_ms >= at
                    && c.wall_ms <= at + tolerance_ms
            });
            if seen {
                followed += 1;
            }
        }
        step = next;
    }
    (expected, followed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_schedule_parses_and_passes_its_bounds() {
        let s = demo_schedule();
        assert_eq!(s.slots.len(), 5);
        assert_eq!(
            s.check("kitchen", &crate::crdt::HeatingLimits::default()),
            Ok(())
        );
    }

    #[test]
    fn the_demo_day_starts_before_a_weekday_seven_oclock() {
        let tz = TimeZone::get("Europe/Lisbon").unwrap();
        // Fri 4 Dec 2026 12:00 UTC → Mon 7 Dec 06:50.
        let start = next_morning(&tz, 1_796_472_000_000);
        assert_eq!(
            jiff::Timestamp::from_millisecond(start)
                .unwrap()
                .to_string(),
            "2026-12-07T06:50:00Z"
        );
    }
}
