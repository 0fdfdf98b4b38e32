//! The schedule editor's state: one zone's weekly program as a draft the
//! operator changes a row at a time, then saves as one write.
//!
//! A row is typed in the schedule language the CLI reads
//! (`mon-fri 07:00 comfort`, `2026-12-24..2026-12-26 away christmas`),
//! parsed by the same parser and checked with [`Schedule::check`], the
//! function every node admits a schedule with, so the editor refuses
//! exactly what a node would, before anything leaves. The draft is never
//! the zone's program: the views show the office's schedule until a node
//! admits the save, and a refused save rolls the draft back to it.

use jiff::tz::TimeZone;

use super::event::{WriteId, WriteProgress};
use super::snapshot::{ScheduleSibling, ZoneProgramText};
use crate::control::schedule_clock::{self, hhmm};
use crate::control::schedule_syntax::{self, Printed, SyntaxError};
use crate::crdt::{Exception, HeatingLimits, Schedule, ScheduleError, Setpoint, Slot};

/// What the editor does with a key; `update` passes these on.
#[derive(Debug, Clone, PartialEq)]
pub enum EditorAction {
    Up,
    Down,
    /// `a`: type a new switch.
    AddSwitch,
    /// `h`: type a new exception (a holiday or closure).
    AddException,
    /// `Enter`/`e`: retype the selected row.
    Edit,
    /// `x`/`Delete`: remove the selected row.
    Remove,
    /// `r`: drop the draft and take the office's program again.
    Reload,
    /// `c`: start from the next concurrent program (when edits raced).
    NextSibling,
    /// A character typed into the row.
    Type(char),
    Backspace,
    /// `Ctrl-U`: empty the row.
    ClearInput,
    /// `Enter` on a typed row: put it in the draft, if it passes.
    Accept,
    /// `Esc` on a typed row: leave it.
    CancelInput,
}

/// A row of the draft as listed: switches first, then exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Slot(usize),
    Exception(usize),
}

/// A row being typed.
#[derive(Debug, Clone, PartialEq)]
pub struct RowInput {
    pub text: String,
    /// The row it replaces; `None` adds.
    pub replaces: Option<Row>,
}

/// Why a typed row cannot go into the draft.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RowError {
    #[error("{0}")]
    Syntax(SyntaxError),
    #[error("type a switch (mon-fri 07:00 comfort) or an exception (2026-12-24 away)")]
    Empty,
    /// The draft with the row would be refused by every node. The
    /// error counts rows of that draft; `named` says which rows it means
    /// in words, `marked` which of the listed rows they are.
    #[error("{error}: {}", .named.join(" · "))]
    Refused {
        error: ScheduleError,
        named: Vec<String>,
        marked: Vec<Row>,
    },
}

/// A save on its way: what was written and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct Save {
    pub write: WriteId,
    pub schedule: Schedule,
    pub progress: WriteProgress,
}

/// The editor's whole state.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEditor {
    pub zone: String,
    /// The program being edited, rows in listing order.
    pub draft: Schedule,
    /// The zone's schedule siblings when the draft was taken, the
    /// followed one first: what "unsaved" and "changed meanwhile" mean.
    pub base: Vec<ScheduleSibling>,
    /// Which of `base` the draft started from.
    pub from_sibling: usize,
    /// The zone's schedule siblings as the office holds them now.
    pub office: Vec<ScheduleSibling>,
    /// The office's siblings differ from `base` while the draft has
    /// unsaved changes: someone else saved meanwhile.
    pub changed_meanwhile: bool,
    pub selected: usize,
    pub input: Option<RowInput>,
    pub save: Option<Save>,
    /// A save the nodes refused, with their reason; the draft went back
    /// to the office's program.
    pub refused: Option<(String, String)>,
    /// `Esc` was pressed once on unsaved changes; again closes.
    pub confirm_discard: bool,
}

/// Puts rows in reading order: by their first day, day set and time;
/// exceptions by date. Order changes nothing a node computes.
pub fn tidy(schedule: &mut Schedule) {
    schedule
        .slots
        .sort_by_key(|s| (s.days.0.trailing_zeros(), s.days.0, s.minute));
    schedule.exceptions.sort_by(|a, b| {
        (a.from, a.to)
            .cmp(&(b.from, b.to))
            .then_with(|| a.label.cmp(&b.label))
    });
}

fn tidied(mut schedule: Schedule) -> Schedule {
    tidy(&mut schedule);
    schedule
}

/// Whether two schedules say the same, whoever wrote them.
fn same_program(a: &Schedule, b: &Schedule) -> bool {
    let (a, b) = (tidied(a.clone()), tidied(b.clone()));
    a.slots == b.slots && a.exceptions == b.exceptions
}

impl ScheduleEditor {
    /// Opens `zone`'s program, or an empty one.
    pub fn open(zone: String, program: Option<&ZoneProgramText>) -> Self {
        let base = program.map(|p| p.schedules.clone()).unwrap_or_default();
        let mut editor = ScheduleEditor {
            zone,
            draft: Schedule::default(),
            office: base.clone(),
            base,
            from_sibling: 0,
            changed_meanwhile: false,
            selected: 0,
            input: None,
            save: None,
            refused: None,
            confirm_discard: false,
        };
        editor.take_base();
        editor
    }

    /// The program the draft started from (empty when there is none).
    pub fn start(&self) -> Schedule {
        self.base
            .get(self.from_sibling)
            .map(|s| tidied(s.schedule.clone()))
            .unwrap_or_default()
    }

    /// Drops the draft for the office's program as it is now.
    fn reload(&mut self) {
        self.base = self.office.clone();
        self.from_sibling = 0;
        self.take_base();
    }

    fn take_base(&mut self) {
        self.draft = self.start();
        self.draft.set_by.clear();
        self.changed_meanwhile = false;
        self.confirm_discard = false;
        self.selected = self.selected.min(self.rows().len().saturating_sub(1));
    }

    /// The draft differs from what it started from.
    pub fn is_dirty(&self) -> bool {
        !same_program(&self.draft, &self.start())
    }

    /// Concurrent programs are waiting to be resolved.
    pub fn is_conflicted(&self) -> bool {
        self.base.len() > 1
    }

    pub fn rows(&self) -> Vec<Row> {
        (0..self.draft.slots.len())
            .map(Row::Slot)
            .chain((0..self.draft.exceptions.len()).map(Row::Exception))
            .collect()
    }

    pub fn selected_row(&self) -> Option<Row> {
        self.rows().get(self.selected).copied()
    }

    /// A row in the schedule language, as it would be typed.
    pub fn row_text(&self, row: Row) -> String {
        one_row(self.slot(row).copied(), self.exception(row).cloned())
    }

    /// The office's program changed: follow it while the draft is
    /// untouched; otherwise say so and keep the operator's work.
    pub fn follow(&mut self, program: Option<&ZoneProgramText>) {
        let now: Vec<ScheduleSibling> = program.map(|p| p.schedules.clone()).unwrap_or_default();
        if now == self.office {
            return;
        }
        self.office = now.clone();
        // A row being typed counts as a change: it may name a listed row.
        let dirty = self.is_dirty() || self.input.is_some();
        let saved = self.save.as_ref().is_some_and(|s| {
            now.first()
                .is_some_and(|n| same_program(&n.schedule, &s.schedule))
        });
        if !dirty || saved {
            self.reload();
        } else {
            self.changed_meanwhile = true;
        }
    }

    /// The draft with `input` in place of the row it replaces, in
    /// reading order, and checked as a node checks it.
    pub fn candidate(
        &self,
        input: &RowInput,
        limits: &HeatingLimits,
    ) -> Result<(Schedule, Vec<Row>), RowError> {
        let typed = schedule_syntax::parse(&input.text, "").map_err(RowError::Syntax)?;
        if typed.is_empty() {
            return Err(RowError::Empty);
        }
        let mut draft = self.draft.clone();
        match input.replaces {
            Some(Row::Slot(i)) if i < draft.slots.len() => {
                draft.slots.remove(i);
            }
            Some(Row::Exception(i)) if i < draft.exceptions.len() => {
                draft.exceptions.remove(i);
            }
            _ => {}
        }
        draft.slots.extend(typed.slots.iter().copied());
        draft.exceptions.extend(typed.exceptions.iter().cloned());
        tidy(&mut draft);
        if let Err(error) = draft.check(&self.zone, limits) {
            let mut named = Vec::new();
            let mut marked = Vec::new();
            for row in rows_named(&error) {
                let (text, listed) = match row {
                    Row::Slot(i) => {
                        let Some(slot) = draft.slots.get(i) else {
                            continue;
                        };
                        let listed = self.draft.slots.iter().position(|s| s == slot);
                        (one_row(Some(*slot), None), listed.map(Row::Slot))
                    }
                    Row::Exception(i) => {
                        let Some(e) = draft.exceptions.get(i) else {
                            continue;
                        };
                        let listed = self.draft.exceptions.iter().position(|x| x == e);
                        (one_row(None, Some(e.clone())), listed.map(Row::Exception))
                    }
                };
                named.push(text);
                marked.extend(listed);
            }
            return Err(RowError::Refused {
                error,
                named,
                marked,
            });
        }
        let rows = typed
            .slots
            .iter()
            .filter_map(|t| draft.slots.iter().position(|s| s == t).map(Row::Slot))
            .chain(typed.exceptions.iter().filter_map(|t| {
                draft
                    .exceptions
                    .iter()
                    .position(|e| e == t)
                    .map(Row::Exception)
            }))
            .collect();
        Ok((draft, rows))
    }

    /// The draft as a whole, checked as a node checks it.
    pub fn check(&self, limits: &HeatingLimits) -> Result<(), ScheduleError> {
        self.draft.check(&self.zone, limits)
    }

    /// Applies a key. `today` is the office's date, what a new exception
    /// starts as.
    pub fn act(&mut self, action: EditorAction, limits: &HeatingLimits, today: &str) {
        self.confirm_discard = false;
        let len = self.rows().len();
        match action {
            EditorAction::Up => self.selected = self.selected.saturating_sub(1),
            EditorAction::Down => self.selected = (self.selected + 1).min(len.saturating_sub(1)),
            EditorAction::AddSwitch => {
                let text = match self.selected_row() {
                    Some(Row::Slot(i)) => {
                        let s = self.draft.slots[i];
                        let next = (s.minute + 60) % crate::crdt::MINUTES_PER_DAY;
                        format!("{} {} {}", s.days, hhmm(next), s.setpoint)
                    }
                    _ => "mon-fri 08:00 comfort".to_string(),
                };
                self.input = Some(RowInput {
                    text,
                    replaces: None,
                });
            }
            EditorAction::AddException => {
                self.input = Some(RowInput {
                    text: format!("{today} away closed"),
                    replaces: None,
                });
            }
            EditorAction::Edit => {
                if let Some(row) = self.selected_row() {
                    self.input = Some(RowInput {
                        text: self.row_text(row),
                        replaces: Some(row),
                    });
                }
            }
            EditorAction::Remove => {
                match self.selected_row() {
                    Some(Row::Slot(i)) => {
                        self.draft.slots.remove(i);
                    }
                    Some(Row::Exception(i)) => {
                        self.draft.exceptions.remove(i);
                    }
                    None => {}
                }
                self.selected = self.selected.min(self.rows().len().saturating_sub(1));
            }
            EditorAction::Reload => self.reload(),
            EditorAction::NextSibling => {
                if self.is_conflicted() {
                    self.from_sibling = (self.from_sibling + 1) % self.base.len();
                    self.take_base();
                }
            }
            EditorAction::Type(c) => {
                if let Some(input) = &mut self.input
                    && input.text.len() < MAX_ROW_TEXT
                {
                    input.text.push(c);
                }
            }
            EditorAction::Backspace => {
                if let Some(input) = &mut self.input {
                    input.text.pop();
                }
            }
            EditorAction::ClearInput => {
                if let Some(input) = &mut self.input {
                    input.text.clear();
                }
            }
            EditorAction::Accept => {
                let Some(input) = &self.input else {
                    return;
                };
                if let Ok((draft, rows)) = self.candidate(input, limits) {
                    self.draft = draft;
                    self.input = None;
                    let first = rows.first().copied();
                    self.selected = self
                        .rows()
                        .iter()
                        .position(|r| Some(*r) == first)
                        .unwrap_or(0);
                }
            }
            EditorAction::CancelInput => self.input = None,
        }
    }

    /// The schedule a save writes, if the draft passes and differs from
    /// the office's program (or resolves a conflict).
    pub fn to_save(&self, limits: &HeatingLimits) -> Option<Schedule> {
        if self.input.is_some() || self.save_pending() {
            return None;
        }
        if !self.is_dirty() && !self.is_conflicted() {
            return None;
        }
        self.check(limits).ok()?;
        Some(self.draft.clone())
    }

    /// A save was sent as `write`.
    pub fn saving(&mut self, write: WriteId, schedule: Schedule) {
        self.refused = None;
        self.save = Some(Save {
            write,
            schedule,
            progress: WriteProgress::Pending,
        });
    }

    /// Whether a save is on its way and not yet stored or refused.
    pub fn save_pending(&self) -> bool {
        self.save
            .as_ref()
            .is_some_and(|s| s.progress == WriteProgress::Pending)
    }

    /// How the save of `write` is going. A refusal rolls the draft back
    /// to the office's program and keeps the refused text to retype.
    pub fn progress(&mut self, write: WriteId, progress: WriteProgress) {
        let Some(save) = self.save.as_mut().filter(|s| s.write == write) else {
            return;
        };
        if let WriteProgress::Failed(reason) = &progress {
            let text = Printed(&save.schedule).to_string();
            self.refused = Some((reason.clone(), text));
            self.save = None;
            self.reload();
            return;
        }
        save.progress = progress;
    }

    /// Setpoint letters of the weekly program, Monday first: one per
    /// `cell_minutes` from midnight, from the nodes' own evaluation of
    /// the draft (exceptions left out: they are dated, the week is not).
    pub fn week(&self, cell_minutes: u16) -> Vec<Vec<Option<Setpoint>>> {
        let weekly = Schedule {
            slots: self.draft.slots.clone(),
            ..Schedule::default()
        };
        let cells = crate::crdt::MINUTES_PER_DAY / cell_minutes.max(1);
        (0..7i64)
            .map(|day| {
                (0..i64::from(cells))
                    .map(|cell| {
                        let at = REFERENCE_MONDAY_MS
                            + day * 86_400_000
                            + cell * i64::from(cell_minutes) * 60_000;
                        schedule_clock::evaluate(&weekly, &TimeZone::UTC, at).map(|s| s.setpoint)
                    })
                    .collect()
            })
            .collect()
    }

    /// The exception a row is, if it is one.
    pub fn exception(&self, row: Row) -> Option<&Exception> {
        match row {
            Row::Exception(i) => self.draft.exceptions.get(i),
            Row::Slot(_) => None,
        }
    }

    /// The switch a row is, if it is one.
    pub fn slot(&self, row: Row) -> Option<&Slot> {
        match row {
            Row::Slot(i) => self.draft.slots.get(i),
            Row::Exception(_) => None,
        }
    }
}

/// A switch or an exception in the schedule language.
fn one_row(slot: Option<Slot>, exception: Option<Exception>) -> String {
    let one = Schedule {
        slots: slot.into_iter().collect(),
        exceptions: exception.into_iter().collect(),
        set_by: String::new(),
    };
    Printed(&one).to_string()
}

/// The rows a refusal names, counted in the schedule refused.
pub fn rows_named(error: &ScheduleError) -> Vec<Row> {
    use ScheduleError as E;
    match error {
        E::NoDays { index }
        | E::BadDays { index }
        | E::BadTime { index, .. }
        | E::SlotCelsius { index, .. } => vec![Row::Slot(*index)],
        E::SameTime { first, second } => vec![Row::Slot(*first), Row::Slot(*second)],
        E::BadDate { index, .. }
        | E::Reversed { index, .. }
        | E::ExceptionCelsius { index, .. }
        | E::LabelTooLong { index, .. } => vec![Row::Exception(*index)],
        E::Zone(_)
        | E::TooManySlots { .. }
        | E::TooManyExceptions { .. }
        | E::SetByTooLong { .. } => Vec::new(),
    }
}

/// Longest row an operator can type: a switch or an exception with the
/// longest label fits with room.
pub const MAX_ROW_TEXT: usize = 120;

/// 2024-01-01T00:00Z, a Monday: the week grid evaluates the program on
/// it in UTC, where every day has 24 hours.
const REFERENCE_MONDAY_MS: i64 = 1_704_067_200_000;

/// The office's date at `now_ms`, as a new exception starts.
pub fn today(now_ms: u64, tz: &TimeZone) -> String {
    jiff::Timestamp::from_millisecond(now_ms as i64)
        .map(|t| t.to_zoned_datetime(tz.clone()).date().to_string())
        .unwrap_or_else(|_| "2026-01-01".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Days, PresetName};

    fn program(text: &str) -> ZoneProgramText {
        ZoneProgramText {
            schedules: vec![ScheduleSibling {
                schedule: schedule_syntax::parse(text, "alice").unwrap(),
                set_at_ms: 1,
            }],
            ..ZoneProgramText::default()
        }
    }

    fn typed(editor: &mut ScheduleEditor, text: &str) {
        let limits = HeatingLimits::default();
        editor.act(EditorAction::ClearInput, &limits, "2026-09-21");
        for c in text.chars() {
            editor.act(EditorAction::Type(c), &limits, "2026-09-21");
        }
    }

    #[test]
    fn a_row_goes_in_only_when_a_node_would_take_the_draft() {
        let limits = HeatingLimits::default();
        let p = program("mon-fri 07:00 comfort, 18:00 eco");
        let mut e = ScheduleEditor::open("kitchen".into(), Some(&p));
        assert!(!e.is_dirty());
        e.act(EditorAction::AddSwitch, &limits, "2026-09-21");
        assert_eq!(e.input.as_ref().unwrap().text, "mon-fri 08:00 comfort");
        // Same time on a same day as an existing switch: refused, marked.
        typed(&mut e, "mon 18:00 comfort");
        let err = e.candidate(e.input.as_ref().unwrap(), &limits).unwrap_err();
        let RowError::Refused { marked, named, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(marked, &[Row::Slot(1)], "the listed 18:00 switch");
        assert_eq!(named, &["mon 18:00 comfort", "mon-fri 18:00 eco"]);
        e.act(EditorAction::Accept, &limits, "");
        assert!(e.input.is_some(), "a refused row stays in the input");
        typed(&mut e, "sat 09:00 45");
        assert!(matches!(
            e.candidate(e.input.as_ref().unwrap(), &limits),
            Err(RowError::Refused {
                error: ScheduleError::SlotCelsius { .. },
                ..
            })
        ));
        typed(&mut e, "sat 25:00 eco");
        assert!(matches!(
            e.candidate(e.input.as_ref().unwrap(), &limits),
            Err(RowError::Syntax(_))
        ));
        typed(&mut e, "sat 09:00 20.5");
        e.act(EditorAction::Accept, &limits, "");
        assert!(e.input.is_none());
        assert!(e.is_dirty());
        assert_eq!(
            Printed(&e.draft).to_string(),
            "mon-fri 07:00 comfort, 18:00 eco; sat 09:00 20.5"
        );
        assert_eq!(e.selected_row(), Some(Row::Slot(2)));
        assert!(e.to_save(&limits).is_some());
        e.act(EditorAction::Remove, &limits, "");
        assert!(!e.is_dirty(), "removing the new row undoes it");
        assert_eq!(e.to_save(&limits), None, "nothing to save");
    }

    #[test]
    fn edits_and_exceptions_keep_reading_order() {
        let limits = HeatingLimits::default();
        let p = program("mon-fri 07:00 comfort, 18:00 eco; sat-sun eco");
        let mut e = ScheduleEditor::open("kitchen".into(), Some(&p));
        e.act(EditorAction::Down, &limits, "");
        e.act(EditorAction::Edit, &limits, "");
        assert_eq!(e.input.as_ref().unwrap().text, "mon-fri 18:00 eco");
        typed(&mut e, "mon-fri 06:30 comfort");
        e.act(EditorAction::Accept, &limits, "");
        assert_eq!(e.draft.slots[0].minute, 6 * 60 + 30);
        assert_eq!(e.draft.slots[1].minute, 7 * 60);
        assert_eq!(e.selected, 0);
        e.act(EditorAction::AddException, &limits, "2026-09-21");
        assert_eq!(e.input.as_ref().unwrap().text, "2026-09-21 away closed");
        typed(&mut e, "2026-12-26..2026-12-24 away christmas");
        assert!(matches!(
            e.candidate(e.input.as_ref().unwrap(), &limits),
            Err(RowError::Refused {
                error: ScheduleError::Reversed { index: 0, .. },
                ..
            })
        ));
        typed(&mut e, "2026-12-24..2026-12-26 away christmas");
        e.act(EditorAction::Accept, &limits, "");
        assert_eq!(e.selected_row(), Some(Row::Exception(0)));
        assert_eq!(e.draft.exceptions[0].label, "christmas");
    }

    #[test]
    fn the_week_is_the_nodes_evaluation_and_wraps_from_sunday() {
        let p = program("mon-fri 07:00 comfort, 18:00 eco");
        let e = ScheduleEditor::open("kitchen".into(), Some(&p));
        let week = e.week(60);
        let comfort = Some(Setpoint::Preset(PresetName::Comfort));
        let eco = Some(Setpoint::Preset(PresetName::Eco));
        assert_eq!(week.len(), 7);
        assert_eq!(week[0][6], eco, "Monday 06:00 still has Friday's eco");
        assert_eq!(week[0][7], comfort);
        assert_eq!(week[4][18], eco);
        assert_eq!(week[6][12], eco, "the weekend keeps Friday's last switch");
        let empty = ScheduleEditor::open("kitchen".into(), None);
        assert!(empty.week(60).iter().flatten().all(Option::is_none));
        assert_eq!(Days::range(0, 4).to_string(), "mon-fri");
    }

    #[test]
    fn a_refused_save_rolls_back_and_a_stored_one_is_followed() {
        let limits = HeatingLimits::default();
        let p = program("daily 07:00 comfort");
        let mut e = ScheduleEditor::open("kitchen".into(), Some(&p));
        e.act(EditorAction::Remove, &limits, "");
        let schedule = e.to_save(&limits).expect("a change to save");
        e.saving(WriteId(7), schedule.clone());
        assert_eq!(e.to_save(&limits), None, "one save at a time");
        e.progress(WriteId(7), WriteProgress::Failed("not an operator".into()));
        assert_eq!(e.draft.slots.len(), 1, "rolled back to the office's");
        assert_eq!(
            e.refused.as_ref().map(|r| r.0.as_str()),
            Some("not an operator")
        );
        // Saved and admitted: the office's program becomes the base.
        e.act(EditorAction::Remove, &limits, "");
        e.act(EditorAction::AddSwitch, &limits, "");
        typed(&mut e, "weekdays 08:00 eco");
        e.act(EditorAction::Accept, &limits, "");
        let schedule = e.to_save(&limits).unwrap();
        e.saving(WriteId(8), schedule);
        e.progress(WriteId(8), WriteProgress::Stored);
        e.follow(Some(&program("mon-fri 08:00 eco")));
        assert!(!e.is_dirty());
        assert!(!e.changed_meanwhile);
        // Someone else saves while the draft has changes: kept, and said.
        e.act(EditorAction::Remove, &limits, "");
        e.follow(Some(&program("daily 09:00 eco")));
        assert!(e.changed_meanwhile);
        assert!(e.draft.slots.is_empty());
        e.act(EditorAction::Reload, &limits, "");
        assert_eq!(e.draft.slots[0].minute, 9 * 60);
    }

    #[test]
    fn concurrent_programs_can_each_be_started_from_and_saving_resolves() {
        let limits = HeatingLimits::default();
        let mut p = program("daily 07:00 comfort");
        p.schedules
            .push(program("daily 08:00 eco").schedules.remove(0));
        let mut e = ScheduleEditor::open("kitchen".into(), Some(&p));
        assert!(e.is_conflicted());
        assert_eq!(e.draft.slots[0].minute, 7 * 60);
        e.act(EditorAction::NextSibling, &limits, "");
        assert_eq!(e.draft.slots[0].minute, 8 * 60);
        assert!(
            e.to_save(&limits).is_some(),
            "saving an unchanged sibling resolves the conflict"
        );
    }
}
