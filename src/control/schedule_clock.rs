//! Evaluating a zone's [`Schedule`] at an instant, in the office's time
//! zone.
//!
//! Switch times are local wall-clock times, so the program follows the
//! office through daylight-saving changes: 07:00 is 07:00 local in winter
//! and in summer. The two days a year where the wall clock is not a plain
//! function of time are settled so that every switch happens exactly once:
//! - a skipped hour (spring): a switch inside it happens when the clock
//!   jumps past it;
//! - a repeated hour (autumn): the wall clock is held at the end of its
//!   first pass until the second pass catches up, so the program never
//!   goes back to an earlier switch.
//!
//! Pure: the instant is a parameter, time zones come from `jiff`'s
//! database (the system's zoneinfo on a Pi).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

use crate::crdt::{CivilDate, Days, MINUTES_PER_DAY, Schedule, Setpoint};

/// Which part of the schedule is in force.
#[derive(Clone, Debug, PartialEq)]
pub enum StepSource {
    /// The weekly program: the switch at `minute` on `days`, until `until`
    /// (minutes after midnight of the next switch).
    Slot { days: Days, minute: u16, until: u16 },
    /// A holiday or closure.
    Exception { label: String, to: CivilDate },
}

/// The schedule's answer at an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleStep {
    pub setpoint: Setpoint,
    pub source: StepSource,
    /// Unix ms of the next moment the answer may change (a switch, or a
    /// midnight where an exception may begin or end); `None` if never.
    pub next_change_ms: Option<i64>,
}

impl ScheduleStep {
    /// For people: "mon-fri 07:00–18:00" or "exception christmas until 2026-12-26".
    pub fn describe(&self) -> String {
        match &self.source {
            StepSource::Slot {
                days,
                minute,
                until,
            } => format!("{days} {}–{}", hhmm(*minute), hhmm(*until)),
            StepSource::Exception { label, to } => format!("exception {label} until {to}"),
        }
    }
}

/// `HH:MM` for minutes after midnight.
pub fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The local wall-clock time the schedule is read at for instant `t`
/// (seconds): the plain local time, except during the second pass of a
/// repeated hour, where it stays at the end of the first pass.
fn schedule_local(tz: &TimeZone, t: i64) -> Option<DateTime> {
    let ts = Timestamp::from_second(t).ok()?;
    let plain = ts.to_zoned_datetime(tz.clone()).datetime();
    let Some(transition) = tz.preceding(Timestamp::from_second(t + 1).ok()?).next() else {
        return Some(plain);
    };
    let at = transition.timestamp().as_second();
    let after = transition.offset().seconds();
    let before = tz.to_offset(Timestamp::from_second(at - 1).ok()?).seconds();
    let repeated = i64::from(before - after);
    if repeated > 0 && t < at + repeated {
        let end_of_first_pass = Timestamp::from_second(at - 1).ok()?;
        return Some(end_of_first_pass.to_zoned_datetime(tz.clone()).datetime());
    }
    Some(plain)
}

fn civil(date: Date) -> CivilDate {
    CivilDate {
        year: date.year(),
        month: date.month() as u8,
        day: date.day() as u8,
    }
}

/// The earliest second at or after which the schedule's wall clock reads
/// at least `target`. The schedule clock never goes back, so a binary
/// search around the naive answer finds it, inside skipped hours too.
fn instant_of(tz: &TimeZone, target: DateTime) -> Option<i64> {
    let guess = target
        .to_zoned_datetime(tz.clone())
        .ok()?
        .timestamp()
        .as_second();
    let reached = |t: i64| schedule_local(tz, t).is_some_and(|l| l >= target);
    let (mut lo, mut hi) = (guess - 4 * 3600, guess + 4 * 3600);
    if reached(lo) || !reached(hi) {
        return Some(guess);
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// What `schedule` says at `now_ms` in `tz`; `None` when it says nothing
/// (no switch and no exception covering today).
pub fn evaluate(schedule: &Schedule, tz: &TimeZone, now_ms: i64) -> Option<ScheduleStep> {
    let now = now_ms.div_euclid(1000);
    let local = schedule_local(tz, now)?;
    let date = local.date();
    let today = civil(date);
    let midnight = |d: Date| instant_of(tz, d.at(0, 0, 0, 0)).map(|s| s * 1000);
    if let Some(e) = schedule
        .exceptions
        .iter()
        .find(|e| e.from <= today && today <= e.to)
    {
        let end = date
            .checked_add(jiff::Span::new().days(1))
            .ok()
            .and_then(|_| {
                let to = Date::new(e.to.year, e.to.month as i8, e.to.day as i8).ok()?;
                to.tomorrow().ok()
            });
        return Some(ScheduleStep {
            setpoint: e.setpoint,
            source: StepSource::Exception {
                label: e.label.clone(),
                to: e.to,
            },
            next_change_ms: end.and_then(midnight),
        });
    }
    if schedule.slots.is_empty() {
        return None;
    }
    let weekday = date.weekday().to_monday_zero_offset() as u8;
    let minute = local.hour() as u16 * 60 + local.minute() as u16;
    // The switch in force: the latest one at or before now, looking back
    // up to a whole week (the program wraps from Sunday to Monday).
    let active = (0u8..=7).find_map(|back| {
        let day = (weekday + 7 - back % 7) % 7;
        schedule
            .slots
            .iter()
            .filter(|s| s.days.contains(day) && (back > 0 || s.minute <= minute))
            .filter(|s| back < 7 || s.minute > minute)
            .max_by_key(|s| s.minute)
    })?;
    // The next switch: the earliest one after now, up to a week ahead.
    let next = (0u8..=7).find_map(|ahead| {
        let day = (weekday + ahead) % 7;
        schedule
            .slots
            .iter()
            .filter(|s| s.days.contains(day) && (ahead > 0 || s.minute > minute))
            .filter(|s| ahead < 7 || s.minute <= minute)
            .min_by_key(|s| s.minute)
            .map(|s| (ahead, s.minute))
    });
    let mut next_change_ms = next.and_then(|(ahead, m)| {
        let day = date
            .checked_add(jiff::Span::new().days(i64::from(ahead)))
            .ok()?;
        let at = day.at((m / 60) as i8, (m % 60) as i8, 0, 0);
        instant_of(tz, at).map(|s| s * 1000)
    });
    if !schedule.exceptions.is_empty()
        && let Some(tomorrow) = date.tomorrow().ok().and_then(midnight)
    {
        next_change_ms = Some(next_change_ms.map_or(tomorrow, |n| n.min(tomorrow)));
    }
    Some(ScheduleStep {
        setpoint: active.setpoint,
        source: StepSource::Slot {
            days: active.days,
            minute: active.minute,
            until: next.map_or(active.minute, |(_, m)| m % MINUTES_PER_DAY),
        },
        next_change_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Exception, PresetName, Slot};
    use proptest::prelude::*;

    fn lisbon() -> TimeZone {
        TimeZone::get("Europe/Lisbon").expect("tzdata has Europe/Lisbon")
    }

    fn ms(s: &str) -> i64 {
        let z: jiff::ZonedDateTime = s.parse().unwrap();
        z.timestamp().as_millisecond()
    }

    fn office() -> Schedule {
        use PresetName::*;
        let slot = |days, minute, p| Slot {
            days,
            minute,
            setpoint: Setpoint::Preset(p),
        };
        Schedule {
            slots: vec![
                slot(Days::range(0, 4), 7 * 60, Comfort),
                slot(Days::range(0, 4), 18 * 60, Eco),
                slot(Days::range(5, 6), 0, Away),
            ],
            exceptions: vec![Exception {
                from: CivilDate {
                    year: 2026,
                    month: 12,
                    day: 24,
                },
                to: CivilDate {
                    year: 2026,
                    month: 12,
                    day: 26,
                },
                setpoint: Setpoint::Preset(Away),
                label: "christmas".into(),
            }],
            set_by: "alice".into(),
        }
    }

    fn at(s: &str) -> ScheduleStep {
        evaluate(&office(), &lisbon(), ms(s)).unwrap()
    }

    #[test]
    fn weekdays_weekends_midnight_and_week_wrap() {
        // Mon 30 Nov 2026.
        let mon_0659 = at("2026-11-30T06:59[Europe/Lisbon]");
        assert_eq!(
            mon_0659.setpoint,
            Setpoint::Preset(PresetName::Away),
            "Sunday's away carries over the week wrap"
        );
        assert_eq!(
            mon_0659.next_change_ms,
            Some(ms("2026-11-30T07:00[Europe/Lisbon]"))
        );
        let mon_0700 = at("2026-11-30T07:00[Europe/Lisbon]");
        assert_eq!(mon_0700.setpoint, Setpoint::Preset(PresetName::Comfort));
        assert_eq!(mon_0700.describe(), "mon-fri 07:00–18:00");
        let tue_0300 = at("2026-12-01T03:00[Europe/Lisbon]");
        assert_eq!(
            tue_0300.setpoint,
            Setpoint::Preset(PresetName::Eco),
            "Monday's 18:00 eco holds across midnight"
        );
        let sat = at("2026-12-05T12:00[Europe/Lisbon]");
        assert_eq!(sat.setpoint, Setpoint::Preset(PresetName::Away));
        let xmas = at("2026-12-24T10:00[Europe/Lisbon]");
        assert_eq!(xmas.describe(), "exception christmas until 2026-12-26");
        assert_eq!(
            xmas.next_change_ms,
            Some(ms("2026-12-27T00:00[Europe/Lisbon]"))
        );
    }

    #[test]
    fn switches_keep_local_time_across_both_dst_changes() {
        // 29 Mar 2026: clocks go 01:00 → 02:00; 25 Oct 2026: 02:00 → 01:00.
        for day in ["2026-03-30", "2026-10-26"] {
            let s = at(&format!("{day}T07:00[Europe/Lisbon]"));
            assert_eq!(s.setpoint, Setpoint::Preset(PresetName::Comfort));
            let before = at(&format!("{day}T06:59[Europe/Lisbon]"));
            assert_eq!(
                before.next_change_ms,
                Some(ms(&format!("{day}T07:00[Europe/Lisbon]")))
            );
        }
    }

    #[test]
    fn a_switch_in_a_skipped_or_repeated_hour_happens_once() {
        let tz = lisbon();
        let s = Schedule {
            slots: vec![
                Slot {
                    days: Days::ALL,
                    minute: 90,
                    setpoint: Setpoint::Celsius(20.0),
                },
                Slot {
                    days: Days::ALL,
                    minute: 12 * 60,
                    setpoint: Setpoint::Celsius(16.0),
                },
            ],
            exceptions: vec![],
            set_by: String::new(),
        };
        // Spring: 01:30 never happens; the switch is when the clock jumps.
        let jump = ms("2026-03-29T02:00+01:00[Europe/Lisbon]");
        let before = evaluate(&s, &tz, jump - 1000).unwrap();
        assert_eq!(before.setpoint, Setpoint::Celsius(16.0));
        assert_eq!(before.next_change_ms, Some(jump));
        assert_eq!(
            evaluate(&s, &tz, jump).unwrap().setpoint,
            Setpoint::Celsius(20.0)
        );
        // Autumn: 01:30 happens twice; the switch happens at the first.
        let first = ms("2026-10-25T01:30+01:00[Europe/Lisbon]");
        let second = ms("2026-10-25T01:10+00:00[Europe/Lisbon]");
        assert_eq!(
            evaluate(&s, &tz, first - 1000).unwrap().next_change_ms,
            Some(first)
        );
        assert_eq!(
            evaluate(&s, &tz, first).unwrap().setpoint,
            Setpoint::Celsius(20.0)
        );
        assert_eq!(
            evaluate(&s, &tz, second).unwrap().setpoint,
            Setpoint::Celsius(20.0)
        );
    }

    fn arb_schedule() -> impl Strategy<Value = Schedule> {
        let slot = (1u8..128, 0u16..MINUTES_PER_DAY, 5u8..30).prop_map(|(d, m, c)| Slot {
            days: Days(d),
            minute: m,
            setpoint: Setpoint::Celsius(f32::from(c)),
        });
        proptest::collection::vec(slot, 1..8).prop_map(|slots| Schedule {
            slots,
            exceptions: vec![],
            set_by: String::new(),
        })
    }

    proptest! {
        /// Around midnight, the week wrap and both DST changes of 2026:
        /// the answer holds until `next_change_ms`, the schedule clock never
        /// goes back.
        #[test]
        fn the_answer_holds_until_the_next_change(
            schedule in arb_schedule(),
            base in prop::sample::select(vec![
                "2026-03-28T22:00+00:00[Europe/Lisbon]",
                "2026-10-24T22:00+01:00[Europe/Lisbon]",
                "2026-11-29T22:00+00:00[Europe/Lisbon]",
                "2026-12-31T22:00+00:00[Europe/Lisbon]",
            ]),
            offset_s in 0i64..(6 * 3600),
        ) {
            let tz = lisbon();
            let now = ms(base) + offset_s * 1000;
            let step = evaluate(&schedule, &tz, now).unwrap();
            let next = step.next_change_ms.unwrap();
            prop_assert!(next > now);
            if next - 1000 >= now {
                let later = (now + 60_000).min(next - 1000);
                prop_assert_eq!(evaluate(&schedule, &tz, later).unwrap().setpoint, step.setpoint);
                prop_assert_eq!(evaluate(&schedule, &tz, next - 1000).unwrap().source, step.source.clone());
            }
            let l_now = schedule_local(&tz, now / 1000).unwrap();
            let l_next = schedule_local(&tz, next / 1000).unwrap();
            prop_assert!(l_now <= l_next, "the schedule clock never goes back");
        }
    }
}
