//! Overview: one row per zone, measured against target, so an operator sees
//! at a glance which rooms are off and why.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::{clamp_selection, matches, progress, title, value};
use crate::node::devices::HEATING_ENTRY;
use crate::tui::app::App;
use crate::tui::snapshot::{NodeStatus, TargetState};
use crate::tui::theme::SELECTED_SYMBOL;

/// What one zone looks like right now.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRow<'a> {
    pub zone: &'a str,
    /// Mean of the zone's fresh readings (all readings if none is fresh).
    pub temperature: Option<f64>,
    pub humidity: Option<f64>,
    pub target: Option<&'a TargetState>,
    /// Any heater on; `None` when the zone has no actuator.
    pub heating: Option<bool>,
    /// Nodes of the zone (sensor or not; forgotten ones aside).
    pub nodes: usize,
    /// What the zone's heating says in words while it is not simply
    /// regulating: "SAFETY: stale reading since 09:12", "WINDOW OPEN …".
    pub heating_state: Option<String>,
    /// Some reading of the zone is older than the stale horizon.
    pub stale: bool,
}

fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        None
    } else {
        Some(values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// The zones shown, in order, under the current filter.
pub fn rows(app: &App) -> Vec<ZoneRow<'_>> {
    let now = app.display_now();
    let stale_after = app.config.stale_after_ms;
    let snapshot = &app.snapshot;
    app.summary
        .zones
        .iter()
        .filter(|zone| matches(app.filters[0].as_str(), &[zone]))
        .map(|zone| {
            let readings: Vec<_> = snapshot
                .readings
                .iter()
                .filter(|r| &r.zone == zone)
                .collect();
            let fresh = |at: u64| now.saturating_sub(at) <= stale_after;
            let quantity_mean = |quantity: &str| {
                let of: Vec<_> = readings.iter().filter(|r| r.quantity == quantity).collect();
                let fresh_values: Vec<f64> = of
                    .iter()
                    .filter(|r| fresh(r.measured_at_ms))
                    .map(|r| r.value)
                    .collect();
                mean(&fresh_values)
                    .or_else(|| mean(&of.iter().map(|r| r.value).collect::<Vec<_>>()))
            };
            let mut nodes: Vec<_> = snapshot
                .nodes
                .iter()
                .filter(|n| &n.zone == zone && n.status != NodeStatus::Forgotten)
                .map(|n| n.id)
                .chain(readings.iter().map(|r| r.node))
                .collect();
            nodes.sort();
            nodes.dedup();
            let heating_state = snapshot
                .nodes
                .iter()
                .filter(|n| &n.zone == zone)
                .flat_map(|n| &n.failed_sensors)
                .find(|f| {
                    f.sensor == HEATING_ENTRY
                        && (f.message.starts_with("SAFETY") || f.message.starts_with("WINDOW"))
                })
                .map(|f| f.message.split(';').next().unwrap_or_default().to_string());
            let actuators: Vec<_> = snapshot
                .actuators
                .iter()
                .filter(|a| &a.zone == zone)
                .collect();
            ZoneRow {
                zone,
                temperature: quantity_mean("temperature"),
                humidity: quantity_mean("humidity"),
                target: snapshot
                    .targets
                    .iter()
                    .find(|t| &t.zone == zone && t.quantity == "temperature"),
                heating: if actuators.is_empty() {
                    None
                } else {
                    Some(actuators.iter().any(|a| a.on))
                },
                nodes: nodes.len(),
                heating_state,
                stale: readings.iter().any(|r| !fresh(r.measured_at_ms)),
            }
        })
        .collect()
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let rows = rows(app);
    let header = Row::new(["Zone", "Temp", "Target", "Humid", "Heat", "Nodes", "Notes"])
        .style(theme.header());
    let table_rows: Vec<Row> = rows
        .iter()
        .map(|z| {
            let winning = z.target.and_then(|t| t.winning());
            let mut notes: Vec<Span> = Vec::new();
            if let Some(state) = &z.heating_state {
                notes.push(Span::styled(format!("{state} "), theme.bad()));
            }
            if let Some(t) = z.target.filter(|t| t.siblings.len() > 1) {
                notes.push(Span::styled(
                    format!("CONFLICT {} siblings ", t.siblings.len()),
                    theme.warn(),
                ));
            }
            if z.stale {
                notes.push(Span::styled("STALE ", theme.warn()));
            }
            if let Some(w) = app.latest_write(z.zone, "temperature") {
                notes.push(Span::styled(
                    format!("set {:.1} {}", w.value, progress(&w.progress)),
                    theme.accent(),
                ));
            }
            Row::new(vec![
                Cell::from(z.zone.to_string()),
                Cell::from(
                    z.temperature
                        .map(|t| value(t, "°C"))
                        .unwrap_or_else(|| "—".into()),
                ),
                Cell::from(
                    winning
                        .map(|s| value(s.value, &s.unit))
                        .unwrap_or_else(|| "—".into()),
                ),
                Cell::from(
                    z.humidity
                        .map(|h| value(h, "%"))
                        .unwrap_or_else(|| "—".into()),
                ),
                match z.heating {
                    Some(true) => Cell::from(Span::styled("ON", theme.bad())),
                    Some(false) => Cell::from("off"),
                    None => Cell::from("—"),
                },
                Cell::from(z.nodes.to_string()),
                Cell::from(Line::from(notes)),
            ])
        })
        .collect();
    let table = Table::new(
        table_rows,
        [
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Fill(1),
        ],
    )
    .header(header)
    .block(Block::default().borders(Borders::ALL).title(title(
        app,
        "Zones",
        rows.len(),
        app.summary.zones.len(),
    )))
    .highlight_symbol(SELECTED_SYMBOL)
    .row_highlight_style(theme.selected());
    let mut state =
        TableState::default().with_selected(clamp_selection(app.selected[0], rows.len()));
    frame.render_stateful_widget(table, area, &mut state);
}
