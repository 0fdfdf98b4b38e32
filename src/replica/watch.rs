//! Observer attachments, seen from the nodes: who is watching, through
//! which node, and when each node reports its version vector.
//!
//! A node an observer attaches to broadcasts a `Watch` naming itself as
//! `via` and renews it while the observer stays. Every node then sends its
//! clock reports straight to each `via` while that lease lasts: the first
//! change after a quiet spell at once, later ones coalesced, and the whole
//! vector now and then so a lost partial report is repaired. With nobody
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
/// While watched, a full clock report this often (so a newcomer observer
/// and a lost partial report are repaired).
pub const FULL_REPORT_EVERY: Duration = Duration::from_secs(10);
/// Full clock reports answering Watches are at least this far apart.
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
    /// Send one now: whole, or only what changed.
    Now { full: bool },
    /// Wake at this time and report what changed then.
    At(Time),
}

#[derive(Debug, Default)]
pub struct Watchers {
    leases: BTreeMap<NodeId, (PeerInfo, Time)>,
    report_due: Option<Time>,
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
        self.leases.values().any(|(_, until)| *until > now)
    }

    /// The nodes to send reports to, dropping expired leases.
    pub fn vias(&mut self, now: Time) -> Vec<PeerInfo> {
        self.leases.retain(|_, (_, until)| *until > now);
        self.leases.values().map(|(p, _)| *p).collect()
    }

    /// A dial to `addr` failed: every lease naming it as `via` ends. A
    /// node that cannot be reached cannot take reports, and redialling it
    /// for every report until the lease runs out is a dial storm any key
    /// holder could start with one Watch; an honest node's observer renews
    /// its lease within [`WATCH_RENEW`], which dials it once more. Returns
    /// how many leases ended.
    pub fn unreachable(&mut self, addr: std::net::SocketAddr) -> usize {
        let before = self.leases.len();
        self.leases.retain(|_, (via, _)| via.addr != addr);
        before - self.leases.len()
    }

    /// A Watch arrived (or this node took one for its own observer).
    /// `origin` is who broadcast it: only a node may name itself as `via`.
    /// The lease is capped at [`WATCH_LEASE`] whatever the message asks.
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
        self.leases.retain(|_, (_, until)| *until > now);
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
        let entry = self.leases.entry(via.id).or_insert((via, until));
        entry.0 = via;
        entry.1 = entry.1.max(until);
        // A Watch may come from a newly attached observer: it needs every
        // node's whole vector, not only the next change.
        let recent = self
            .last_full_at
            .is_some_and(|at| now.saturating_since(at) < MIN_FULL_REPORT_GAP);
        Ok(if !was || !recent {
            self.last_full_at = Some(now);
            Report::Now { full: true }
        } else {
            Report::None
        })
    }

    /// The state changed: report at once, or at the end of the coalescing
    /// window.
    pub fn changed(&mut self, now: Time) -> Report {
        if !self.watching(now) || self.report_due.is_some() {
            return Report::None;
        }
        let next = self.last_report_at.map_or(now, |at| at + REPORT_COALESCE);
        if next <= now {
            Report::Now { full: false }
        } else {
            self.report_due = Some(next);
            Report::At(next)
        }
    }

    /// The coalescing timer fired.
    pub fn due(&mut self, now: Time) -> Report {
        self.report_due = None;
        if self.watching(now) {
            Report::Now { full: false }
        } else {
            Report::None
        }
    }

    /// The entries of a report: the whole vector, or what changed since
    /// the last one (`None`: nothing to say).
    pub fn entries(
        &mut self,
        now: Time,
        vv: BTreeMap<NodeId, u64>,
        full: bool,
    ) -> Option<Vec<(NodeId, u64)>> {
        let entries: Vec<(NodeId, u64)> = if full {
            vv.iter().map(|(k, v)| (*k, *v)).collect()
        } else {
            vv.iter()
                .filter(|(k, v)| self.last_report.get(k) != Some(v))
                .map(|(k, v)| (*k, *v))
                .collect()
        };
        self.last_report = vv;
        if entries.is_empty() && !full {
            return None;
        }
        self.last_report_at = Some(now);
        if full {
            self.last_full_at = Some(now);
        }
        Some(entries)
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

    #[test]
    fn a_new_lease_gets_a_full_report_and_expires() {
        let mut w = Watchers::default();
        let t0 = Time::from_millis(1_000);
        assert_eq!(
            w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::Now { full: true })
        );
        assert!(w.watching(t0));
        // A renewal right after does not repeat the full report.
        assert_eq!(
            w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)),
            Ok(Report::None)
        );
        assert!(!w.watching(t0 + WATCH_LEASE));
        assert!(w.vias(t0 + WATCH_LEASE).is_empty());
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
    fn changes_within_the_window_are_coalesced() {
        let mut w = Watchers::default();
        let t0 = Time::from_millis(10);
        w.extend(t0, NodeId(1), WATCH_LEASE, peer(1)).unwrap();
        w.entries(t0, BTreeMap::from([(NodeId(1), 1)]), true);
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(w.changed(t1), Report::At(t0 + REPORT_COALESCE));
        assert_eq!(w.changed(t1), Report::None, "one timer for the window");
        let t2 = t0 + REPORT_COALESCE;
        assert_eq!(w.due(t2), Report::Now { full: false });
        assert_eq!(
            w.entries(t2, BTreeMap::from([(NodeId(1), 1), (NodeId(2), 4)]), false),
            Some(vec![(NodeId(2), 4)])
        );
        // Quiet for a while: the next change goes at once.
        assert_eq!(w.changed(t2 + REPORT_COALESCE), Report::Now { full: false });
        assert_eq!(
            w.entries(t2, BTreeMap::from([(NodeId(1), 1), (NodeId(2), 4)]), false),
            None
        );
    }
}
