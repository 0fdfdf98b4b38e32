//! A zone's heating schedule, replicated under `Schedule(zone)`: a weekly
//! program of switches and exceptions for holidays and closures.
//!
//! The value is pure data in local civil time (days, minutes after
//! midnight, calendar dates); `control::schedule_clock` evaluates it in the
//! office's time zone, so 07:00 stays 07:00 across daylight-saving changes.
//! [`Schedule::check`] is the admission of a `Schedule` write.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::heating_limits::{CelsiusError, HeatingLimits, ZoneError};
use super::preset::PresetName;

/// Minutes in a day: a switch's time is `0..MINUTES_PER_DAY`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A set of weekdays, Monday is bit 0 and Sunday bit 6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Days(pub u8);

impl Days {
    pub const NAMES: [&'static str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    pub const ALL: Days = Days(0x7f);

    /// Days `first..=last` (Monday = 0), wrapping past Sunday
    /// (`fri-mon` is Friday to Monday).
    pub fn range(first: u8, last: u8) -> Days {
        let mut bits = 0u8;
        let mut d = first % 7;
        loop {
            bits |= 1 << d;
            if d == last % 7 {
                break;
            }
            d = (d + 1) % 7;
        }
        Days(bits)
    }

    /// Whether the day `monday_zero` (0 = Monday) is in the set.
    pub fn contains(self, monday_zero: u8) -> bool {
        monday_zero < 7 && self.0 & (1 << monday_zero) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 & 0x7f == 0
    }

    pub fn intersects(self, other: Days) -> bool {
        self.0 & other.0 & 0x7f != 0
    }
}

impl fmt::Display for Days {
    /// Runs of consecutive days as ranges joined by `+`: `mon-fri`,
    /// `sat-sun`, `mon+wed` (the schedule language reads it back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut d = 0u8;
        while d < 7 {
            if self.contains(d) {
                let start = d;
                while d + 1 < 7 && self.contains(d + 1) {
                    d += 1;
                }
                if start == d {
                    parts.push(Days::NAMES[usize::from(d)].to_string());
                } else {
                    parts.push(format!(
                        "{}-{}",
                        Days::NAMES[usize::from(start)],
                        Days::NAMES[usize::from(d)]
                    ));
                }
            }
            d += 1;
        }
        f.write_str(&parts.join("+"))
    }
}

/// What a switch sets: a preset (its value is looked up when evaluated) or
/// a temperature.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Setpoint {
    Preset(PresetName),
    Celsius(f32),
}

impl fmt::Display for Setpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Setpoint::Preset(p) => write!(f, "{p}"),
            Setpoint::Celsius(c) => write!(f, "{c:.1}"),
        }
    }
}

/// One switch of the weekly program: on each of `days` at `minute` the
/// zone goes to `setpoint`, until the next switch (which may be days
/// later: the program wraps from Sunday to Monday).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub days: Days,
    /// Minutes after local midnight.
    pub minute: u16,
    pub setpoint: Setpoint,
}

/// A calendar date in the office's time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CivilDate {
    pub year: i16,
    pub month: u8,
    pub day: u8,
}

impl fmt::Display for CivilDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl CivilDate {
    /// Whether the date exists (no 31 April, 29 February only in leap years).
    pub fn is_valid(self) -> bool {
        let (Ok(m), Ok(d)) = (i8::try_from(self.month), i8::try_from(self.day)) else {
            return false;
        };
        jiff::civil::Date::new(self.year, m, d).is_ok()
    }
}

/// Whole days `from..=to` (a holiday, a closure) held at `setpoint`
/// instead of the weekly program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    pub from: CivilDate,
    pub to: CivilDate,
    pub setpoint: Setpoint,
    /// What it is, for people: "christmas".
    pub label: String,
}

/// A zone's schedule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub slots: Vec<Slot>,
    pub exceptions: Vec<Exception>,
    /// Who wrote it, for people: "alice@pi-3".
    pub set_by: String,
}

/// Why a schedule is refused; indices count from 0 in the order written.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    #[error("zone: {0}")]
    Zone(#[from] ZoneError),
    #[error("{count} switches, at most {max}")]
    TooManySlots { count: usize, max: usize },
    #[error("{count} exceptions, at most {max}")]
    TooManyExceptions { count: usize, max: usize },
    #[error("switch {index} names no day")]
    NoDays { index: usize },
    #[error("switch {index} names a day past Sunday")]
    BadDays { index: usize },
    #[error("switch {index} is at minute {minute}, past the end of the day")]
    BadTime { index: usize, minute: u16 },
    #[error("switches {first} and {second} are at the same time on a same day")]
    SameTime { first: usize, second: usize },
    #[error("switch {index}: {source}")]
    SlotCelsius { index: usize, source: CelsiusError },
    #[error("exception {index}: {date} is not a date")]
    BadDate { index: usize, date: CivilDate },
    #[error("exception {index} ends ({to}) before it starts ({from})")]
    Reversed {
        index: usize,
        from: CivilDate,
        to: CivilDate,
    },
    #[error("exception {index}: {source}")]
    ExceptionCelsius { index: usize, source: CelsiusError },
    #[error("exception {index}: its label is {len} bytes, at most {max}")]
    LabelTooLong {
        index: usize,
        len: usize,
        max: usize,
    },
    #[error("set-by is {len} bytes, at most {max}")]
    SetByTooLong { len: usize, max: usize },
}

impl Schedule {
    /// Checks a schedule for `zone` against `limits`: the admission of a
    /// `Schedule` key, and what the CLI and the TUI check before writing.
    pub fn check(&self, zone: &str, limits: &HeatingLimits) -> Result<(), ScheduleError> {
        limits.check_zone(zone)?;
        if self.slots.len() > limits.max_slots {
            return Err(ScheduleError::TooManySlots {
                count: self.slots.len(),
                max: limits.max_slots,
            });
        }
        if self.exceptions.len() > limits.max_exceptions {
            return Err(ScheduleError::TooManyExceptions {
                count: self.exceptions.len(),
                max: limits.max_exceptions,
            });
        }
        for (index, slot) in self.slots.iter().enumerate() {
            if slot.days.is_empty() {
                return Err(ScheduleError::NoDays { index });
            }
            if slot.days.0 & 0x80 != 0 {
                return Err(ScheduleError::BadDays { index });
            }
            if slot.minute >= MINUTES_PER_DAY {
                return Err(ScheduleError::BadTime {
                    index,
                    minute: slot.minute,
                });
            }
            if let Setpoint::Celsius(c) = slot.setpoint {
                limits
                    .check_celsius(c)
                    .map_err(|source| ScheduleError::SlotCelsius { index, source })?;
            }
            if let Some(first) = self.slots[..index]
                .iter()
                .position(|s| s.minute == slot.minute && s.days.intersects(slot.days))
            {
                return Err(ScheduleError::SameTime {
                    first,
                    second: index,
                });
            }
        }
        for (index, e) in self.exceptions.iter().enumerate() {
            for date in [e.from, e.to] {
                if !date.is_valid() {
                    return Err(ScheduleError::BadDate { index, date });
                }
            }
            if e.to < e.from {
                return Err(ScheduleError::Reversed {
                    index,
                    from: e.from,
                    to: e.to,
                });
            }
            if let Setpoint::Celsius(c) = e.setpoint {
                limits
                    .check_celsius(c)
                    .map_err(|source| ScheduleError::ExceptionCelsius { index, source })?;
            }
            if !limits.label_fits(&e.label) {
                return Err(ScheduleError::LabelTooLong {
                    index,
                    len: e.label.len(),
                    max: limits.max_label_len,
                });
            }
        }
        if !limits.label_fits(&self.set_by) {
            return Err(ScheduleError::SetByTooLong {
                len: self.set_by.len(),
                max: limits.max_label_len,
            });
        }
        Ok(())
    }

    /// A schedule with no switch and no exception: what `schedule clear`
    /// writes (a write, so it wins over older schedules everywhere).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.exceptions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(days: Days, minute: u16, setpoint: Setpoint) -> Slot {
        Slot {
            days,
            minute,
            setpoint,
        }
    }

    fn weekdays() -> Schedule {
        Schedule {
            slots: vec![
                slot(
                    Days::range(0, 4),
                    7 * 60,
                    Setpoint::Preset(PresetName::Comfort),
                ),
                slot(
                    Days::range(0, 4),
                    18 * 60,
                    Setpoint::Preset(PresetName::Eco),
                ),
                slot(Days::range(5, 6), 0, Setpoint::Preset(PresetName::Eco)),
            ],
            exceptions: vec![],
            set_by: "alice".into(),
        }
    }

    #[test]
    fn day_ranges_wrap_and_print_as_runs() {
        assert_eq!(Days::range(0, 4).to_string(), "mon-fri");
        assert_eq!(Days::range(4, 0).to_string(), "mon+fri-sun");
        assert_eq!(Days(0b101).to_string(), "mon+wed");
        assert!(Days::range(5, 6).contains(6));
        assert!(!Days::range(5, 6).contains(7));
    }

    #[test]
    fn a_sane_schedule_passes() {
        assert_eq!(
            weekdays().check("kitchen", &HeatingLimits::default()),
            Ok(())
        );
    }

    #[test]
    fn every_bound_is_checked_with_the_offending_index() {
        let limits = HeatingLimits::default();
        let mut s = weekdays();
        s.slots
            .push(slot(Days(0b1), 7 * 60, Setpoint::Celsius(20.0)));
        assert_eq!(
            s.check("kitchen", &limits),
            Err(ScheduleError::SameTime {
                first: 0,
                second: 3
            })
        );
        let mut s = weekdays();
        s.slots[1].minute = 1440;
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::BadTime { index: 1, .. })
        ));
        let mut s = weekdays();
        s.slots[2].setpoint = Setpoint::Celsius(99.0);
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::SlotCelsius { index: 2, .. })
        ));
        let mut s = weekdays();
        s.slots[0].days = Days(0);
        assert_eq!(
            s.check("kitchen", &limits),
            Err(ScheduleError::NoDays { index: 0 })
        );
        let mut s = weekdays();
        s.slots = vec![slot(Days::ALL, 0, Setpoint::Celsius(20.0)); limits.max_slots + 1];
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::TooManySlots { .. })
        ));
        let day = |m, d| CivilDate {
            year: 2026,
            month: m,
            day: d,
        };
        let mut s = weekdays();
        s.exceptions.push(Exception {
            from: day(2, 29),
            to: day(3, 1),
            setpoint: Setpoint::Preset(PresetName::Away),
            label: "closed".into(),
        });
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::BadDate { index: 0, .. })
        ));
        s.exceptions[0].from = day(12, 31);
        s.exceptions[0].to = day(12, 24);
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::Reversed { index: 0, .. })
        ));
        s.exceptions[0].to = day(12, 31);
        s.exceptions[0].label = "l".repeat(limits.max_label_len + 1);
        assert!(matches!(
            s.check("kitchen", &limits),
            Err(ScheduleError::LabelTooLong { index: 0, .. })
        ));
    }
}
