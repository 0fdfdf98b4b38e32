//! The TUI on a live office: the observer client on one side of two
//! channels, the terminal on the other.
//!
//! A driver task owns the [`Observer`]: it folds the replica into
//! snapshots (at most one per [`COALESCE`], however fast broadcasts
//! arrive), derives the Events log from what changed, carries the
//! operator's target writes to the attached node and follows each to
//! *converged*. The terminal side ([`super::run`]) only ever waits on its
//! own channel, so a slow or vanished node can never freeze the display.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::app::TuiConfig;
use super::command::Command;
use super::event::{LogEvent, LogKind, NetworkUpdate, WriteId, WriteProgress};
use super::from_state::{self, Observed};
use super::office_changes::changes;
use super::runner::{self, TuiError};
use super::snapshot::{ConnectionStatus, OfficeSnapshot};
use super::target_limits::TargetLimits;
use super::theme::Theme;
use crate::crdt::{Dot, Quantity};
use crate::net::Keyring;
use crate::observer::{Observer, ObserverError, ObserverIdentity, ObserverIdentityError, Update};
use crate::replica::authorship::Trust;

/// How long a burst of broadcasts and clock reports is gathered into one
/// snapshot: fast enough that a write visibly spreads, slow enough that a
/// flurry costs one redraw.
pub const COALESCE: Duration = Duration::from_millis(100);
/// How often liveness and write progress are re-checked when nothing
/// arrives (a node turns unreachable by staying silent).
pub const REFRESH: Duration = Duration::from_secs(1);
/// How long to wait before trying every address again when no node answered.
pub const RETRY: Duration = Duration::from_secs(2);
/// A write no node has stored after this long is reported failed.
pub const STORE_TIMEOUT: Duration = Duration::from_secs(30);
/// Updates queued for the terminal side; it drains them every frame.
const UPDATE_QUEUE: usize = 256;
/// Writes queued for the driver; an operator types far slower than this.
const COMMAND_QUEUE: usize = 16;

/// Where and as whom the TUI attaches.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Nodes to attach to, in preference order; later ones are fall-backs.
    pub connect: Vec<SocketAddr>,
    /// The cluster keys to dial with (the primary first).
    pub cluster_key: Keyring,
    /// The observer's keypair and dot counter (see `ObserverIdentity`).
    pub identity_dir: PathBuf,
    /// What the set-target dialog accepts.
    pub limits: TargetLimits,
    /// The office's time zone (`[office] timezone`).
    pub time_zone: jiff::tz::TimeZone,
    /// The operators list: whether this observer may write, and as whom.
    pub trust: Trust,
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Identity(#[from] ObserverIdentityError),
    #[error(transparent)]
    Tui(#[from] TuiError),
    #[error("no node to attach to: pass at least one address")]
    NoAddress,
}

/// Opens the TUI on the office reachable at `options.connect` and returns
/// when the operator quits. The TUI opens at once and shows "connecting"
/// until a node answers.
pub async fn run(options: LiveOptions) -> Result<(), LiveError> {
    if options.connect.is_empty() {
        return Err(LiveError::NoAddress);
    }
    // Fail before taking the terminal if the identity is unusable.
    ObserverIdentity::load_or_generate(&options.identity_dir)?;
    let (updates_tx, updates_rx) = mpsc::channel(UPDATE_QUEUE);
    let (commands_tx, commands_rx) = mpsc::channel(COMMAND_QUEUE);
    let config = TuiConfig {
        limits: options.limits.clone(),
        theme: Theme::from_env(),
        time_zone: options.time_zone.clone(),
        ..TuiConfig::default()
    };
    let driver = tokio::spawn(drive(options, updates_tx, commands_rx));
    let result = runner::run(config, updates_rx, commands_tx).await;
    driver.abort();
    Ok(result?)
}

/// The terminal side is gone (the operator quit).
struct Closed;

async fn drive(
    options: LiveOptions,
    updates: mpsc::Sender<NetworkUpdate>,
    mut commands: mpsc::Receiver<Command>,
) {
    let mut driver = Driver::new(updates);
    let Ok(observer) = driver.connect(&options, &mut commands).await else {
        return;
    };
    let _ = driver.follow(observer, &mut commands).await;
}

/// One write the operator made, on its way to every live node.
#[derive(Debug)]
struct Tracked {
    write: WriteId,
    dot: Dot,
    sent: Instant,
    stored: bool,
    coverage: Option<(usize, usize)>,
}

struct Driver {
    updates: mpsc::Sender<NetworkUpdate>,
    /// The instant `epoch_ms` was read: report arrival times become wall times.
    epoch: Instant,
    epoch_ms: u64,
    connection: ConnectionStatus,
    /// The attached node's id and address, kept through an outage so the
    /// status line says which node is being replaced.
    attached: Option<(crate::NodeId, String)>,
    last_sent: Option<OfficeSnapshot>,
    /// The last snapshot the Events log was derived from. Only taken once
    /// every node had its chance to report: just after (re)attaching,
    /// silent nodes count as alive and would "come back" and "leave" again.
    log_base: Option<OfficeSnapshot>,
    /// Whether this outage was already reported in the log.
    outage_told: bool,
    /// When each node last reported, kept across reattachments.
    heard: BTreeMap<crate::NodeId, Instant>,
    /// Writes made before the first full sync wait for it, so they replace
    /// the siblings the office already holds.
    waiting: Vec<Command>,
    writes: BTreeMap<u64, Tracked>,
    /// Forget requests awaiting their answer: the node's name, by request.
    forgets: BTreeMap<u64, String>,
    set_by: String,
    read_only_told: bool,
}

impl Driver {
    fn new(updates: mpsc::Sender<NetworkUpdate>) -> Self {
        Driver {
            updates,
            epoch: Instant::now(),
            epoch_ms: wall_ms(),
            connection: ConnectionStatus::Connecting,
            attached: None,
            last_sent: None,
            log_base: None,
            outage_told: false,
            heard: BTreeMap::new(),
            waiting: Vec::new(),
            writes: BTreeMap::new(),
            forgets: BTreeMap::new(),
            set_by: crate::config::operator_label(),
            read_only_told: false,
        }
    }

    /// Takes this observer's name from the operators list, and says once
    /// when it is not listed: every node refuses its writes, so the TUI is
    /// read-only for it.
    async fn as_operator(&mut self, observer: &Observer, trust: &Trust) -> Result<(), Closed> {
        if let Some(name) = trust.operator_name(observer.id()) {
            self.set_by = name.to_string();
        } else if !trust.is_operator(observer.id()) && !self.read_only_told {
            self.read_only_told = true;
            self.log(
                LogKind::Error,
                format!(
                    "read-only: this observer ({}) is not in [cluster] operators, so nodes refuse its writes; `officemesh whoami` prints the entry to add",
                    observer.id()
                ),
            )
            .await?;
        }
        Ok(())
    }

    async fn send(&self, update: NetworkUpdate) -> Result<(), Closed> {
        self.updates.send(update).await.map_err(|_| Closed)
    }

    async fn log(&self, kind: LogKind, text: String) -> Result<(), Closed> {
        self.send(NetworkUpdate::Log(LogEvent {
            at_ms: wall_ms(),
            kind,
            text,
        }))
        .await
    }

    async fn progress(&self, write: WriteId, progress: WriteProgress) -> Result<(), Closed> {
        self.send(NetworkUpdate::WriteProgress { write, progress })
            .await
    }

    /// Tries every address until one answers; writes made meanwhile fail
    /// on the spot rather than wait unseen.
    async fn connect(
        &mut self,
        options: &LiveOptions,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Result<Observer, Closed> {
        let mut reported = String::new();
        loop {
            let identity = match ObserverIdentity::load_or_generate(&options.identity_dir) {
                Ok(identity) => identity,
                Err(e) => {
                    self.log(LogKind::Error, e.to_string()).await?;
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let attempt = Observer::connect(
                identity,
                options.cluster_key.clone(),
                options.connect.clone(),
            );
            tokio::select! {
                result = attempt => match result {
                    Ok(mut observer) => {
                        observer.set_listed(&options.trust);
                        self.as_operator(&observer, &options.trust).await?;
                        return Ok(observer);
                    }
                    Err(e) => {
                        let text = e.to_string();
                        // Say it once, not every retry.
                        if text != reported {
                            self.log(LogKind::Error, format!("{text}; retrying")).await?;
                            reported = text;
                        }
                        tokio::time::sleep(RETRY).await;
                    }
                },
                command = commands.recv() => match command {
                    Some(
                        Command::SetTarget { write, .. }
                        | Command::SetOverride { write, .. }
                        | Command::SetSchedule { write, .. },
                    ) => {
                        self.progress(write, WriteProgress::Failed("not connected to any node yet".into())).await?;
                    }
                    Some(Command::ForgetNode { name, .. }) => {
                        self.log(LogKind::Error, format!("forget {name} failed: not connected to any node yet")).await?;
                    }
                    // The detail asks again once attached.
                    Some(Command::FetchHistory { .. }) => {}
                    None => return Err(Closed),
                },
            }
            if self.updates.is_closed() {
                return Err(Closed);
            }
        }
    }

    /// Runs until the terminal side closes.
    async fn follow(
        &mut self,
        mut observer: Observer,
        commands: &mut mpsc::Receiver<Command>,
    ) -> Result<(), Closed> {
        self.on_attached(&observer).await?;
        let mut refresh = tokio::time::interval(REFRESH);
        refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut flush_at: Option<Instant> = Some(Instant::now());
        loop {
            // While detached, `next_update` is busy attaching: nothing else
            // may cancel it halfway.
            let attached = observer.attached().is_some();
            let flush = async move {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                update = observer.next_update() => {
                    if self.on_update(&mut observer, update).await? {
                        flush_at = flush_at.or(Some(Instant::now() + COALESCE));
                    }
                }
                command = commands.recv(), if attached => {
                    let Some(command) = command else { return Err(Closed) };
                    self.on_command(&mut observer, command).await?;
                }
                () = flush, if attached => {
                    flush_at = None;
                    self.publish(&observer).await?;
                    self.check_writes(&observer).await?;
                }
                _ = refresh.tick(), if attached => {
                    self.publish(&observer).await?;
                    self.check_writes(&observer).await?;
                }
            }
        }
    }

    async fn on_attached(&mut self, observer: &Observer) -> Result<(), Closed> {
        let Some(peer) = observer.attached() else {
            return Ok(());
        };
        self.attached = Some((peer.id, peer.addr.to_string()));
        self.connection = ConnectionStatus::Connected;
        self.outage_told = false;
        self.send(NetworkUpdate::Connection(self.connection))
            .await?;
        self.log(
            LogKind::Info,
            format!(
                "attached to {} at {}",
                node_name(observer, peer.id),
                peer.addr
            ),
        )
        .await?;
        self.publish(observer).await
    }

    /// Handles one update; says whether a snapshot should follow.
    async fn on_update(&mut self, observer: &mut Observer, update: Update) -> Result<bool, Closed> {
        match update {
            Update::Synced => {
                let nodes = observer.state().nodes().count();
                let with = observer
                    .attached()
                    .map_or_else(|| "the node".to_string(), |p| node_name(observer, p.id));
                self.log(
                    LogKind::Info,
                    format!("synced with {with}: the office has {nodes} nodes"),
                )
                .await?;
                for command in std::mem::take(&mut self.waiting) {
                    self.on_command(observer, command).await?;
                }
                Ok(true)
            }
            Update::State | Update::Clock(_) => Ok(true),
            Update::History { node, answer, .. } => {
                self.send(NetworkUpdate::History { node, answer }).await?;
                Ok(false)
            }
            Update::Stored { request, by } => {
                if let Some(name) = self.forgets.remove(&request) {
                    self.log(
                        LogKind::Write,
                        format!("{name} forgotten (stored by {})", node_name(observer, by)),
                    )
                    .await?;
                    return Ok(true);
                }
                if let Some(tracked) = self.writes.get_mut(&request) {
                    tracked.stored = true;
                    let write = tracked.write;
                    self.progress(write, WriteProgress::Stored).await?;
                    self.log(
                        LogKind::Write,
                        format!("write {request} stored by {}", node_name(observer, by)),
                    )
                    .await?;
                }
                self.check_writes(observer).await?;
                Ok(false)
            }
            Update::Rejected { request, reason } => {
                if let Some(name) = self.forgets.remove(&request) {
                    self.log(LogKind::Error, format!("forget {name} rejected: {reason}"))
                        .await?;
                    return Ok(true);
                }
                if let Some(tracked) = self.writes.remove(&request) {
                    self.progress(tracked.write, WriteProgress::Failed(reason.clone()))
                        .await?;
                }
                self.log(
                    LogKind::Error,
                    format!("write {request} rejected: {reason}"),
                )
                .await?;
                // The refused value left this replica: redraw without it.
                Ok(true)
            }
            Update::NotStored {
                request,
                reason,
                sent_to,
            } => {
                let message = format!(
                    "not stored on the node: {reason}; already sent to {sent_to} neighbour(s)"
                );
                if let Some(name) = self.forgets.remove(&request) {
                    self.log(LogKind::Error, format!("forget {name}: {message}"))
                        .await?;
                    return Ok(true);
                }
                if let Some(tracked) = self.writes.remove(&request) {
                    self.progress(tracked.write, WriteProgress::Failed(message.clone()))
                        .await?;
                }
                self.log(LogKind::Error, format!("write {request}: {message}"))
                    .await?;
                Ok(true)
            }
            Update::Lost { node, reason } => {
                self.connection = ConnectionStatus::Reconnecting;
                self.send(NetworkUpdate::Connection(self.connection))
                    .await?;
                self.log(
                    LogKind::Error,
                    format!(
                        "lost {} ({reason}); reconnecting",
                        node_name(observer, node)
                    ),
                )
                .await?;
                self.publish(observer).await?;
                Ok(false)
            }
            Update::Detached => {
                self.connection = ConnectionStatus::Reconnecting;
                if !self.outage_told {
                    self.outage_told = true;
                    self.send(NetworkUpdate::Connection(self.connection))
                        .await?;
                    self.log(
                        LogKind::Error,
                        "no known node answers; still trying every address".into(),
                    )
                    .await?;
                }
                // Between attempts: nodes fall silent on screen as they would
                // in the office, and the display never looks frozen.
                self.publish(observer).await?;
                Ok(false)
            }
            Update::Attached(_) => {
                self.on_attached(observer).await?;
                Ok(false)
            }
        }
    }

    async fn on_command(
        &mut self,
        observer: &mut Observer,
        command: Command,
    ) -> Result<(), Closed> {
        if let Command::FetchHistory { node, since_ms } = command {
            // Unanswered (node unreachable, detached): the view asks again.
            if let Err(error) = observer.request_history(node, since_ms) {
                tracing::debug!(%error, "history not requested");
            }
            return Ok(());
        }
        if !observer.is_synced() {
            self.waiting.push(command);
            return Ok(());
        }
        let (write, zone, quantity, value) = match command {
            Command::SetTarget {
                write,
                zone,
                quantity,
                value,
            } => (write, zone, quantity, value),
            Command::ForgetNode { node, name } => return self.forget(observer, node, name).await,
            Command::SetSchedule {
                write,
                zone,
                mut schedule,
            } => {
                schedule.set_by = self.set_by.clone();
                let what = if schedule.is_empty() {
                    format!("clear {zone}'s schedule")
                } else {
                    format!(
                        "schedule {zone}: {}",
                        crate::control::schedule_syntax::Printed(&schedule)
                    )
                };
                let submitted = observer.write_schedule(&zone, schedule);
                return self.track(write, submitted, what).await;
            }
            Command::FetchHistory { .. } => return Ok(()),
            Command::SetOverride {
                write,
                zone,
                celsius,
                lasts_ms,
            } => {
                let value = crate::crdt::OverrideValue {
                    celsius: Some(celsius as f32),
                    expires_at_ms: lasts_ms.map(|l| Observer::wall_ms().saturating_add(l)),
                    set_by: self.set_by.clone(),
                };
                let submitted = observer.write_override(&zone, value);
                let what = match lasts_ms {
                    Some(l) => format!("boost {zone} to {celsius} °C for {} min", l / 60_000),
                    None => format!("hold {zone} at {celsius} °C"),
                };
                return self.track(write, submitted, what).await;
            }
        };
        let Some(q) = quantity_named(&quantity) else {
            return self
                .progress(
                    write,
                    WriteProgress::Failed(format!("unknown quantity {quantity}")),
                )
                .await;
        };
        let submitted = observer.write_target(&zone, q, value as f32, self.set_by.clone());
        self.track(
            write,
            submitted,
            format!("set {zone} {quantity} to {value}"),
        )
        .await
    }

    /// Follows a submitted write to *converged*, or reports why it failed.
    async fn track(
        &mut self,
        write: WriteId,
        submitted: Result<crate::observer::Submitted, ObserverError>,
        what: String,
    ) -> Result<(), Closed> {
        match submitted {
            Ok(submitted) => {
                self.writes.insert(
                    submitted.request,
                    Tracked {
                        write,
                        dot: submitted.dot,
                        sent: Instant::now(),
                        stored: false,
                        coverage: None,
                    },
                );
                self.progress(write, WriteProgress::Pending).await?;
                self.log(
                    LogKind::Write,
                    format!("{what} (write {})", submitted.request),
                )
                .await
            }
            Err(e) => {
                let reason = match e {
                    ObserverError::Detached => "not attached to any node".to_string(),
                    other => other.to_string(),
                };
                self.progress(write, WriteProgress::Failed(reason.clone()))
                    .await?;
                self.log(LogKind::Error, format!("{what} failed: {reason}"))
                    .await
            }
        }
    }

    /// Writes a node's tombstone; the answer is logged when it comes.
    async fn forget(
        &mut self,
        observer: &mut Observer,
        node: crate::NodeId,
        name: String,
    ) -> Result<(), Closed> {
        if observer.attached().is_some_and(|p| p.id == node) {
            // It would stop before it could answer.
            return self
                .log(
                    LogKind::Error,
                    format!("not forgetting {name}: this TUI is attached to it; connect through another node"),
                )
                .await;
        }
        match observer.forget_node(node) {
            Ok(submitted) => {
                self.log(
                    LogKind::Write,
                    format!("forget {name} (write {})", submitted.request),
                )
                .await?;
                self.forgets.insert(submitted.request, name);
                Ok(())
            }
            Err(e) => {
                self.log(LogKind::Error, format!("forget {name} failed: {e}"))
                    .await
            }
        }
    }

    /// Sends a snapshot if the office looks different, with the log lines
    /// saying what changed.
    async fn publish(&mut self, observer: &Observer) -> Result<(), Closed> {
        let live = observer.live_nodes();
        for (id, clock) in observer.clocks() {
            if let Some(at) = clock.at {
                let heard = self.heard.entry(*id).or_insert(at);
                *heard = (*heard).max(at);
            }
        }
        let snapshot = from_state::snapshot(&Observed {
            state: observer.state(),
            clocks: observer.clocks(),
            heard: &self.heard,
            live: &live,
            settled: observer.reports_settled(),
            attached: self.attached.clone(),
            connection: self.connection,
            epoch: self.epoch,
            epoch_ms: self.epoch_ms,
        });
        if self.last_sent.as_ref() == Some(&snapshot) {
            return Ok(());
        }
        // Only after the first full sync: before it, every node would
        // "join" at once.
        if observer.is_synced() && observer.reports_settled() {
            if let Some(before) = &self.log_base
                && !before.nodes.is_empty()
            {
                for event in changes(before, &snapshot, wall_ms()) {
                    self.send(NetworkUpdate::Log(event)).await?;
                }
            }
            self.log_base = Some(snapshot.clone());
        }
        self.last_sent = Some(snapshot.clone());
        self.send(NetworkUpdate::Snapshot(snapshot)).await
    }

    /// Reports each stored write's *converged k/N* when it moves, and
    /// stops following a write once every live node has it.
    async fn check_writes(&mut self, observer: &Observer) -> Result<(), Closed> {
        let settled = observer.reports_settled();
        let mut done = Vec::new();
        let mut converged = Vec::new();
        let mut updates = Vec::new();
        for (request, tracked) in &mut self.writes {
            if !tracked.stored {
                if tracked.sent.elapsed() >= STORE_TIMEOUT {
                    done.push(*request);
                    updates.push((
                        tracked.write,
                        WriteProgress::Failed(format!(
                            "no node stored it within {} s",
                            STORE_TIMEOUT.as_secs()
                        )),
                    ));
                }
                continue;
            }
            let (k, n) = observer.coverage(tracked.dot);
            if n == 0 {
                continue;
            }
            if tracked.coverage != Some((k, n)) {
                tracked.coverage = Some((k, n));
                updates.push((tracked.write, WriteProgress::Converged { k, n }));
            }
            if k == n && settled {
                done.push(*request);
                converged.push((*request, n));
            }
        }
        for request in done {
            self.writes.remove(&request);
        }
        for (write, progress) in updates {
            self.progress(write, progress).await?;
        }
        for (request, n) in converged {
            self.log(
                LogKind::Write,
                format!("write {request} converged: all {n} live nodes have it"),
            )
            .await?;
        }
        Ok(())
    }
}

/// A node's human name if the office state has it, else its short id.
fn node_name(observer: &Observer, id: crate::NodeId) -> String {
    observer
        .state()
        .node(id)
        .and_then(|r| r.winner())
        .map_or_else(
            || format!("node {}", id.short()),
            |(_, s)| s.value.name.clone(),
        )
}

/// The quantity a target row names ("temperature", ...).
fn quantity_named(name: &str) -> Option<Quantity> {
    [
        Quantity::Temperature,
        Quantity::Humidity,
        Quantity::Pressure,
        Quantity::Co2,
        Quantity::Illuminance,
    ]
    .into_iter()
    .find(|q| q.name() == name)
}

/// The wall clock in milliseconds since the Unix epoch.
fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_found_by_their_names() {
        assert_eq!(quantity_named("temperature"), Some(Quantity::Temperature));
        assert_eq!(quantity_named("humidity"), Some(Quantity::Humidity));
        assert_eq!(quantity_named("warmth"), None);
    }
}
