//! The one place the state changes. Pure: no I/O, no clock; what must leave
//! the TUI is returned as a `Command` for the runner to send.

use super::action::{Action, PAGE};
use super::app::{
    App, ForgetDialog, HISTORY_REFRESH_MS, Mode, OverrideFor, TargetDialog, View, ZoneDetail,
};
use super::command::Command;
use super::event::NetworkUpdate;
use super::schedule_editor::{self, ScheduleEditor};
use super::snapshot::NodeStatus;
use super::views;

/// Applies `action` to `app`; returns the command to send, if any.
pub fn update(app: &mut App, action: Action) -> Option<Command> {
    match action {
        Action::Quit => app.should_quit = true,
        Action::NextView => switch_view(app, (app.view.index() + 1) % View::ALL.len()),
        Action::PrevView => switch_view(
            app,
            (app.view.index() + View::ALL.len() - 1) % View::ALL.len(),
        ),
        Action::ShowView(view) => switch_view(app, view.index()),
        Action::Up => move_selection(app, |s, _| s.saturating_sub(1)),
        Action::Down => move_selection(app, |s, len| (s + 1).min(len.saturating_sub(1))),
        Action::PageUp => move_selection(app, |s, _| s.saturating_sub(PAGE)),
        Action::PageDown => move_selection(app, |s, len| (s + PAGE).min(len.saturating_sub(1))),
        Action::Top => move_selection(app, |_, _| 0),
        Action::Bottom => move_selection(app, |_, len| len.saturating_sub(1)),
        Action::Left => {
            if app.view == View::Clocks {
                app.clock_column = app.clock_column.saturating_sub(1);
            }
        }
        Action::Right => {
            if app.view == View::Clocks {
                let last = app.summary.origins.len().saturating_sub(1);
                app.clock_column = (app.clock_column + 1).min(last);
            }
        }
        Action::StartFilter => app.mode = Mode::Filter,
        Action::FilterChar(c) => {
            app.filters[app.view.index()].push(c);
            app.selected[app.view.index()] = 0;
        }
        Action::FilterBackspace => {
            app.filters[app.view.index()].pop();
        }
        Action::FilterAccept => app.mode = Mode::Normal,
        Action::ToggleFreeze => {
            if app.is_frozen() {
                app.unfreeze();
            } else {
                app.freeze();
            }
        }
        Action::Back => match app.mode {
            Mode::Normal if app.detail.is_some() => app.detail = None,
            Mode::Normal | Mode::Filter => {
                app.filters[app.view.index()].clear();
                app.mode = Mode::Normal;
            }
            Mode::Schedule(ref mut editor) => {
                if editor.is_dirty() && !editor.confirm_discard {
                    editor.confirm_discard = true;
                } else {
                    app.mode = Mode::Normal;
                }
            }
            Mode::Dialog(_) | Mode::ConfirmForget(_) | Mode::Help => app.mode = Mode::Normal,
        },
        Action::ToggleHelp => {
            app.mode = if app.mode == Mode::Help {
                Mode::Normal
            } else {
                Mode::Help
            };
        }
        Action::CycleSort => {
            if app.view == View::Network {
                app.network_sort = app.network_sort.next();
            }
        }
        Action::OpenDialog => open_dialog(app),
        Action::OpenDetail => return open_detail(app),
        Action::OpenSchedule => open_schedule(app),
        Action::Editor(action) => {
            let limits = app.config.limits.heating_limits();
            let today = schedule_editor::today(app.now_ms, &app.config.time_zone);
            if let Mode::Schedule(editor) = &mut app.mode {
                editor.act(action, &limits, &today);
            }
        }
        Action::SaveSchedule => return save_schedule(app),
        Action::AskForget => ask_forget(app),
        Action::ConfirmForget => {
            if let Mode::ConfirmForget(dialog) = std::mem::replace(&mut app.mode, Mode::Normal) {
                return Some(Command::ForgetNode {
                    node: dialog.node,
                    name: dialog.name,
                });
            }
        }
        Action::Increase => step(app, 1.0),
        Action::Decrease => step(app, -1.0),
        Action::InputChar(c) => {
            if let Mode::Dialog(dialog) = &mut app.mode {
                let c = if c == ',' { '.' } else { c };
                if dialog.fresh {
                    dialog.input.clear();
                    dialog.fresh = false;
                }
                if dialog.input.len() < 8 && !(c == '.' && dialog.input.contains('.')) {
                    dialog.input.push(c);
                }
            }
        }
        Action::CycleDuration => {
            if let Mode::Dialog(dialog) = &mut app.mode
                && dialog.quantity == "temperature"
            {
                dialog.lasts = dialog.lasts.next();
            }
        }
        Action::InputBackspace => {
            if let Mode::Dialog(dialog) = &mut app.mode {
                dialog.fresh = false;
                dialog.input.pop();
            }
        }
        Action::Submit => return submit(app),
        Action::Tick { now_ms } => {
            app.now_ms = now_ms;
            return refresh_detail(app);
        }
        Action::Network(update) => receive(app, update),
        Action::Redraw => {}
    }
    None
}

fn switch_view(app: &mut App, index: usize) {
    app.view = View::ALL[index % View::ALL.len()];
    if app.mode == Mode::Filter {
        app.mode = Mode::Normal;
    }
}

fn move_selection(app: &mut App, to: impl Fn(usize, usize) -> usize) {
    let len = views::row_count(app, app.view);
    let index = app.view.index();
    let current = app.selected[index].min(len.saturating_sub(1));
    app.selected[index] = to(current, len);
}

/// The (zone, quantity) the selection points at, where a target can be set.
fn selected_target(app: &App) -> Option<(String, String)> {
    match app.view {
        View::Overview => {
            let rows = views::overview::rows(app);
            let row = rows.get(app.selected().min(rows.len().saturating_sub(1)))?;
            let quantity = if app.config.limits.get("temperature").is_some() {
                "temperature".to_string()
            } else {
                app.config.limits.0.keys().next()?.clone()
            };
            Some((row.zone.to_string(), quantity))
        }
        View::Targets => {
            let rows = views::targets::rows(app);
            let t = rows.get(app.selected().min(rows.len().saturating_sub(1)))?;
            Some((t.zone.clone(), t.quantity.clone()))
        }
        _ => None,
    }
}

/// Asks about the node selected in the Network view; a node already
/// forgotten has nothing left to forget.
fn ask_forget(app: &mut App) {
    if app.view != View::Network {
        return;
    }
    let rows = views::network::rows(app);
    let Some(node) = views::clamp_selection(app.selected(), rows.len()).and_then(|i| rows.get(i))
    else {
        return;
    };
    if node.status == NodeStatus::Forgotten {
        return;
    }
    app.mode = Mode::ConfirmForget(ForgetDialog {
        node: node.id,
        name: node.name.clone(),
    });
}

/// Decimals worth showing for a step: 0.5 → 1, 5 → 0.
fn decimals(step: f64) -> usize {
    let text = format!("{step}");
    text.split_once('.')
        .map(|(_, frac)| frac.len())
        .unwrap_or(0)
}

fn open_dialog(app: &mut App) {
    let Some((zone, quantity)) = selected_target(app) else {
        return;
    };
    let Some(range) = app.config.limits.get(&quantity) else {
        return;
    };
    let current = app
        .snapshot
        .targets
        .iter()
        .find(|t| t.zone == zone && t.quantity == quantity)
        .and_then(|t| t.winning())
        .map(|s| s.value)
        .unwrap_or_else(|| ((range.min + range.max) / 2.0 / range.step).round() * range.step);
    let input = format!("{current:.*}", decimals(range.step));
    app.mode = Mode::Dialog(TargetDialog {
        zone,
        quantity,
        input,
        fresh: true,
        lasts: OverrideFor::Standing,
    });
}

fn step(app: &mut App, direction: f64) {
    let Mode::Dialog(dialog) = &mut app.mode else {
        return;
    };
    let Some(range) = app.config.limits.get(&dialog.quantity) else {
        return;
    };
    let base = dialog
        .input
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .unwrap_or(range.min);
    let stepped = ((base / range.step).round() + direction) * range.step;
    let value = stepped.clamp(range.min, range.max);
    dialog.input = format!("{value:.*}", decimals(range.step));
    dialog.fresh = false;
}

fn submit(app: &mut App) -> Option<Command> {
    let Mode::Dialog(dialog) = &app.mode else {
        return None;
    };
    let value = app
        .config
        .limits
        .validate(&dialog.quantity, &dialog.input)
        .ok()?;
    let (zone, quantity, lasts) = (dialog.zone.clone(), dialog.quantity.clone(), dialog.lasts);
    let lasts_ms = match lasts {
        OverrideFor::Standing => None,
        OverrideFor::Minutes(m) => Some(Some(m * 60_000)),
        OverrideFor::Hold => Some(None),
    };
    if let Some(lasts_ms) = lasts_ms {
        // The nodes' own check of an override, before it leaves.
        override_value(app, &zone, value, lasts_ms).ok()?;
    }
    app.mode = Mode::Normal;
    let write = app.start_write(zone.clone(), quantity.clone(), value);
    Some(match lasts_ms {
        None => Command::SetTarget {
            write,
            zone,
            quantity,
            value,
        },
        Some(lasts_ms) => Command::SetOverride {
            write,
            zone,
            celsius: value,
            lasts_ms,
        },
    })
}

/// The override the dialog would write, checked as every node checks it
/// (`OverrideValue::check`) within the dialog's temperature range.
pub fn override_value(
    app: &App,
    zone: &str,
    celsius: f64,
    lasts_ms: Option<u64>,
) -> Result<(), crate::crdt::OverrideError> {
    let limits = app.config.limits.heating_limits();
    let now = app.now_ms;
    crate::crdt::OverrideValue {
        celsius: Some(celsius as f32),
        expires_at_ms: lasts_ms.map(|l| now.saturating_add(l)),
        set_by: String::new(),
    }
    .check(zone, now, &limits)
}

fn receive(app: &mut App, update: NetworkUpdate) {
    match update {
        NetworkUpdate::Snapshot(snapshot) => {
            app.receive_snapshot(snapshot);
            if let Mode::Schedule(editor) = &mut app.mode {
                editor.follow(app.snapshot.programs.get(&editor.zone));
            }
        }
        NetworkUpdate::WriteProgress { write, progress } => {
            if let Mode::Schedule(editor) = &mut app.mode {
                editor.progress(write, progress.clone());
            }
            if let Some(w) = app.writes.get_mut(&write) {
                w.progress = progress;
            }
        }
        NetworkUpdate::Log(event) => app.receive_log(event),
        NetworkUpdate::Connection(status) => app.connection = status,
        NetworkUpdate::History { node, answer } => receive_history(app, node, answer),
    }
}

/// The node whose history stands for `zone`: its heater's node, else one
/// with a temperature, else any of its nodes.
fn history_node(app: &App, zone: &str) -> Option<crate::NodeId> {
    let s = &app.snapshot;
    s.actuators
        .iter()
        .find(|a| a.zone == zone)
        .map(|a| a.node)
        .or_else(|| {
            s.readings
                .iter()
                .find(|r| r.zone == zone && r.quantity == "temperature")
                .map(|r| r.node)
        })
        .or_else(|| s.nodes.iter().find(|n| n.zone == zone).map(|n| n.id))
}

fn open_detail(app: &mut App) -> Option<Command> {
    let (zone, _) = selected_target(app)?;
    let node = history_node(app, &zone);
    app.detail = Some(ZoneDetail {
        zone,
        node,
        history: None,
        asked_ms: app.now_ms,
    });
    node.map(|node| Command::FetchHistory { node, since_ms: 0 })
}

/// Opens the schedule editor on the zone of the open detail, else the
/// selected zone.
fn open_schedule(app: &mut App) {
    let zone = match &app.detail {
        Some(detail) => Some(detail.zone.clone()),
        None => selected_target(app).map(|(zone, _)| zone),
    };
    let Some(zone) = zone else {
        return;
    };
    let editor = ScheduleEditor::open(zone.clone(), app.snapshot.programs.get(&zone));
    app.mode = Mode::Schedule(Box::new(editor));
}

/// Sends the editor's draft, if it passes the nodes' own check.
fn save_schedule(app: &mut App) -> Option<Command> {
    let limits = app.config.limits.heating_limits();
    let Mode::Schedule(editor) = &app.mode else {
        return None;
    };
    let schedule = editor.to_save(&limits)?;
    let zone = editor.zone.clone();
    let write = app.next_write_id();
    if let Mode::Schedule(editor) = &mut app.mode {
        editor.saving(write, schedule.clone());
    }
    Some(Command::SetSchedule {
        write,
        zone,
        schedule,
    })
}

/// Asks the open detail's node for what it has since the last point,
/// every `HISTORY_REFRESH_MS`.
fn refresh_detail(app: &mut App) -> Option<Command> {
    let now = app.now_ms;
    let detail = app.detail.as_mut()?;
    if now.saturating_sub(detail.asked_ms) < HISTORY_REFRESH_MS {
        return None;
    }
    detail.asked_ms = now;
    let since_ms = detail
        .history
        .as_ref()
        .and_then(|h| h.points.last())
        .map_or(0, |p| p.start_ms());
    detail
        .node
        .map(|node| Command::FetchHistory { node, since_ms })
}

/// Merges an answer into the open detail: the points it carries replace
/// those from its first point on (the newest one was still filling).
fn receive_history(
    app: &mut App,
    node: crate::NodeId,
    answer: crate::wire::observer::HistoryAnswer,
) {
    let Some(detail) = app.detail.as_mut().filter(|d| d.node == Some(node)) else {
        return;
    };
    match &mut detail.history {
        Some(kept) => {
            if let Some(first) = answer.points.first() {
                kept.points.retain(|p| p.start_min < first.start_min);
            }
            kept.points.extend(answer.points);
            let excess = kept
                .points
                .len()
                .saturating_sub(crate::wire::observer::MAX_HISTORY_POINTS);
            kept.points.drain(..excess);
            kept.power_w = answer.power_w;
            kept.unavailable = answer.unavailable;
            kept.why = answer.why;
        }
        None => detail.history = Some(answer),
    }
}
