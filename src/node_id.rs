//! The identity of a replica (node or observer).
//!
//! A `NodeId` is a 64-bit digest of the replica's Noise static public key
//! (see DESIGN.md, "Identities"): the handshake proves possession of the key,
//! so nobody can speak as another replica, and a re-imaged Pi with a new key
//! never reuses an old replica's dots. Everything above the transport names
//! replicas by this id; names and zones are attributes, not identities.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A replica's identity: the first 8 bytes of BLAKE2s(public key), big-endian.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u64);

impl NodeId {
    /// Derives the id from a Noise static public key.
    pub fn from_public_key(public_key: &[u8]) -> Self {
        use blake2::{Blake2s256, Digest};
        let digest = Blake2s256::digest(public_key);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        NodeId(u64::from_be_bytes(first))
    }

    /// The first four hex digits: enough to tell replicas apart on a screen.
    pub fn short(&self) -> String {
        format!("{:016x}", self.0)[..4].to_string()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({:016x})", self.0)
    }
}

/// The text could not be read as a node id (16 hex digits).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a node id (expected 16 hex digits)")]
pub struct ParseNodeIdError(pub String);

impl FromStr for NodeId {
    type Err = ParseNodeIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 {
            return Err(ParseNodeIdError(s.to_string()));
        }
        u64::from_str_radix(s, 16)
            .map(NodeId)
            .map_err(|_| ParseNodeIdError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = NodeId(0x00ab_cdef_0123_4567);
        assert_eq!(id.to_string(), "00abcdef01234567");
        assert_eq!(id.to_string().parse::<NodeId>(), Ok(id));
        assert!("xyz".parse::<NodeId>().is_err());
    }

    #[test]
    fn different_keys_give_different_ids() {
        let a = NodeId::from_public_key(&[1u8; 32]);
        let b = NodeId::from_public_key(&[2u8; 32]);
        assert_ne!(a, b);
        assert_eq!(a, NodeId::from_public_key(&[1u8; 32]));
    }
}
