//! An authenticated connection and the task that carries its frames.
//!
//! After the handshake a [`Connection`] is handed to its owner, who either
//! spawns it ([`Connection::spawn`]) or drops it. The spawned task does
//! nothing but read frames into the owner's event channel and write frames
//! from a bounded queue; a peer that stops reading fills the queue and is
//! disconnected, so memory per peer has a fixed ceiling.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Semaphore, mpsc, watch};

use super::close_reason::CloseReason;
use super::counters::NetCounters;
use super::event::NetEvent;
use super::handshake::Direction;
use super::limits::{MAX_NOISE_MSG_LEN, SEND_QUEUE_BYTES};
use super::peer_handle::{ConnId, Outgoing, PeerHandle, QueuedBytes};
use super::secure_stream::{ReadError, SecureReader, SecureWriter, WriteError};
use super::slots::Slot;
use crate::key_fingerprint::KeyFingerprint;
use crate::node_id::NodeId;
use crate::wire::{FrameError, Message, PeerInfo, Role};

/// Output bytes gathered into one write before it is issued: one full
/// Noise message, so a burst of small frames costs one syscall.
const WRITE_BATCH_BYTES: usize = MAX_NOISE_MSG_LEN;

/// A connection whose peer proved its key and sent a compatible `Hello`.
pub struct Connection {
    pub(crate) reader: SecureReader<OwnedReadHalf>,
    pub(crate) writer: SecureWriter<OwnedWriteHalf>,
    pub(crate) peer: PeerInfo,
    pub(crate) role: Role,
    pub(crate) direction: Direction,
    /// The cluster key this connection's handshake proved.
    pub(crate) key: KeyFingerprint,
    pub(crate) conn: ConnId,
    pub(crate) send_queue_len: usize,
    pub(crate) write_timeout: Duration,
    pub(crate) counters: Arc<NetCounters>,
    /// Room in the owner's event queue, in bytes, shared by every
    /// connection ([`super::limits::EVENT_QUEUE_BYTES`]).
    pub(crate) event_room: Arc<Semaphore>,
    /// This connection's share of the per-peer and total caps, held until
    /// the connection ends.
    pub(crate) slot: Slot<NodeId>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("role", &self.role)
            .field("direction", &self.direction)
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The peer's proven id and the address it can be reached at: the
    /// address we dialled, or its source IP with the port its `Hello` named
    /// (port 0 for an observer, which accepts nothing).
    pub fn peer(&self) -> PeerInfo {
        self.peer
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn direction(&self) -> Direction {
        self.direction
    }

    pub fn conn_id(&self) -> ConnId {
        self.conn
    }

    /// Starts the task that carries this connection's frames. It sends
    /// `events` a [`NetEvent::Connected`] (with a clone of the returned
    /// handle), then every frame, then one [`NetEvent::Closed`].
    pub fn spawn(self, events: mpsc::Sender<NetEvent>) -> PeerHandle {
        let (queue_tx, queue_rx) = mpsc::channel(self.send_queue_len.max(1));
        let queued = QueuedBytes::new(SEND_QUEUE_BYTES);
        let (kill_tx, kill_rx) = watch::channel(None);
        let handle = PeerHandle::new(
            (self.peer, self.role, self.key),
            self.conn,
            (queue_tx, queued.clone()),
            kill_tx,
        );
        tokio::spawn(self.run(handle.clone(), (queue_rx, queued), kill_rx, events));
        handle
    }

    async fn run(
        self,
        handle: PeerHandle,
        (mut queue, queued): (mpsc::Receiver<Outgoing>, QueuedBytes),
        mut kill: watch::Receiver<Option<CloseReason>>,
        events: mpsc::Sender<NetEvent>,
    ) {
        let Connection {
            mut reader,
            mut writer,
            peer,
            role,
            direction,
            conn,
            write_timeout,
            counters,
            event_room,
            slot,
            ..
        } = self;
        // Announced before the first frame is read, so the owner never sees
        // a frame from a peer it has not been told about.
        let connected = NetEvent::Connected {
            peer,
            role,
            direction,
            handle,
        };
        if events.send(connected).await.is_err() {
            return;
        }
        let reason = tokio::select! {
            r = read_loop(&mut reader, (&events, &event_room), (peer.id, conn), &counters) => r,
            r = write_loop(&mut writer, (&mut queue, &queued), write_timeout) => r,
            r = killed(&mut kill) => r,
        };
        // Given back before the owner hears of the close, so its redial is
        // never refused by the link it replaces.
        drop(slot);
        if matches!(reason, CloseReason::SlowPeer | CloseReason::WriteTimeout) {
            counters.slow_peers_dropped(1);
        }
        tracing::debug!(peer = %peer.id, addr = %peer.addr, conn = conn.0, %reason, "connection closed");
        // A FIN lets a cooperating peer see the close at once; never wait on
        // a peer that does not read.
        let _ = tokio::time::timeout(Duration::from_millis(100), writer.shutdown()).await;
        drop(reader);
        let _ = events
            .send(NetEvent::Closed {
                peer: peer.id,
                conn,
                reason,
            })
            .await;
    }
}

async fn read_loop(
    reader: &mut SecureReader<OwnedReadHalf>,
    (events, room): (&mpsc::Sender<NetEvent>, &Arc<Semaphore>),
    (peer, conn): (NodeId, ConnId),
    counters: &NetCounters,
) -> CloseReason {
    loop {
        match reader.read().await {
            Ok(Message::Hello(_)) => {
                counters.bad_frames(1);
                return CloseReason::BadFrame("a second Hello".into());
            }
            Ok(msg) => {
                // A frame is at most 64 KiB: its weight always fits a u32
                // and the whole budget.
                let weight = u32::try_from(reader.last_len().max(1)).unwrap_or(u32::MAX);
                let Ok(room) = room.clone().acquire_many_owned(weight).await else {
                    return CloseReason::OwnerGone;
                };
                let frame = NetEvent::Frame {
                    peer,
                    conn,
                    msg,
                    room,
                };
                if events.send(frame).await.is_err() {
                    return CloseReason::OwnerGone;
                }
            }
            Err(e) => return read_failed(e, counters),
        }
    }
}

/// Why a read error closes the connection; bad frames are counted here
/// (oversized prefixes were counted where they were read).
fn read_failed(e: ReadError, counters: &NetCounters) -> CloseReason {
    match e {
        ReadError::Eof => CloseReason::PeerClosed,
        ReadError::Io(e) => CloseReason::Io(e.to_string()),
        ReadError::Oversized { len, .. } => CloseReason::Oversized { len },
        ReadError::Decode(FrameError::Oversized { len, .. }) => {
            counters.oversized_frames(1);
            CloseReason::Oversized { len }
        }
        e @ (ReadError::Truncated { .. } | ReadError::Decrypt | ReadError::Decode(_)) => {
            counters.bad_frames(1);
            CloseReason::BadFrame(e.to_string())
        }
    }
}

async fn write_loop(
    writer: &mut SecureWriter<OwnedWriteHalf>,
    (queue, queued): (&mut mpsc::Receiver<Outgoing>, &QueuedBytes),
    write_timeout: Duration,
) -> CloseReason {
    loop {
        let Some(first) = queue.recv().await else {
            return CloseReason::Local;
        };
        let mut closing = false;
        let mut item = Some(first);
        while let Some(next) = item.take() {
            match next {
                Outgoing::Frame(body) => {
                    queued.taken(body.len());
                    if let Err(e) = writer.queue(&body) {
                        return write_failed(e);
                    }
                }
                Outgoing::Close => {
                    closing = true;
                    break;
                }
            }
            if writer.pending() < WRITE_BATCH_BYTES {
                item = queue.try_recv().ok();
            }
        }
        match tokio::time::timeout(write_timeout, writer.flush()).await {
            Err(_) => return CloseReason::WriteTimeout,
            Ok(Err(e)) => return write_failed(e),
            Ok(Ok(())) => {}
        }
        if closing {
            return CloseReason::Local;
        }
    }
}

fn write_failed(e: WriteError) -> CloseReason {
    match e {
        WriteError::Io(e) => CloseReason::Io(e.to_string()),
        other => CloseReason::Io(other.to_string()),
    }
}

async fn killed(kill: &mut watch::Receiver<Option<CloseReason>>) -> CloseReason {
    loop {
        if let Some(reason) = kill.borrow_and_update().clone() {
            return reason;
        }
        if kill.changed().await.is_err() {
            // Every handle is gone: the queue's sender is gone too, and
            // the write loop ends the connection.
            std::future::pending::<()>().await;
        }
    }
}
