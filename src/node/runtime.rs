//! The node driver: sockets, timers, the disk and signals around one
//! [`Replica`]. It turns connection events, local writes, timer expiries
//! and finished disk jobs into replica inputs, and the replica's outputs
//! into socket writes, dials, closes and commits. It decides nothing a
//! peer could observe: that is the replica core's job, and the simulator
//! runs the same core.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::durable::Durable;
use super::settings::Settings;
use super::wall_clock::WallClock;
use crate::crdt::{TargetKey, TargetValue};
use crate::net::{Backoff, Endpoint, NetEvent, PeerHandle};
use crate::replica::{Input, LinkId, LocalWrite, Output, PersistJob, Replica};
use crate::time::Time;
use crate::wire;

/// How long a clean stop waits for the last snapshot and for the
/// connections to write what is queued.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often freed heap is given back to the system.
const HEAP_RELEASE: Duration = Duration::from_secs(30);

/// The handles the outside world holds on a running node.
#[derive(Debug)]
pub struct Channels {
    pub local_rx: mpsc::Receiver<LocalWrite>,
    pub targets_tx: watch::Sender<BTreeMap<TargetKey, TargetValue>>,
    pub shutdown_rx: watch::Receiver<bool>,
    /// Reloads of the keyring and the revoked replicas.
    pub reload_rx: mpsc::Receiver<Reload>,
    /// Wall-clock µs when the winning targets last changed; the
    /// benchmark's exact convergence time.
    pub target_changes: crate::node::stats::TargetChanges,
    /// Loop ticks and a summary for the watchdog, `STATUS=` and metrics.
    pub health: super::health::HealthRecorder,
    /// Every zone's heating program, for the thermostats.
    pub programs_tx: watch::Sender<super::Programs>,
}

/// A configuration reload's part for the node task.
#[derive(Debug)]
pub struct Reload {
    pub keyring: crate::net::Keyring,
    /// The operators and the revoked replicas.
    pub trust: crate::replica::authorship::Trust,
    pub done: tokio::sync::oneshot::Sender<super::Reloaded>,
}

pub struct Runtime {
    settings: Settings,
    endpoint: Endpoint,
    epoch: Instant,
    wall: WallClock,
    events_tx: mpsc::Sender<NetEvent>,
    events_rx: mpsc::Receiver<NetEvent>,
    channels: Channels,
    replica: Replica,
    conns: HashMap<LinkId, PeerHandle>,
    persister: Persister,
    out: Vec<Output>,
}

impl Runtime {
    pub(super) fn new(
        settings: Settings,
        endpoint: Endpoint,
        events: (mpsc::Sender<NetEvent>, mpsc::Receiver<NetEvent>),
        channels: Channels,
        durable: Durable,
        replica: Replica,
    ) -> Self {
        Runtime {
            settings,
            endpoint,
            epoch: Instant::now(),
            wall: WallClock::from_env(),
            events_tx: events.0,
            events_rx: events.1,
            channels,
            replica,
            conns: HashMap::new(),
            persister: Persister::spawn(durable),
            out: Vec::new(),
        }
    }

    fn now(&self) -> Time {
        Time::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    fn input(&mut self, input: Input) {
        let wall_ms = self.wall.now_ms();
        let mut out = std::mem::take(&mut self.out);
        self.replica.handle(self.now(), wall_ms, input, &mut out);
        for output in out.drain(..) {
            self.execute(output);
        }
        self.out = out;
    }

    /// Runs until shutdown is signalled, then leaves gracefully.
    pub(super) async fn run(mut self) {
        self.input(Input::Start);
        let mut interfaces = tokio::time::interval(self.settings.interface_poll);
        interfaces.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heap = tokio::time::interval(HEAP_RELEASE);
        heap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let due = self
                .replica
                .poll_timeout()
                .map(|t| self.epoch + Duration::from_micros(t.as_micros()));
            let sleep = async move {
                match due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = self.channels.shutdown_rx.changed() => {
                    if changed.is_err() || *self.channels.shutdown_rx.borrow() {
                        break;
                    }
                }
                Some(event) = self.events_rx.recv() => self.on_net(event),
                Some(write) = self.channels.local_rx.recv() => self.input(Input::Local(write)),
                Some(reload) = self.channels.reload_rx.recv() => self.reload(reload),
                Some((token, result)) = self.persister.done.recv() => {
                    self.input(Input::Persisted { token, result });
                }
                () = sleep => self.input(Input::Tick),
                _ = interfaces.tick(), if self.settings.interfaces.is_none() => {
                    let fresh = self.settings.current_interfaces();
                    self.input(Input::Interfaces(fresh));
                }
                _ = heap.tick() => super::heap::release_free_heap(),
                () = self.channels.health.heartbeat() => {}
            }
            self.channels.health.record(&self.replica).await;
        }
        self.leave().await;
    }

    /// Leave (DISCONNECT to every neighbour), write the last snapshot, and
    /// give the connections a moment to write what is queued.
    async fn leave(&mut self) {
        self.input(Input::Leave);
        let deadline = Instant::now() + STOP_GRACE;
        while !self.replica.persistence_idle() {
            match tokio::time::timeout_at(deadline, self.persister.done.recv()).await {
                Ok(Some((token, result))) => self.input(Input::Persisted { token, result }),
                _ => {
                    tracing::error!("the last snapshot did not finish in time");
                    break;
                }
            }
        }
        for conn in self.conns.values() {
            conn.close();
        }
        let deadline = Instant::now() + Duration::from_millis(500);
        while Instant::now() < deadline && self.conns.values().any(|c| !c.is_closed()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tracing::info!("state written; node stopped");
    }

    /// Swaps the endpoint's keyring and revoked set, closes the links they
    /// no longer allow, and re-announces the keys this node holds. Each
    /// closed link comes back as a `Closed` event, so the replica core
    /// sees an ordinary link failure.
    fn reload(&mut self, reload: Reload) {
        let fingerprints = reload.keyring.fingerprints();
        self.endpoint.set_keyring(reload.keyring);
        self.endpoint.set_revoked(reload.trust.revoked.clone());
        let mut reloaded = super::Reloaded::default();
        for conn in self.conns.values() {
            if self.endpoint.revoked().contains(&conn.id()) {
                tracing::warn!(peer = %conn.id(), "closing the link of a revoked replica");
                reloaded.closed_for_revocation += 1;
                conn.close();
            } else if !self.endpoint.keeps(conn.id(), conn.cluster_key()) {
                tracing::info!(peer = %conn.id(), key = %conn.cluster_key(), "closing a link made with a cluster key no longer in the keyring");
                reloaded.closed_for_key += 1;
                conn.close();
            }
        }
        self.input(Input::ClusterKeys(fingerprints));
        self.input(Input::Trust(reload.trust));
        let _ = reload.done.send(reloaded);
    }

    fn on_net(&mut self, event: NetEvent) {
        match event {
            NetEvent::Connected {
                peer,
                role,
                direction,
                handle,
            } => {
                // A connection to this peer that closed but whose event is
                // still queued is down before the new one is up.
                let closed: Vec<LinkId> = self
                    .conns
                    .iter()
                    .filter(|(_, c)| c.id() == peer.id && c.is_closed())
                    .map(|(id, _)| *id)
                    .collect();
                for link in closed {
                    self.conns.remove(&link);
                    self.input(Input::LinkDown { link });
                }
                let link = LinkId(handle.conn_id().0);
                self.conns.insert(link, handle);
                self.input(Input::LinkUp {
                    peer,
                    role,
                    outbound: direction == crate::net::Direction::Outbound,
                    link,
                });
            }
            NetEvent::Frame { conn, msg, .. } => {
                self.input(Input::Frame {
                    link: LinkId(conn.0),
                    msg,
                });
            }
            NetEvent::Closed { conn, reason, peer } => {
                tracing::debug!(%peer, %reason, "connection closed");
                let link = LinkId(conn.0);
                self.conns.remove(&link);
                self.input(Input::LinkDown { link });
            }
            NetEvent::ConnectFailed { addr, error } => {
                tracing::debug!(%addr, %error, "dial failed");
                self.input(Input::DialFailed { addr });
            }
        }
    }

    fn execute(&mut self, output: Output) {
        match output {
            Output::Send { link, msg } => {
                let Some(conn) = self.conns.get(&link) else {
                    return;
                };
                // Per-kind traffic for whoever studies it (docs/benchmarks.md);
                // the length is only computed when the target is on.
                tracing::trace!(
                    target: "officemesh::sent",
                    kind = msg.kind(),
                    len = wire::encode_message(&msg).map_or(0, |b| b.len()),
                );
                if let Err(error) = conn.send(&msg) {
                    tracing::debug!(peer = %conn.id(), %error, "send failed");
                }
            }
            Output::Dial { addr, seed } => {
                let (backoff, attempts) = if seed {
                    (Some(Backoff::new(rand::rng().random())), None)
                } else {
                    (None, Some(1))
                };
                self.endpoint
                    .spawn_connect(addr, backoff, attempts, self.events_tx.clone());
            }
            Output::Close { link } => {
                if let Some(conn) = self.conns.remove(&link) {
                    conn.close();
                }
            }
            Output::Persist(job) => self.persister.submit(job),
            Output::Targets(winners) => {
                let us = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_micros() as u64);
                // Beside the delivery lines: when a write took effect here.
                tracing::debug!(target: "officemesh::delivery", "winning targets changed");
                self.channels.target_changes.record(us);
                self.channels.targets_tx.send_replace(winners);
            }
            Output::Programs => {
                let programs = crate::control::ZoneProgram::all(self.replica.state());
                self.channels.programs_tx.send_if_modified(|current| {
                    let changed = *current != programs;
                    if changed {
                        *current = programs;
                    }
                    changed
                });
            }
            Output::Retired => {
                tracing::warn!("this node was forgotten; it serves nobody until re-imaged");
            }
        }
    }
}

/// The disk, on its own thread: fsync never blocks the loop that serves
/// sockets and the thermostat.
struct Persister {
    jobs: Option<std::sync::mpsc::Sender<PersistJob>>,
    done: mpsc::UnboundedReceiver<(u64, Result<(), String>)>,
}

impl Persister {
    fn spawn(mut durable: Durable) -> Self {
        let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<PersistJob>();
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("officemesh-disk".into())
            .spawn(move || {
                for job in jobs_rx {
                    let result = durable.run(&job).map_err(|e| e.to_string());
                    if done_tx.send((job.token, result)).is_err() {
                        break;
                    }
                }
            });
        let jobs = match spawned {
            Ok(_) => Some(jobs_tx),
            Err(error) => {
                tracing::error!(%error, "cannot start the disk thread; nothing will be stored");
                None
            }
        };
        Persister {
            jobs,
            done: done_rx,
        }
    }

    fn submit(&mut self, job: PersistJob) {
        if let Some(jobs) = &self.jobs
            && jobs.send(job).is_ok()
        {
            return;
        }
        tracing::error!("the disk thread is gone; a commit was not made");
    }
}
