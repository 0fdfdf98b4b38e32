//! Link liveness: telling a quiet link of the active view from one a
//! partition cut silently.
//!
//! HyParView takes its failure detector from TCP (§4.3), but TCP says
//! nothing about a link that carries nothing, and on one that does it
//! retransmits with a back-off that doubles up to two minutes before it
//! gives up (some fifteen minutes in all). A cut switch or a pulled cable
//! would then keep each side's neighbours across the cut in its active
//! view: nothing repairs the view during the cut, and after the heal the
//! links wait for TCP's next retransmission (a minute or more) before a
//! byte flows again.
//!
//! So each end of a link of the active view sends a [`Message::Keepalive`]
//! when it has sent nothing on the link for [`KEEPALIVE_AFTER`], and
//! declares the link failed when it has heard nothing on it for
//! [`SILENT_LINK`]. The failed link is closed and its peer handed to
//! HyParView as failed: the view refills from the node's own side, and
//! the peer is probed until the cut heals (`proto::hyparview`, "lost"
//! peers).
//!
//! Keepalives go only where the link is otherwise quiet: a link that
//! carries anti-entropy, shuffles or broadcasts in both directions
//! carries none. An idle node sends at most one per neighbour every
//! [`KEEPALIVE_AFTER`] (a 1-byte message in an 18-byte Noise frame).
//!
//! [`Message::Keepalive`]: crate::wire::Message::Keepalive

use std::time::Duration;

use super::links::Link;
use crate::time::Time;

/// A link of the active view this end has sent nothing on for this long
/// gets a keepalive. Three fit in a [`SILENT_LINK`], so one lost to a
/// loaded Pi's scheduler or a Wi-Fi hiccup does not fail the link; an idle
/// node's five neighbours cost it at most 5 × 19 B / 5 s ≈ 19 B/s, less
/// whatever else the links carry.
pub const KEEPALIVE_AFTER: Duration = Duration::from_secs(5);

/// A link of the active view nothing was heard on for this long has
/// failed. It is the longest a cut goes unnoticed, so well under a
/// partition worth healing from, and three keepalive periods, so a link
/// is not failed for one late keepalive.
pub const SILENT_LINK: Duration = Duration::from_secs(15);

/// What a link of the active view needs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing until [`Need::next`]'s time.
    Nothing,
    /// This end has been quiet: send a keepalive.
    Keepalive,
    /// The other end has been silent: the link failed.
    Failed,
}

/// What `link` needs at `now`.
pub fn need(link: &Link, now: Time) -> Need {
    if now.saturating_since(link.last_heard) >= SILENT_LINK {
        Need::Failed
    } else if now.saturating_since(link.last_sent) >= KEEPALIVE_AFTER {
        Need::Keepalive
    } else {
        Need::Nothing
    }
}

/// When `link` next needs something, as things stand.
pub fn next(link: &Link) -> Time {
    (link.last_sent + KEEPALIVE_AFTER).min(link.last_heard + SILENT_LINK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;
    use crate::replica::LinkId;
    use crate::wire::{PeerInfo, Role};

    fn link(sent_s: u64, heard_s: u64) -> Link {
        Link {
            peer: PeerInfo {
                id: NodeId(2),
                addr: "10.0.0.2:7946".parse().unwrap(),
            },
            id: LinkId(1),
            outbound: true,
            role: Role::Node,
            last_active: Time::ZERO,
            last_sent: Time::ZERO + Duration::from_secs(sent_s),
            last_heard: Time::ZERO + Duration::from_secs(heard_s),
        }
    }

    #[test]
    fn a_quiet_end_sends_a_keepalive_and_a_silent_one_fails() {
        let at = |s: u64| Time::ZERO + Duration::from_secs(s);
        assert_eq!(need(&link(0, 0), at(4)), Need::Nothing);
        assert_eq!(next(&link(0, 0)), at(5));
        assert_eq!(need(&link(0, 0), at(5)), Need::Keepalive);
        assert_eq!(need(&link(10, 0), at(14)), Need::Nothing);
        assert_eq!(next(&link(12, 0)), at(15));
        assert_eq!(need(&link(14, 0), at(15)), Need::Failed);
        assert_eq!(need(&link(0, 14), at(15)), Need::Keepalive);
    }
}
