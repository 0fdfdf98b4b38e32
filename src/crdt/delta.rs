//! A delta: the registers a write (or an anti-entropy answer) changed.
//!
//! A delta is itself a state (Almeida et al., JPDC 2018, §4): joining it is
//! all a receiver does, in any order, any number of times. Its causal
//! context is left implicit, not encoded: it is exactly the dots its
//! registers account for (their siblings and the newest write of each
//! replica in their per-key contexts), which keeps a sensor reading's delta
//! to a few dozen bytes. The bytes Plumtree carries are [`Delta::encode`].

use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError};
use super::registers::Registers;

/// Registers to join into a state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Delta(pub(crate) Registers);

impl Delta {
    /// Nothing to join.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many keys the delta touches.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The replicas whose writes (values or removals) the delta carries.
    pub fn authors(&self) -> std::collections::BTreeSet<crate::node_id::NodeId> {
        self.0.authors()
    }

    /// Postcard bytes, as broadcast through Plumtree.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode("delta", self)
    }

    /// Reads a delta from a broadcast payload. Never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<Delta, CodecError> {
        codec::decode("delta", bytes)
    }
}
