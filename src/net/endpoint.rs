//! One replica's end of the transport: its keys, role, limits and counters,
//! shared by the listener and every outbound dial.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::backoff::Backoff;
use super::connection::Connection;
use super::counters::{CountersSnapshot, NetCounters};
use super::event::NetEvent;
use super::handshake::{self, Direction, HandshakeError, HandshakeKeys};
use super::identity::StaticKeypair;
use super::keyring::Keyring;
use super::limits;
use super::peer_handle::ConnId;
use super::pending::PendingHandshakes;
use super::refusal_log::RefusalLog;
use super::secure_stream::{ReadError, SecureReader, SecureWriter, WriteError};
use super::slots::{SlotRefused, Slots};
use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;
use crate::wire::{self, Message, PeerInfo, Role};

/// The limits one endpoint enforces; [`Limits::default`] uses the named
/// constants in [`super::limits`], tests shorten them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub handshake_timeout: Duration,
    pub max_pending_handshakes: usize,
    pub max_pending_handshakes_per_ip: usize,
    pub max_connections_per_peer: usize,
    pub max_connections: usize,
    pub send_queue_len: usize,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            handshake_timeout: limits::HANDSHAKE_TIMEOUT,
            max_pending_handshakes: limits::MAX_PENDING_HANDSHAKES,
            max_pending_handshakes_per_ip: limits::MAX_PENDING_HANDSHAKES_PER_IP,
            max_connections_per_peer: limits::MAX_CONNECTIONS_PER_PEER,
            max_connections: limits::MAX_CONNECTIONS,
            send_queue_len: limits::SEND_QUEUE_LEN,
            write_timeout: limits::WRITE_TIMEOUT,
        }
    }
}

/// Keys, role and counters for every connection this replica makes or
/// accepts. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Endpoint {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    keypair: StaticKeypair,
    /// Swapped whole on a reload: a handshake reads it once, so it never
    /// mixes two keyrings.
    keyring: RwLock<Arc<Keyring>>,
    /// Replicas whose handshakes are refused (`cluster.revoked`).
    revoked: RwLock<Arc<BTreeSet<NodeId>>>,
    role: Role,
    limits: Limits,
    listen_port: AtomicU16,
    /// The address a [`super::Listener`] is bound to, when it is one
    /// address rather than every interface: dials leave from it too.
    listen_ip: RwLock<Option<IpAddr>>,
    next_conn: AtomicU64,
    counters: Arc<NetCounters>,
    /// Unauthenticated inbound connections, by source address.
    pending: Arc<PendingHandshakes>,
    /// Authenticated connections, by the peer's proven id.
    connections: Arc<Slots<NodeId>>,
    refusals: RefusalLog<IpAddr>,
    /// Room in the owner's event queue, in bytes, for every connection.
    event_room: Arc<Semaphore>,
}

impl Endpoint {
    /// `keys` is one cluster key or a whole [`Keyring`].
    pub fn new(keypair: StaticKeypair, keys: impl Into<Keyring>, role: Role) -> Self {
        Self::with_limits(keypair, keys, role, Limits::default())
    }

    pub fn with_limits(
        keypair: StaticKeypair,
        keys: impl Into<Keyring>,
        role: Role,
        limits: Limits,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                keypair,
                keyring: RwLock::new(Arc::new(keys.into())),
                revoked: RwLock::new(Arc::new(BTreeSet::new())),
                role,
                limits,
                listen_port: AtomicU16::new(0),
                listen_ip: RwLock::new(None),
                next_conn: AtomicU64::new(1),
                counters: Arc::new(NetCounters::new()),
                pending: PendingHandshakes::new(
                    limits.max_pending_handshakes_per_ip,
                    limits.max_pending_handshakes,
                ),
                connections: Slots::new(limits.max_connections_per_peer, limits.max_connections),
                refusals: RefusalLog::new(
                    limits::REFUSAL_LOG_INTERVAL,
                    limits::REFUSAL_LOG_SOURCES,
                ),
                event_room: Arc::new(Semaphore::new(limits::EVENT_QUEUE_BYTES)),
            }),
        }
    }

    /// The keys handshakes use now.
    pub fn keyring(&self) -> Arc<Keyring> {
        self.inner
            .keyring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the keyring for every handshake from now on; connections
    /// already open are the owner's to close ([`Endpoint::keeps`]).
    pub fn set_keyring(&self, keyring: Keyring) {
        *self
            .inner
            .keyring
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(keyring);
    }

    /// The replicas refused at the handshake now.
    pub fn revoked(&self) -> Arc<BTreeSet<NodeId>> {
        self.inner
            .revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the set of revoked replicas for every handshake from now on.
    pub fn set_revoked(&self, revoked: BTreeSet<NodeId>) {
        *self
            .inner
            .revoked
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(revoked);
    }

    /// Whether a connection to `peer` made with `key` would be accepted
    /// now: after a reload, the owner closes the links that fail this.
    pub fn keeps(&self, peer: NodeId, key: KeyFingerprint) -> bool {
        self.keyring().contains(&key) && !self.revoked().contains(&peer)
    }

    /// Our own id, as every peer will see it.
    pub fn node_id(&self) -> NodeId {
        self.inner.keypair.node_id()
    }

    pub fn role(&self) -> Role {
        self.inner.role
    }

    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    pub fn counters(&self) -> CountersSnapshot {
        self.inner.counters.snapshot()
    }

    pub(crate) fn counters_handle(&self) -> &Arc<NetCounters> {
        &self.inner.counters
    }

    pub(crate) fn pending_handshakes(&self) -> &Arc<PendingHandshakes> {
        &self.inner.pending
    }

    /// Inbound handshakes in progress now.
    pub fn pending_handshakes_count(&self) -> usize {
        self.inner.pending.len()
    }

    /// Authenticated connections open now (both directions).
    pub fn open_connections(&self) -> usize {
        self.inner.connections.held()
    }

    /// Whether a refusal of a connection from `source` should be logged
    /// now: once per source per [`limits::REFUSAL_LOG_INTERVAL`].
    pub(crate) fn should_log_refusal(&self, source: IpAddr) -> bool {
        self.inner.refusals.should_log(source, Instant::now())
    }

    /// The address a [`super::Listener`] got: its port is announced in
    /// our `Hello`, and a peer takes the connection's source address with
    /// it as ours.
    pub(crate) fn set_listen_addr(&self, addr: SocketAddr) {
        self.inner.listen_port.store(addr.port(), Ordering::Relaxed);
        let ip = (!addr.ip().is_unspecified()).then_some(addr.ip());
        *self
            .inner
            .listen_ip
            .write()
            .unwrap_or_else(|e| e.into_inner()) = ip;
    }

    /// Where a dial to `to` leaves from: the listening address when the
    /// node listens on one address (of the same family and kind) and the
    /// system's choice otherwise. A peer learns our address from the
    /// connection's source and our `Hello`'s port, so on a host with
    /// several addresses (or several nodes on loopback) a dial from
    /// another address would teach it one nothing listens on.
    fn source_for(&self, to: SocketAddr) -> Option<IpAddr> {
        let ip = (*self
            .inner
            .listen_ip
            .read()
            .unwrap_or_else(|e| e.into_inner()))?;
        (ip.is_ipv4() == to.is_ipv4() && ip.is_loopback() == to.ip().is_loopback()).then_some(ip)
    }

    async fn dial(&self, addr: SocketAddr) -> std::io::Result<TcpStream> {
        let Some(ip) = self.source_for(addr) else {
            return TcpStream::connect(addr).await;
        };
        let socket = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(ip, 0))?;
        socket.connect(addr).await
    }

    /// Dials `addr` and runs the handshake, each attempt within the
    /// handshake timeout: with the primary key first, then, while the
    /// peer hangs up without answering, with each other key of the
    /// keyring (module docs of [`handshake`]).
    pub async fn connect(&self, addr: SocketAddr) -> Result<Connection, HandshakeError> {
        let keyring = self.keyring();
        let timeout = self.inner.limits.handshake_timeout;
        let mut last = None;
        for (fp, key) in keyring.dial_order() {
            let keys = HandshakeKeys::Dial(fp, key);
            let result = tokio::time::timeout(timeout, async {
                let stream = self
                    .dial(addr)
                    .await
                    .map_err(|source| HandshakeError::Connect { addr, source })?;
                self.establish(stream, addr, Direction::Outbound, keys)
                    .await
            })
            .await;
            match self.settle(addr, result) {
                Err(e @ HandshakeError::Unanswered { .. }) if keyring.len() > 1 => {
                    tracing::debug!(%addr, error = %e, "trying the next key of the keyring");
                    last = Some(e);
                }
                done => return done,
            }
        }
        Err(last.unwrap_or(HandshakeError::Local("an empty keyring".into())))
    }

    /// Runs the handshake on a stream we accepted, within the timeout.
    pub(crate) async fn accept_stream(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
    ) -> Result<Connection, HandshakeError> {
        let timeout = self.inner.limits.handshake_timeout;
        let keyring = self.keyring();
        let keys = HandshakeKeys::Accept(&keyring);
        let result = tokio::time::timeout(
            timeout,
            self.establish(stream, addr, Direction::Inbound, keys),
        )
        .await;
        self.settle(addr, result)
    }

    /// Counts the outcome of one handshake.
    fn settle(
        &self,
        addr: SocketAddr,
        result: Result<Result<Connection, HandshakeError>, tokio::time::error::Elapsed>,
    ) -> Result<Connection, HandshakeError> {
        let counters = &self.inner.counters;
        match result {
            Ok(Ok(conn)) => {
                counters.connections_established(1);
                Ok(conn)
            }
            Ok(Err(e @ HandshakeError::Connect { .. })) => Err(e),
            Ok(Err(e @ HandshakeError::ConnectionLimit { reason, .. })) => {
                match reason {
                    SlotRefused::PerKey { .. } => counters.peer_connections_refused(1),
                    SlotRefused::Total { .. } => counters.total_connections_refused(1),
                }
                Err(e)
            }
            Ok(Err(e @ HandshakeError::Revoked { .. })) => {
                counters.handshakes_revoked(1);
                Err(e)
            }
            Ok(Err(e @ HandshakeError::UnknownClusterKey { .. })) => {
                counters.handshakes_unknown_key(1);
                Err(e)
            }
            Ok(Err(e)) => {
                counters.handshakes_refused(1);
                Err(e)
            }
            Err(_) => {
                counters.handshakes_timed_out(1);
                Err(HandshakeError::TimedOut { addr })
            }
        }
    }

    async fn establish(
        &self,
        mut stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
        keys: HandshakeKeys<'_>,
    ) -> Result<Connection, HandshakeError> {
        let io = |source| HandshakeError::Io { addr, source };
        // Gossip frames are small and latency matters more than packet count.
        stream.set_nodelay(true).map_err(io)?;
        let inner = &self.inner;
        let est = handshake::noise_handshake(
            &mut stream,
            addr,
            direction,
            &inner.keypair,
            keys,
            &inner.counters,
        )
        .await?;
        // The handshake proved the peer's static key, hence its id: a
        // revoked replica goes no further, whoever dialled.
        if self.revoked().contains(&est.remote_id) {
            return Err(HandshakeError::Revoked {
                addr,
                peer: est.remote_id,
            });
        }
        // Refused before the `Hello`, so a peer over its share costs us no
        // frame, task or queue.
        let slot = inner
            .connections
            .try_acquire(est.remote_id)
            .map_err(|reason| HandshakeError::ConnectionLimit {
                addr,
                peer: est.remote_id,
                reason,
            })?;
        let (read_half, write_half) = stream.into_split();
        let mut reader = SecureReader::new(read_half, est.noise.clone(), inner.counters.clone());
        let mut writer = SecureWriter::new(write_half, est.noise, inner.counters.clone());

        let hello = Message::Hello(handshake::our_hello(
            inner.role,
            inner.listen_port.load(Ordering::Relaxed),
        ));
        let body =
            wire::encode_message(&hello).map_err(|e| HandshakeError::Local(e.to_string()))?;
        writer
            .queue(&body)
            .map_err(|e| HandshakeError::Local(e.to_string()))?;
        writer.flush().await.map_err(|e| match e {
            WriteError::Io(source) if handshake::closed_by_peer(&source) => {
                HandshakeError::ClosedByPeer { addr }
            }
            WriteError::Io(source) => HandshakeError::Io { addr, source },
            other => HandshakeError::Local(other.to_string()),
        })?;

        let theirs = match reader.read().await {
            Ok(Message::Hello(h)) => h,
            Ok(other) => {
                return Err(HandshakeError::BadHello {
                    addr,
                    reason: format!("got {}", other.kind()),
                });
            }
            Err(ReadError::Eof) => return Err(HandshakeError::ClosedByPeer { addr }),
            Err(ReadError::Decrypt) => return Err(HandshakeError::WrongClusterKey { addr }),
            Err(ReadError::Io(source)) if handshake::closed_by_peer(&source) => {
                return Err(HandshakeError::ClosedByPeer { addr });
            }
            Err(ReadError::Io(source)) => return Err(HandshakeError::Io { addr, source }),
            Err(e) => {
                return Err(HandshakeError::BadHello {
                    addr,
                    reason: e.to_string(),
                });
            }
        };
        handshake::check_version(addr, theirs.version)?;
        if est.remote_id == self.node_id() {
            return Err(HandshakeError::BadHello {
                addr,
                reason: "it is this replica itself".into(),
            });
        }
        let peer_addr = match direction {
            Direction::Outbound => addr,
            Direction::Inbound => SocketAddr::new(addr.ip(), theirs.listen_port),
        };
        let conn = ConnId(inner.next_conn.fetch_add(1, Ordering::Relaxed));
        tracing::debug!(peer = %est.remote_id, %addr, ?direction, role = ?theirs.role, "peer authenticated");
        Ok(Connection {
            reader,
            writer,
            peer: PeerInfo {
                id: est.remote_id,
                addr: peer_addr,
            },
            role: theirs.role,
            direction,
            key: est.key,
            conn,
            send_queue_len: inner.limits.send_queue_len,
            write_timeout: inner.limits.write_timeout,
            counters: inner.counters.clone(),
            event_room: inner.event_room.clone(),
            slot,
        })
    }

    /// Dials `addr` until it answers or `attempts` dials have failed
    /// (`None`: until it answers; only one dial when `backoff` is `None`),
    /// waiting as `backoff` says between them. On success the connection is
    /// spawned and announces itself with [`NetEvent::Connected`]; after the
    /// last failure [`NetEvent::ConnectFailed`] is sent. The owner never
    /// waits on a dial; abort the returned task to give up early.
    pub fn spawn_connect(
        &self,
        addr: SocketAddr,
        mut backoff: Option<Backoff>,
        attempts: Option<u32>,
        events: mpsc::Sender<NetEvent>,
    ) -> tokio::task::JoinHandle<()> {
        let endpoint = self.clone();
        tokio::spawn(async move {
            let mut tries = 0u32;
            loop {
                tries += 1;
                match endpoint.connect(addr).await {
                    Ok(conn) => {
                        conn.spawn(events);
                        return;
                    }
                    Err(e) => {
                        let delay = backoff.as_mut().map(Backoff::next_delay);
                        match delay {
                            Some(delay) if attempts.is_none_or(|max| tries < max) => {
                                tracing::debug!(%addr, error = %e, ?delay, "dial failed, retrying");
                                tokio::time::sleep(delay).await;
                            }
                            _ => {
                                let _ = events
                                    .send(NetEvent::ConnectFailed {
                                        addr,
                                        error: e.to_string(),
                                    })
                                    .await;
                                return;
                            }
                        }
                    }
                }
            }
        })
    }
}
