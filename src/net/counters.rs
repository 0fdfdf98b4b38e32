//! What the transport has seen, for logs, `status` and the benchmarks.
//!
//! Plain relaxed atomics: each is an independent tally, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::wire::traffic::{self, Traffic};

/// Live counters shared by the listener, the dialer and every connection.
#[derive(Debug, Default)]
pub struct NetCounters {
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    frames_sent: AtomicU64,
    frames_received: AtomicU64,
    connections_established: AtomicU64,
    handshakes_refused: AtomicU64,
    handshakes_revoked: AtomicU64,
    handshakes_unknown_key: AtomicU64,
    handshakes_timed_out: AtomicU64,
    busy_refused: AtomicU64,
    handshakes_evicted: AtomicU64,
    peer_connections_refused: AtomicU64,
    total_connections_refused: AtomicU64,
    bad_frames: AtomicU64,
    oversized_frames: AtomicU64,
    slow_peers_dropped: AtomicU64,
    /// Framed bytes queued for peers, per [`Traffic`] class.
    sent_by_traffic: [AtomicU64; traffic::ALL.len()],
}

/// Framed bytes (length prefix, ciphertext and tag) a replica queued for
/// its peers, split by what they were for. The handshakes are not in it,
/// so the parts add up to a little less than `bytes_sent`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrafficBytes {
    pub payload: u64,
    pub tree_repair: u64,
    pub membership: u64,
    pub anti_entropy: u64,
    pub observer: u64,
    pub liveness: u64,
}

impl TrafficBytes {
    pub fn get(&self, class: Traffic) -> u64 {
        match class {
            Traffic::Payload => self.payload,
            Traffic::TreeRepair => self.tree_repair,
            Traffic::Membership => self.membership,
            Traffic::AntiEntropy => self.anti_entropy,
            Traffic::Observer => self.observer,
            Traffic::Liveness => self.liveness,
        }
    }
}

/// A copy of the counters at one moment. A field missing from a stats
/// file written by an older build reads as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CountersSnapshot {
    /// Every byte written to a peer socket: prefixes, handshakes, tags.
    pub bytes_sent: u64,
    /// Every byte read from a peer socket.
    pub bytes_received: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
    /// Connections that completed the handshake and the `Hello` exchange.
    pub connections_established: u64,
    /// Handshakes that failed: wrong cluster key, not Noise, wrong version.
    pub handshakes_refused: u64,
    /// Handshakes that proved a revoked replica's key (`cluster.revoked`).
    pub handshakes_revoked: u64,
    /// Inbound handshakes whose dialer named a cluster key not in this
    /// replica's keyring (removed, or not installed yet).
    pub handshakes_unknown_key: u64,
    pub handshakes_timed_out: u64,
    /// Inbound connections closed at accept because too many were pending
    /// (in total, or from their source address).
    pub busy_refused: u64,
    /// Handshakes aborted to make room for a connection from an address
    /// holding fewer handshake slots (the flood gives way, not its victims).
    pub handshakes_evicted: u64,
    /// Authenticated connections closed because their peer id already held
    /// its share.
    pub peer_connections_refused: u64,
    /// Authenticated connections closed because the node held its total.
    pub total_connections_refused: u64,
    /// Authenticated frames that failed to decrypt or decode.
    pub bad_frames: u64,
    /// Length prefixes over the cap for their phase.
    pub oversized_frames: u64,
    /// Peers disconnected because their send queue filled or a write stalled.
    pub slow_peers_dropped: u64,
    #[serde(default)]
    pub sent_by_traffic: TrafficBytes,
}

macro_rules! bump {
    ($($name:ident),* $(,)?) => {
        $(
            pub(crate) fn $name(&self, n: u64) {
                self.$name.fetch_add(n, Ordering::Relaxed);
            }
        )*
    };
}

impl NetCounters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            frames_sent: get(&self.frames_sent),
            frames_received: get(&self.frames_received),
            connections_established: get(&self.connections_established),
            handshakes_refused: get(&self.handshakes_refused),
            handshakes_revoked: get(&self.handshakes_revoked),
            handshakes_unknown_key: get(&self.handshakes_unknown_key),
            handshakes_timed_out: get(&self.handshakes_timed_out),
            busy_refused: get(&self.busy_refused),
            handshakes_evicted: get(&self.handshakes_evicted),
            peer_connections_refused: get(&self.peer_connections_refused),
            total_connections_refused: get(&self.total_connections_refused),
            bad_frames: get(&self.bad_frames),
            oversized_frames: get(&self.oversized_frames),
            slow_peers_dropped: get(&self.slow_peers_dropped),
            sent_by_traffic: {
                let of = |t: Traffic| get(&self.sent_by_traffic[t.index()]);
                TrafficBytes {
                    payload: of(Traffic::Payload),
                    tree_repair: of(Traffic::TreeRepair),
                    membership: of(Traffic::Membership),
                    anti_entropy: of(Traffic::AntiEntropy),
                    observer: of(Traffic::Observer),
                    liveness: of(Traffic::Liveness),
                }
            },
        }
    }
}

impl NetCounters {
    /// Counts `n` framed bytes of `class` queued for a peer.
    pub(crate) fn sent_traffic(&self, class: Traffic, n: u64) {
        self.sent_by_traffic[class.index()].fetch_add(n, Ordering::Relaxed);
    }
}

/// Adds to a counter; each method is named after the field it bumps.
impl NetCounters {
    bump!(
        bytes_sent,
        bytes_received,
        frames_sent,
        frames_received,
        connections_established,
        handshakes_refused,
        handshakes_revoked,
        handshakes_unknown_key,
        handshakes_timed_out,
        busy_refused,
        handshakes_evicted,
        peer_connections_refused,
        total_connections_refused,
        bad_frames,
        oversized_frames,
        slow_peers_dropped,
    );
}
