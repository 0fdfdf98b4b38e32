//! Targets: every target register with its value, who set it and when; when
//! writes were concurrent, the siblings side by side with their dots, and
//! the one the thermostats act on marked.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::{clamp_selection, matches, progress, title, value};
use crate::tui::age::age;
use crate::tui::app::{App, View};
use crate::tui::snapshot::TargetState;
use crate::tui::theme::SELECTED_SYMBOL;

/// At most this many siblings side by side; more are counted, not drawn.
const MAX_SIBLING_COLUMNS: usize = 3;

/// The targets shown, by zone and quantity, filtered.
pub fn rows(app: &App) -> Vec<&TargetState> {
    let filter = app.filters[View::Targets.index()].as_str();
    let mut targets: Vec<&TargetState> = app
        .snapshot
        .targets
        .iter()
        .filter(|t| matches(filter, &[&t.zone, &t.quantity]))
        .collect();
    targets.sort_by(|a, b| (&a.zone, &a.quantity).cmp(&(&b.zone, &b.quantity)));
    targets
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let now = app.display_now();
    let targets = rows(app);
    // As many columns as the most concurrent target needs, so a lone value
    // and a conflict both get room to show who set what.
    let columns = targets
        .iter()
        .map(|t| t.siblings.len())
        .max()
        .unwrap_or(1)
        .clamp(1, MAX_SIBLING_COLUMNS);
    let mut header = vec![Cell::from("Target")];
    header.extend((0..columns).map(|i| {
        Cell::from(if i == 0 {
            "Values (★ = acted on)"
        } else {
            ""
        })
    }));
    let table_rows: Vec<Row> = targets
        .iter()
        .map(|t| {
            let mut first = vec![Line::from(t.zone.clone()), Line::from(t.quantity.clone())];
            if let Some(w) = app.latest_write(&t.zone, &t.quantity) {
                first.push(Line::from(Span::styled(
                    progress(&w.progress),
                    theme.accent(),
                )));
            } else if t.siblings.len() > 1 {
                first.push(Line::from(Span::styled(
                    format!("CONFLICT ×{}", t.siblings.len()),
                    theme.warn(),
                )));
            }
            let mut cells = vec![Cell::from(Text::from(first))];
            for (i, s) in t.siblings.iter().enumerate().take(columns) {
                let mut lines = vec![];
                let head = if i == t.winner {
                    Line::from(vec![
                        Span::styled("★ ", theme.ok()),
                        Span::styled(value(s.value, &s.unit), theme.ok()),
                        Span::raw(" acts"),
                    ])
                } else {
                    Line::from(format!("  {}", value(s.value, &s.unit)))
                };
                lines.push(head);
                lines.push(Line::from(format!("  by {}", s.set_by)));
                lines.push(Line::from(format!(
                    "  dot {}:{} · {}",
                    app.summary.name(s.dot.0),
                    s.dot.1,
                    age(now, s.set_at_ms)
                )));
                cells.push(Cell::from(Text::from(lines)));
            }
            if t.siblings.len() > columns {
                cells.truncate(columns);
                cells.push(Cell::from(format!(
                    "+{} more",
                    t.siblings.len() - columns + 1
                )));
            }
            Row::new(cells).height(3).bottom_margin(1)
        })
        .collect();
    let mut widths = vec![Constraint::Length(14)];
    widths.extend((0..columns).map(|_| Constraint::Fill(1)));
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.header()))
        .block(Block::default().borders(Borders::ALL).title(title(
            app,
            "Targets",
            targets.len(),
            app.snapshot.targets.len(),
        )))
        .highlight_symbol(SELECTED_SYMBOL)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(clamp_selection(
        app.selected[View::Targets.index()],
        targets.len(),
    ));
    frame.render_stateful_widget(table, area, &mut state);
}
