//! The accept loop: admits at most a fixed number of unauthenticated
//! connections at once (in total and per source address, the busiest
//! address giving way when all are taken), runs their handshakes, and
//! hands authenticated peers to the owner.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::endpoint::Endpoint;
use super::event::NetEvent;
use super::pending::Admission;

/// Pause after a failed `accept` (out of file descriptors, say), so the
/// loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A bound socket waiting to be started with [`Listener::spawn`].
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    endpoint: Endpoint,
}

impl Listener {
    /// Listens on `addr` for `endpoint`, which announces the port it gets
    /// in its `Hello`.
    pub async fn bind(endpoint: &Endpoint, addr: SocketAddr) -> std::io::Result<Listener> {
        let tcp = TcpListener::bind(addr).await?;
        endpoint.set_listen_addr(tcp.local_addr()?);
        Ok(Self {
            tcp,
            endpoint: endpoint.clone(),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Runs the accept loop until `events` has no receiver. Each peer that
    /// passes the handshake is spawned and announced with
    /// [`NetEvent::Connected`]; failures are logged and counted.
    pub fn spawn(self, events: mpsc::Sender<NetEvent>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.run(events))
    }

    async fn run(self, events: mpsc::Sender<NetEvent>) {
        loop {
            let accepted = tokio::select! {
                accepted = self.tcp.accept() => accepted,
                () = events.closed() => return,
            };
            let (stream, addr) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            let pending = self.endpoint.pending_handshakes();
            let counters = self.endpoint.counters_handle();
            let ticket = match pending.admit(addr.ip()) {
                Admission::Admitted(ticket) => ticket,
                Admission::AdmittedByEviction { ticket, evicted } => {
                    counters.handshakes_evicted(1);
                    if self.endpoint.should_log_refusal(evicted) {
                        tracing::warn!(%evicted, "every handshake slot taken: the oldest handshake from the address holding the most gave way (logged once a minute per source)");
                    }
                    ticket
                }
                Admission::Refused(reason) => {
                    counters.busy_refused(1);
                    if self.endpoint.should_log_refusal(addr.ip()) {
                        tracing::warn!(%addr, %reason, "too many handshakes in progress; connections refused (logged once a minute per source)");
                    }
                    drop(stream);
                    continue;
                }
            };
            let id = ticket.id();
            let endpoint = self.endpoint.clone();
            let events = events.clone();
            let task = tokio::spawn(async move {
                let result = endpoint.accept_stream(stream, addr).await;
                drop(ticket);
                match result {
                    Ok(conn) => {
                        conn.spawn(events);
                    }
                    Err(e) => {
                        if endpoint.should_log_refusal(addr.ip()) {
                            tracing::warn!(%addr, error = %e, "connection refused (logged once a minute per source)");
                        }
                    }
                }
            });
            pending.started(id, task.abort_handle());
        }
    }
}
