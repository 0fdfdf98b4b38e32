//! The forget confirmation: what forgetting a node does, said before it is
//! done, since it cannot be undone short of re-imaging the Pi.

use ratatui::Frame;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::dialog::centered;
use crate::tui::app::{App, ForgetDialog};

pub fn render(app: &App, dialog: &ForgetDialog, frame: &mut Frame, area: ratatui::layout::Rect) {
    let theme = app.config.theme;
    let attached = app
        .snapshot
        .attached
        .as_ref()
        .is_some_and(|a| a.name == dialog.name);
    let mut lines = vec![
        Line::from(format!("{} ({})", dialog.name, dialog.node)),
        Line::from(""),
        Line::from("It disappears from every replica. If it still runs, it"),
        Line::from("stops and stays quiet until it is re-imaged."),
        Line::from(""),
    ];
    if attached {
        lines.push(Line::from(Span::styled(
            "This TUI is attached to it: reconnect through another node first.",
            theme.warn(),
        )));
    }
    lines.push(Line::from(vec![
        Span::styled("y", theme.key()),
        Span::raw(" forget  "),
        Span::styled("n  Esc", theme.key()),
        Span::raw(" cancel"),
    ]));
    let popup = centered(area, 60, lines.len() as u16 + 2);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Forget {}? ", dialog.name))
        .title_style(theme.header());
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
