//! One replica's overlay: HyParView underneath, Plumtree (or the flood
//! baseline) on top, plus the observers attached to this node.

use bytes::Bytes;

use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::plumtree::MessageId;
use crate::wire::{Message, PeerInfo};

/// Which broadcast algorithm runs over the active view.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BroadcastMode {
    #[default]
    Plumtree,
    /// Gnutella-style flooding: the benchmarks' baseline only.
    Flood,
}

/// Every knob of the protocol core, with the papers' defaults.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub hyparview: super::hyparview::Config,
    pub plumtree: super::plumtree::Config,
    pub broadcast: BroadcastMode,
}

/// What the caller feeds the machine.
#[derive(Clone, Debug)]
pub enum Input {
    /// Join the overlay through these contacts (empty for the first node).
    /// They are also the known addresses used to re-join when every view
    /// has emptied.
    Join(Vec<PeerInfo>),
    /// A message from a peer, as the transport authenticated it.
    Message { from: PeerInfo, msg: Message },
    /// The connection to this peer was lost, or could not be opened.
    PeerFailed(NodeId),
    /// A timer the machine asked for has come due.
    TimerFired(Timer),
    /// An observer attached to this node: eager-push it every broadcast.
    ObserverUp(PeerInfo),
    /// The observer went away.
    ObserverDown(NodeId),
    /// Leave gracefully: DISCONNECT every neighbour.
    Leave,
}

/// What the machine asks of the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to`, opening a connection if none is open.
    Send { to: PeerInfo, msg: Message },
    /// Close the connection to `peer` once what was queued for it is sent.
    Disconnect { peer: NodeId },
    /// Feed `Input::TimerFired(timer)` back at `at` (or later).
    Schedule { at: Time, timer: Timer },
    /// Something the layers above want to know.
    Event(Event),
}

/// Why a neighbour left the active view. The runtime must not treat an
/// eviction like a failure, or a node falls into a join/evict churn loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// The peer sent DISCONNECT (it left, or made room for another).
    ClosedByPeer,
    /// The connection broke.
    Failed,
    /// We dropped it to make room for a new neighbour.
    Evicted,
    /// We are leaving.
    Left,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    NeighborUp(PeerInfo),
    NeighborDown {
        peer: NodeId,
        reason: DownReason,
    },
    /// A broadcast reached this node for the first time. `hops` counts links
    /// from the origin (a direct neighbour of the origin is 1).
    Delivered {
        id: MessageId,
        from: NodeId,
        hops: u16,
        payload: Bytes,
    },
}

/// A wake-up the machine asked for. Opaque to drivers: they store it and
/// feed it back; a stale timer is ignored by the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    Membership(super::hyparview::Timer),
    Broadcast(super::plumtree::Timer),
}

/// One replica's protocol state.
#[derive(Debug)]
pub struct Overlay {
    me: PeerInfo,
}

impl Overlay {
    /// `seed` seeds the machine's own RNG: the same seed and inputs give the
    /// same outputs.
    pub fn new(me: PeerInfo, config: Config, seed: u64) -> Self {
        let _ = (config, seed);
        todo!("protocol core")
    }

    pub fn me(&self) -> PeerInfo {
        self.me
    }

    pub fn id(&self) -> NodeId {
        self.me.id
    }

    /// Feeds one input.
    pub fn handle(&mut self, now: Time, input: Input, out: &mut Vec<Output>) {
        let _ = (now, input, out);
        todo!("protocol core")
    }

    /// Originates a broadcast of `payload` to every node; returns its id.
    /// The origin does not get a `Delivered` event for its own message.
    pub fn broadcast(&mut self, now: Time, payload: Bytes, out: &mut Vec<Output>) -> MessageId {
        let _ = (now, payload, out);
        todo!("protocol core")
    }

    /// The HyParView active view (the open, symmetric links).
    pub fn active_view(&self) -> Vec<PeerInfo> {
        todo!("protocol core")
    }

    /// The HyParView passive view (known, unconnected peers).
    pub fn passive_view(&self) -> Vec<PeerInfo> {
        todo!("protocol core")
    }

    /// Plumtree's eager peers (the spanning-tree links).
    pub fn eager_peers(&self) -> Vec<NodeId> {
        todo!("protocol core")
    }

    /// Plumtree's lazy peers (IHAVE only).
    pub fn lazy_peers(&self) -> Vec<NodeId> {
        todo!("protocol core")
    }
}
