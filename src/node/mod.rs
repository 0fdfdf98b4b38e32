//! The node runtime: the sans-IO replica core ([`crate::replica`]) meets
//! real sockets, real time and a real disk (DESIGN.md, "Runtime").
//!
//! [`start`] opens the store, binds the listener and spawns the one task
//! that drives the replica core ([`runtime`]). What the rest of the program
//! holds is a [`NodeHandle`]:
//! - [`NodeHandle::local_writes`]: the devices layer's way in (readings,
//!   actuator changes, failed sensors, local targets), see [`LocalWrite`];
//! - [`NodeHandle::targets`]: the current winning target of every
//!   `(zone, quantity)`, for the thermostat;
//! - [`NodeHandle::programs`]: every zone's heating program (schedule,
//!   presets, override) for the thermostat to resolve locally;
//! - [`NodeHandle::shutdown`]: leave gracefully and flush the store.
//!
//! The devices (sensors, heater, thermostat) run in their own task beside
//! it, [`devices::spawn`], speaking to it only through those two channels.

pub mod device_clock;
pub mod devices;
pub mod durable;
pub mod health;
pub mod heap;
pub mod interfaces;
pub mod readings;
pub mod runtime;
pub mod settings;
pub mod stats;
pub mod wall_clock;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use tokio::sync::{mpsc, watch};

pub use crate::replica::LocalWrite;
pub use crate::replica::check_target;
pub use device_clock::DeviceClock;
pub use devices::{DevicesHandle, DevicesSetup};
pub use durable::{Durable, DurableError, Loaded};
pub use settings::{Settings, resolve_seeds};

use crate::control::ZoneProgram;
use crate::crdt::{NodeInfo, Quantity, TargetKey, TargetValue};
use crate::net::{
    Endpoint, IdentityError, Keyring, KeyringDirError, Listener, StaticKeypair, limits,
};
use crate::node_id::NodeId;
use crate::replica::authorship::Trust;
use crate::replica::{self, Replica};
use crate::wire::{PeerInfo, Role};

/// Every zone's heating program, by zone.
pub type Programs = BTreeMap<String, ZoneProgram>;

/// Local writes queued for the node task before senders wait.
pub const LOCAL_WRITE_QUEUE: usize = 256;

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Keyring(#[from] KeyringDirError),
    #[error(transparent)]
    Durable(#[from] DurableError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running node.
#[derive(Debug)]
pub struct NodeHandle {
    id: NodeId,
    addr: SocketAddr,
    endpoint: Endpoint,
    local_writes: mpsc::Sender<LocalWrite>,
    targets: watch::Receiver<BTreeMap<TargetKey, TargetValue>>,
    programs: (watch::Sender<Programs>, watch::Receiver<Programs>),
    shutdown: watch::Sender<bool>,
    reload: mpsc::Sender<runtime::Reload>,
    target_changes: stats::TargetChanges,
    health: health::Health,
    history: crate::history::NodeHistory,
    task: tokio::task::JoinHandle<()>,
}

/// What a reload changed on the running node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// Links closed because their cluster key left the keyring.
    pub closed_for_key: usize,
    /// Links closed because their peer is now revoked.
    pub closed_for_revocation: usize,
}

impl NodeHandle {
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The address peers reach this node at.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The transport's byte and frame counters.
    pub fn counters(&self) -> crate::net::CountersSnapshot {
        self.endpoint.counters()
    }

    /// What [`stats`] writes: the transport counters and when a write
    /// from elsewhere last changed the state.
    pub fn stats(&self) -> stats::NodeStats {
        stats::NodeStats {
            counters: self.endpoint.counters(),
            targets_changed_recent_us: self.target_changes.recent(),
        }
    }

    /// Loop ticks and what the node knows, for the watchdog and metrics.
    pub fn health(&self) -> health::Health {
        self.health.clone()
    }

    /// Where the devices layer sends its writes. Clone it freely.
    pub fn local_writes(&self) -> mpsc::Sender<LocalWrite> {
        self.local_writes.clone()
    }

    /// The winning target of every `(zone, quantity)`, updated whenever a
    /// write changes a winner. The thermostat of zone `z` reads
    /// `targets.borrow().get(&TargetKey::new(z, Quantity::Temperature))`
    /// and awaits `targets.changed()`.
    pub fn targets(&self) -> watch::Receiver<BTreeMap<TargetKey, TargetValue>> {
        self.targets.clone()
    }

    /// Every zone's heating program, by zone. It starts as the store held
    /// it, so a node restarted while cut off from the mesh follows the
    /// schedules it last knew; [`NodeHandle::publish_programs`] replaces it
    /// from a newer state.
    pub fn programs(&self) -> watch::Receiver<Programs> {
        self.programs.1.clone()
    }

    /// Publishes the heating programs of `state` to the devices, when they
    /// changed: what the node task calls after a join, like the targets.
    pub fn publish_programs(&self, state: &crate::crdt::OfficeState) {
        let programs = ZoneProgram::all(state);
        self.programs.0.send_if_modified(|current| {
            let changed = *current != programs;
            if changed {
                *current = programs;
            }
            changed
        });
    }

    /// This node's own history (its file in the data directory): the
    /// devices task records into it, the node answers observers from it.
    pub fn history(&self) -> crate::history::NodeHistory {
        self.history.clone()
    }

    /// The current winning target for one zone and quantity.
    pub fn target(&self, zone: &str, quantity: Quantity) -> Option<TargetValue> {
        self.targets
            .borrow()
            .get(&TargetKey::new(zone, quantity))
            .cloned()
    }

    /// Applies what a configuration reload may change live: the keyring
    /// (every handshake from now on uses it; links whose key is no longer
    /// in it are closed) and the revoked replicas (refused from now on;
    /// their open links are closed). A closed link is a link failure like
    /// any other to the replica core, which repairs its views as usual.
    /// `None` when the node task has ended.
    pub async fn reload(&self, keyring: Keyring, trust: Trust) -> Option<Reloaded> {
        let (done, reloaded) = tokio::sync::oneshot::channel();
        self.reload
            .send(runtime::Reload {
                keyring,
                trust,
                done,
            })
            .await
            .ok()?;
        reloaded.await.ok()
    }

    /// Leaves the overlay (DISCONNECT to every neighbour), flushes the
    /// store, and waits for the node task to end.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }

    /// Whether the node task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Starts a node: keys, store, listener, and the node task.
pub async fn start(settings: Settings) -> Result<NodeHandle, NodeError> {
    let keypair = StaticKeypair::load_or_generate(&settings.data_dir)?;
    let (keyring, source) = settings.keyring()?;
    tracing::info!(%source, primary = %keyring.primary_fingerprint(), keys = keyring.len(), "cluster keys loaded");
    let id = keypair.node_id();
    let (durable, mut loaded) = Durable::open(&settings.data_dir, id)?;
    loaded.writer.set_key(keypair.write_key());
    let programs = watch::channel(ZoneProgram::all(&loaded.state));
    let cluster_keys = keyring.fingerprints();
    let endpoint = Endpoint::new(keypair, keyring, Role::Node);
    endpoint.set_revoked(settings.revoked.clone());
    let listener = Listener::bind(&endpoint, settings.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: settings.listen,
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: settings.listen,
        source,
    })?;
    // Peers must be told a reachable address, not 0.0.0.0.
    let addr = if bound.ip().is_unspecified() {
        SocketAddr::new(
            first_reachable_ip(&settings).unwrap_or(bound.ip()),
            bound.port(),
        )
    } else {
        bound
    };
    let (events_tx, events_rx) = mpsc::channel(limits::EVENT_QUEUE_LEN);
    listener.spawn(events_tx.clone());
    let (local_tx, local_rx) = mpsc::channel(LOCAL_WRITE_QUEUE);
    let (targets_tx, targets_rx) = watch::channel(BTreeMap::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let target_changes = stats::TargetChanges::default();
    let (health_recorder, health) =
        health::channel(id, &settings.zone, endpoint.counters_handle().clone());
    tracing::info!(%id, %addr, name = %settings.name, zone = %settings.zone, "node started");
    let me = PeerInfo { id, addr };
    let config = replica::Config {
        me,
        info: NodeInfo {
            name: settings.name.clone(),
            zone: settings.zone.clone(),
            role: Role::Node,
            version: env!("CARGO_PKG_VERSION").to_string(),
            interfaces: settings.current_interfaces(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys,
        },
        seeds: settings.seeds.clone(),
        remembered: loaded.peers.into_iter().filter(|p| p.id != id).collect(),
        overlay: settings.overlay_config(),
        anti_entropy: settings.anti_entropy_config(),
        targets: settings.targets.clone(),
        seed: rand::random(),
        reserved_dots: loaded.reserved_dots,
        tombstone_grace: crate::crdt::DEFAULT_TOMBSTONE_GRACE,
        skipped: loaded.skipped,
        trust: settings.trust.clone(),
    };
    let mut replica = Replica::new(config, loaded.state, loaded.writer);
    let history = crate::history::NodeHistory::open(&settings.data_dir);
    replica.set_history(history.shared.clone());
    let runtime = runtime::Runtime::new(
        settings,
        endpoint.clone(),
        (events_tx, events_rx),
        runtime::Channels {
            local_rx,
            targets_tx,
            shutdown_rx,
            reload_rx,
            target_changes: target_changes.clone(),
            health: health_recorder,
            programs_tx: programs.0.clone(),
        },
        durable,
        replica,
    );
    let task = tokio::spawn(runtime.run());
    Ok(NodeHandle {
        id,
        addr,
        endpoint,
        local_writes: local_tx,
        targets: targets_rx,
        programs,
        shutdown: shutdown_tx,
        reload: reload_tx,
        target_changes,
        health,
        history,
        task,
    })
}

/// The first non-loopback IPv4 address of this machine, for announcing a
/// wildcard listener.
fn first_reachable_ip(settings: &Settings) -> Option<std::net::IpAddr> {
    interfaces::read(settings.include_loopback)
        .iter()
        .flat_map(|i| i.ipv4.iter())
        .find(|a| !a.is_loopback())
        .map(|a| std::net::IpAddr::V4(*a))
}
