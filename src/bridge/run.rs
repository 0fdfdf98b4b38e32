//! The bridge's loop: the observer on one side, the broker on the other.
//!
//! The office view is recomputed when the replica changes (coalesced over
//! [`COALESCE`]) and when liveness may have changed ([`REFRESH`]); only
//! topics whose payload changed are published. The mesh never waits on
//! the broker: publishing only queues, and while the broker is away the
//! bridge keeps following the office and publishes everything again once
//! it is back.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rumqttc::{MqttOptions, QoS};
use serde_json::json;
use tokio::time::{Instant, MissedTickBehavior};

use super::broker::{Broker, BrokerEvent};
use super::commands::{self, Refusal, TargetCommand};
use super::discovery;
use super::error::BridgeError;
use super::office_view::{Liveness, OfficeView};
use super::retained::{Publish, Retained};
use super::states;
use super::topics::{OFFLINE, ONLINE, Topics};
use crate::config::TargetsSection;
use crate::crdt::Quantity;
use crate::net::Keyring;
use crate::node_id::NodeId;
use crate::observer::client::LIVE_WITHIN;
use crate::observer::{Observer, ObserverIdentity, Update};
use crate::replica::authorship::Trust;

/// How long a burst of broadcasts is gathered into one round of
/// publishing: well inside the second a reading may take to reach Home
/// Assistant, long enough that a flurry of deltas costs one diff.
pub const COALESCE: Duration = Duration::from_millis(50);
/// How often liveness is re-checked when nothing arrives (a node leaves
/// the mesh by falling silent).
pub const REFRESH: Duration = Duration::from_secs(1);
/// Pause between rounds of trying every node address.
pub const RETRY: Duration = Duration::from_secs(2);
/// How long a clean shutdown waits for the broker to take the last
/// messages.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Everything the bridge needs, resolved from the configuration.
pub struct BridgeOptions {
    pub mqtt: MqttOptions,
    pub client_id: String,
    pub topics: Topics,
    /// The ranges advertised to Home Assistant and checked before writing.
    pub targets: TargetsSection,
    /// Nodes to attach to, in preference order.
    pub connect: Vec<SocketAddr>,
    /// The cluster keys to dial with (the primary first).
    pub cluster_key: Keyring,
    /// The bridge's own observer identity (keypair and dot counter).
    pub identity_dir: PathBuf,
    /// The operators list: when it names the bridge, its writes are signed
    /// as that name (and nodes refuse them otherwise).
    pub trust: Trust,
}

/// Runs until `shutdown` completes; then marks the bridge offline and
/// leaves the broker cleanly.
pub async fn run(
    options: BridgeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BridgeError> {
    // Fail at once if the identity is unusable.
    let id = ObserverIdentity::load_or_generate(&options.identity_dir)?
        .keypair
        .node_id();
    if !options.trust.is_operator(id) {
        tracing::warn!(%id, "this bridge is not in [cluster] operators: nodes will refuse the targets it writes (`officemesh whoami --observer-dir` prints its entry)");
    }
    let broker = Broker::start(options.mqtt.clone());
    let mut bridge = Bridge::new(&options, broker, id);
    let mut connecting = tokio::spawn(connect_observer(
        options.connect.clone(),
        options.cluster_key.clone(),
        options.identity_dir.clone(),
        options.trust.clone(),
    ));
    let mut observer: Option<Observer> = None;
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        // While detached, `next_update` is busy attaching: nothing else
        // may cancel it halfway. It returns after each round of attempts,
        // and what the broker sent meanwhile is handled then.
        if let Some(o) = observer.as_mut().filter(|o| o.attached().is_none()) {
            tokio::select! {
                () = &mut shutdown => break,
                update = o.next_update() => bridge.on_update(update),
            }
            while let Ok(event) = bridge.broker.events.try_recv() {
                bridge.on_broker(observer.as_mut(), event);
            }
            continue;
        }
        let flush_at = bridge.flush_at;
        let flush = async move {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = &mut shutdown => break,
            joined = &mut connecting, if observer.is_none() => {
                match joined {
                    Ok(o) => observer = Some(o),
                    Err(error) => {
                        tracing::error!(%error, "the attaching task failed; trying again");
                        connecting = tokio::spawn(connect_observer(
                            options.connect.clone(),
                            options.cluster_key.clone(),
                            options.identity_dir.clone(),
                            options.trust.clone(),
                        ));
                    }
                }
            }
            update = next_update(&mut observer) => bridge.on_update(update),
            event = bridge.broker.events.recv() => {
                let Some(event) = event else { break };
                bridge.on_broker(observer.as_mut(), event);
            }
            () = flush => bridge.flush(observer.as_ref()),
            _ = refresh.tick() => bridge.flush(observer.as_ref()),
        }
    }
    connecting.abort();
    bridge.leave().await;
    Ok(())
}

async fn next_update(observer: &mut Option<Observer>) -> Update {
    match observer {
        Some(o) => o.next_update().await,
        None => std::future::pending().await,
    }
}

/// Tries every address until a node answers, however long that takes.
async fn connect_observer(
    addrs: Vec<SocketAddr>,
    cluster_key: Keyring,
    identity_dir: PathBuf,
    trust: Trust,
) -> Observer {
    let mut reported = String::new();
    loop {
        let attempt = match ObserverIdentity::load_or_generate(&identity_dir) {
            Ok(identity) => Observer::connect(identity, cluster_key.clone(), addrs.clone())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match attempt {
            Ok(mut observer) => {
                observer.set_listed(&trust);
                return observer;
            }
            Err(text) => {
                // Say it once, not every retry.
                if text != reported {
                    tracing::warn!(error = %text, "no node to attach to; retrying");
                    reported = text;
                }
            }
        }
        tokio::time::sleep(RETRY).await;
    }
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Bridge {
    broker: Broker,
    topics: Topics,
    targets: TargetsSection,
    client_id: String,
    /// Names Home Assistant and this bridge in every target it writes.
    set_by: String,
    /// Whether the broker connection is up.
    connected: bool,
    retained: Retained,
    view: OfficeView,
    /// Target writes awaiting the node's answer: the zone and the command.
    pending: BTreeMap<u64, (String, String)>,
    flush_at: Option<Instant>,
    /// When the office was first synced: a node not heard from within
    /// [`LIVE_WITHIN`] of it is gone, before that it may just be idle.
    attached_at: Option<Instant>,
    /// Nodes heard from at least once.
    heard: BTreeSet<NodeId>,
}

impl Bridge {
    fn new(options: &BridgeOptions, broker: Broker, id: NodeId) -> Self {
        Bridge {
            broker,
            topics: options.topics.clone(),
            targets: options.targets.clone(),
            client_id: options.client_id.clone(),
            set_by: match options.trust.operator_name(id) {
                Some(name) => name.to_string(),
                None => format!("Home Assistant via {}", options.client_id),
            },
            connected: false,
            retained: Retained::default(),
            view: OfficeView::default(),
            pending: BTreeMap::new(),
            flush_at: None,
            attached_at: None,
            heard: BTreeSet::new(),
        }
    }

    /// Publishes soon (coalescing whatever else arrives meanwhile).
    fn schedule_flush(&mut self) {
        self.flush_at = self.flush_at.or(Some(Instant::now() + COALESCE));
    }

    fn on_update(&mut self, update: Update) {
        match update {
            Update::Synced | Update::State | Update::Clock(_) => self.schedule_flush(),
            Update::Attached(peer) => {
                tracing::info!(node = %peer.id, addr = %peer.addr, "attached to the mesh");
                self.schedule_flush();
            }
            Update::Lost { node, reason } => {
                tracing::warn!(%node, %reason, "lost the attached node; moving to another");
                self.schedule_flush();
            }
            Update::Detached | Update::History { .. } => {}
            Update::Stored { request, by } => {
                if let Some((zone, command)) = self.pending.remove(&request) {
                    tracing::info!(%zone, %command, node = %by, "target from Home Assistant stored");
                    self.schedule_flush();
                }
            }
            Update::NotStored {
                request,
                reason,
                sent_to,
            } => {
                // Admitted and on its way, but not durable on that node:
                // not a refusal, so nothing to undo in Home Assistant.
                if let Some((zone, command)) = self.pending.remove(&request) {
                    tracing::warn!(%zone, %command, %reason, sent_to, "target from Home Assistant admitted but not stored");
                    self.schedule_flush();
                }
            }
            Update::Rejected { request, reason } => {
                // The observer never applied it: the entity still shows
                // what the office holds once it is published again.
                if let Some((zone, command)) = self.pending.remove(&request) {
                    self.refuse(Some(&zone), &command, &Refusal::Rejected(reason));
                }
            }
        }
    }

    fn on_broker(&mut self, observer: Option<&mut Observer>, event: BrokerEvent) {
        match event {
            BrokerEvent::Connected => {
                tracing::info!(client_id = %self.client_id, "connected to the MQTT broker");
                self.connected = true;
                for topic in [
                    self.topics.home_assistant_status(),
                    self.topics.zone_target_commands(),
                    self.topics.bridge_instance(),
                ] {
                    if let Err(error) = self.broker.client.try_subscribe(topic, QoS::AtLeastOnce) {
                        tracing::warn!(%error, "cannot subscribe");
                    }
                }
                // A restarted broker may have lost every retained message.
                self.retained.resend(|_| true);
                self.send(&self.topics.bridge_availability(), ONLINE, true);
                let instance = json!({ "client_id": self.client_id }).to_string();
                self.send(&self.topics.bridge_instance(), &instance, true);
                self.schedule_flush();
            }
            BrokerEvent::Disconnected(_) => self.connected = false,
            BrokerEvent::Message {
                topic,
                payload,
                retained,
            } => self.on_message(observer, &topic, &payload, retained),
        }
    }

    fn on_message(
        &mut self,
        observer: Option<&mut Observer>,
        topic: &str,
        payload: &Bytes,
        retained: bool,
    ) {
        if topic == self.topics.home_assistant_status() {
            if payload.as_ref() == ONLINE.as_bytes() {
                tracing::info!("Home Assistant came online: sending discovery again");
                self.retained.resend(|_| true);
                self.schedule_flush();
            }
            return;
        }
        if topic == self.topics.bridge_instance() {
            self.on_instance(payload);
            return;
        }
        if retained {
            // A command someone published retained would be applied again
            // on every reconnect, undoing whatever was set since.
            if self.topics.command_zone_slug(topic).is_some() {
                tracing::warn!(%topic, "ignoring a retained command; clear it with an empty retained message");
            }
            return;
        }
        let command = commands::parse(&self.topics, &self.view, &self.targets, topic, payload);
        let text =
            String::from_utf8_lossy(&payload[..payload.len().min(commands::MAX_COMMAND_LEN)])
                .into_owned();
        match command {
            None => {}
            Some(Err((zone, refusal))) => self.refuse(zone.as_deref(), &text, &refusal),
            Some(Ok(command)) => {
                if let Err(refusal) = self.write(observer, &command) {
                    self.refuse(Some(&command.zone), &text, &refusal);
                } else {
                    self.schedule_flush();
                }
            }
        }
    }

    /// Another bridge publishing under the same base topic would answer
    /// every command a second time and mark everything unavailable when
    /// it stops: say so where the admin looks.
    fn on_instance(&mut self, payload: &Bytes) {
        let other = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|doc| doc["client_id"].as_str().map(str::to_string));
        if let Some(other) = other.filter(|o| *o != self.client_id) {
            let reason = format!(
                "another bridge (client id `{other}`) publishes under `{}`: run one bridge per base topic \
                 (or this is an earlier run of this bridge under another client id)",
                self.topics
                    .bridge_instance()
                    .trim_end_matches("/bridge/instance")
            );
            tracing::error!("{reason}");
            let doc = json!({ "zone": null, "command": null, "error": reason, "at_ms": wall_ms() });
            self.send(&self.topics.bridge_error(), &doc.to_string(), false);
        }
    }

    fn write(
        &mut self,
        observer: Option<&mut Observer>,
        command: &TargetCommand,
    ) -> Result<(), Refusal> {
        let observer = observer
            .filter(|o| o.attached().is_some() && o.is_synced())
            .ok_or(Refusal::NotAttached)?;
        let submitted = observer
            .write_target(
                &command.zone,
                Quantity::Temperature,
                command.value,
                self.set_by.clone(),
            )
            .map_err(|e| match e {
                crate::observer::ObserverError::Detached => Refusal::NotAttached,
                other => Refusal::WriteFailed(other.to_string()),
            })?;
        tracing::info!(zone = %command.zone, value = command.value, request = submitted.request, "target from Home Assistant");
        self.pending.insert(
            submitted.request,
            (command.zone.clone(), command.value.to_string()),
        );
        Ok(())
    }

    /// A command not applied: the error on the error topic, and the zone's
    /// target published again so Home Assistant shows it unchanged.
    fn refuse(&mut self, zone: Option<&str>, command: &str, refusal: &Refusal) {
        tracing::warn!(zone = zone.unwrap_or("-"), %command, %refusal, "command from Home Assistant refused");
        let doc = commands::error_document(zone, command, refusal, wall_ms());
        self.send(&self.topics.bridge_error(), &doc, false);
        if let Some(zone) = zone {
            let target = self.topics.zone(zone, "target");
            self.retained.resend(|t| t == target);
            self.schedule_flush();
        }
    }

    /// Queues one message; `false` when rumqttc's queue is full (the
    /// caller sends it again later).
    fn send(&self, topic: &str, payload: &str, retain: bool) -> bool {
        match self.broker.client.try_publish(
            topic,
            QoS::AtLeastOnce,
            retain,
            payload.as_bytes().to_vec(),
        ) {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, %topic, "publish not queued");
                false
            }
        }
    }

    /// Recomputes the view and publishes what changed: discovery configs
    /// first, so an entity exists before its state arrives.
    fn flush(&mut self, observer: Option<&Observer>) {
        self.flush_at = None;
        let Some(observer) = observer.filter(|o| o.is_synced()) else {
            return;
        };
        let live = observer.live_nodes();
        self.heard.extend(live.iter().copied());
        let grace_over = self.attached_at.get_or_insert_with(Instant::now).elapsed() >= LIVE_WITHIN;
        let unknown = observer
            .state()
            .nodes()
            .map(|(id, _)| id)
            .filter(|id| !grace_over && !self.heard.contains(id))
            .collect();
        self.view = OfficeView::from_state(observer.state(), &Liveness { live, unknown });
        if !self.connected {
            return;
        }
        let mut desired = discovery::configs(&self.view, &self.topics, &self.targets.temperature);
        desired.extend(states::states(&self.view, &self.topics));
        let changes = self.retained.changes(&desired);
        let (first, then): (Vec<Publish>, Vec<Publish>) = changes
            .into_iter()
            .partition(|p| self.topics.is_discovery(&p.topic));
        let mut unsent = false;
        for publish in first.iter().chain(&then) {
            if !self.send(&publish.topic, &publish.payload, true) {
                self.retained.unsent(&publish.topic);
                unsent = true;
            }
        }
        if unsent {
            self.schedule_flush();
        }
    }

    /// Marks the bridge offline (a clean disconnect sends no last will)
    /// and leaves the broker.
    async fn leave(self) {
        if self.connected {
            self.send(&self.topics.bridge_availability(), OFFLINE, true);
            self.send(&self.topics.bridge_instance(), "", true);
        }
        self.broker.disconnect(SHUTDOWN_GRACE).await;
    }
}
