//! Events: joins, leaves, neighbour changes, target writes and errors,
//! newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::{clamp_selection, matches, title};
use crate::tui::age::age;
use crate::tui::app::{App, View};
use crate::tui::event::{LogEvent, LogKind};
use crate::tui::theme::SELECTED_SYMBOL;

/// The events shown, newest first, filtered.
pub fn rows(app: &App) -> Vec<&LogEvent> {
    let filter = app.filters[View::Events.index()].as_str();
    app.events
        .iter()
        .filter(|e| matches(filter, &[e.kind.label(), &e.text]))
        .collect()
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let now = app.display_now();
    let events = rows(app);
    let selected = clamp_selection(app.selected[View::Events.index()], events.len());
    let reach = selected.unwrap_or(0) + area.height as usize;
    let table_rows: Vec<Row> = events
        .iter()
        .take(reach)
        .map(|e| {
            let style = match e.kind {
                LogKind::Error | LogKind::Leave => theme.bad(),
                LogKind::Write => theme.accent(),
                LogKind::Join => theme.ok(),
                LogKind::Neighbour | LogKind::Info => theme.dim(),
            };
            Row::new(vec![
                Cell::from(age(now, e.at_ms)),
                Cell::from(Span::styled(e.kind.label(), style)),
                Cell::from(e.text.clone()),
            ])
        })
        .collect();
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .header(Row::new(["When", "What", "Event"]).style(theme.header()))
    .block(Block::default().borders(Borders::ALL).title(title(
        app,
        "Events, newest first",
        events.len(),
        app.events.len(),
    )))
    .highlight_symbol(SELECTED_SYMBOL)
    .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}
