//! A dot: the name of one write.
//!
//! Every local write (a value, or a removal) gets a fresh dot from its
//! replica: the replica's id and the next value of its counter. Dots are how
//! delta-state CRDTs tell which writes a replica has seen (Almeida, Shoker,
//! Baquero, "Delta State Replicated Data Types", JPDC 2018, §5 "causal
//! CRDTs"), so a dot must never be reused: the counter is persisted before a
//! write leaves the replica (see [`super::Writer`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::node_id::NodeId;

/// One write: the replica that made it and that replica's counter (from 1).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Dot {
    pub replica: NodeId,
    pub counter: u64,
}

impl Dot {
    pub const fn new(replica: NodeId, counter: u64) -> Self {
        Dot { replica, counter }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.replica.short(), self.counter)
    }
}

impl fmt::Debug for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dot({}:{})", self.replica, self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_order_by_replica_then_counter() {
        let a = Dot::new(NodeId(1), 9);
        let b = Dot::new(NodeId(2), 1);
        assert!(a < b);
        assert!(Dot::new(NodeId(1), 1) < a);
        assert_eq!(
            Dot::new(NodeId(0x1234_0000_0000_0000), 7).to_string(),
            "1234:7"
        );
    }
}
