//! The accept loop: admits at most a fixed number of unauthenticated
//! connections at once (in total and per source address), runs their
//! handshakes, and hands authenticated peers to the owner.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::endpoint::Endpoint;
use super::event::NetEvent;

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
    pub(crate) fn new(tcp: TcpListener, endpoint: Endpoint) -> Self {
        Self { tcp, endpoint }
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
            let slot = match self.endpoint.pending_slots().try_acquire(addr.ip()) {
                Ok(slot) => slot,
                Err(reason) => {
                    self.endpoint.counters_handle().busy_refused(1);
                    if self.endpoint.should_log_refusal(addr.ip()) {
                        tracing::warn!(%addr, %reason, "too many handshakes in progress; connections refused (logged once a minute per source)");
                    }
                    drop(stream);
                    continue;
                }
            };
            let endpoint = self.endpoint.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let result = endpoint.accept_stream(stream, addr).await;
                drop(slot);
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
        }
    }
}
