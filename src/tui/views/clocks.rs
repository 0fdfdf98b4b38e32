//! Clocks: every replica's version vector as a matrix, replicas × origins.
//! A cell behind the newest counter for its origin is marked `*` (and
//! styled), and each replica says "converged" or how many updates it lacks:
//! here an operator watches an update spread. Origin columns are headed by
//! the start of each name, without the prefix the office's names share
//! (the legend names it), never by an unreadable tail.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::column_widths::abbreviate;
use super::{clamp_selection, matches, title};
use crate::NodeId;
use crate::tui::app::{App, View};
use crate::tui::theme::SELECTED_SYMBOL;

/// Width of one origin column: a counter up to 99999 and the marker.
const COLUMN: u16 = 7;
const REPLICA: u16 = 12;
const STATE: u16 = 10;

/// The replicas shown, by name, filtered.
pub fn rows(app: &App) -> Vec<NodeId> {
    let filter = app.filters[View::Clocks.index()].as_str();
    app.summary
        .replicas
        .iter()
        .copied()
        .filter(|id| filter.is_empty() || matches(filter, &[&app.summary.name(*id)]))
        .collect()
}

/// How many origin columns fit in `width`.
pub fn visible_columns(width: u16) -> usize {
    // Borders (2), selection symbol (2), replica and state columns with their gaps.
    let fixed = 2 + 2 + REPLICA + 1 + STATE + 1;
    (width.saturating_sub(fixed) / (COLUMN + 1)).max(1) as usize
}

/// The prefix, up to and including a `-`, `_` or `.`, that at least two
/// of `names` share and that is the longest such: "office-pi-" for
/// "office-pi-1" … "office-pi-7". The columns drop it and the legend
/// names it once.
fn shared_prefix(names: &[String]) -> String {
    let mut best = String::new();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let common: String = a
                .chars()
                .zip(b.chars())
                .take_while(|(x, y)| x == y)
                .map(|(x, _)| x)
                .collect();
            let cut = common
                .rfind(['-', '_', '.'])
                .map_or(String::new(), |at| common[..=at].to_string());
            if cut.len() > best.len() {
                best = cut;
            }
        }
    }
    best
}

/// A column header: the name without the shared prefix, cut from the end
/// with `…` if still too long, so it reads as the start of the name.
fn label(name: &str, prefix: &str, width: u16) -> String {
    let rest = name
        .strip_prefix(prefix)
        .filter(|r| !r.is_empty())
        .unwrap_or(name);
    abbreviate(rest, width)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let [table_area, legend_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(1)]).areas(area);
    let replicas = rows(app);
    let origins = &app.summary.origins;
    let shown = visible_columns(table_area.width);
    let first = app.clock_column.min(origins.len().saturating_sub(shown));
    let columns = &origins[first..(first + shown).min(origins.len())];

    let names: Vec<String> = origins.iter().map(|o| app.summary.name(*o)).collect();
    let prefix = shared_prefix(&names);
    let mut header = vec![Cell::from("Replica"), Cell::from("State")];
    header.extend(
        names[first..first + columns.len()]
            .iter()
            .map(|n| Cell::from(label(n, &prefix, COLUMN - 1))),
    );
    let selected = clamp_selection(app.selected[View::Clocks.index()], replicas.len());
    let reach = selected.unwrap_or(0) + table_area.height as usize;
    let table_rows: Vec<Row> = replicas
        .iter()
        .take(reach)
        .map(|replica| {
            let clock = app.snapshot.clocks.get(replica);
            let missing = app.summary.behind.get(replica).copied().unwrap_or(0);
            let state = if missing == 0 {
                Cell::from(Span::styled("converged", theme.ok()))
            } else {
                Cell::from(Span::styled(format!("{missing} behind"), theme.warn()))
            };
            let mut cells = vec![
                Cell::from(abbreviate(&app.summary.name(*replica), REPLICA)),
                state,
            ];
            cells.extend(columns.iter().map(|origin| {
                let have = clock.and_then(|c| c.get(origin)).copied().unwrap_or(0);
                let max = app.summary.origin_max.get(origin).copied().unwrap_or(0);
                if have < max {
                    Cell::from(Span::styled(format!("{have}*"), theme.warn()))
                } else {
                    Cell::from(format!("{have} "))
                }
            }));
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![Constraint::Length(REPLICA), Constraint::Length(STATE)];
    widths.extend(columns.iter().map(|_| Constraint::Length(COLUMN)));
    let table = Table::new(table_rows, widths)
        .header(Row::new(header).style(theme.header()))
        .block(Block::default().borders(Borders::ALL).title(title(
            app,
            "Clocks: replicas × origins",
            replicas.len(),
            app.summary.replicas.len(),
        )))
        .highlight_symbol(SELECTED_SYMBOL)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, table_area, &mut state);

    let range = if origins.is_empty() {
        "no origins yet".to_string()
    } else {
        format!(
            "origins {}–{} of {}",
            first + 1,
            first + columns.len(),
            origins.len()
        )
    };
    // The prefix first: the columns cannot be read without it.
    let mut legend = Vec::new();
    if !prefix.is_empty() {
        legend.push(Span::raw(format!(" columns: {prefix}… ·")));
    }
    legend.extend([
        Span::styled(" * ", theme.warn()),
        Span::raw("behind the newest counter of that origin · "),
        Span::raw(range),
        Span::raw(" · h/l scroll"),
    ]);
    let legend = Line::from(legend);
    frame.render_widget(Paragraph::new(legend), legend_area);
}
