//! Draws the whole screen from the state: status line, tabs, the current
//! view, key hints, and any overlay. Pure: reads `App`, writes the frame.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::app::{App, Mode, View};
use super::snapshot::ConnectionStatus;
use super::views;

/// The smallest terminal the layout is designed for (a default SSH window).
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn render(app: &App, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(frame, area);
        return;
    }
    let [status, tabs, body, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    render_status(app, frame, status);
    render_tabs(app, frame, tabs);
    views::render(app, frame, body);
    render_hints(app, frame, hints);
    match &app.mode {
        Mode::Dialog(dialog) => views::dialog::render(app, dialog, frame, body),
        Mode::ConfirmForget(dialog) => views::forget::render(app, dialog, frame, body),
        Mode::Help => views::help::render(app, frame, body),
        Mode::Schedule(editor) => views::schedule_editor::render(app, editor, frame, body),
        Mode::Normal | Mode::Filter => {}
    }
}

fn render_too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("Terminal too small"),
        Line::from(format!(
            "{}×{}, needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("q quits"),
    ];
    frame.render_widget(Paragraph::new(text), area);
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let attached = match &app.snapshot.attached {
        Some(node) => format!(" {} {} ", node.name, node.addr),
        None => " not attached ".to_string(),
    };
    let connection = match app.connection {
        ConnectionStatus::Connected => Span::styled("● connected", theme.ok()),
        ConnectionStatus::Connecting => Span::styled("… connecting", theme.warn()),
        ConnectionStatus::Reconnecting => Span::styled("⟳ RECONNECTING", theme.bad()),
    };
    let mut spans = vec![
        Span::styled(attached, theme.bar()),
        Span::raw(" "),
        connection,
        Span::raw(format!(
            " │ live {}/{} │ ",
            app.summary.live, app.summary.known
        )),
        if app.summary.converged {
            Span::styled("converged", theme.ok())
        } else {
            Span::styled("NOT converged", theme.warn())
        },
    ];
    if app.is_frozen() {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled("FROZEN (f)", theme.bad()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let mut spans = vec![];
    for (i, view) in View::ALL.iter().enumerate() {
        if *view == app.view {
            spans.push(Span::styled(
                format!("[{} {}]", i + 1, view.title()),
                theme.selected(),
            ));
        } else {
            spans.push(Span::raw(format!(" {} {} ", i + 1, view.title())));
        }
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_hints(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let pairs: Vec<(&str, &str)> = match &app.mode {
        Mode::Filter => vec![("type", "filter"), ("Enter", "keep"), ("Esc", "clear")],
        Mode::Dialog(_) => vec![
            ("↑↓+-", "step"),
            ("0-9", "type"),
            ("Tab", "how long"),
            ("Enter", "write"),
            ("Esc", "cancel"),
        ],
        Mode::ConfirmForget(_) => vec![("y", "forget"), ("n/Esc", "cancel")],
        Mode::Help => vec![("?/Esc", "close help"), ("q", "quit")],
        Mode::Schedule(editor) if editor.input.is_some() => vec![
            ("type", "a row"),
            ("Enter", "keep"),
            ("Ctrl-U", "clear"),
            ("Esc", "cancel"),
        ],
        Mode::Schedule(editor) => {
            let mut pairs = vec![
                ("a", "add"),
                ("h", "holiday"),
                ("e", "edit"),
                ("x", "remove"),
                ("s", "save"),
                ("r", "reload"),
            ];
            if editor.is_conflicted() {
                pairs.push(("c", "next sibling"));
            }
            pairs.push(("Esc", "close"));
            pairs
        }
        Mode::Normal if app.detail.is_some() => {
            vec![
                ("q", "quit"),
                ("Esc", "back"),
                ("Enter", "set target"),
                ("e", "edit schedule"),
            ]
        }
        Mode::Normal => {
            let mut pairs = vec![("q", "quit"), ("?", "help")];
            // Views with keys of their own leave the moves to the help,
            // so their own keys fit in 80 columns.
            if !matches!(app.view, View::Overview | View::Targets) {
                pairs.push(("Tab", "view"));
                pairs.push(("j/k", "move"));
            }
            pairs.push(("/", "filter"));
            match app.view {
                View::Overview | View::Targets => {
                    pairs.push(("Enter", "target"));
                    pairs.push(("d", "detail"));
                    pairs.push(("e", "schedule"));
                }
                View::Network => {
                    pairs.push(("s", "sort"));
                    pairs.push(("x", "forget"));
                }
                View::Clocks => pairs.push(("h/l", "scroll")),
                View::Sensors | View::Events => {}
            }
            pairs.push((
                "f",
                if app.is_frozen() {
                    "unfreeze"
                } else {
                    "freeze"
                },
            ));
            pairs
        }
    };
    let mut spans = vec![];
    if app.mode == Mode::Filter {
        spans.push(Span::styled(
            format!(" /{}▏ ", app.filter()),
            theme.selected(),
        ));
    }
    for (key, what) in pairs {
        spans.push(Span::styled(format!(" {key}"), theme.key()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
