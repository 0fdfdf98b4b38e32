//! The set-target dialog: the value, its range and step, and whether it is
//! acceptable, said on the spot before anything reaches the network.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::value;
use crate::tui::app::{App, OverrideFor, TargetDialog};

/// A rectangle of at most `width` × `height` in the middle of `area`.
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

pub fn render(app: &App, dialog: &TargetDialog, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let popup = centered(area, 64, 14);
    let target = app
        .snapshot
        .targets
        .iter()
        .find(|t| t.zone == dialog.zone && t.quantity == dialog.quantity);
    let range = app.config.limits.get(&dialog.quantity);
    let unit = range.map(|r| r.unit.as_str()).unwrap_or("");
    let mut lines = vec![];
    let now = match target {
        Some(t) if t.siblings.len() > 1 => {
            let values: Vec<String> = t.siblings.iter().map(|s| value(s.value, &s.unit)).collect();
            Line::from(vec![
                Span::raw("Now: "),
                Span::styled(format!("CONFLICT {}", values.join(" / ")), theme.warn()),
            ])
        }
        Some(t) => Line::from(format!(
            "Now: {}",
            t.winning()
                .map(|s| value(s.value, &s.unit))
                .unwrap_or_default()
        )),
        None => Line::from("Now: not set"),
    };
    lines.push(now);
    if target.is_some_and(|t| t.siblings.len() > 1) {
        lines.push(Line::from("Writing a value resolves the conflict."));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::raw("New value: "),
        Span::styled(format!("[ {:>6} ]", dialog.input), theme.selected()),
        Span::raw(format!(" {unit}")),
    ]));
    if let Some(r) = range {
        lines.push(Line::from(format!(
            "Allowed {} – {} {}, step {}",
            r.min, r.max, r.unit, r.step
        )));
    }
    if dialog.quantity == "temperature" {
        lines.push(Line::from(vec![
            Span::raw("Holds: "),
            Span::styled(dialog.lasts.label(), theme.accent()),
        ]));
    }
    let lasts_ms = match dialog.lasts {
        OverrideFor::Standing => None,
        OverrideFor::Minutes(m) => Some(Some(m * 60_000)),
        OverrideFor::Hold => Some(None),
    };
    let checked = app
        .config
        .limits
        .validate(&dialog.quantity, &dialog.input)
        .map_err(|e| e.to_string())
        .and_then(|v| match lasts_ms {
            Some(l) => crate::tui::update::override_value(app, &dialog.zone, v, l)
                .map(|()| v)
                .map_err(|e| e.to_string()),
            None => Ok(v),
        });
    lines.push(match checked {
        Ok(v) => Line::from(Span::styled(
            format!("✓ Enter writes {}", value(v, unit)),
            theme.ok(),
        )),
        Err(e) => Line::from(Span::styled(format!("✗ {e}"), theme.bad())),
    });
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("↑/+ ↓/-", theme.key()),
        Span::raw(" step  "),
        Span::styled("Tab", theme.key()),
        Span::raw(" how long  "),
        Span::styled("Enter", theme.key()),
        Span::raw(" write  "),
        Span::styled("Esc", theme.key()),
        Span::raw(" cancel"),
    ]));
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Set {} · {} ", dialog.zone, dialog.quantity))
        .title_style(theme.header());
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        popup,
    );
}
