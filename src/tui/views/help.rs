//! The `?` overlay: every key, in one place.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::dialog::centered;
use crate::tui::app::App;

/// Every key and what it does; the keymap in `action.rs` implements these.
pub const KEYS: &[(&str, &str)] = &[
    ("q  Ctrl-C", "quit"),
    ("Tab  Shift-Tab", "next / previous view"),
    ("1 … 6", "Overview Network Sensors Clocks Targets Events"),
    ("↑↓  j k", "move the selection (mouse wheel too)"),
    ("←→  h l", "scroll the clock columns"),
    ("g  G", "first / last row"),
    ("PgUp PgDn", "page up / down"),
    ("/", "filter this view (Enter keeps, Esc clears)"),
    ("s", "sort the Network view"),
    ("x", "forget the selected node (Network view; asks first)"),
    ("f", "freeze / unfreeze the display"),
    ("Enter  t", "set the target of the selected zone"),
    ("  ↑↓ + -  0-9", "step or type the value in the dialog"),
    ("d", "zone detail: week chart, why, schedule, energy"),
    ("e", "edit the zone's schedule (its keys are in its footer)"),
    ("Esc", "close, cancel, clear the filter"),
    ("?", "this help"),
];

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let popup = centered(area, 76, KEYS.len() as u16 + 4);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(format!(" {key:<15}"), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        " Marks: ▶ selected · * clock behind · ★ target acted on · STALE · OFF",
    ));
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Keys (? or Esc closes) ")
        .title_style(theme.header());
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
