//! Network: the map an operator needs to find a Pi: name, zone, MAC → IP,
//! liveness, last seen and its overlay neighbours (HyParView active view).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Cell, Row, Table, TableState};

use super::column_widths::{Column, abbreviate, fit};
use super::{clamp_selection, matches, title};
use crate::tui::age::age;
use crate::tui::app::{App, NetworkSort, View};
use crate::tui::snapshot::{Interface, NodeInfo, NodeStatus};
use crate::tui::theme::{SELECTED_SYMBOL, Theme};

pub fn mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// One line per interface: `eth0 b8:27:eb:12:34:56 → 10.0.0.11`.
fn interface_line(interface: &Interface) -> String {
    let mut addrs: Vec<String> = interface.ipv4.iter().map(|a| a.to_string()).collect();
    addrs.extend(interface.ipv6.iter().map(|a| a.to_string()));
    let addrs = if addrs.is_empty() {
        "no address".to_string()
    } else {
        addrs.join(", ")
    };
    format!("{} {} → {}", interface.name, mac(&interface.mac), addrs)
}

pub fn status_label(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Alive => "alive",
        NodeStatus::Unreachable => "OFF",
        NodeStatus::Forgotten => "forgotten",
    }
}

fn status_span(theme: Theme, status: NodeStatus) -> Span<'static> {
    let style = match status {
        NodeStatus::Alive => theme.ok(),
        NodeStatus::Unreachable => theme.bad(),
        NodeStatus::Forgotten => theme.dim(),
    };
    Span::styled(status_label(status), style)
}

/// The nodes shown, sorted and filtered.
pub fn rows(app: &App) -> Vec<&NodeInfo> {
    let filter = app.filters[View::Network.index()].as_str();
    let mut nodes: Vec<&NodeInfo> = app
        .snapshot
        .nodes
        .iter()
        .filter(|n| {
            if filter.is_empty() {
                return true;
            }
            let macs: Vec<String> = n.interfaces.iter().map(interface_line).collect();
            let mut fields = vec![
                n.name.as_str(),
                n.zone.as_str(),
                n.role.as_str(),
                status_label(n.status),
                status_word(n.status),
            ];
            fields.extend(macs.iter().map(String::as_str));
            matches(filter, &fields)
        })
        .collect();
    match app.network_sort {
        NetworkSort::Name => nodes.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id))),
        NetworkSort::Zone => nodes.sort_by(|a, b| a.zone.cmp(&b.zone).then(a.name.cmp(&b.name))),
        NetworkSort::Status => {
            nodes.sort_by(|a, b| a.status.cmp(&b.status).then(a.name.cmp(&b.name)))
        }
        NetworkSort::LastSeen => nodes.sort_by(|a, b| {
            b.last_seen_ms
                .cmp(&a.last_seen_ms)
                .then(a.name.cmp(&b.name))
        }),
    }
    nodes
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.config.theme;
    let now = app.display_now();
    let nodes = rows(app);
    let headers = [
        "Node",
        "Zone",
        "Status",
        "Interfaces (MAC → IP)",
        "Last seen",
        "Neighbours",
    ];
    // Only the rows that can be visible are built: the table scrolls to keep
    // the selection in view, so anything past selection + height is unseen.
    let selected = clamp_selection(app.selected[View::Network.index()], nodes.len());
    let reach = selected.unwrap_or(0) + area.height as usize;
    let shown: Vec<&NodeInfo> = nodes.iter().take(reach).copied().collect();
    let lines: Vec<Vec<String>> = shown
        .iter()
        .map(|n| n.interfaces.iter().map(interface_line).collect())
        .collect();
    let seen: Vec<String> = shown
        .iter()
        .map(|n| {
            n.last_seen_ms
                .map(|t| age(now, t))
                .unwrap_or_else(|| "never".into())
        })
        .collect();
    let neighbours: Vec<String> = shown
        .iter()
        .map(|n| {
            let names = n
                .neighbours
                .iter()
                .map(|id| app.summary.name(*id))
                .collect::<Vec<_>>()
                .join(", ");
            if names.is_empty() {
                "—".to_string()
            } else {
                names
            }
        })
        .collect();
    let columns = [
        Column::fitting(headers[0], shown.iter().map(|n| n.name.as_str()), 10),
        Column::fitting(headers[1], shown.iter().map(|n| n.zone.as_str()), 8),
        Column::fitting(headers[2], shown.iter().map(|n| status_label(n.status)), 9),
        Column::fitting(headers[3], lines.iter().flatten().map(String::as_str), 22),
        Column::fitting(headers[4], seen.iter().map(String::as_str), 6),
        Column::fitting(headers[5], neighbours.iter().map(String::as_str), 0),
    ];
    // Borders and the selection symbol take four cells. The interfaces
    // give up their IPv6 first (name, MAC and IPv4 take 35 cells), then the
    // neighbours, down to nothing before the IPv4 goes; a node's name and
    // zone, how an operator finds it, give last.
    let steps = [
        (3, 35),
        (5, 24),
        (1, 10),
        (5, 12),
        (4, 6),
        (1, 8),
        (5, 0),
        (3, 26),
        (3, 0),
        (0, 0),
    ];
    let widths = fit(&columns, area.width.saturating_sub(4), &steps);
    let header = Row::new(
        headers
            .iter()
            .zip(&widths)
            .map(|(h, &w)| Cell::from(abbreviate(h, w))),
    )
    .style(theme.header());
    let table_rows: Vec<Row> = shown
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let interfaces: Vec<Line> = if lines[i].is_empty() {
                vec![Line::from("—")]
            } else {
                lines[i]
                    .iter()
                    .map(|l| Line::from(abbreviate(l, widths[3])))
                    .collect()
            };
            let height = interfaces.len().max(1) as u16;
            Row::new(vec![
                Cell::from(abbreviate(&n.name, widths[0])),
                Cell::from(abbreviate(&n.zone, widths[1])),
                Cell::from(status_span(theme, n.status)),
                Cell::from(Text::from(interfaces)),
                Cell::from(abbreviate(&seen[i], widths[4])),
                Cell::from(abbreviate(&neighbours[i], widths[5])),
            ])
            .height(height)
        })
        .collect();
    let name = format!("Network, by {} (s sorts)", app.network_sort.label());
    let table = Table::new(table_rows, widths.iter().map(|&w| Constraint::Length(w)))
        .header(header)
        .block(Block::default().borders(Borders::ALL).title(title(
            app,
            &name,
            nodes.len(),
            app.snapshot.nodes.len(),
        )))
        .highlight_symbol(SELECTED_SYMBOL)
        .row_highlight_style(theme.selected());
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

/// The status as a word, so `/unreachable` finds the `OFF` nodes.
fn status_word(status: NodeStatus) -> &'static str {
    match status {
        NodeStatus::Alive => "alive",
        NodeStatus::Unreachable => "unreachable",
        NodeStatus::Forgotten => "forgotten",
    }
}
