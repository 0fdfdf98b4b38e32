//! One zone up close: the week its node remembers (temperature against
//! the effective target, the heater's share of each five minutes), what
//! the heating decides now and why, the program it follows, and what the
//! heater costs in on-time and energy.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Sparkline, Wrap,
};

use crate::history::HeaterUsage;
use crate::tui::app::{App, ZoneDetail};
use crate::wire::observer::{HistoryAnswer, HistoryPoint};

/// Lines under the chart for the decision, program and energy.
const TEXT_LINES: u16 = 7;

pub fn render(app: &App, detail: &ZoneDetail, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let node_name = detail
        .node
        .and_then(|id| app.snapshot.nodes.iter().find(|n| n.id == id))
        .map_or_else(|| "no node".to_string(), |n| n.name.clone());
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {} — {} ", detail.zone, node_name));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [chart_area, heater_area, text_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(TEXT_LINES),
    ])
    .areas(inner);
    match &detail.history {
        Some(h) if !h.points.is_empty() => {
            render_chart(app, &h.points, frame, chart_area);
            render_heater(app, &h.points, frame, heater_area);
        }
        Some(h) if h.unavailable => frame.render_widget(
            Paragraph::new(format!(
                "{node_name} keeps no history: it has no heater and no temperature sensor"
            )),
            chart_area,
        ),
        Some(_) => frame.render_widget(
            Paragraph::new(format!("{node_name} has no points yet")),
            chart_area,
        ),
        None => frame.render_widget(
            Paragraph::new(Span::styled(
                format!("asking {node_name} for its history…"),
                theme.warn(),
            )),
            chart_area,
        ),
    }
    let text = lines(app, detail);
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), text_area);
}

/// Hours before the newest point, the chart's x.
fn hours_before(points: &[HistoryPoint], p: &HistoryPoint) -> f64 {
    let last = points.last().map_or(0, HistoryPoint::start_ms);
    (p.start_ms() - last) as f64 / 3_600_000.0
}

fn render_chart(app: &App, points: &[HistoryPoint], frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let temps: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((hours_before(points, p), p.celsius()?)))
        .collect();
    let targets: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| Some((hours_before(points, p), p.target()?)))
        .collect();
    let values = temps.iter().chain(&targets).map(|(_, y)| *y);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let (lo, hi) = if lo > hi {
        (15.0, 25.0)
    } else {
        ((lo - 0.5).floor(), (hi + 0.5).ceil())
    };
    let span = -hours_before(points, &points[0]);
    let x_labels = [
        format!("-{}", duration_label(span)),
        format!("-{}", duration_label(span / 2.0)),
        "now".to_string(),
    ];
    let datasets = vec![
        Dataset::default()
            .name("temperature °C")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(theme.accent())
            .data(&temps),
        Dataset::default()
            .name("target")
            .marker(Marker::Dot)
            .graph_type(GraphType::Line)
            .style(theme.warn())
            .data(&targets),
    ];
    let chart = Chart::new(datasets)
        .x_axis(
            Axis::default()
                .bounds([-span.max(1.0 / 12.0), 0.0])
                .labels(x_labels.into_iter().map(Line::from).collect::<Vec<_>>()),
        )
        .y_axis(Axis::default().bounds([lo, hi]).labels(vec![
            Line::from(format!("{lo:.0}")),
            Line::from(format!("{hi:.0}")),
        ]))
        .legend_position(Some(ratatui::widgets::LegendPosition::TopLeft));
    frame.render_widget(chart, area);
}

/// "7 d", "36 h", "45 min".
fn duration_label(hours: f64) -> String {
    if hours >= 48.0 {
        format!("{:.0} d", hours / 24.0)
    } else if hours >= 2.0 {
        format!("{hours:.0} h")
    } else {
        format!("{:.0} min", hours * 60.0)
    }
}

/// The heater's on-share per point, newest at the right, as wide as fits.
fn render_heater(app: &App, points: &[HistoryPoint], frame: &mut Frame, area: Rect) {
    let label = "heater ";
    let [label_area, spark_area] =
        Layout::horizontal([Constraint::Length(label.len() as u16), Constraint::Fill(1)])
            .areas(area);
    frame.render_widget(Paragraph::new(label), label_area);
    let width = usize::from(spark_area.width);
    let shown = &points[points.len().saturating_sub(width)..];
    let data: Vec<u64> = shown.iter().map(|p| u64::from(p.on_secs)).collect();
    frame.render_widget(
        Sparkline::default()
            .data(&data)
            .max(300)
            .style(app.config.theme.bad()),
        spark_area,
    );
}

fn lines<'a>(app: &'a App, detail: &'a ZoneDetail) -> Vec<Line<'a>> {
    let theme = app.config.theme;
    let key = |k: &'static str| Span::styled(format!("{k:<9} "), theme.header());
    let mut out = Vec::new();
    let why = detail
        .history
        .as_ref()
        .map(|h| h.why.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "—".to_string());
    let why_style = if why.contains("SAFETY") || why.contains("window") {
        theme.bad()
    } else {
        Style::default()
    };
    out.push(Line::from(vec![
        key("Decision"),
        Span::styled(why, why_style),
    ]));
    let program = app.snapshot.programs.get(&detail.zone);
    if let Some(o) = program.and_then(|p| p.override_text.as_ref()) {
        out.push(Line::from(vec![key("Override"), Span::raw(o.clone())]));
    }
    let schedule = match program.and_then(|p| p.schedule.as_ref()) {
        Some(s) if program.is_some_and(|p| p.schedule_conflict) => {
            format!("{s}  (CONFLICT: concurrent edits)")
        }
        Some(s) => s.clone(),
        None => "none: the zone's target applies".to_string(),
    };
    out.push(Line::from(vec![key("Schedule"), Span::raw(schedule)]));
    if let Some(p) = program.filter(|p| !p.presets.is_empty()) {
        let presets: Vec<String> = p
            .presets
            .iter()
            .map(|(name, c)| format!("{name} {c:.1} °C"))
            .collect();
        out.push(Line::from(vec![
            key("Presets"),
            Span::raw(presets.join(", ")),
        ]));
    }
    if let Some(h) = &detail.history {
        out.push(Line::from(vec![
            key("Heater"),
            Span::raw(usage_text(app, h)),
        ]));
    }
    out
}

/// "on 2 h 05 min today (1.2 kWh), 14 h 10 min in 7 d (9.8 kWh) · 3 cycles/h".
fn usage_text(app: &App, history: &HistoryAnswer) -> String {
    let Some(last) = history.points.last() else {
        return "no points yet".to_string();
    };
    // The node's clock, not the TUI's: the demo runs its office fast.
    let now_ms = last.start_ms() + crate::history::BUCKET_MS;
    let midnight_ms = jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| {
            t.to_zoned_datetime(app.config.time_zone.clone())
                .start_of_day()
                .ok()
        })
        .map_or(now_ms, |z| z.timestamp().as_millisecond());
    let u = HeaterUsage::from_points(&history.points, midnight_ms, now_ms, history.power_w);
    let hm = |secs: u64| format!("{} h {:02} min", secs / 3600, secs % 3600 / 60);
    let kwh = |k: Option<f64>| k.map_or(String::new(), |k| format!(" ({k:.1} kWh)"));
    let span = (now_ms
        - history
            .points
            .first()
            .map_or(now_ms, HistoryPoint::start_ms)) as f64
        / 3_600_000.0;
    let mut text = format!(
        "on {} today{}, {} in {}{} · {:.0} cycles/h",
        hm(u.on_today_secs),
        kwh(u.kwh_today),
        hm(u.on_week_secs),
        duration_label(span),
        kwh(u.kwh_week),
        u.cycles_per_hour
    );
    if history.power_w.is_none() {
        text.push_str(" · kWh with [heating] power_kw");
    }
    text
}
