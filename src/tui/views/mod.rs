//! One file per view. Each exposes the rows it shows (so `update` can
//! select and act on the same rows a person sees) and a `render`.

pub mod clocks;
pub mod column_widths;
pub mod dialog;
pub mod events;
pub mod forget;
pub mod help;
pub mod network;
pub mod overview;
pub mod schedule_editor;
pub mod sensors;
pub mod targets;
pub mod zone_detail;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::app::{App, View};
use super::event::WriteProgress;

/// How many selectable rows `view` has under its current filter.
pub fn row_count(app: &App, view: View) -> usize {
    match view {
        View::Overview => overview::rows(app).len(),
        View::Network => network::rows(app).len(),
        View::Sensors => sensors::rows(app).len(),
        View::Clocks => clocks::rows(app).len(),
        View::Targets => targets::rows(app).len(),
        View::Events => events::rows(app).len(),
    }
}

/// Draws the current view into `area`.
pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    if let Some(detail) = &app.detail {
        zone_detail::render(app, detail, frame, area);
        return;
    }
    match app.view {
        View::Overview => overview::render(app, frame, area),
        View::Network => network::render(app, frame, area),
        View::Sensors => sensors::render(app, frame, area),
        View::Clocks => clocks::render(app, frame, area),
        View::Targets => targets::render(app, frame, area),
        View::Events => events::render(app, frame, area),
    }
}

/// Case-insensitive match of the filter against any of a row's fields.
pub fn matches(filter: &str, fields: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let needle = filter.to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&needle))
}

/// The selection clamped to the rows there are now.
pub fn clamp_selection(selected: usize, len: usize) -> Option<usize> {
    if len == 0 {
        None
    } else {
        Some(selected.min(len - 1))
    }
}

/// A value with as many decimals as a thermostat cares about.
pub fn value(value: f64, unit: &str) -> String {
    if unit == "%" {
        format!("{value:.0} %")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A write's progress in words: pending → stored → converged k/N → converged.
pub fn progress(progress: &WriteProgress) -> String {
    match progress {
        WriteProgress::Pending => "pending".to_string(),
        WriteProgress::Stored => "stored".to_string(),
        WriteProgress::Converged { k, n } if k >= n => "converged".to_string(),
        WriteProgress::Converged { k, n } => format!("converged {k}/{n}"),
        WriteProgress::Failed(why) => format!("FAILED: {why}"),
    }
}

/// The title line of a view's block: its name, filter and row count.
pub fn title(app: &App, name: &str, shown: usize, total: usize) -> String {
    let filter = app.filter();
    if filter.is_empty() {
        format!(" {name} ({total}) ")
    } else {
        format!(" {name} ({shown}/{total}) filter: {filter} ")
    }
}
