//! The cluster keys a replica accepts, one of them the primary it dials
//! with: what lets an office move to a new cluster key without downtime
//! (install the new key everywhere, make it the primary everywhere, then
//! remove the old one everywhere; README, "Rotating the cluster key").

use super::identity::ClusterKey;
use crate::key_fingerprint::KeyFingerprint;

/// Keys one keyring may hold. A rotation needs two at once; the bound
/// keeps a dialer's retries (one connection per key) and what a node
/// advertises in its `Node` entry small.
pub const MAX_KEYRING_KEYS: usize = 8;

/// Why a set of keys is not a keyring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("a keyring needs at least one key")]
    Empty,
    #[error("a keyring holds at most {MAX_KEYRING_KEYS} keys (got {0})")]
    TooMany(usize),
}

/// Accepted cluster keys, the primary first, without duplicates.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    /// `keys[0]` is the primary.
    keys: Vec<(KeyFingerprint, ClusterKey)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("primary", &self.primary_fingerprint())
            .field("keys", &self.fingerprints())
            .finish()
    }
}

impl Keyring {
    /// `primary` and the `others` it also accepts (duplicates of a key
    /// already given are dropped).
    pub fn new(primary: ClusterKey, others: Vec<ClusterKey>) -> Result<Self, KeyringError> {
        let mut keys: Vec<(KeyFingerprint, ClusterKey)> = Vec::with_capacity(1 + others.len());
        for key in std::iter::once(primary).chain(others) {
            let fp = key.fingerprint();
            if !keys.iter().any(|(f, _)| *f == fp) {
                keys.push((fp, key));
            }
        }
        match keys.len() {
            0 => Err(KeyringError::Empty),
            n if n > MAX_KEYRING_KEYS => Err(KeyringError::TooMany(n)),
            _ => Ok(Self { keys }),
        }
    }

    /// The key every dial proves first.
    pub fn primary(&self) -> &ClusterKey {
        &self.keys[0].1
    }

    pub fn primary_fingerprint(&self) -> KeyFingerprint {
        self.keys[0].0
    }

    /// Every accepted key's fingerprint, the primary first.
    pub fn fingerprints(&self) -> Vec<KeyFingerprint> {
        self.keys.iter().map(|(fp, _)| *fp).collect()
    }

    /// The accepted key with this fingerprint.
    pub fn get(&self, fingerprint: &KeyFingerprint) -> Option<&ClusterKey> {
        self.keys
            .iter()
            .find(|(fp, _)| fp == fingerprint)
            .map(|(_, key)| key)
    }

    pub fn contains(&self, fingerprint: &KeyFingerprint) -> bool {
        self.get(fingerprint).is_some()
    }

    /// The keys in the order a dialer tries them: the primary, then the
    /// others (each retry is a new connection, so there are at most
    /// [`MAX_KEYRING_KEYS`]).
    pub fn dial_order(&self) -> impl Iterator<Item = (KeyFingerprint, &ClusterKey)> {
        self.keys.iter().map(|(fp, key)| (*fp, key))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Never true: a keyring holds at least its primary.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl From<ClusterKey> for Keyring {
    fn from(key: ClusterKey) -> Self {
        Self {
            keys: vec![(key.fingerprint(), key)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_comes_first_and_duplicates_are_dropped() {
        let (a, b) = (ClusterKey::generate(), ClusterKey::generate());
        let ring = Keyring::new(b.clone(), vec![a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.primary(), &b);
        assert_eq!(ring.fingerprints(), vec![b.fingerprint(), a.fingerprint()]);
        assert_eq!(ring.get(&a.fingerprint()), Some(&a));
        let order: Vec<KeyFingerprint> = ring.dial_order().map(|(fp, _)| fp).collect();
        assert_eq!(order, ring.fingerprints());
    }

    #[test]
    fn a_keyring_is_bounded() {
        let many: Vec<ClusterKey> = (0..MAX_KEYRING_KEYS)
            .map(|_| ClusterKey::generate())
            .collect();
        assert_eq!(
            Keyring::new(ClusterKey::generate(), many),
            Err(KeyringError::TooMany(MAX_KEYRING_KEYS + 1))
        );
    }
}
