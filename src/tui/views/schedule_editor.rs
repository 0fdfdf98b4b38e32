//! The schedule editor: a zone's week as a grid of set-points (one letter
//! per half hour, the nodes' own evaluation of the draft), its switches
//! and exceptions as rows, the row being typed with what is wrong with
//! it, and where the save is.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::control::schedule_clock::hhmm;
use crate::crdt::{Days, PresetName, Setpoint};
use crate::tui::app::App;
use crate::tui::event::WriteProgress;
use crate::tui::schedule_editor::{Row, RowError, ScheduleEditor};
use crate::tui::theme::Theme;

/// Minutes per cell of the week grid: a half hour shows the common
/// switch times (07:00, 07:30) as they are.
const CELL_MINUTES: u16 = 30;
/// Width of the day names left of the grid.
const DAY_LABEL: u16 = 4;
/// Lines of the row being typed: the text, a caret under a wrong token,
/// and the verdict on up to two lines.
const INPUT_LINES: u16 = 4;
/// Most lines the state of the draft and its save take above the grid.
const MAX_STATUS_LINES: usize = 4;

pub fn render(app: &App, editor: &ScheduleEditor, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Schedule of {} ", editor.zone))
        .title_style(theme.header());
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let input_lines = if editor.input.is_some() {
        INPUT_LINES
    } else {
        0
    };
    let status_text = status_lines(editor, theme);
    let width = usize::from(inner.width.max(1));
    let status_height: usize = status_text
        .iter()
        .map(|l| l.width().div_ceil(width).max(1))
        .sum();
    let [status, grid, legend, list, input] = Layout::vertical([
        Constraint::Length(status_height.clamp(1, MAX_STATUS_LINES) as u16),
        Constraint::Length(8),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(input_lines),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(status_text).wrap(Wrap { trim: true }),
        status,
    );
    render_grid(app, editor, frame, grid);
    frame.render_widget(Paragraph::new(legend_line(app, editor)), legend);
    let marked = match &editor.input {
        Some(input) => match editor.candidate(input, &app.config.limits.heating_limits()) {
            Err(RowError::Refused { marked, .. }) => marked,
            _ => Vec::new(),
        },
        None => Vec::new(),
    };
    render_rows(app, editor, &marked, frame, list);
    if editor.input.is_some() {
        render_input(app, editor, frame, input);
    }
}

/// Who wrote a sibling, for people.
fn author(editor: &ScheduleEditor, index: usize) -> String {
    editor
        .base
        .get(index)
        .map(|s| s.schedule.set_by.clone())
        .filter(|by| !by.is_empty())
        .unwrap_or_else(|| "someone".to_string())
}

/// Where the draft stands: conflict, save progress, refusal, changes.
fn status_lines(editor: &ScheduleEditor, theme: Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    if editor.is_conflicted() {
        let by: Vec<String> = (0..editor.base.len()).map(|i| author(editor, i)).collect();
        out.push(Line::from(vec![
            Span::styled(
                format!("CONFLICT: {} concurrent programs", editor.base.len()),
                theme.warn(),
            ),
            Span::raw(format!(
                " (by {}); editing {}'s, c takes the next; saving replaces them all",
                by.join(", "),
                author(editor, editor.from_sibling)
            )),
        ]));
    }
    if let Some((reason, refused)) = &editor.refused {
        out.push(Line::from(vec![
            Span::styled(format!("✗ REFUSED by the node: {reason}"), theme.bad()),
            Span::raw(format!(" · rolled back (refused: {refused})")),
        ]));
    } else if let Some(save) = &editor.save {
        out.push(match &save.progress {
            WriteProgress::Pending => {
                Line::from(Span::styled("saving… sent, not yet stored", theme.warn()))
            }
            WriteProgress::Stored => {
                Line::from(Span::styled("✓ saved: stored by the node", theme.ok()))
            }
            WriteProgress::Converged { k, n } if k >= n => Line::from(Span::styled(
                format!("✓ saved: converged, all {n} live nodes follow it"),
                theme.ok(),
            )),
            WriteProgress::Converged { k, n } => Line::from(Span::styled(
                format!("✓ saved: stored, {k}/{n} live nodes have it"),
                theme.ok(),
            )),
            WriteProgress::Failed(why) => {
                Line::from(Span::styled(format!("✗ save failed: {why}"), theme.bad()))
            }
        });
    }
    if editor.changed_meanwhile {
        out.push(Line::from(Span::styled(
            "CHANGED meanwhile by another operator: r takes theirs, s overwrites it with this draft",
            theme.warn(),
        )));
    }
    if editor.confirm_discard {
        out.push(Line::from(Span::styled(
            "Unsaved changes: Esc again drops them, s saves them",
            theme.warn(),
        )));
    } else if editor.is_dirty() {
        out.push(Line::from(vec![
            Span::styled("DRAFT", theme.warn()),
            Span::raw(" with unsaved changes, not the zone's program until saved (s)"),
        ]));
    } else if editor.base.is_empty() || editor.start().is_empty() {
        out.push(Line::from(
            "No schedule: the zone's target applies. a adds a switch, h an exception",
        ));
    } else if !editor.is_conflicted() {
        out.push(Line::from(format!(
            "The zone's program, by {}",
            author(editor, editor.from_sibling)
        )));
    }
    out
}

/// The letter and style of a set-point in the grid.
fn cell(setpoint: Option<Setpoint>, theme: Theme) -> (char, Style) {
    match setpoint {
        Some(Setpoint::Preset(PresetName::Comfort)) => ('C', theme.warn()),
        Some(Setpoint::Preset(PresetName::Eco)) => ('E', theme.accent()),
        Some(Setpoint::Preset(PresetName::Away)) => ('A', theme.dim()),
        Some(Setpoint::Celsius(_)) => ('#', theme.ok()),
        None => ('·', theme.dim()),
    }
}

fn render_grid(app: &App, editor: &ScheduleEditor, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let week = editor.week(CELL_MINUTES);
    let cells = week.first().map_or(1, Vec::len).max(1);
    let room = usize::from(area.width.saturating_sub(DAY_LABEL));
    let width = (room / cells).clamp(1, 2);
    let mut header = " ".repeat(usize::from(DAY_LABEL));
    let per_hour = width * 60 / usize::from(CELL_MINUTES);
    for hour in (0..24).step_by(3) {
        let label = format!("{hour:02}");
        header.push_str(&format!("{label:<0$}", per_hour * 3));
    }
    let mut lines = vec![Line::from(Span::styled(header, theme.header()))];
    for (day, row) in week.iter().enumerate() {
        let mut spans = vec![Span::styled(
            format!("{:<1$}", Days::NAMES[day], usize::from(DAY_LABEL)),
            theme.header(),
        )];
        for setpoint in row {
            let (c, style) = cell(*setpoint, theme);
            spans.push(Span::styled(c.to_string().repeat(width), style));
        }
        lines.push(Line::from(spans));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// What a preset means in this zone now.
fn preset_celsius(app: &App, editor: &ScheduleEditor, preset: PresetName) -> f64 {
    app.snapshot
        .programs
        .get(&editor.zone)
        .and_then(|p| p.presets.iter().find(|(name, _)| name == preset.as_str()))
        .map_or(f64::from(preset.default_celsius()), |(_, c)| *c)
}

fn setpoint_text(app: &App, editor: &ScheduleEditor, setpoint: Setpoint) -> String {
    match setpoint {
        Setpoint::Preset(p) => format!("{p} ({:.1} °C)", preset_celsius(app, editor, p)),
        Setpoint::Celsius(c) => format!("{c:.1} °C"),
    }
}

fn legend_line(app: &App, editor: &ScheduleEditor) -> Line<'static> {
    let theme = app.config.theme;
    let mut spans = Vec::new();
    for preset in PresetName::ALL {
        let (c, style) = cell(Some(Setpoint::Preset(preset)), theme);
        spans.push(Span::styled(format!("{c} "), style));
        spans.push(Span::raw(format!(
            "{preset} {:.1}  ",
            preset_celsius(app, editor, preset)
        )));
    }
    let (c, style) = cell(Some(Setpoint::Celsius(0.0)), theme);
    spans.push(Span::styled(format!("{c} "), style));
    spans.push(Span::raw("°C  "));
    let (c, style) = cell(None, theme);
    spans.push(Span::styled(format!("{c} "), style));
    spans.push(Span::raw("no switch"));
    Line::from(spans)
}

fn render_rows(app: &App, editor: &ScheduleEditor, marked: &[Row], frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let rows = editor.rows();
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled("no switches and no exceptions", theme.dim())),
            area,
        );
        return;
    }
    let days_width = editor
        .draft
        .slots
        .iter()
        .map(|s| s.days.to_string().len())
        .max()
        .unwrap_or(0)
        .max(7);
    let height = usize::from(area.height).max(1);
    let first = editor.selected.saturating_sub(height - 1);
    let editing = editor.input.as_ref().and_then(|i| i.replaces);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, row)| {
            let pointer = if i == editor.selected { "▶" } else { " " };
            let mark = if marked.contains(row) { "✗" } else { " " };
            let text = if let Some(s) = editor.slot(*row) {
                format!(
                    "{:<days_width$}  {}  {}",
                    s.days.to_string(),
                    hhmm(s.minute),
                    setpoint_text(app, editor, s.setpoint)
                )
            } else if let Some(e) = editor.exception(*row) {
                let dates = if e.from == e.to {
                    format!("{}", e.from)
                } else {
                    format!("{} – {}", e.from, e.to)
                };
                format!(
                    "{dates}  {}  {}",
                    setpoint_text(app, editor, e.setpoint),
                    e.label
                )
            } else {
                String::new()
            };
            let style = if Some(*row) == editing || (editing.is_none() && i == editor.selected) {
                theme.selected()
            } else {
                Style::default()
            };
            let kind = match row {
                Row::Slot(_) => "switch   ",
                Row::Exception(_) => "exception",
            };
            Line::from(vec![
                Span::raw(pointer),
                Span::styled(mark, theme.bad()),
                Span::styled(format!("{kind} "), theme.dim()),
                Span::styled(text, style),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_input(app: &App, editor: &ScheduleEditor, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let Some(input) = &editor.input else {
        return;
    };
    let prompt = if input.replaces.is_some() {
        "Change: "
    } else {
        "Add: "
    };
    let mut lines = vec![Line::from(vec![
        Span::styled(prompt, theme.header()),
        Span::styled(format!("{}▏", input.text), theme.selected()),
    ])];
    match editor.candidate(input, &app.config.limits.heating_limits()) {
        Ok(_) => {
            lines.push(Line::from(Span::styled(
                "✓ Enter puts it in the draft (mon-fri 07:00 comfort, 18:00 eco · 2026-12-24..2026-12-26 away christmas)",
                theme.ok(),
            )));
        }
        Err(RowError::Syntax(e)) => {
            let before = input.text[..e.at.min(input.text.len())].chars().count();
            lines.push(Line::from(Span::styled(
                format!(
                    "{}{}",
                    " ".repeat(prompt.len() + before),
                    "^".repeat(e.len.max(1))
                ),
                theme.bad(),
            )));
            lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.bad())));
        }
        Err(e) => lines.push(Line::from(Span::styled(format!("✗ {e}"), theme.bad()))),
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}
