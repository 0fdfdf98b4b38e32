//! How a node finds the overlay: through its seeds, or the peers it knew
//! in its last run, or — with neither — by founding a new overlay alone.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use crate::wire::PeerInfo;

/// What to do about joining.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Join through these contacts (none: found a new overlay).
    Join(Vec<PeerInfo>),
    /// Dial these seeds; their ids are learnt by the handshake.
    Dial(Vec<SocketAddr>),
    /// Nothing yet.
    Wait,
}

#[derive(Debug, Default)]
pub struct Bootstrap {
    dialing: BTreeSet<SocketAddr>,
    /// Seeds whose id the handshake told us: the overlay's contacts.
    contacts: Vec<PeerInfo>,
}

impl Bootstrap {
    /// The first step. Seeds win over remembered peers: an admin who
    /// configured seeds meant them.
    pub fn start(&mut self, me: SocketAddr, seeds: &[SocketAddr], remembered: &[PeerInfo]) -> Step {
        let seeds: Vec<SocketAddr> = seeds.iter().copied().filter(|s| *s != me).collect();
        if seeds.is_empty() {
            if !remembered.is_empty() {
                tracing::info!(
                    peers = remembered.len(),
                    "re-joining through the peers of the last run"
                );
            }
            return Step::Join(remembered.to_vec());
        }
        self.dialing = seeds.iter().copied().collect();
        Step::Dial(seeds)
    }

    /// A dial we made reached `peer`. Joins through the seeds reached so
    /// far when the node has no neighbour yet.
    pub fn reached(&mut self, peer: PeerInfo, alone: bool) -> Step {
        if !self.dialing.remove(&peer.addr) {
            return Step::Wait;
        }
        tracing::info!(seed = %peer.addr, id = %peer.id, "seed reached");
        self.contacts.push(peer);
        if alone {
            Step::Join(self.contacts.clone())
        } else {
            Step::Wait
        }
    }

    /// A seed could not be reached. When none can and none was, the node
    /// founds a new overlay (the others will join it through their seeds).
    pub fn failed(&mut self, addr: SocketAddr) -> Step {
        if !self.dialing.remove(&addr) {
            return Step::Wait;
        }
        tracing::warn!(%addr, "seed unreachable");
        if self.dialing.is_empty() && self.contacts.is_empty() {
            Step::Join(Vec::new())
        } else {
            Step::Wait
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;

    fn addr(i: u8) -> SocketAddr {
        format!("10.0.0.{i}:7946").parse().unwrap()
    }

    #[test]
    fn without_seeds_a_node_rejoins_its_old_peers_or_founds_an_overlay() {
        let old = PeerInfo {
            id: NodeId(5),
            addr: addr(5),
        };
        assert_eq!(
            Bootstrap::default().start(addr(1), &[], &[old]),
            Step::Join(vec![old])
        );
        assert_eq!(
            Bootstrap::default().start(addr(1), &[], &[]),
            Step::Join(vec![])
        );
        // Its own address among the seeds is no seed.
        assert_eq!(
            Bootstrap::default().start(addr(1), &[addr(1)], &[]),
            Step::Join(vec![])
        );
    }

    #[test]
    fn seeds_are_dialled_and_the_first_reached_is_joined() {
        let mut b = Bootstrap::default();
        assert_eq!(
            b.start(addr(1), &[addr(2), addr(3)], &[]),
            Step::Dial(vec![addr(2), addr(3)])
        );
        let two = PeerInfo {
            id: NodeId(2),
            addr: addr(2),
        };
        assert_eq!(b.reached(two, true), Step::Join(vec![two]));
        // A later seed while already joined: only remembered.
        let three = PeerInfo {
            id: NodeId(3),
            addr: addr(3),
        };
        assert_eq!(b.reached(three, false), Step::Wait);
        // A dial that was not a seed's says nothing.
        assert_eq!(b.failed(addr(9)), Step::Wait);
    }

    #[test]
    fn a_node_whose_seeds_all_fail_founds_the_overlay() {
        let mut b = Bootstrap::default();
        b.start(addr(1), &[addr(2), addr(3)], &[]);
        assert_eq!(b.failed(addr(2)), Step::Wait);
        assert_eq!(b.failed(addr(3)), Step::Join(vec![]));
    }
}
