//! The TUI's whole state. `update` changes it, `render` reads it; nothing
//! else does, so a test can build an `App`, feed it actions and look.

use std::collections::{BTreeMap, VecDeque};

use super::event::{LogEvent, WriteId, WriteProgress};
use super::history::SensorHistory;
use super::schedule_editor::ScheduleEditor;
use super::snapshot::{ConnectionStatus, OfficeSnapshot};
use super::summary::Summary;
use super::target_limits::TargetLimits;
use super::theme::Theme;

/// How many lines the Events view keeps; older ones scroll away for good.
pub const EVENT_LINES: usize = 500;
/// How many of its own writes the TUI remembers the progress of.
pub const WRITES_KEPT: usize = 64;
/// A reading older than this is marked `STALE`; matches the thermostat's
/// fail-safe horizon, so what the operator sees as stale is what the heating
/// ignores.
pub const DEFAULT_STALE_AFTER_MS: u64 = 60_000;

/// The six views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Overview,
    Network,
    Sensors,
    Clocks,
    Targets,
    Events,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Overview,
        View::Network,
        View::Sensors,
        View::Clocks,
        View::Targets,
        View::Events,
    ];

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Network => "Network",
            View::Sensors => "Sensors",
            View::Clocks => "Clocks",
            View::Targets => "Targets",
            View::Events => "Events",
        }
    }
}

/// What the keyboard is talking to.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    /// Typing the current view's `/` filter.
    Filter,
    /// The set-target dialog is open.
    Dialog(TargetDialog),
    /// Asking whether to forget a node for good.
    ConfirmForget(ForgetDialog),
    /// The `?` overlay is open.
    Help,
    /// A zone's weekly program is open in the schedule editor (boxed:
    /// the draft is far larger than the other modes).
    Schedule(Box<ScheduleEditor>),
}

/// The set-target dialog's state.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetDialog {
    pub zone: String,
    pub quantity: String,
    /// What the operator has typed (or stepped to) so far.
    pub input: String,
    /// The input still shows the starting value; the first digit replaces it.
    pub fresh: bool,
    /// How long the value holds (`Tab` cycles; temperature only).
    pub lasts: OverrideFor,
}

/// How long a value set in the dialog holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideFor {
    /// The zone's standing target (what the schedule falls back to).
    Standing,
    /// An override (a boost) that ends by itself after this many minutes,
    /// on every node at the same moment.
    Minutes(u64),
    /// An override that holds until resumed.
    Hold,
}

impl OverrideFor {
    /// The choices `Tab` steps through, in order.
    pub const CHOICES: [OverrideFor; 7] = [
        OverrideFor::Standing,
        OverrideFor::Minutes(30),
        OverrideFor::Minutes(60),
        OverrideFor::Minutes(120),
        OverrideFor::Minutes(240),
        OverrideFor::Minutes(480),
        OverrideFor::Hold,
    ];

    pub fn next(self) -> OverrideFor {
        let i = OverrideFor::CHOICES
            .iter()
            .position(|c| *c == self)
            .unwrap_or(0);
        OverrideFor::CHOICES[(i + 1) % OverrideFor::CHOICES.len()]
    }

    /// In words, for the dialog.
    pub fn label(self) -> String {
        match self {
            OverrideFor::Standing => "standing target (the schedule still applies)".into(),
            OverrideFor::Minutes(m) if m % 60 == 0 => {
                format!("override for {} h, then back to the schedule", m / 60)
            }
            OverrideFor::Minutes(m) => format!("override for {m} min, then back to the schedule"),
            OverrideFor::Hold => "override held until resumed".into(),
        }
    }
}

/// The zone detail (`d` on the Overview or Targets) and the history its
/// node sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneDetail {
    pub zone: String,
    /// The node whose history is shown: the zone's heater node, else one
    /// with a temperature sensor, else any node of the zone.
    pub node: Option<crate::NodeId>,
    pub history: Option<crate::wire::observer::HistoryAnswer>,
    /// When the history was last asked for (the TUI's clock, Unix ms).
    pub asked_ms: u64,
}

/// How often an open zone detail asks its node for the points since the
/// last it has.
pub const HISTORY_REFRESH_MS: u64 = 60_000;

/// The node the operator asked to forget, until they confirm or cancel.
#[derive(Debug, Clone, PartialEq)]
pub struct ForgetDialog {
    pub node: crate::NodeId,
    pub name: String,
}

/// How the Network view orders nodes (`s` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkSort {
    #[default]
    Name,
    Zone,
    Status,
    LastSeen,
}

impl NetworkSort {
    pub fn next(self) -> Self {
        match self {
            NetworkSort::Name => NetworkSort::Zone,
            NetworkSort::Zone => NetworkSort::Status,
            NetworkSort::Status => NetworkSort::LastSeen,
            NetworkSort::LastSeen => NetworkSort::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            NetworkSort::Name => "name",
            NetworkSort::Zone => "zone",
            NetworkSort::Status => "status",
            NetworkSort::LastSeen => "last seen",
        }
    }
}

/// Settings fixed for the TUI's lifetime.
#[derive(Debug, Clone, PartialEq)]
pub struct TuiConfig {
    /// Allowed range and step of every target quantity.
    pub limits: TargetLimits,
    /// Colors on, unless `NO_COLOR` is set (see `Theme::from_env`).
    pub theme: Theme,
    pub stale_after_ms: u64,
    /// The office's time zone: "today" in the zone detail starts at its
    /// midnight.
    pub time_zone: jiff::tz::TimeZone,
}

impl Default for TuiConfig {
    fn default() -> Self {
        TuiConfig {
            limits: TargetLimits::office_defaults(),
            theme: Theme::default(),
            stale_after_ms: DEFAULT_STALE_AFTER_MS,
            time_zone: jiff::tz::TimeZone::UTC,
        }
    }
}

/// A write this TUI issued and how far it got.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetWrite {
    pub zone: String,
    pub quantity: String,
    pub value: f64,
    pub progress: WriteProgress,
}

/// The TUI's state.
#[derive(Debug, Clone)]
pub struct App {
    pub config: TuiConfig,
    /// Wall clock, advanced by ticks; ages are computed against it.
    pub now_ms: u64,
    pub view: View,
    pub mode: Mode,
    /// The office as displayed.
    pub snapshot: OfficeSnapshot,
    pub summary: Summary,
    /// The newest snapshot received while the display is frozen.
    pub held: Option<OfficeSnapshot>,
    /// When `f` froze the display; ages stop there too.
    pub frozen_at_ms: Option<u64>,
    /// The live session state (never frozen: the operator must see an outage).
    pub connection: ConnectionStatus,
    pub history: SensorHistory,
    /// Newest first.
    pub events: VecDeque<LogEvent>,
    held_events: Vec<LogEvent>,
    pub writes: BTreeMap<WriteId, TargetWrite>,
    next_write: u64,
    /// Selected row per view (indexed by `View::index`).
    pub selected: [usize; 6],
    /// Filter text per view.
    pub filters: [String; 6],
    /// First origin column shown in the Clocks view.
    pub clock_column: usize,
    pub network_sort: NetworkSort,
    /// The zone detail, while open (over the current view).
    pub detail: Option<ZoneDetail>,
    pub should_quit: bool,
}

impl App {
    pub fn new(config: TuiConfig, now_ms: u64) -> Self {
        App {
            config,
            now_ms,
            view: View::Overview,
            mode: Mode::Normal,
            snapshot: OfficeSnapshot::default(),
            summary: Summary::default(),
            held: None,
            frozen_at_ms: None,
            connection: ConnectionStatus::Connecting,
            history: SensorHistory::default(),
            events: VecDeque::new(),
            held_events: Vec::new(),
            writes: BTreeMap::new(),
            next_write: 1,
            selected: [0; 6],
            filters: Default::default(),
            clock_column: 0,
            network_sort: NetworkSort::default(),
            detail: None,
            should_quit: false,
        }
    }

    /// The time ages are measured against: frozen with the display.
    pub fn display_now(&self) -> u64 {
        self.frozen_at_ms.unwrap_or(self.now_ms)
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen_at_ms.is_some()
    }

    /// The current view's filter text.
    pub fn filter(&self) -> &str {
        &self.filters[self.view.index()]
    }

    pub fn selected(&self) -> usize {
        self.selected[self.view.index()]
    }

    /// Takes in a snapshot: shown now, or held while frozen. History is
    /// recorded either way so sparklines have no hole after unfreezing.
    pub fn receive_snapshot(&mut self, snapshot: OfficeSnapshot) {
        self.history.record(&snapshot);
        self.connection = snapshot.connection;
        if self.is_frozen() {
            self.held = Some(snapshot);
        } else {
            self.show(snapshot);
        }
    }

    fn show(&mut self, snapshot: OfficeSnapshot) {
        self.summary = Summary::of(&snapshot);
        self.snapshot = snapshot;
    }

    pub fn receive_log(&mut self, event: LogEvent) {
        if self.is_frozen() {
            self.held_events.push(event);
        } else {
            self.push_event(event);
        }
    }

    fn push_event(&mut self, event: LogEvent) {
        self.events.push_front(event);
        self.events.truncate(EVENT_LINES);
    }

    pub fn freeze(&mut self) {
        self.frozen_at_ms = Some(self.now_ms);
    }

    pub fn unfreeze(&mut self) {
        self.frozen_at_ms = None;
        if let Some(snapshot) = self.held.take() {
            self.show(snapshot);
        }
        for event in std::mem::take(&mut self.held_events) {
            self.push_event(event);
        }
    }

    /// A name for a write about to be sent, never given before.
    pub fn next_write_id(&mut self) -> WriteId {
        let id = WriteId(self.next_write);
        self.next_write += 1;
        id
    }

    /// Records a target write about to be sent and names it.
    pub fn start_write(&mut self, zone: String, quantity: String, value: f64) -> WriteId {
        let id = self.next_write_id();
        self.writes.insert(
            id,
            TargetWrite {
                zone,
                quantity,
                value,
                progress: WriteProgress::Pending,
            },
        );
        while self.writes.len() > WRITES_KEPT {
            self.writes.pop_first();
        }
        id
    }

    /// The newest write this TUI made to a target, if any.
    pub fn latest_write(&self, zone: &str, quantity: &str) -> Option<&TargetWrite> {
        self.writes
            .values()
            .rev()
            .find(|w| w.zone == zone && w.quantity == quantity)
    }
}
