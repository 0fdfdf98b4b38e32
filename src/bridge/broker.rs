//! The connection to the MQTT broker: options from `[mqtt]` (TLS,
//! credentials, the last will), and a task that keeps the connection up,
//! reconnecting with jittered backoff, and reports what happened on a
//! channel. Publishing never waits on the broker: messages go into
//! rumqttc's request queue with `try_publish`, and a full queue only
//! means the message is sent again later.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::config::MqttSection;
use super::error::BridgeError;
use super::topics::{OFFLINE, Topics};
use crate::net::Backoff;

/// The first reconnect ceiling: a restarted broker is usually back
/// within a second.
pub const RECONNECT_BASE: Duration = Duration::from_millis(500);
/// The largest: a broker gone for long costs one attempt per 30 s.
pub const RECONNECT_MAX: Duration = Duration::from_secs(30);
/// Requests rumqttc may queue: a whole office's discovery and states
/// (about four messages per sensor) fit, so a reconnect is one burst.
pub const REQUEST_QUEUE: usize = 4096;
/// Events queued from the connection task to the bridge.
const EVENT_QUEUE: usize = 256;
/// The largest message read from the broker: commands are a number and
/// Home Assistant's status a word; the rest of the subscriptions are the
/// bridge's own small documents.
pub const MAX_INCOMING: usize = 16 * 1024;
/// The largest message sent: a discovery config is about 1.5 KiB.
pub const MAX_OUTGOING: usize = 64 * 1024;

/// What the connection task reports.
#[derive(Debug)]
pub enum BrokerEvent {
    /// A new connection is up (the broker answered CONNACK): subscribe and
    /// publish everything again.
    Connected,
    /// A message on a subscribed topic; `retained`: an old one the broker
    /// kept, delivered because the bridge just subscribed.
    Message {
        topic: String,
        payload: Bytes,
        retained: bool,
    },
    /// The connection failed or was lost; the task retries after a backoff.
    Disconnected(String),
}

/// The MQTT options for `section`, whose relative paths are taken from
/// `base_dir`, with the bridge's availability as last will.
pub fn options(
    section: &MqttSection,
    base_dir: &Path,
    topics: &Topics,
) -> Result<MqttOptions, BridgeError> {
    let mut options = MqttOptions::new(section.client_id(), section.host.clone(), section.port());
    options
        .set_keep_alive(Duration::from_secs(section.keep_alive))
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
        .set_last_will(LastWill::new(
            topics.bridge_availability(),
            OFFLINE,
            QoS::AtLeastOnce,
            true,
        ));
    if let Some(user) = &section.username {
        let password = match (&section.password, &section.password_file) {
            (Some(p), _) => p.clone(),
            (None, Some(file)) => {
                let path = base_dir.join(file);
                std::fs::read_to_string(&path)
                    .map_err(|source| BridgeError::PasswordFile { path, source })?
                    .trim()
                    .to_string()
            }
            (None, None) => String::new(),
        };
        options.set_credentials(user.clone(), password);
    }
    if section.tls {
        let ca = section.ca_file.as_ref().map(|f| base_dir.join(f));
        let config = tls_config(ca.as_deref())?;
        options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(config),
        )));
    }
    Ok(options)
}

/// TLS with ring's primitives, trusting `ca_file` (else the system's roots).
fn tls_config(ca_file: Option<&Path>) -> Result<ClientConfig, BridgeError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_err = |reason: String| BridgeError::CaFile {
                path: path.to_path_buf(),
                reason,
            };
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_err(e.to_string()))?;
            for cert in certs {
                let cert = cert.map_err(|e| ca_err(e.to_string()))?;
                roots.add(cert).map_err(|e| ca_err(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(ca_err("no certificate in it".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "a system certificate could not be read");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BridgeError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client to publish with and the task that drives its connection.
pub struct Broker {
    pub client: AsyncClient,
    pub events: mpsc::Receiver<BrokerEvent>,
    task: JoinHandle<()>,
}

impl Broker {
    /// Starts connecting in the background.
    pub fn start(options: MqttOptions) -> Broker {
        let (client, eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let task = tokio::spawn(drive(eventloop, tx));
        Broker {
            client,
            events,
            task,
        }
    }

    /// Sends a clean DISCONNECT (so the broker does not publish the last
    /// will) and waits for it to leave, at most `within`.
    pub async fn disconnect(self, within: Duration) {
        if self.client.try_disconnect().is_ok() {
            let _ = tokio::time::timeout(within, self.task).await;
        } else {
            self.task.abort();
        }
    }
}

async fn drive(mut eventloop: EventLoop, tx: mpsc::Sender<BrokerEvent>) {
    let mut backoff = Backoff::with_bounds(RECONNECT_BASE, RECONNECT_MAX, rand::random());
    loop {
        let event = match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff.reset();
                BrokerEvent::Connected
            }
            Ok(Event::Incoming(Packet::Publish(p))) => BrokerEvent::Message {
                topic: p.topic,
                payload: p.payload,
                retained: p.retain,
            },
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                // Asked to leave: the DISCONNECT is on its way.
                let _ = tokio::time::timeout(Duration::from_secs(1), eventloop.poll()).await;
                return;
            }
            Ok(_) => continue,
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "MQTT broker connection");
                if tx
                    .send(BrokerEvent::Disconnected(error.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(delay).await;
                continue;
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}
