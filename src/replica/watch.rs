//! Observer attachments, seen from the nodes: who is watching, through
//! which node, and when each node reports its version vector.
//!
//! A node an observer attaches to broadcasts a `Watch` naming itself as
//! `via` and renews it while the observer stays. Every node then sends its
//! clock reports straight to each `via` while that lease lasts: the first
//! change after a quiet spell at once, later ones coalesced, each carrying
//! only the entries that changed since the previous report. A write
//! changes one entry of every node's vector, so it costs one small report
//! per node: O(N) bytes per write, not N vectors of N entries.
//!
//! The whole vector is sent only when the receiving end may lack it: to a
//! newly watching `via`, and after a connection to a `via` was lost (it
//! may have died with a report in flight, or a dial failed with reports
//! held for it) or replaced. TCP loses nothing on a connection that stays
//! up, so no periodic whole report is needed. An
//! observer that attaches to a node already watched gets every node's
//! vector from that node's relay cache (`relayed_clocks`). With nobody
//! watching nothing is sent, so an idle office stays quiet.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::PeerInfo;

/// How long one Watch lease lasts; renewed every [`WATCH_RENEW`] while an
/// observer is attached, so a lease outlives a lost renewal or two.
pub const WATCH_LEASE: Duration = Duration::from_secs(30);
/// How often the node an observer is attached to renews the Watch.
pub const WATCH_RENEW: Duration = Duration::from_secs(10);
/// A renewal asks for the whole vector again when the last whole report
/// is this old: a report the `via` refused (it did not know the reporting
/// node yet) or lost without a connection event is repaired at this pace.
pub const FULL_REPORT_EVERY: Duration = Duration::from_secs(30);
/// A renewal that finds no report sent for this long sends an empty one:
/// an observer counts a node live for 15 s after its last report, and an
/// office where nothing changes sends none, so without it a TUI left open
/// would show idle nodes as unreachable. Renewals come every
/// [`WATCH_RENEW`], so a watched node says something at least that often.
pub const HEARTBEAT_AFTER: Duration = Duration::from_secs(5);
/// Whole clock reports are at least this far apart: a peer that keeps
/// announcing new leases (or a link to a `via` that keeps failing) must not
/// make every node send its whole vector again and again.
pub const MIN_FULL_REPORT_GAP: Duration = Duration::from_secs(1);
/// Clock reports are at most this often: the first change after a quiet
/// spell is reported at once (a write's convergence is seen without
/// delay), later changes within the window are coalesced.
pub const REPORT_COALESCE: Duration = Duration::from_millis(50);
/// Nodes watched through at once. An office has a few operators with a
/// TUI open; every lease costs a report per change to its node, so a peer
/// announcing thousands of leases must not make every node dial thousands
/// of addresses. Past the bound a new lease is refused and counted.
pub const MAX_WATCHERS: usize = 16;

/// Why a Watch was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WatchRefused {
    #[error("a Watch names {via} but was broadcast by {origin}")]
    NotItsOwn { via: NodeId, origin: NodeId },
    #[error(
        "already {MAX_WATCHERS} nodes watched through, or as many new leases within a lease's length"
    )]
    TooMany,
}

/// What a node should do about reporting now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// Nothing (nobody watches, or a report is already due).
    None,
    /// Send one now ([`Watchers::entries`] says what it carries).
    Now,
    /// Wake at this time and report then.
    At(Time),
}

#[derive(Debug, Default)]
pub struct Watchers {
    /// Per `via`: its address, the lease's end, and whether a connection
    /// to it has come up during the lease.
    leases: BTreeMap<NodeId, (PeerInfo, Time, bool)>,
    report_due: Option<Time>,
    /// A `via` may lack this node's whole vector: the next report allowed
    /// to be whole is.
    full_owed: bool,
    /// The next report goes even if nothing changed (see
    /// [`HEARTBEAT_AFTER`]).
    heartbeat_owed: bool,
    last_full_at: Option<Time>,
    last_report_at: Option<Time>,
    last_report: BTreeMap<NodeId, u64>,
    /// When the latest new leases were taken, oldest first, at most
    /// [`MAX_WATCHERS`] of them.
    recent_new: std::collections::VecDeque<Time>,
    refused: u64,
}

impl Watchers {
    /// Leases refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Whether anyone watches now.
    pub fn watching(&self, now: Time) -> bool {
        self.leases.values().any(|(_, until, _)| *until > now)
    }

    /// Whether a lease naming `via` is running: the other nodes report to
    /// `via` only what changed while it lasts, so what `via` was told must
    /// be kept until it ends, whoever is attached there meanwhile.
    pub fn watched_through(&self, now: Time, via: NodeId) -> bool {
        self.leases
            .get(&via)
            .is_some_and(|(_, until, _)| *until > now)
    }

    /// The nodes to send reports to, dropping expired leases.
    pub fn vias(&mut self, now: Time) -> Vec<PeerInfo> {
        self.leases.retain(|_, (_, until, _)| *until > now);
        self.leases.values().map(|(p, _, _)| *p).collect()
    }

    /// A dial to `addr` failed: every lease naming it as `via` ends. A
    /// node that cannot be reached cannot take reports, and redialling it
    /// for every report until the lease runs out is a dial storm any key
    /// holder could start with one Watch; an honest node's observer renews
    /// its lease within [`WATCH_RENEW`], which dials it once more. Returns
    /// how many leases ended.
    pub fn unreachable(&mut self, addr: std::net::SocketAddr) -> usize {
        let before = self.leases.len();
        self.leases.retain(|_, (via, _, _)| via.addr != addr);
        before - self.leases.len()
    }

    /// A Watch arrived (or this node took one for its own observer).
    /// `origin` is who broadcast it: only a node may name itself as `via`.
    /// The lease is capped at [`WATCH_LEASE`] whatever the message asks.
    /// A renewal asks for nothing; a new lease owes the `via` the whole
    /// vector.
    pub fn extend(
        &mut self,
        now: Time,
        origin: NodeId,
        lease: Duration,
        via: PeerInfo,
    ) -> Result<Report, WatchRefused> {
        if origin != via.id {
            self.refused += 1;
            return Err(WatchRefused::NotItsOwn {
                via: via.id,
                origin,
            });
        }
        self.leases.retain(|_, (_, until, _)| *until > now);
        let was = self.leases.contains_key(&via.id);
        if !was && self.leases.len() >= MAX_WATCHERS {
            self.refused += 1;
            return Err(WatchRefused::TooMany);
        }
        // New leases, not only leases held, are bounded: a lease that ends
        // early (its node unreachable) must not make room for the next one
        // of a flood, each costing a dial.
        if !was {
            if self.recent_new.len() >= MAX_WATCHERS {
                let oldest = self.recent_new[0];
                if now.saturating_since(oldest) < WATCH_LEASE {
                    self.refused += 1;
                    return Err(WatchRefused::TooMany);
                }
                self.recent_new.pop_front();
            }
            self.recent_new.push_back(now);
        }
        let until = now + lease.min(WATCH_LEASE);
        let entry = self.leases.entry(via.id).or_insert((via, until, false));
        entry.0 = via;
        entry.1 = entry.1.max(until);
        let stale = self
            .last_full_at
            .is_none_or(|at| now.saturating_since(at) >= FULL_REPORT_EVERY);
        let quiet = self
            .last_report_at
            .is_none_or(|at| now.saturating_since(at) >= HEARTBEAT_AFTER);
        Ok(if !was || stale {
            self.owe_full(now)
        } else if quiet {
            self.heartbeat_owed = true;
            self.arm(now, now)
        } else {
            Report::None
        })
    }

    /// A new connection to `peer` is up. The first one to a `via` carries
    /// what was held for it while it was dialled (the whole report of a
    /// new lease among it); one that replaces a connection still up may
    /// follow reports the old one lost: the next report is whole.
    pub fn link_up(&mut self, now: Time, peer: NodeId) -> Report {
        let Some((_, until, connected)) = self.leases.get_mut(&peer) else {
            return Report::None;
        };
        if *until <= now {
            return Report::None;
        }
        if std::mem::replace(connected, true) {
            self.owe_full(now)
        } else {
            Report::None
        }
    }

    /// The connection to `peer` closed or could not be opened. If it is a
    /// `via`, reports in flight or held for it may be lost: the next
    /// report is whole (sent with the next change, so an unreachable
    /// `via` is not dialled again and again for nothing).
    pub fn link_lost(&mut self, peer: NodeId) {
        if let Some((_, _, connected)) = self.leases.get_mut(&peer) {
            *connected = false;
            self.full_owed = true;
        }
    }

    /// The state changed: report at once, or at the end of the coalescing
    /// window.
    pub fn changed(&mut self, now: Time) -> Report {
        if !self.watching(now) {
            return Report::None;
        }
        let next = self.last_report_at.map_or(now, |at| at + REPORT_COALESCE);
        self.arm(now, next)
    }

    /// The report timer fired.
    pub fn due(&mut self, now: Time) -> Report {
        self.report_due = None;
        if self.watching(now) {
            Report::Now
        } else {
            Report::None
        }
    }

    /// After a report went out: when to wake for a whole one still owed
    /// (it was not yet [`MIN_FULL_REPORT_GAP`] after the last).
    pub fn follow_up(&mut self, now: Time) -> Report {
        if !self.full_owed || !self.watching(now) {
            return Report::None;
        }
        let at = self.full_allowed_at(now);
        self.arm(now, at)
    }

    /// The report to send now: whether it is whole, and its entries (the
    /// whole vector, or what changed since the last report); `None`:
    /// nothing to say.
    pub fn entries(
        &mut self,
        now: Time,
        vv: BTreeMap<NodeId, u64>,
    ) -> Option<(bool, Vec<(NodeId, u64)>)> {
        let full = self.full_owed && self.full_allowed_at(now) <= now;
        let entries: Vec<(NodeId, u64)> = if full {
            vv.iter().map(|(k, v)| (*k, *v)).collect()
        } else {
            vv.iter()
                .filter(|(k, v)| self.last_report.get(k) != Some(v))
                .map(|(k, v)| (*k, *v))
                .collect()
        };
        self.last_report = vv;
        if entries.is_empty() && !full && !self.heartbeat_owed {
            return None;
        }
        self.heartbeat_owed = false;
        self.last_report_at = Some(now);
        if full {
            self.full_owed = false;
            self.last_full_at = Some(now);
        }
        Some((full, entries))
    }

    fn owe_full(&mut self, now: Time) -> Report {
        self.full_owed = true;
        let at = self.full_allowed_at(now);
        self.arm(now, at)
    }

    fn full_allowed_at(&self, now: Time) -> Time {
        self.last_full_at
            .map_or(now, |at| at + MIN_FULL_REPORT_GAP)
            .max(now)
    }

    /// A report at `at`: now, or a timer unless one is due no later.
    fn arm(&mut self, now: Time, at: Time) -> Report {
        if at <= now {
            return Report::Now;
        }
        match self.report_due {
            Some(due) if due <= at => Report::None,
            _ => {
                self.report_due = Some(at);
                Report::At(at)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u64) -> PeerInfo {
        PeerInfo {
            id: NodeId(id),
            addr: format!("10.0.0.{}:7946", id % 250).parse().unwrap(),
        }
    }

    fn vv(entries: &[(u64, u64)]) -> BTreeMap<NodeId, u64> {
        entries.iter().map(|(k, v)| (NodeId(*k), *v)).collect()
    }

    #[test]
    fn a_new_lease_gets_a_full_report_and_a_renewal_only_a_heartbeat() {
        let mut w = Watchers::default();
        let t0 = Time::from_millis(1_000);
        assert_eq!(
            w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::Now)
        );
        assert!(w.watching(t0));
        assert_eq!(
            w.entries(t0, vv(&[(1, 3), (2, 5)])),
            Some((true, vec![(NodeId(1), 3), (NodeId(2), 5)]))
        );
        // A renewal soon after a report asks for nothing.
        let t = t0 + HEARTBEAT_AFTER / 2;
        assert_eq!(
            w.extend(t, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::None)
        );
        assert_eq!(w.entries(t, vv(&[(1, 3), (2, 5)])), None);
        // After a quiet spell, an empty report (the node is alive), until
        // the whole report is old.
        let t1 = t0 + WATCH_RENEW;
        assert_eq!(
            w.extend(t1, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::Now)
        );
        assert_eq!(w.entries(t1, vv(&[(1, 3), (2, 5)])), Some((false, vec![])));
        assert_eq!(w.entries(t1, vv(&[(1, 3), (2, 5)])), None);
        let t2 = t0 + FULL_REPORT_EVERY;
        assert_eq!(
            w.extend(t2, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::Now)
        );
        assert!(!w.watching(t2 + WATCH_LEASE));
        assert!(w.vias(t2 + WATCH_LEASE).is_empty());
    }

    #[test]
    fn a_lease_is_capped_and_must_name_its_broadcaster() {
        let mut w = Watchers::default();
        let t0 = Time::ZERO;
        assert!(
            w.extend(t0, NodeId(1), Duration::from_secs(86_400), peer(1))
                .is_ok()
        );
        assert!(!w.watching(t0 + WATCH_LEASE));
        assert_eq!(
            w.extend(t0, NodeId(2), WATCH_LEASE, peer(3)),
            Err(WatchRefused::NotItsOwn {
                via: NodeId(3),
                origin: NodeId(2)
            })
        );
    }

    #[test]
    fn a_lease_through_an_unreachable_node_ends() {
        let mut w = Watchers::default();
        let t0 = Time::ZERO;
        assert!(w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)).is_ok());
        assert!(w.extend(t0, NodeId(2), WATCH_LEASE, peer(2)).is_ok());
        assert_eq!(w.unreachable(peer(1).addr), 1);
        assert_eq!(w.vias(t0), vec![peer(2)]);
        assert_eq!(w.unreachable(peer(1).addr), 0);
    }

    #[test]
    fn leases_ended_early_make_no_room_for_more_new_ones_until_a_lease_passes() {
        let mut w = Watchers::default();
        let t0 = Time::ZERO;
        for i in 0..MAX_WATCHERS as u64 {
            assert!(w.extend(t0, NodeId(i), WATCH_LEASE, peer(i)).is_ok());
            w.unreachable(peer(i).addr);
        }
        let extra = MAX_WATCHERS as u64;
        assert_eq!(
            w.extend(t0, NodeId(extra), WATCH_LEASE, peer(extra)),
            Err(WatchRefused::TooMany)
        );
        assert!(
            w.extend(t0 + WATCH_LEASE, NodeId(extra), WATCH_LEASE, peer(extra))
                .is_ok()
        );
    }

    #[test]
    fn watchers_are_bounded() {
        let mut w = Watchers::default();
        for i in 0..MAX_WATCHERS as u64 {
            assert!(
                w.extend(Time::ZERO, NodeId(i), WATCH_LEASE, peer(i))
                    .is_ok()
            );
        }
        let extra = MAX_WATCHERS as u64;
        assert_eq!(
            w.extend(Time::ZERO, NodeId(extra), WATCH_LEASE, peer(extra)),
            Err(WatchRefused::TooMany)
        );
        assert_eq!(w.refused(), 1);
        // Once leases expire there is room again.
        assert!(
            w.extend(
                Time::ZERO + WATCH_LEASE,
                NodeId(extra),
                WATCH_LEASE,
                peer(extra)
            )
            .is_ok()
        );
    }

    #[test]
    fn changes_within_the_window_are_coalesced_and_carry_only_what_changed() {
        let mut w = Watchers::default();
        let t0 = Time::from_millis(10);
        w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)).unwrap();
        w.entries(t0, vv(&[(1, 1)]));
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(w.changed(t1), Report::At(t0 + REPORT_COALESCE));
        assert_eq!(w.changed(t1), Report::None, "one timer for the window");
        let t2 = t0 + REPORT_COALESCE;
        assert_eq!(w.due(t2), Report::Now);
        assert_eq!(
            w.entries(t2, vv(&[(1, 1), (2, 4)])),
            Some((false, vec![(NodeId(2), 4)]))
        );
        assert_eq!(w.follow_up(t2), Report::None);
        // Quiet for a while: the next change goes at once.
        assert_eq!(w.changed(t2 + REPORT_COALESCE), Report::Now);
        assert_eq!(w.entries(t2, vv(&[(1, 1), (2, 4)])), None);
    }

    #[test]
    fn a_new_connection_to_a_via_owes_it_the_whole_vector_once_the_gap_allows() {
        let mut w = Watchers::default();
        let t0 = Time::from_millis(5_000);
        w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)).unwrap();
        assert!(w.entries(t0, vv(&[(1, 1), (2, 2)])).unwrap().0);
        // A link to someone else asks nothing; the first to the via
        // carries what was held for it.
        assert_eq!(w.link_up(t0, NodeId(9)), Report::None);
        assert_eq!(w.link_up(t0, NodeId(1)), Report::None);
        // A second one just after a whole report: the next whole one waits
        // out the gap, and changes meanwhile still go out as they come.
        let t1 = t0 + Duration::from_millis(100);
        let full_at = t0 + MIN_FULL_REPORT_GAP;
        assert_eq!(w.link_up(t1, NodeId(1)), Report::At(full_at));
        assert_eq!(w.changed(t1), Report::Now);
        assert_eq!(
            w.entries(t1, vv(&[(1, 2), (2, 2)])),
            Some((false, vec![(NodeId(1), 2)]))
        );
        assert_eq!(w.follow_up(t1), Report::None, "its timer is armed");
        assert_eq!(w.due(full_at), Report::Now);
        assert_eq!(
            w.entries(full_at, vv(&[(1, 2), (2, 2)])),
            Some((true, vec![(NodeId(1), 2), (NodeId(2), 2)]))
        );
        assert_eq!(w.follow_up(full_at), Report::None);
        // A lost link owes a whole report, sent with the next change; the
        // connection then opened carries it and asks nothing more.
        w.link_lost(NodeId(1));
        let t2 = full_at + MIN_FULL_REPORT_GAP;
        assert_eq!(w.changed(t2), Report::Now);
        assert!(w.entries(t2, vv(&[(1, 3), (2, 2)])).unwrap().0);
        assert_eq!(w.link_up(t2, NodeId(1)), Report::None);
    }
}
