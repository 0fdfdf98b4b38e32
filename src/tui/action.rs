//! What a key (or any other event) means, given the mode the TUI is in.
//!
//! Mapping is separate from `update` so the keymap is one table a reader can
//! check against the help overlay, and so tests can press keys.

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};

use super::app::{App, Mode, View};
use super::event::{Event, NetworkUpdate};
use super::schedule_editor::EditorAction;

/// Something the operator or the network asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Quit,
    NextView,
    PrevView,
    ShowView(View),
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    PageUp,
    PageDown,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Keep the typed filter and go back to navigating.
    FilterAccept,
    ToggleFreeze,
    /// `Esc`: close whatever is open, or clear the filter.
    Back,
    /// `Enter`/`t`: open the set-target dialog for the selected zone.
    OpenDialog,
    Increase,
    Decrease,
    InputChar(char),
    InputBackspace,
    /// `Tab` in the dialog: how long the value holds.
    CycleDuration,
    Submit,
    ToggleHelp,
    CycleSort,
    /// `x` in the Network view: ask whether to forget the selected node.
    AskForget,
    /// `y` in the forget confirmation.
    ConfirmForget,
    /// `d` on the Overview or Targets: the selected zone's detail.
    OpenDetail,
    /// `e` on the Overview, Targets or a zone detail: the zone's schedule
    /// editor.
    OpenSchedule,
    /// A key inside the schedule editor.
    Editor(EditorAction),
    /// `s` in the schedule editor: write the draft.
    SaveSchedule,
    Tick {
        now_ms: u64,
    },
    Network(NetworkUpdate),
    /// The terminal changed size: nothing to update, draw again.
    Redraw,
}

/// Lines moved by PageUp/PageDown.
pub const PAGE: usize = 10;

/// Translates an event into an action, or `None` when it means nothing here.
pub fn action_for(app: &App, event: Event) -> Option<Action> {
    match event {
        Event::Tick { now_ms } => Some(Action::Tick { now_ms }),
        Event::Network(update) => Some(Action::Network(update)),
        Event::Terminal(TermEvent::Key(key)) => key_action(app, key),
        Event::Terminal(TermEvent::Resize(..)) => Some(Action::Redraw),
        Event::Terminal(TermEvent::Mouse(mouse)) => match (&app.mode, mouse.kind) {
            (Mode::Normal, MouseEventKind::ScrollUp) => Some(Action::Up),
            (Mode::Normal, MouseEventKind::ScrollDown) => Some(Action::Down),
            _ => None,
        },
        Event::Terminal(_) => None,
    }
}

/// The keymap; the help overlay lists the same keys.
pub fn key_action(app: &App, key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match &app.mode {
        Mode::Dialog(_) => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Tab => Some(Action::CycleDuration),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Up | KeyCode::Right | KeyCode::Char('+') | KeyCode::Char('k') => {
                Some(Action::Increase)
            }
            KeyCode::Down | KeyCode::Left | KeyCode::Char('-') | KeyCode::Char('j') => {
                Some(Action::Decrease)
            }
            KeyCode::Backspace | KeyCode::Delete => Some(Action::InputBackspace),
            KeyCode::Char(c) if c.is_ascii_digit() || c == '.' || c == ',' => {
                Some(Action::InputChar(c))
            }
            _ => None,
        },
        Mode::Schedule(editor) if editor.input.is_some() => match key.code {
            KeyCode::Esc => Some(Action::Editor(EditorAction::CancelInput)),
            KeyCode::Enter => Some(Action::Editor(EditorAction::Accept)),
            KeyCode::Backspace => Some(Action::Editor(EditorAction::Backspace)),
            KeyCode::Char('u') if ctrl => Some(Action::Editor(EditorAction::ClearInput)),
            KeyCode::Char(c) if !ctrl => Some(Action::Editor(EditorAction::Type(c))),
            _ => None,
        },
        Mode::Schedule(_) => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Editor(EditorAction::Up)),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Editor(EditorAction::Down)),
            KeyCode::Char('a') => Some(Action::Editor(EditorAction::AddSwitch)),
            KeyCode::Char('h') => Some(Action::Editor(EditorAction::AddException)),
            KeyCode::Enter | KeyCode::Char('e') => Some(Action::Editor(EditorAction::Edit)),
            KeyCode::Char('x') | KeyCode::Delete => Some(Action::Editor(EditorAction::Remove)),
            KeyCode::Char('r') => Some(Action::Editor(EditorAction::Reload)),
            KeyCode::Char('c') => Some(Action::Editor(EditorAction::NextSibling)),
            KeyCode::Char('s') => Some(Action::SaveSchedule),
            _ => None,
        },
        Mode::ConfirmForget(_) => match key.code {
            KeyCode::Char('y') => Some(Action::ConfirmForget),
            KeyCode::Char('n') | KeyCode::Esc => Some(Action::Back),
            _ => None,
        },
        Mode::Filter => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::FilterAccept),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        },
        Mode::Help => match key.code {
            KeyCode::Esc | KeyCode::Char('?') => Some(Action::ToggleHelp),
            KeyCode::Char('q') => Some(Action::Quit),
            _ => None,
        },
        Mode::Normal => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Tab => Some(Action::NextView),
            KeyCode::BackTab => Some(Action::PrevView),
            KeyCode::Char(c @ '1'..='6') => {
                let index = c as usize - '1' as usize;
                View::ALL.get(index).map(|v| Action::ShowView(*v))
            }
            KeyCode::Up | KeyCode::Char('k') => Some(Action::Up),
            KeyCode::Down | KeyCode::Char('j') => Some(Action::Down),
            KeyCode::Left | KeyCode::Char('h') => Some(Action::Left),
            KeyCode::Right | KeyCode::Char('l') => Some(Action::Right),
            KeyCode::Char('g') | KeyCode::Home => Some(Action::Top),
            KeyCode::Char('G') | KeyCode::End => Some(Action::Bottom),
            KeyCode::PageUp => Some(Action::PageUp),
            KeyCode::PageDown => Some(Action::PageDown),
            KeyCode::Char('/') => Some(Action::StartFilter),
            KeyCode::Char('f') => Some(Action::ToggleFreeze),
            KeyCode::Char('s') => Some(Action::CycleSort),
            KeyCode::Char('x') if app.view == View::Network => Some(Action::AskForget),
            KeyCode::Char('d') if matches!(app.view, View::Overview | View::Targets) => {
                Some(Action::OpenDetail)
            }
            KeyCode::Char('e')
                if app.detail.is_some() || matches!(app.view, View::Overview | View::Targets) =>
            {
                Some(Action::OpenSchedule)
            }
            KeyCode::Char('?') => Some(Action::ToggleHelp),
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter | KeyCode::Char('t') => Some(Action::OpenDialog),
            _ => None,
        },
    }
}
