//! Sensors: every reading with its unit and age, a sparkline of what the TUI
//! has seen since it attached, and the sensors that fail to read.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::{clamp_selection, matches, title, value};
use crate::NodeId;
use crate::tui::age::age;
use crate::tui::app::{App, View};
use crate::tui::snapshot::SensorReading;
use crate::tui::theme::SELECTED_SYMBOL;

/// A line of the Sensors view.
#[derive(Debug, Clone, PartialEq)]
pub enum SensorRow<'a> {
    Reading(&'a SensorReading),
    Failed {
        node: NodeId,
        zone: &'a str,
        sensor: &'a str,
        message: &'a str,
    },
}

/// Eight heights of a block: a sparkline that is text, so it fits in a
/// table cell and survives any terminal.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` values as a sparkline scaled to their own range.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let shown = &values[values.len().saturating_sub(width)..];
    let min = shown.iter().copied().fold(f64::INFINITY, f64::min);
    let max = shown.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let span = max - min;
    shown
        .iter()
        .map(|v| {
            if span <= f64::EPSILON {
                BARS[3]
            } else {
                let level = ((v - min) / span * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            }
        })
        .collect()
}

/// Readings by zone, node and sensor, then failed sensors; filtered.
pub fn rows(app: &App) -> Vec<SensorRow<'_>> {
    let filter = app.filters[View::Sensors.index()].as_str();
    let name = |id: NodeId| app.summary.names.get(&id).map(String::as_str).unwrap_or("");
    let mut readings: Vec<&SensorReading> = app
        .snapshot
        .readings
        .iter()
        .filter(|r| matches(filter, &[name(r.node), &r.zone, &r.sensor, &r.quantity]))
        .collect();
    readings.sort_by(|a, b| {
        (
            a.zone.as_str(),
            name(a.node),
            a.sensor.as_str(),
            a.quantity.as_str(),
        )
            .cmp(&(
                b.zone.as_str(),
                name(b.node),
                b.sensor.as_str(),
                b.quantity.as_str(),
            ))
    });
    let mut rows: Vec<SensorRow> = readings.into_iter().map(SensorRow::Reading).collect();
    for node in &app.snapshot.nodes {
        for failed in &node.failed_sensors {
            if matches(
                filter,
                &[
                    &node.name,
                    &node.zone,
                    &failed.sensor,
                    &failed.message,
                    "failed",
                ],
            ) {
                rows.push(SensorRow::Failed {
                    node: node.id,
                    zone: &node.zone,
                    sensor: &failed.sensor,
                    message: &failed.message,
                });
            }
        }
    }
    rows
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let now = app.display_now();
    let rows = rows(app);
    let total = app.snapshot.readings.len()
        + app
            .snapshot
            .nodes
            .iter()
            .map(|n| n.failed_sensors.len())
            .sum::<usize>();
    let widths = [
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(13),
        Constraint::Length(8),
        Constraint::Length(13),
        Constraint::Fill(1),
    ];
    // The sparkline gets what is left of the width after the fixed columns.
    let spark_width = (area.width as usize)
        .saturating_sub(12 + 12 + 13 + 8 + 13 + 5 + 2 + 2)
        .max(4);
    let header =
        Row::new(["Node", "Zone", "Sensor", "Value", "Age", "History"]).style(theme.header());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|row| match row {
            SensorRow::Reading(r) => {
                let stale = now.saturating_sub(r.measured_at_ms) > app.config.stale_after_ms;
                let age_text = age(now, r.measured_at_ms);
                let age_cell = if stale {
                    Cell::from(Span::styled(format!("STALE {age_text}"), theme.warn()))
                } else {
                    Cell::from(age_text)
                };
                let history = app
                    .history
                    .values(r.node, &r.sensor, &r.quantity, r.measured_at_ms);
                Row::new(vec![
                    Cell::from(app.summary.name(r.node)),
                    Cell::from(r.zone.clone()),
                    Cell::from(format!("{} {}", r.sensor, short_quantity(&r.quantity))),
                    Cell::from(value(r.value, &r.unit)),
                    age_cell,
                    Cell::from(Span::styled(
                        sparkline(&history, spark_width),
                        theme.accent(),
                    )),
                ])
            }
            SensorRow::Failed {
                node,
                zone,
                sensor,
                message,
            } => Row::new(vec![
                Cell::from(app.summary.name(*node)),
                Cell::from(zone.to_string()),
                Cell::from(sensor.to_string()),
                Cell::from(Span::styled("FAILED", theme.bad())),
                Cell::from(""),
                Cell::from(message.to_string()),
            ]),
        })
        .collect();
    let table = Table::new(table_rows, widths)
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title(
            app,
            "Sensors",
            rows.len(),
            total,
        )))
        .highlight_symbol(SELECTED_SYMBOL)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(clamp_selection(
        app.selected[View::Sensors.index()],
        rows.len(),
    ));
    frame.render_stateful_widget(table, area, &mut state);
}

/// "temperature" → "temp": the unit already says what it is.
fn short_quantity(quantity: &str) -> &str {
    match quantity {
        "temperature" => "temp",
        "humidity" => "hum",
        "pressure" => "press",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn sparkline_scales_to_its_range_and_width() {
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 10), "▁▅█");
        assert_eq!(sparkline(&[5.0, 5.0], 10), "▄▄");
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 3.0], 2), "▁█");
        assert_eq!(sparkline(&[], 5), "");
    }
}
