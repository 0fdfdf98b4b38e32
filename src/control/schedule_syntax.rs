//! The schedule language people type and `schedule show` prints:
//!
//! ```text
//! mon-fri 07:00 comfort, 18:00 eco; sat-sun eco; 2026-12-24..2026-12-26 away christmas
//! ```
//!
//! - Groups are separated by `;`. A weekly group starts with days
//!   (`mon`, `mon-fri`, `fri-mon`, several joined by `+`: `mon+wed`;
//!   `daily`, `weekdays`, `weekend`), then switches separated by `,`:
//!   a time `HH:MM` and a set-point (`comfort`, `eco`, `away`/`frost`, or
//!   °C like `20.5`). A group's first switch may leave out the time: it
//!   starts at 00:00.
//! - An exception group starts with a date or a date range
//!   (`2026-12-24..2026-12-26`), then a set-point and an optional label.
//!
//! Errors name the token that is wrong and where it is, so the CLI can
//! point at it.

use std::fmt;

use crate::crdt::{CivilDate, Days, Exception, PresetName, Schedule, Setpoint, Slot};

use super::schedule_clock::hhmm;

/// A token that does not fit, at byte `at` of the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at column {}: {found}: expected {expected}", .at + 1)]
pub struct SyntaxError {
    pub at: usize,
    pub len: usize,
    /// The offending token in quotes, or "the end".
    pub found: String,
    pub expected: &'static str,
}

impl SyntaxError {
    /// The input with a caret line under the offending token, for a
    /// terminal.
    pub fn pointer(&self, input: &str) -> String {
        let prefix: usize = input[..self.at.min(input.len())].chars().count();
        format!(
            "{input}\n{}{}",
            " ".repeat(prefix),
            "^".repeat(self.len.max(1))
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Token<'a> {
    text: &'a str,
    at: usize,
}

fn tokens(input: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in input.char_indices() {
        let sep = c == ';' || c == ',';
        if c.is_whitespace() || sep {
            if let Some(s) = start.take() {
                out.push(Token {
                    text: &input[s..i],
                    at: s,
                });
            }
            if sep {
                out.push(Token {
                    text: &input[i..i + 1],
                    at: i,
                });
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        out.push(Token {
            text: &input[s..],
            at: s,
        });
    }
    out
}

fn error(token: Option<&Token<'_>>, end: usize, expected: &'static str) -> SyntaxError {
    match token {
        Some(t) => SyntaxError {
            at: t.at,
            len: t.text.len(),
            found: format!("{:?}", t.text),
            expected,
        },
        None => SyntaxError {
            at: end,
            len: 1,
            found: "the end".into(),
            expected,
        },
    }
}

fn day(word: &str) -> Option<u8> {
    let w = word.to_ascii_lowercase();
    Days::NAMES
        .iter()
        .position(|n| w == *n || (w.len() > 3 && n.starts_with(&w[..3]) && is_day_name(&w)))
        .map(|p| p as u8)
}

fn is_day_name(w: &str) -> bool {
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .contains(&w)
}

fn days(word: &str) -> Option<Days> {
    match word.to_ascii_lowercase().as_str() {
        "daily" | "all" => return Some(Days::ALL),
        "weekdays" => return Some(Days::range(0, 4)),
        "weekend" => return Some(Days::range(5, 6)),
        _ => {}
    }
    let mut set = 0u8;
    for part in word.split('+') {
        let d = match part.split_once('-') {
            Some((a, b)) => Days::range(day(a)?, day(b)?),
            None => Days(1 << day(part)?),
        };
        set |= d.0;
    }
    Some(Days(set))
}

fn time(word: &str) -> Option<u16> {
    let (h, m) = word.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

fn setpoint(word: &str) -> Option<Setpoint> {
    if let Ok(p) = word.parse::<PresetName>() {
        return Some(Setpoint::Preset(p));
    }
    let number = word
        .strip_suffix("°C")
        .or_else(|| word.strip_suffix('C'))
        .or_else(|| word.strip_suffix('c'))
        .unwrap_or(word);
    number
        .parse::<f32>()
        .ok()
        .filter(|c| c.is_finite())
        .map(Setpoint::Celsius)
}

fn date(word: &str) -> Option<CivilDate> {
    let mut parts = word.splitn(3, '-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let date = CivilDate {
        year: y.parse().ok()?,
        month: m.parse().ok()?,
        day: d.parse().ok()?,
    };
    date.is_valid().then_some(date)
}

fn date_range(word: &str) -> Option<(CivilDate, CivilDate)> {
    match word.split_once("..") {
        Some((a, b)) => Some((date(a)?, date(b)?)),
        None => date(word).map(|d| (d, d)),
    }
}

/// Reads a schedule; `set_by` is carried into the value. Bounds (slot
/// counts, °C ranges) are [`Schedule::check`]'s job, after this.
pub fn parse(input: &str, set_by: &str) -> Result<Schedule, SyntaxError> {
    let all = tokens(input);
    let end = input.len();
    let mut schedule = Schedule {
        set_by: set_by.to_string(),
        ..Schedule::default()
    };
    for group in all.split(|t| t.text == ";") {
        let Some(first) = group.first() else {
            continue;
        };
        if first.text == "," {
            return Err(error(Some(first), end, "days or a date"));
        }
        if let Some((from, to)) = date_range(first.text) {
            let sp = group.get(1);
            let setpoint = sp
                .filter(|t| t.text != ",")
                .and_then(|t| setpoint(t.text))
                .ok_or_else(|| error(sp, end, "a preset or a temperature"))?;
            let rest: Vec<&str> = group[2..].iter().map(|t| t.text).collect();
            if let Some(comma) = group[2..].iter().find(|t| t.text == ",") {
                return Err(error(Some(comma), end, "a label or `;`"));
            }
            schedule.exceptions.push(Exception {
                from,
                to,
                setpoint,
                label: rest.join(" "),
            });
            continue;
        }
        let set = days(first.text).ok_or_else(|| {
            error(
                Some(first),
                end,
                "days (mon-fri, sat+sun, weekdays, weekend, daily) or a date (2026-12-24)",
            )
        })?;
        let entries = &group[1..];
        if entries.is_empty() {
            return Err(error(
                None,
                group_end(first, input),
                "a time or a set-point",
            ));
        }
        for (n, entry) in entries.split(|t| t.text == ",").enumerate() {
            let (minute, rest) = match entry.first() {
                Some(t) if time(t.text).is_some() => (time(t.text).unwrap_or(0), &entry[1..]),
                // A set-point never holds a colon: a wrong time, even
                // where the time may be left out.
                Some(t) if t.text.contains(':') => {
                    return Err(error(Some(t), end, "a time HH:MM"));
                }
                Some(_) if n == 0 => (0, entry),
                other => return Err(error(other, end, "a time HH:MM")),
            };
            let sp = rest.first();
            let value = sp
                .and_then(|t| setpoint(t.text))
                .ok_or_else(|| error(sp, end, "a preset (comfort, eco, away) or a temperature"))?;
            if let Some(extra) = rest.get(1) {
                return Err(error(Some(extra), end, "`,` or `;`"));
            }
            schedule.slots.push(Slot {
                days: set,
                minute,
                setpoint: value,
            });
        }
    }
    Ok(schedule)
}

fn group_end(first: &Token<'_>, input: &str) -> usize {
    (first.at + first.text.len()).min(input.len())
}

/// The schedule in the language [`parse`] reads.
pub struct Printed<'a>(pub &'a Schedule);

impl fmt::Display for Printed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut groups: Vec<(Days, Vec<&Slot>)> = Vec::new();
        for slot in &self.0.slots {
            match groups.iter_mut().find(|(d, _)| *d == slot.days) {
                Some((_, slots)) => slots.push(slot),
                None => groups.push((slot.days, vec![slot])),
            }
        }
        let mut parts: Vec<String> = groups
            .into_iter()
            .map(|(days, mut slots)| {
                slots.sort_by_key(|s| s.minute);
                let switches: Vec<String> = slots
                    .iter()
                    .map(|s| format!("{} {}", hhmm(s.minute), s.setpoint))
                    .collect();
                format!("{days} {}", switches.join(", "))
            })
            .collect();
        for e in &self.0.exceptions {
            let range = if e.from == e.to {
                e.from.to_string()
            } else {
                format!("{}..{}", e.from, e.to)
            };
            let label = if e.label.is_empty() {
                String::new()
            } else {
                format!(" {}", e.label)
            };
            parts.push(format!("{range} {}{label}", e.setpoint));
        }
        f.write_str(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::HeatingLimits;

    #[test]
    fn the_documented_example_reads_and_prints_back() {
        let text =
            "mon-fri 07:00 comfort, 18:00 eco; sat-sun eco; 2026-12-24..2026-12-26 away christmas";
        let s = parse(text, "alice").unwrap();
        assert_eq!(s.slots.len(), 3);
        assert_eq!(s.slots[0].days, Days::range(0, 4));
        assert_eq!(s.slots[1].minute, 18 * 60);
        assert_eq!(s.slots[2].minute, 0);
        assert_eq!(s.exceptions[0].label, "christmas");
        assert_eq!(s.check("kitchen", &HeatingLimits::default()), Ok(()));
        let printed = Printed(&s).to_string();
        assert_eq!(
            printed,
            "mon-fri 07:00 comfort, 18:00 eco; sat-sun 00:00 eco; 2026-12-24..2026-12-26 away christmas"
        );
        assert_eq!(parse(&printed, "alice").unwrap(), s);
    }

    #[test]
    fn temperatures_day_lists_and_words() {
        let s = parse("mon+wed 06:30 20.5, 12:00 19C; weekend frost", "").unwrap();
        assert_eq!(s.slots[0].days, Days(0b101));
        assert_eq!(s.slots[0].setpoint, Setpoint::Celsius(20.5));
        assert_eq!(s.slots[1].setpoint, Setpoint::Celsius(19.0));
        assert_eq!(s.slots[2].setpoint, Setpoint::Preset(PresetName::Away));
        assert_eq!(
            Printed(&s).to_string(),
            "mon+wed 06:30 20.5, 12:00 19.0; sat-sun 00:00 away"
        );
    }

    #[test]
    fn errors_point_at_the_wrong_token() {
        let text = "mon-fri 07:00 comfort, 25:00 eco";
        let e = parse(text, "").unwrap_err();
        assert_eq!(e.at, 23);
        assert_eq!(e.expected, "a time HH:MM");
        assert_eq!(e.pointer(text), format!("{text}\n{}^^^^^", " ".repeat(23)));
        let e = parse("sat 25:00 eco", "").unwrap_err();
        assert_eq!((e.at, e.expected), (4, "a time HH:MM"));
        let e = parse("mun-fri 07:00 comfort", "").unwrap_err();
        assert_eq!((e.at, e.found.as_str()), (0, "\"mun-fri\""));
        let e = parse("mon-fri 07:00 cosy", "").unwrap_err();
        assert_eq!(e.at, 14);
        let e = parse("mon-fri 07:00", "").unwrap_err();
        assert_eq!(e.found, "the end");
        let e = parse("mon 07:00 comfort eco", "").unwrap_err();
        assert_eq!((e.at, e.expected), (18, "`,` or `;`"));
        let e = parse("2026-02-30 away", "").unwrap_err();
        assert_eq!(e.at, 0);
        assert!(e.to_string().starts_with("at column 1: \"2026-02-30\""));
    }
}
