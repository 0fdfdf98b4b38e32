//! The async shell around the pure core: sets the terminal up, merges
//! terminal input, a slow tick and network updates into one channel, and
//! redraws only when something changed. It restores the terminal on exit,
//! on error (a guard's `Drop`) and on panic (a panic hook).

use std::io::{self, Stdout};
use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::action::{Action, action_for};
use super::app::{App, TuiConfig};
use super::command::Command;
use super::event::{Event, NetworkUpdate, WriteProgress};
use super::render::render;
use super::update::update;

/// The slow tick: ages are shown in seconds, so once a second is enough and
/// keeps an idle TUI far under 1% of a core.
pub const TICK: Duration = Duration::from_secs(1);
/// Events queued between the sources and the loop; terminal input and
/// updates wait (never drop) when the loop is busy drawing.
const EVENT_QUEUE: usize = 256;

/// Why the TUI stopped other than by the operator quitting.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("cannot use the terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// Runs the TUI until the operator quits.
///
/// `updates` is fed by the observer client; `commands` carries the
/// operator's writes back to it. The TUI never waits on the network: a
/// closed `updates` channel leaves the display as it was, and a full
/// `commands` channel fails the write on screen.
pub async fn run(
    config: TuiConfig,
    updates: mpsc::Receiver<NetworkUpdate>,
    commands: mpsc::Sender<Command>,
) -> Result<(), TuiError> {
    install_panic_hook();
    let mut guard = TerminalGuard::enter()?;
    let (events, mut inbox) = mpsc::channel(EVENT_QUEUE);
    let tasks: [JoinHandle<()>; 3] = [
        tokio::spawn(read_terminal(events.clone())),
        tokio::spawn(tick(events.clone())),
        tokio::spawn(forward(updates, events)),
    ];
    let result = event_loop(&mut guard.terminal, &mut inbox, config, &commands).await;
    for task in tasks {
        task.abort();
    }
    drop(guard);
    result
}

async fn event_loop(
    terminal: &mut Terminal<CrosstermBackend<Stdout>>,
    inbox: &mut mpsc::Receiver<Event>,
    config: TuiConfig,
    commands: &mpsc::Sender<Command>,
) -> Result<(), TuiError> {
    let mut app = App::new(config, now_ms());
    terminal.draw(|frame| render(&app, frame))?;
    while let Some(event) = inbox.recv().await {
        let mut changed = handle(&mut app, event, commands);
        // Coalesce a burst (a flurry of snapshots) into one frame.
        while let Ok(event) = inbox.try_recv() {
            changed |= handle(&mut app, event, commands);
        }
        if app.should_quit {
            break;
        }
        if changed {
            terminal.draw(|frame| render(&app, frame))?;
        }
    }
    Ok(())
}

/// Applies one event; says whether the screen may have changed.
fn handle(app: &mut App, event: Event, commands: &mpsc::Sender<Command>) -> bool {
    let Some(action) = action_for(app, event) else {
        return false;
    };
    if let Some(command) = update(app, action) {
        let write = match &command {
            Command::SetTarget { write, .. }
            | Command::SetOverride { write, .. }
            | Command::SetSchedule { write, .. } => Some(*write),
            Command::ForgetNode { .. } | Command::FetchHistory { .. } => None,
        };
        if let Err(e) = commands.try_send(command) {
            tracing::warn!(error = %e, "write not handed to the observer client");
            if let Some(write) = write {
                let failed = NetworkUpdate::WriteProgress {
                    write,
                    progress: WriteProgress::Failed("not connected to the office".to_string()),
                };
                update(app, Action::Network(failed));
            }
        }
    }
    true
}

async fn read_terminal(events: mpsc::Sender<Event>) {
    let mut stream = EventStream::new();
    while let Some(next) = stream.next().await {
        match next {
            Ok(event) => {
                if events.send(Event::Terminal(event)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "terminal input failed");
                return;
            }
        }
    }
}

async fn tick(events: mpsc::Sender<Event>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if events.send(Event::Tick { now_ms: now_ms() }).await.is_err() {
            return;
        }
    }
}

async fn forward(mut updates: mpsc::Receiver<NetworkUpdate>, events: mpsc::Sender<Event>) {
    while let Some(update) = updates.recv().await {
        if events.send(Event::Network(update)).await.is_err() {
            return;
        }
    }
}

/// The wall clock in milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Owns the terminal in raw mode on the alternate screen; gives it back
/// when dropped, whichever way `run` ends.
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        enable_raw_mode()?;
        let mut stdout = io::stdout();
        if let Err(e) = execute!(stdout, EnterAlternateScreen, EnableMouseCapture) {
            restore_terminal();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(mut terminal) => {
                terminal.clear()?;
                Ok(TerminalGuard { terminal })
            }
            Err(e) => {
                restore_terminal();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves raw mode and the alternate screen; safe to call more than once.
fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Restores the terminal before the panic message prints, so it is readable
/// and the shell is usable afterwards.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}
