//! Key handling, `update`, and snapshot tests of every view and the dialog
//! at 80×24 and 120×40 on the fixed preview office.

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Mode, OverrideFor, TuiConfig, View};
use super::preview;
use super::snapshot::ConnectionStatus;
use super::theme::Theme;
use super::*;

fn config() -> TuiConfig {
    TuiConfig {
        theme: Theme { color: false },
        ..TuiConfig::default()
    }
}

fn press(app: &mut App, code: KeyCode) -> Option<Command> {
    press_with(app, code, KeyModifiers::NONE)
}

fn press_with(app: &mut App, code: KeyCode, modifiers: KeyModifiers) -> Option<Command> {
    let event = Event::Terminal(TermEvent::Key(KeyEvent::new(code, modifiers)));
    action_for(app, event).and_then(|action| update(app, action))
}

fn draw(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
    terminal.draw(|frame| render(app, frame)).expect("draw");
    terminal.backend().to_string()
}

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('q'));
    assert!(app.should_quit);
    let mut app = preview::app(config());
    app.mode = Mode::Filter;
    press_with(&mut app, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(app.should_quit);
}

#[test]
fn tabs_and_numbers_switch_views() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Network);
    press(&mut app, KeyCode::BackTab);
    press(&mut app, KeyCode::BackTab);
    assert_eq!(app.view, View::Events);
    press(&mut app, KeyCode::Char('4'));
    assert_eq!(app.view, View::Clocks);
}

#[test]
fn selection_moves_and_stays_in_range() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected(), 2);
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(app.selected(), 6);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected(), 6);
    press(&mut app, KeyCode::Char('g'));
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected(), 0);
}

#[test]
fn filter_narrows_the_view_and_esc_clears_it() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('/'));
    for c in "reception".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    assert_eq!(app.mode, Mode::Filter);
    assert_eq!(views::network::rows(&app).len(), 2);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter(), "reception");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter(), "");
    assert_eq!(views::network::rows(&app).len(), 7);
}

#[test]
fn set_target_dialog_steps_types_validates_and_writes() {
    let mut app = preview::app(config());
    // Overview rows are zones by name; the second is the Meeting Room.
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    let Mode::Dialog(dialog) = &app.mode else {
        panic!("dialog not open")
    };
    assert_eq!(
        (dialog.zone.as_str(), dialog.input.as_str()),
        ("Meeting Room", "23.0")
    );
    press(&mut app, KeyCode::Char('+'));
    press(&mut app, KeyCode::Up);
    press(&mut app, KeyCode::Char('-'));
    let Mode::Dialog(dialog) = &app.mode else {
        panic!("dialog closed")
    };
    assert_eq!(dialog.input, "23.5");
    // Out of range: Enter does nothing, the dialog stays.
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('5'));
    assert_eq!(press(&mut app, KeyCode::Enter), None);
    assert!(matches!(app.mode, Mode::Dialog(_)));
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    for c in "22,5".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let command = press(&mut app, KeyCode::Enter).expect("a write");
    let Command::SetTarget {
        write,
        zone,
        quantity,
        value,
    } = command
    else {
        panic!("not a target write: {command:?}");
    };
    assert_eq!(
        (zone.as_str(), quantity.as_str(), value),
        ("Meeting Room", "temperature", 22.5)
    );
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.writes[&write].progress, WriteProgress::Pending);
    update(
        &mut app,
        Action::Network(NetworkUpdate::WriteProgress {
            write,
            progress: WriteProgress::Stored,
        }),
    );
    assert_eq!(
        app.latest_write("Meeting Room", "temperature")
            .map(|w| &w.progress),
        Some(&WriteProgress::Stored)
    );
}

#[test]
fn first_digit_replaces_the_starting_value_and_esc_cancels() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('t'));
    press(&mut app, KeyCode::Char('2'));
    let Mode::Dialog(dialog) = &app.mode else {
        panic!("dialog not open")
    };
    assert_eq!(dialog.input, "2");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    assert!(app.writes.len() == 1, "only the preview's own write");
}

#[test]
fn freeze_holds_the_display_until_unfrozen() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('f'));
    let before = app.snapshot.clone();
    update(
        &mut app,
        Action::Network(NetworkUpdate::Snapshot(OfficeSnapshot::default())),
    );
    update(
        &mut app,
        Action::Tick {
            now_ms: preview::NOW_MS + 5_000,
        },
    );
    assert_eq!(app.snapshot, before);
    assert_eq!(app.display_now(), preview::NOW_MS);
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.snapshot, OfficeSnapshot::default());
    assert_eq!(app.display_now(), preview::NOW_MS + 5_000);
}

#[test]
fn connection_changes_show_even_when_frozen() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('f'));
    update(
        &mut app,
        Action::Network(NetworkUpdate::Connection(ConnectionStatus::Reconnecting)),
    );
    assert!(draw(&app, 80, 24).contains("RECONNECTING"));
}

#[test]
fn clock_columns_scroll_with_h_and_l() {
    let mut app = preview::app(config());
    press(&mut app, KeyCode::Char('4'));
    press(&mut app, KeyCode::Char('l'));
    press(&mut app, KeyCode::Char('l'));
    assert_eq!(app.clock_column, 2);
    press(&mut app, KeyCode::Char('h'));
    assert_eq!(app.clock_column, 1);
}

#[test]
fn summary_finds_who_is_behind() {
    let app = preview::app(config());
    assert!(!app.summary.converged);
    let pi2 = app
        .summary
        .names
        .iter()
        .find(|(_, n)| *n == "office-pi-2")
        .map(|(id, _)| *id)
        .expect("pi-2");
    assert_eq!(app.summary.behind[&pi2], 1);
    assert_eq!((app.summary.live, app.summary.known), (6, 7));
}

#[test]
fn x_in_the_network_view_asks_before_forgetting_the_selected_node() {
    let mut app = preview::app(config());
    // Nothing to forget from the Overview.
    assert_eq!(press(&mut app, KeyCode::Char('x')), None);
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('j'));
    let selected = views::network::rows(&app)[1].clone();
    assert_eq!(press(&mut app, KeyCode::Char('x')), None);
    assert!(
        matches!(&app.mode, Mode::ConfirmForget(d) if d.node == selected.id),
        "{:?}",
        app.mode
    );
    // `n` (or Esc) cancels; nothing leaves the TUI.
    assert_eq!(press(&mut app, KeyCode::Char('n')), None);
    assert_eq!(app.mode, Mode::Normal);
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(press(&mut app, KeyCode::Esc), None);
    assert_eq!(app.mode, Mode::Normal);
    // Other keys do nothing while it asks.
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), None);
    assert!(!app.should_quit);
    assert_eq!(
        press(&mut app, KeyCode::Char('y')),
        Some(Command::ForgetNode {
            node: selected.id,
            name: selected.name.clone(),
        })
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn too_small_terminal_says_how_large_it_must_be() {
    let app = preview::app(config());
    let screen = draw(&app, 60, 20);
    assert!(screen.contains("needs at least 80×24"), "{screen}");
}

fn snapshot_app(view: View) -> App {
    let mut app = preview::app(config());
    app.view = view;
    app
}

macro_rules! view_snapshots {
    ($($name:ident => $setup:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let app: App = $setup;
                insta::assert_snapshot!(concat!(stringify!($name), "_80x24"), draw(&app, 80, 24));
                insta::assert_snapshot!(concat!(stringify!($name), "_120x40"), draw(&app, 120, 40));
            }
        )*
    };
}

view_snapshots! {
    overview_view => snapshot_app(View::Overview),
    network_view => snapshot_app(View::Network),
    sensors_view => snapshot_app(View::Sensors),
    clocks_view => snapshot_app(View::Clocks),
    targets_view => snapshot_app(View::Targets),
    events_view => snapshot_app(View::Events),
    set_target_dialog => {
        let mut app = snapshot_app(View::Overview);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('3'));
        press(&mut app, KeyCode::Char('5'));
        app
    },
    forget_dialog => {
        let mut app = snapshot_app(View::Network);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('x'));
        app
    },
    help_overlay => {
        let mut app = snapshot_app(View::Network);
        press(&mut app, KeyCode::Char('?'));
        app
    },
    zone_detail => detail_app(),
    schedule_editor => editor_app(),
    schedule_editor_same_time => {
        let mut app = editor_app();
        press(&mut app, KeyCode::Char('a'));
        retype(&mut app, "mon 18:00 20.5");
        app
    },
    schedule_editor_bad_time => {
        let mut app = editor_app();
        press(&mut app, KeyCode::Char('a'));
        retype(&mut app, "sat 25:00 eco");
        app
    },
    schedule_editor_too_hot => {
        let mut app = editor_app();
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('e'));
        retype(&mut app, "mon-fri 18:00 45");
        app
    },
    schedule_editor_draft => {
        let mut app = editor_app();
        press(&mut app, KeyCode::Char('a'));
        retype(&mut app, "sat-sun 09:00 19.5, 17:00 away");
        press(&mut app, KeyCode::Enter);
        app
    },
    schedule_editor_refused => {
        let mut app = editor_app();
        press(&mut app, KeyCode::Char('x'));
        let Some(Command::SetSchedule { write, .. }) = press(&mut app, KeyCode::Char('s')) else {
            panic!("s saves the draft");
        };
        refuse(&mut app, write);
        app
    },
    schedule_editor_conflict => conflicted_editor_app(),
    override_dialog => {
        let mut app = snapshot_app(View::Overview);
        press(&mut app, KeyCode::Enter);
        press(&mut app, KeyCode::Char('2'));
        press(&mut app, KeyCode::Char('3'));
        press(&mut app, KeyCode::Tab);
        press(&mut app, KeyCode::Tab);
        press(&mut app, KeyCode::Tab);
        app
    },
}

#[test]
fn the_dialog_writes_a_boost_that_ends_by_itself_or_a_hold() {
    let mut app = snapshot_app(View::Overview);
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    match press(&mut app, KeyCode::Enter) {
        Some(Command::SetOverride {
            zone,
            celsius,
            lasts_ms,
            ..
        }) => {
            assert_eq!(zone, "Kitchen");
            assert_eq!(celsius, 23.0);
            assert_eq!(lasts_ms, Some(3_600_000), "an hour's boost");
        }
        other => panic!("{other:?}"),
    }
    press(&mut app, KeyCode::Enter);
    for _ in 0..OverrideFor::CHOICES.len() - 1 {
        press(&mut app, KeyCode::Tab);
    }
    let Some(Command::SetOverride { lasts_ms: None, .. }) = press(&mut app, KeyCode::Enter) else {
        panic!("the last choice holds until resumed");
    };
    // Round the cycle: a plain target again.
    press(&mut app, KeyCode::Enter);
    for _ in 0..OverrideFor::CHOICES.len() {
        press(&mut app, KeyCode::Tab);
    }
    assert!(matches!(
        press(&mut app, KeyCode::Enter),
        Some(Command::SetTarget { .. })
    ));
}

/// The Kitchen's detail with the history its node answered.
fn detail_app() -> App {
    let mut app = snapshot_app(View::Overview);
    let command = press(&mut app, KeyCode::Char('d'));
    let Some(Command::FetchHistory { node, since_ms: 0 }) = command else {
        panic!("d asks the zone's node for its history: {command:?}");
    };
    update(
        &mut app,
        Action::Network(NetworkUpdate::History {
            node,
            answer: preview::kitchen_history(),
        }),
    );
    app
}

#[test]
fn zone_detail_asks_the_heater_node_refreshes_and_merges() {
    let mut app = detail_app();
    let detail = app.detail.clone().expect("open");
    assert_eq!(detail.zone, "Kitchen");
    let kitchen_heater = app
        .snapshot
        .actuators
        .iter()
        .find(|a| a.zone == "Kitchen")
        .map(|a| a.node);
    assert_eq!(detail.node, kitchen_heater);
    let node = detail.node.unwrap();
    let before = detail.history.as_ref().unwrap().points.clone();
    // Within a minute nothing is asked again; after it, only what is new.
    assert_eq!(
        update(
            &mut app,
            Action::Tick {
                now_ms: preview::NOW_MS + 30_000
            }
        ),
        None
    );
    let last = before.last().unwrap();
    assert_eq!(
        update(
            &mut app,
            Action::Tick {
                now_ms: preview::NOW_MS + 61_000
            }
        ),
        Some(Command::FetchHistory {
            node,
            since_ms: last.start_ms()
        })
    );
    // The newest point was still filling: the answer replaces it.
    let mut refreshed = *last;
    refreshed.on_secs = 300;
    let mut next = refreshed;
    next.start_min += 5;
    let answer = crate::wire::observer::HistoryAnswer {
        points: vec![refreshed, next],
        ..preview::kitchen_history()
    };
    update(
        &mut app,
        Action::Network(NetworkUpdate::History { node, answer }),
    );
    let after = &app
        .detail
        .as_ref()
        .unwrap()
        .history
        .as_ref()
        .unwrap()
        .points;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[after.len() - 2], refreshed);
    // An answer from another node is not this zone's.
    update(
        &mut app,
        Action::Network(NetworkUpdate::History {
            node: crate::NodeId(1),
            answer: Default::default(),
        }),
    );
    assert_eq!(
        app.detail
            .as_ref()
            .unwrap()
            .history
            .as_ref()
            .unwrap()
            .points
            .len(),
        before.len() + 1
    );
    press(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none(), "Esc closes the detail");
}

/// Renders Network and Clocks for 200 nodes and prints the mean frame time.
/// `cargo test --release --lib tui -- --ignored --nocapture render_bench`
#[test]
#[ignore]
fn render_bench() {
    const FRAMES: u32 = 200;
    let mut app = App::new(config(), preview::NOW_MS);
    update(
        &mut app,
        Action::Network(NetworkUpdate::Snapshot(preview::large(200))),
    );
    for (view, size) in [
        (View::Network, (120, 40)),
        (View::Clocks, (120, 40)),
        (View::Network, (200, 60)),
        (View::Clocks, (200, 60)),
    ] {
        app.view = view;
        let mut terminal = Terminal::new(TestBackend::new(size.0, size.1)).expect("test backend");
        terminal.draw(|frame| render(&app, frame)).expect("warm-up");
        let start = std::time::Instant::now();
        for _ in 0..FRAMES {
            terminal.draw(|frame| render(&app, frame)).expect("draw");
        }
        let per_frame = start.elapsed() / FRAMES;
        println!(
            "render_bench: {view:?} view, 200 nodes, {}x{}: {per_frame:?} per frame",
            size.0, size.1
        );
    }
}

/// The Kitchen's schedule editor, opened with `e` from the Overview.
fn editor_app() -> App {
    let mut app = snapshot_app(View::Overview);
    press(&mut app, KeyCode::Char('e'));
    assert!(matches!(app.mode, Mode::Schedule(_)), "e opens the editor");
    app
}

/// Empties the row being typed and types `text`.
fn retype(app: &mut App, text: &str) {
    press_with(app, KeyCode::Char('u'), KeyModifiers::CONTROL);
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn editor(app: &App) -> &schedule_editor::ScheduleEditor {
    match &app.mode {
        Mode::Schedule(editor) => editor.as_ref(),
        other => panic!("the editor is not open: {other:?}"),
    }
}

fn refuse(app: &mut App, write: WriteId) {
    update(
        app,
        Action::Network(NetworkUpdate::WriteProgress {
            write,
            progress: WriteProgress::Failed(
                "not an operator: this observer is not in [cluster] operators".into(),
            ),
        }),
    );
}

/// The Kitchen with two programs saved concurrently, its editor open.
fn conflicted_editor_app() -> App {
    let mut app = snapshot_app(View::Overview);
    let mut snapshot = app.snapshot.clone();
    let program = snapshot
        .programs
        .get_mut("Kitchen")
        .expect("the Kitchen's program");
    let mut bob =
        crate::control::schedule_syntax::parse("daily 06:00 comfort, 20:00 eco", "bob@laptop")
            .expect("bob's program");
    bob.set_by = "bob@laptop".into();
    program.schedules.push(snapshot::ScheduleSibling {
        schedule: bob,
        set_at_ms: preview::NOW_MS - 60_000,
    });
    program.schedule_conflict = true;
    update(&mut app, Action::Network(NetworkUpdate::Snapshot(snapshot)));
    press(&mut app, KeyCode::Char('e'));
    app
}

#[test]
fn the_editor_adds_a_period_and_saves_it_as_one_write() {
    let mut app = editor_app();
    assert_eq!(editor(&app).zone, "Kitchen");
    // Nothing changed: nothing to save.
    assert_eq!(press(&mut app, KeyCode::Char('s')), None);
    press(&mut app, KeyCode::Char('a'));
    retype(&mut app, "sat 25:00 eco");
    press(&mut app, KeyCode::Enter);
    assert!(editor(&app).input.is_some(), "a bad time is not taken");
    retype(&mut app, "sat-sun 09:00 19.5");
    press(&mut app, KeyCode::Enter);
    assert!(editor(&app).input.is_none());
    assert!(editor(&app).is_dirty());
    let Some(Command::SetSchedule {
        write,
        zone,
        schedule,
    }) = press(&mut app, KeyCode::Char('s'))
    else {
        panic!("s saves the draft");
    };
    assert_eq!(zone, "Kitchen");
    assert_eq!(
        crate::control::schedule_syntax::Printed(&schedule).to_string(),
        "mon-fri 07:00 comfort, 18:00 eco; sat-sun 00:00 away, 09:00 19.5; \
         2026-12-24..2026-12-26 away christmas"
    );
    assert_eq!(
        schedule.check("Kitchen", &app.config.limits.heating_limits()),
        Ok(())
    );
    assert_eq!(
        press(&mut app, KeyCode::Char('s')),
        None,
        "one save at a time"
    );
    // The zone's program is still the office's until a node admits it.
    assert_eq!(
        app.snapshot.programs["Kitchen"].schedules[0].schedule,
        preview::kitchen_schedule()
    );
    update(
        &mut app,
        Action::Network(NetworkUpdate::WriteProgress {
            write,
            progress: WriteProgress::Stored,
        }),
    );
    // The node admitted it: the office's program is now the draft.
    let mut snapshot = app.snapshot.clone();
    snapshot.programs.get_mut("Kitchen").unwrap().schedules = vec![snapshot::ScheduleSibling {
        schedule: schedule.clone(),
        set_at_ms: preview::NOW_MS,
    }];
    update(&mut app, Action::Network(NetworkUpdate::Snapshot(snapshot)));
    assert!(!editor(&app).is_dirty());
    let screen = draw(&app, 80, 24);
    assert!(screen.contains("saved: stored"), "{screen}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal, "Esc closes a saved editor at once");
}

#[test]
fn a_refused_save_is_rolled_back_and_unsaved_changes_ask_before_closing() {
    let mut app = editor_app();
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(editor(&app).draft.slots.len(), 2);
    press(&mut app, KeyCode::Esc);
    assert!(editor(&app).confirm_discard, "unsaved: Esc asks first");
    let Some(Command::SetSchedule { write, .. }) = press(&mut app, KeyCode::Char('s')) else {
        panic!("s saves the draft");
    };
    refuse(&mut app, write);
    let e = editor(&app);
    assert_eq!(e.draft.slots.len(), 3, "back to the zone's program");
    assert!(!e.is_dirty());
    let screen = draw(&app, 120, 40);
    assert!(screen.contains("REFUSED"), "{screen}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn the_detail_opens_the_editor_of_its_zone() {
    let mut app = detail_app();
    press(&mut app, KeyCode::Char('e'));
    assert_eq!(editor(&app).zone, "Kitchen");
    let mut app = conflicted_editor_app();
    assert!(editor(&app).is_conflicted());
    press(&mut app, KeyCode::Char('c'));
    assert_eq!(editor(&app).draft.set_by, "");
    assert_eq!(editor(&app).draft.slots[0].minute, 6 * 60, "bob's program");
    assert!(
        matches!(
            press(&mut app, KeyCode::Char('s')),
            Some(Command::SetSchedule { .. })
        ),
        "saving one of the siblings resolves the conflict"
    );
}
