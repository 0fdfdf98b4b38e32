//! The replica's open connections and the ones being opened: which of two
//! simultaneous connections to keep, what to hold for a peer while it is
//! dialled, which idle links to close, and which links of the active view
//! need a keepalive or have gone silent ([`super::liveness`]).
//!
//! The driver owns the sockets; this table only names them by [`LinkId`],
//! so every choice a peer can observe (a tie-break, a dropped message, an
//! idle close) is made here, in virtual time, and runs in the simulator.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::liveness;
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::{Message, PeerInfo, Role};

/// Names one connection, as the driver numbered it. A peer may have two
/// for a moment (both ends dialled at once); only one is its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

/// Messages held for a peer while its connection is being opened. A peer
/// that is slow to answer must not hold an unbounded queue; past this the
/// newest messages are dropped and counted (every protocol message here is
/// repaired by a retry, a timer or anti-entropy).
pub const MAX_PENDING_PER_PEER: usize = 64;
/// Dials in flight at once. Peers name the addresses we dial (JOIN,
/// SHUFFLE, Watch), so the count is bounded: past it a send to an unknown
/// peer is dropped and counted instead of opening one more socket.
pub const MAX_DIALS: usize = 32;
/// A connection outside the active view (a seed dial, a shuffle reply)
/// idle this long is closed.
pub const IDLE_LINK: Duration = Duration::from_secs(30);

/// One open connection.
#[derive(Clone, Debug)]
pub struct Link {
    pub peer: PeerInfo,
    pub id: LinkId,
    /// Whether this end dialled it.
    pub outbound: bool,
    pub role: Role,
    /// Last frame either way except keepalives: what the idle sweep of
    /// links outside the active view goes by.
    pub last_active: Time,
    /// Last frame this end sent (keepalives included).
    pub last_sent: Time,
    /// Last frame heard from the peer (keepalives included).
    pub last_heard: Time,
}

/// What the table asks of the driver.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkAction {
    Send { link: LinkId, msg: Message },
    Dial { addr: SocketAddr },
    Close { link: LinkId },
}

/// Counters of what the bounds refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub pending_dropped: u64,
    pub dials_refused: u64,
}

#[derive(Debug, Default)]
pub struct Links {
    links: BTreeMap<NodeId, Link>,
    by_id: BTreeMap<LinkId, NodeId>,
    pending: BTreeMap<NodeId, Vec<Message>>,
    /// Dials in flight, by address, for the peer we expect there.
    dialing: BTreeMap<SocketAddr, Dialing>,
    stats: LinkStats,
}

/// A dial in flight.
#[derive(Clone, Copy, Debug)]
struct Dialing {
    peer: NodeId,
    /// Something of the peer's own reached this node since the dial
    /// began (see [`Links::heard_of`]).
    heard: bool,
}

/// What a failed dial says about its peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialFailure {
    /// Nothing was heard from the peer since the dial began: as far as
    /// this node can tell, it is unreachable.
    Unreachable(NodeId),
    /// The peer was heard from since the dial began (a link to it came
    /// up, or a broadcast of its own was delivered): the dial failed, the
    /// peer did not. A connect attempt outlives the conditions it began
    /// in: one started while a cut lasted times out after the cut healed,
    /// and taken as a failure it would drop a peer the node has just
    /// found again, and have it probed with a JOIN that reshapes active
    /// views seconds after the office merged.
    Stale(NodeId),
}

/// The outcome of a connection coming up.
#[derive(Debug, PartialEq, Eq)]
pub enum Accepted {
    /// It is now the peer's link.
    New,
    /// It replaced an older link to the same peer (closed).
    Replaced,
    /// The peer already had the preferred link; this one was closed.
    Duplicate,
}

impl Links {
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    pub fn get(&self, peer: NodeId) -> Option<&Link> {
        self.links.get(&peer)
    }

    /// The peer a connection belongs to, if it is that peer's link.
    pub fn peer_of(&self, link: LinkId) -> Option<NodeId> {
        self.by_id.get(&link).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    pub fn observers(&self) -> Vec<NodeId> {
        self.links
            .values()
            .filter(|l| l.role == Role::Observer)
            .map(|l| l.peer.id)
            .collect()
    }

    pub fn is_dialing(&self, addr: SocketAddr) -> bool {
        self.dialing.contains_key(&addr)
    }

    /// A connection came up. When both ends dialled at once, both keep
    /// the connection the smaller id dialled, so they agree on one without
    /// a round trip.
    pub fn up(&mut self, me: NodeId, now: Time, link: Link, out: &mut Vec<LinkAction>) -> Accepted {
        if link.outbound {
            self.dialing.remove(&link.peer.addr);
        }
        let peer = link.peer.id;
        self.heard_of(peer);
        let mut accepted = Accepted::New;
        if let Some(existing) = self.links.get(&peer)
            && existing.role == link.role
        {
            let dialer = |outbound: bool| if outbound { me } else { peer };
            let preferred = me.min(peer);
            if dialer(existing.outbound) == preferred && dialer(link.outbound) != preferred {
                out.push(LinkAction::Close { link: link.id });
                self.flush(peer, out);
                return Accepted::Duplicate;
            }
            out.push(LinkAction::Close { link: existing.id });
            self.by_id.remove(&existing.id);
            accepted = Accepted::Replaced;
        }
        self.by_id.insert(link.id, peer);
        self.links.insert(
            peer,
            Link {
                last_active: now,
                last_sent: now,
                last_heard: now,
                ..link
            },
        );
        if link.role == Role::Node {
            self.flush(peer, out);
        }
        accepted
    }

    /// A connection closed. Returns the link it was, if it was a peer's
    /// current link (a replaced duplicate closing says nothing).
    pub fn down(&mut self, id: LinkId) -> Option<Link> {
        let peer = self.by_id.remove(&id)?;
        self.pending.remove(&peer);
        self.links.remove(&peer)
    }

    /// A dial failed: the peer expected there, if any, and whether the
    /// failure is news about it.
    pub fn dial_failed(&mut self, addr: SocketAddr) -> Option<DialFailure> {
        let dial = self.dialing.remove(&addr)?;
        let peer = dial.peer;
        // What waited for this dial is dropped either way (a link that
        // came up meanwhile took it already).
        self.pending.remove(&peer);
        if dial.heard {
            return Some(DialFailure::Stale(peer));
        }
        Some(DialFailure::Unreachable(peer))
    }

    /// Something of `peer`'s own reached this node (a link to it came up,
    /// a broadcast it started): it is alive and reaches this node, so a
    /// dial to it in flight that fails says nothing new about it.
    pub fn heard_of(&mut self, peer: NodeId) {
        for dial in self.dialing.values_mut().filter(|d| d.peer == peer) {
            dial.heard = true;
        }
    }

    /// Frames arrived on a link: it is alive, and in use.
    pub fn touch(&mut self, peer: NodeId, now: Time) {
        if let Some(l) = self.links.get_mut(&peer) {
            l.last_active = now;
            l.last_heard = now;
        }
    }

    /// A keepalive arrived on a link: it is alive, but not in use (it
    /// does not keep a link outside the active view from the sweep).
    pub fn heard(&mut self, peer: NodeId, now: Time) {
        if let Some(l) = self.links.get_mut(&peer) {
            l.last_heard = now;
        }
    }

    /// Sends on the peer's link, or holds the message and dials it.
    pub fn send_or_dial(
        &mut self,
        now: Time,
        to: PeerInfo,
        msg: Message,
        out: &mut Vec<LinkAction>,
    ) {
        if self.send(now, to.id, msg.clone(), out) {
            return;
        }
        let already = self.dialing.values().any(|d| d.peer == to.id);
        if !already && self.dialing.len() >= MAX_DIALS {
            self.stats.dials_refused += 1;
            return;
        }
        let queue = self.pending.entry(to.id).or_default();
        if queue.len() < MAX_PENDING_PER_PEER {
            queue.push(msg);
        } else {
            self.stats.pending_dropped += 1;
        }
        if !already {
            self.dialing.insert(
                to.addr,
                Dialing {
                    peer: to.id,
                    heard: false,
                },
            );
            out.push(LinkAction::Dial { addr: to.addr });
        }
    }

    /// Sends on the peer's link; false when it has none.
    pub fn send(&mut self, now: Time, to: NodeId, msg: Message, out: &mut Vec<LinkAction>) -> bool {
        let Some(link) = self.links.get_mut(&to) else {
            return false;
        };
        if msg != Message::Keepalive {
            link.last_active = now;
        }
        link.last_sent = now;
        out.push(LinkAction::Send { link: link.id, msg });
        true
    }

    /// Closes the peer's link (the overlay dropped it).
    pub fn close(&mut self, peer: NodeId, out: &mut Vec<LinkAction>) {
        self.pending.remove(&peer);
        if let Some(link) = self.links.remove(&peer) {
            self.by_id.remove(&link.id);
            out.push(LinkAction::Close { link: link.id });
        }
    }

    /// Closes node links outside `active` idle for [`IDLE_LINK`]: what is
    /// left of seed dials and shuffle replies.
    pub fn sweep(&mut self, now: Time, active: &[NodeId], out: &mut Vec<LinkAction>) {
        let idle: Vec<NodeId> = self
            .links
            .values()
            .filter(|l| {
                l.role == Role::Node
                    && !active.contains(&l.peer.id)
                    && now.saturating_since(l.last_active) >= IDLE_LINK
            })
            .map(|l| l.peer.id)
            .collect();
        for peer in idle {
            tracing::debug!(%peer, "closing an idle link outside the active view");
            self.close(peer, out);
        }
    }

    /// Keeps the node links of the `active` view alive
    /// ([`super::liveness`]): sends a keepalive on each this end has been
    /// quiet on, and closes each the peer has been silent on. Returns the
    /// links closed as failed and when to look again.
    pub fn liveness(
        &mut self,
        now: Time,
        active: &[NodeId],
        out: &mut Vec<LinkAction>,
    ) -> (Vec<Link>, Option<Time>) {
        let mut failed = Vec::new();
        for peer in active {
            let Some(link) = self.links.get(peer) else {
                continue;
            };
            if link.role != Role::Node {
                continue;
            }
            match liveness::need(link, now) {
                liveness::Need::Nothing => {}
                liveness::Need::Keepalive => {
                    self.send(now, *peer, Message::Keepalive, out);
                }
                liveness::Need::Failed => {
                    let link = link.clone();
                    tracing::info!(
                        peer = %link.peer.id,
                        addr = %link.peer.addr,
                        silent_s = now.saturating_since(link.last_heard).as_secs(),
                        "nothing heard on a neighbour's link; closing it as failed"
                    );
                    self.close(*peer, out);
                    failed.push(link);
                }
            }
        }
        let next = active
            .iter()
            .filter_map(|p| self.links.get(p))
            .filter(|l| l.role == Role::Node)
            .map(liveness::next)
            .min();
        (failed, next)
    }

    fn flush(&mut self, peer: NodeId, out: &mut Vec<LinkAction>) {
        let Some(link) = self.links.get(&peer) else {
            return;
        };
        for msg in self.pending.remove(&peer).unwrap_or_default() {
            out.push(LinkAction::Send { link: link.id, msg });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, hyparview};

    fn peer(id: u64) -> PeerInfo {
        PeerInfo {
            id: NodeId(id),
            addr: format!("10.0.0.{id}:7946").parse().unwrap(),
        }
    }

    fn link(id: u64, conn: u64, outbound: bool) -> Link {
        Link {
            peer: peer(id),
            id: LinkId(conn),
            outbound,
            role: Role::Node,
            last_active: Time::ZERO,
            last_sent: Time::ZERO,
            last_heard: Time::ZERO,
        }
    }

    fn msg() -> Message {
        Message::Membership(hyparview::Message::Disconnect { alive: true })
    }

    #[test]
    fn simultaneous_dials_keep_the_connection_the_smaller_id_dialled() {
        // Me = 1, peer = 2: keep the one I dialled (outbound) on both ends.
        let mut links = Links::default();
        let mut out = Vec::new();
        assert_eq!(
            links.up(NodeId(1), Time::ZERO, link(2, 10, false), &mut out),
            Accepted::New
        );
        assert_eq!(
            links.up(NodeId(1), Time::ZERO, link(2, 11, true), &mut out),
            Accepted::Replaced
        );
        assert_eq!(out, vec![LinkAction::Close { link: LinkId(10) }]);
        assert_eq!(links.get(NodeId(2)).unwrap().id, LinkId(11));
        // The peer's view (me = 2): it keeps the inbound one, closes its own dial.
        let mut theirs = Links::default();
        let mut out = Vec::new();
        theirs.up(NodeId(2), Time::ZERO, link(1, 20, false), &mut out);
        assert_eq!(
            theirs.up(NodeId(2), Time::ZERO, link(1, 21, true), &mut out),
            Accepted::Duplicate
        );
        assert_eq!(out, vec![LinkAction::Close { link: LinkId(21) }]);
        assert_eq!(theirs.get(NodeId(1)).unwrap().id, LinkId(20));
        // The closed duplicate going down is not the link going down.
        assert!(theirs.down(LinkId(21)).is_none());
        assert!(theirs.get(NodeId(1)).is_some());
    }

    #[test]
    fn messages_wait_for_the_dial_and_are_bounded() {
        let mut links = Links::default();
        let mut out = Vec::new();
        for _ in 0..MAX_PENDING_PER_PEER + 5 {
            links.send_or_dial(Time::ZERO, peer(3), msg(), &mut out);
        }
        assert_eq!(
            out,
            vec![LinkAction::Dial { addr: peer(3).addr }],
            "one dial"
        );
        assert_eq!(links.stats().pending_dropped, 5);
        out.clear();
        links.up(NodeId(1), Time::ZERO, link(3, 7, true), &mut out);
        assert_eq!(out.len(), MAX_PENDING_PER_PEER);
        assert!(!links.is_dialing(peer(3).addr));
    }

    #[test]
    fn dials_are_bounded() {
        let mut links = Links::default();
        let mut out = Vec::new();
        for i in 0..(MAX_DIALS as u64 + 3) {
            links.send_or_dial(Time::ZERO, peer(100 + i), msg(), &mut out);
        }
        assert_eq!(out.len(), MAX_DIALS);
        assert_eq!(links.stats().dials_refused, 3);
        // A failed dial frees its slot and says whom it was for.
        assert_eq!(
            links.dial_failed(peer(100).addr),
            Some(DialFailure::Unreachable(NodeId(100)))
        );
    }

    #[test]
    fn idle_links_outside_the_active_view_are_swept() {
        let mut links = Links::default();
        let mut out = Vec::new();
        links.up(NodeId(1), Time::ZERO, link(2, 1, true), &mut out);
        links.up(NodeId(1), Time::ZERO, link(3, 2, true), &mut out);
        out.clear();
        links.sweep(Time::ZERO + IDLE_LINK, &[NodeId(2)], &mut out);
        assert_eq!(out, vec![LinkAction::Close { link: LinkId(2) }]);
        assert!(links.get(NodeId(3)).is_none());
        assert!(links.get(NodeId(2)).is_some());
    }
}
