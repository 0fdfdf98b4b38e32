//! The fingerprint of a cluster key: a short digest that names a key
//! without revealing it.
//!
//! A node advertises the fingerprints of the keys in its keyring in its
//! `Node` entry (so `officemesh keyring list` can show how many nodes
//! hold each key), a dialer names the key it proves in its first
//! handshake message (so the responder knows which key of its keyring to
//! check it with), and an administrator names keys by it on the command
//! line. The digest is domain-separated, so it is never the digest of the
//! key for any other purpose, and a key is 256 random bits: the
//! fingerprint gives nothing away about it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Bytes in a fingerprint: 64 bits, enough that two keys of one office
/// never share one by chance.
pub const FINGERPRINT_LEN: usize = 8;

/// Separates this digest from any other use of BLAKE2s over the key.
const DOMAIN: &[u8] = b"officemesh cluster key fingerprint\0";

/// The first 8 bytes of BLAKE2s(domain || key), shown as 16 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct KeyFingerprint(pub [u8; FINGERPRINT_LEN]);

impl KeyFingerprint {
    /// The fingerprint of the key `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use blake2::{Blake2s256, Digest};
        let mut hasher = Blake2s256::new();
        hasher.update(DOMAIN);
        hasher.update(bytes);
        let digest = hasher.finalize();
        let mut first = [0u8; FINGERPRINT_LEN];
        first.copy_from_slice(&digest[..FINGERPRINT_LEN]);
        Self(first)
    }

    /// Whether `prefix` (hex digits, any case) is how this fingerprint's
    /// text begins: an administrator may type only the first few digits.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.to_string().starts_with(&prefix.to_ascii_lowercase())
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

/// The text is not a fingerprint (16 hex digits).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{0}` is not a key fingerprint (expected 16 hex digits)")]
pub struct ParseFingerprintError(pub String);

impl FromStr for KeyFingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseFingerprintError(s.to_string());
        if s.len() != 2 * FINGERPRINT_LEN || !s.is_ascii() {
            return Err(err());
        }
        let mut out = [0u8; FINGERPRINT_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| err())?;
        }
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_prefixes_match() {
        let fp = KeyFingerprint::of(&[7u8; 32]);
        let text = fp.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<KeyFingerprint>(), Ok(fp));
        assert!(fp.starts_with(&text[..4]));
        assert!(fp.starts_with(&text[..6].to_ascii_uppercase()));
        assert!("xyz".parse::<KeyFingerprint>().is_err());
    }

    #[test]
    fn the_fingerprint_is_not_the_plain_digest_of_the_key() {
        use blake2::{Blake2s256, Digest};
        let key = [9u8; 32];
        let plain = Blake2s256::digest(key);
        assert_ne!(KeyFingerprint::of(&key).0[..], plain[..FINGERPRINT_LEN]);
        assert_ne!(KeyFingerprint::of(&key), KeyFingerprint::of(&[8u8; 32]));
    }
}
