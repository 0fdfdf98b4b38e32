//! Signed writes: a write names its author (its dot) and proves it.
//!
//! Every replica holds the cluster key, so the transport proves only who
//! is at the other end of a link, not who wrote what a link relays. Each
//! write therefore carries its author's Ed25519 signature over the key it
//! writes, its dot, its set-at, its value (or its absence: a removal) and
//! the writes of that key it saw and replaces (its `seen`). A replica
//! verifies before it joins, on every path, so nobody writes under
//! another's dot, changes a value in flight, or widens what a write
//! replaces beyond what its author signed.
//!
//! The author signs a digest of the content rather than the content
//! itself: `(dot, digest, signature)` is then a [`WriteProof`] a replica
//! can pass on without the write, proving that the author's counter
//! reached that dot (anti-entropy carries proofs so a claim that a write
//! was seen can be checked after the write itself is gone).
//!
//! Ed25519 rather than a scheme on the Noise static key: Noise's key is an
//! X25519 (Diffie-Hellman) key, which cannot sign. One 32-byte secret
//! gives both (the X25519 secret is the Ed25519 secret scalar and the
//! X25519 public key the Ed25519 key's Montgomery form), so the identity
//! stays one file and a [`NodeId`] stays the digest of the handshake's
//! key, checkable against a signing key by anyone.

use std::cell::RefCell;
use std::collections::HashMap;

use blake2::{Blake2s256, Digest};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::dot::Dot;
use super::hlc::Timestamp;
use super::key::Key;
use super::version_vector::VersionVector;
use crate::node_id::NodeId;

/// Bytes of a signature.
pub const SIGNATURE_LEN: usize = 64;

/// Separates a write's signature from any other use of the same key.
const DOMAIN: &[u8] = b"officemesh write v1\0";

/// An Ed25519 signature, encoded as its 64 bytes (no length prefix).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSignature([u8; 32], [u8; 32]);

impl std::fmt::Debug for WriteSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WriteSignature({:02x}{:02x}..)", self.0[0], self.0[1])
    }
}

impl WriteSignature {
    fn from_bytes(bytes: [u8; SIGNATURE_LEN]) -> Self {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a.copy_from_slice(&bytes[..32]);
        b.copy_from_slice(&bytes[32..]);
        WriteSignature(a, b)
    }

    fn to_bytes(self) -> [u8; SIGNATURE_LEN] {
        let mut out = [0u8; SIGNATURE_LEN];
        out[..32].copy_from_slice(&self.0);
        out[32..].copy_from_slice(&self.1);
        out
    }
}

/// A replica's public signing key, as it travels (in its `Node` entry, with
/// an observer's writes, in the operators list).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// Most keys kept parsed at once (see [`PublicKey::parsed`]). An office
/// has one key per node and operator, a few hundred at most; a key holder
/// sending made-up keys only empties the memo, which then costs what
/// parsing every time would.
pub const MAX_PARSED_KEYS: usize = 1024;

/// A key as the checks need it: the replica it names and its point on the
/// curve.
#[derive(Clone, Copy)]
struct Parsed {
    id: NodeId,
    verifying: VerifyingKey,
}

thread_local! {
    /// Keys parsed before, by their bytes: `None` for bytes that are no key.
    static PARSED: RefCell<HashMap<[u8; 32], Option<Parsed>>> = RefCell::new(HashMap::new());
}

impl PublicKey {
    /// The replica this key belongs to: the digest of its X25519 form, the
    /// key its Noise handshakes prove. `None` for bytes that are no key.
    pub fn node_id(&self) -> Option<NodeId> {
        self.parsed().map(|p| p.id)
    }

    /// Decompresses the point and derives its replica once per key: both
    /// cost a field exponentiation each, together more than the signature
    /// check itself, and every write of a node is checked against the same
    /// key (`officemesh bench --signing N` times it). The memo is a pure
    /// function's, so what a replica decides does not depend on it.
    fn parsed(&self) -> Option<Parsed> {
        if let Some(hit) = PARSED.with(|m| m.borrow().get(&self.0).copied()) {
            return hit;
        }
        let parsed = VerifyingKey::from_bytes(&self.0)
            .ok()
            .map(|verifying| Parsed {
                id: NodeId::from_public_key(verifying.to_montgomery().as_bytes()),
                verifying,
            });
        PARSED.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= MAX_PARSED_KEYS {
                m.clear();
            }
            m.insert(self.0, parsed);
        });
        parsed
    }

    /// 64 hex digits, as `officemesh whoami` prints and the operators list
    /// takes.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads 64 hex digits; `None` if they are not a valid key.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let text = text.trim();
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
        }
        VerifyingKey::from_bytes(&out).ok()?;
        Some(PublicKey(out))
    }
}

/// The content digest a signature covers, besides the dot.
pub(crate) type ContentDigest = [u8; 32];

/// What one write says, in the form its author signs: the key, the set-at,
/// the value (`None`: a removal) and the writes of that key it replaces.
pub(crate) fn content_digest<V: Serialize>(
    key: &Key,
    at: Timestamp,
    value: Option<&V>,
    seen: &VersionVector,
) -> ContentDigest {
    // Encoding to a Vec cannot fail for these types (no maps with
    // non-string keys, no unsupported serde features); an error would
    // still give a digest no honest signature matches.
    let bytes = postcard::to_stdvec(&(key, at, value, seen)).unwrap_or_default();
    Blake2s256::digest(bytes).into()
}

fn message(dot: Dot, digest: &ContentDigest) -> [u8; 20 + 16 + 32] {
    let mut m = [0u8; 20 + 16 + 32];
    m[..20].copy_from_slice(DOMAIN);
    m[20..28].copy_from_slice(&dot.replica.0.to_be_bytes());
    m[28..36].copy_from_slice(&dot.counter.to_be_bytes());
    m[36..].copy_from_slice(digest);
    m
}

/// A replica's signing key.
#[derive(Clone)]
pub struct WriteKey {
    signing: SigningKey,
    public: PublicKey,
    id: NodeId,
}

impl std::fmt::Debug for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl WriteKey {
    /// The key whose secret is `seed` (the 32 bytes of a key file).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(&seed);
        let verifying = signing.verifying_key();
        let public = PublicKey(verifying.to_bytes());
        let id = NodeId::from_public_key(verifying.to_montgomery().as_bytes());
        WriteKey {
            signing,
            public,
            id,
        }
    }

    /// The replica these writes belong to.
    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The X25519 secret for Noise: the Ed25519 secret scalar.
    pub fn x25519_secret(&self) -> [u8; 32] {
        self.signing.to_scalar_bytes()
    }

    pub(crate) fn sign(&self, dot: Dot, digest: &ContentDigest) -> WriteSignature {
        WriteSignature::from_bytes(self.signing.sign(&message(dot, digest)).to_bytes())
    }
}

/// Checks `signature` on the write `dot` with content `digest` against
/// `key`, which must be `dot.replica`'s.
pub(crate) fn verify(
    key: &PublicKey,
    dot: Dot,
    digest: &ContentDigest,
    signature: &WriteSignature,
) -> Result<(), SignatureError> {
    let Some(parsed) = key.parsed().filter(|p| p.id == dot.replica) else {
        return Err(SignatureError::WrongKey);
    };
    let verifying = parsed.verifying;
    let signature = ed25519_dalek::Signature::from_bytes(&signature.to_bytes());
    verifying
        .verify(&message(dot, digest), &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// Why a signature was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the write is not signed")]
    Unsigned,
    #[error("no signing key is known for its author")]
    UnknownKey,
    #[error("the signing key does not belong to the write's author")]
    WrongKey,
    #[error("the signature does not match the write")]
    Invalid,
}

/// Proof that a replica's counter reached a dot: the write's dot, its
/// content digest and its author's signature, checkable without the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteProof {
    pub dot: Dot,
    pub(crate) digest: ContentDigest,
    pub(crate) signature: WriteSignature,
}

impl WriteProof {
    /// Checks the proof against its author's key.
    pub fn verify(&self, key: &PublicKey) -> Result<(), SignatureError> {
        verify(key, self.dot, &self.digest, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_keys_stay_bounded_and_give_the_same_answers() {
        let good = key(7).public();
        let id = good.node_id();
        assert!(id.is_some());
        for n in 0..(MAX_PARSED_KEYS as u32 * 2) {
            let mut bytes = [0xee; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            let _ = PublicKey(bytes).node_id();
            assert!(PARSED.with(|m| m.borrow().len()) <= MAX_PARSED_KEYS);
        }
        assert_eq!(good.node_id(), id);
        assert_eq!(good.node_id(), good.node_id());
    }

    fn key(n: u8) -> WriteKey {
        WriteKey::from_seed([n; 32])
    }

    #[test]
    fn the_id_is_the_digest_of_the_noise_key_derived_from_the_same_secret() {
        let k = key(7);
        let x = snow_public(&k.x25519_secret());
        assert_eq!(k.id(), NodeId::from_public_key(&x));
        assert_eq!(k.public().node_id(), Some(k.id()));
        assert_eq!(PublicKey::from_hex(&k.public().to_hex()), Some(k.public()));
    }

    fn snow_public(secret: &[u8; 32]) -> [u8; 32] {
        use snow::params::DHChoice;
        use snow::resolvers::{CryptoResolver, DefaultResolver};
        let mut dh = DefaultResolver.resolve_dh(&DHChoice::Curve25519).unwrap();
        dh.set(secret);
        dh.pubkey().try_into().unwrap()
    }

    #[test]
    fn a_signature_holds_only_for_its_author_dot_and_content() {
        let k = key(1);
        let other = key(2);
        let dot = Dot::new(k.id(), 5);
        let digest = content_digest(
            &Key::Schedule("kitchen".into()),
            Timestamp::new(10, 0),
            Some(&21u32),
            &VersionVector::new(),
        );
        let sig = k.sign(dot, &digest);
        assert_eq!(verify(&k.public(), dot, &digest, &sig), Ok(()));
        assert_eq!(
            verify(&k.public(), Dot::new(k.id(), 6), &digest, &sig),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(&other.public(), dot, &digest, &sig),
            Err(SignatureError::WrongKey)
        );
        let changed = content_digest(
            &Key::Schedule("kitchen".into()),
            Timestamp::new(10, 0),
            Some(&22u32),
            &VersionVector::new(),
        );
        assert_eq!(
            verify(&k.public(), dot, &changed, &sig),
            Err(SignatureError::Invalid)
        );
        let proof = WriteProof {
            dot,
            digest,
            signature: sig,
        };
        assert_eq!(proof.verify(&k.public()), Ok(()));
    }

    #[test]
    fn a_signature_encodes_in_64_bytes() {
        let k = key(3);
        let sig = k.sign(Dot::new(k.id(), 1), &[0; 32]);
        assert_eq!(postcard::to_stdvec(&sig).unwrap().len(), SIGNATURE_LEN);
    }
}
