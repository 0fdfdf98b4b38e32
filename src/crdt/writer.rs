//! What a replica needs to write: its id, its dot counter and its clock.
//!
//! Kept apart from the office state so the state holds only what is
//! replicated (two converged replicas encode byte-for-byte equal) and the
//! runtime can persist this small record on its own.

use serde::{Deserialize, Serialize};

use super::dot::Dot;
use super::hlc::{Hlc, Timestamp};
use super::key::Key;
use super::mv_register::{Removal, Sibling};
use super::signature::{WriteKey, content_digest};
use super::version_vector::VersionVector;
use crate::node_id::NodeId;

/// What a state holds of a replica's earlier writes: a writer resuming
/// after a restart never falls behind it (the office state provides it).
pub trait WrittenBefore {
    /// The highest counter of `id` this state has seen.
    fn max_counter(&self, id: NodeId) -> u64;
    /// The newest timestamp anywhere in this state.
    fn latest_timestamp(&self) -> Timestamp;
}

/// The local replica's write clock.
///
/// A dot must never be reused (DESIGN.md, "Identities": reused dots lose
/// updates). The rule for the runtime: make the writer (or at least
/// [`Writer::last_counter`]) and the new state durable *before* a delta it
/// produced leaves the process. A crash before that point loses only dots
/// nobody has seen; on restart [`Writer::resume`] also takes the highest
/// counter of this replica found in the state, so a lost writer record is
/// repaired from the state and vice versa.
///
/// The signing key is never persisted with this record: it lives in the
/// replica's key file and is handed over with [`Writer::set_key`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Writer {
    id: NodeId,
    last_counter: u64,
    hlc: Hlc,
    #[serde(skip)]
    key: Option<WriteKey>,
    /// Every write carries the public key (an observer's: no `Node` entry
    /// of its own tells replicas its key).
    #[serde(skip)]
    carries_key: bool,
}

impl PartialEq for Writer {
    fn eq(&self, other: &Self) -> bool {
        (self.id, self.last_counter, self.hlc) == (other.id, other.last_counter, other.hlc)
    }
}

impl Eq for Writer {}

impl Writer {
    /// A replica that has never written and cannot sign: every replica
    /// refuses its writes. For the CRDT's own tests; replicas use
    /// [`Writer::signing`].
    pub fn new(id: NodeId) -> Self {
        Writer {
            id,
            last_counter: 0,
            hlc: Hlc::new(),
            key: None,
            carries_key: false,
        }
    }

    /// A replica that has never written, signing with `key`.
    pub fn signing(key: WriteKey) -> Self {
        let mut writer = Writer::new(key.id());
        writer.key = Some(key);
        writer
    }

    /// A writer whose dots name `author` but which signs with `key`: what
    /// a member forging another replica's writes holds. Every replica
    /// refuses its writes; it exists for the hostile-peer tests.
    #[doc(hidden)]
    pub fn forging(author: NodeId, key: WriteKey) -> Self {
        let mut writer = Writer::new(author);
        writer.key = Some(key);
        writer
    }

    /// Hands over the signing key after a restart (the persisted record
    /// holds none). A key of another replica is ignored: its signatures
    /// would be refused everywhere.
    pub fn set_key(&mut self, key: WriteKey) {
        if key.id() == self.id {
            self.key = Some(key);
        }
    }

    /// Makes every write carry the public key (observers).
    pub fn carry_key(mut self) -> Self {
        self.carries_key = true;
        self
    }

    /// The signing key, if this writer has one.
    pub fn key(&self) -> Option<&WriteKey> {
        self.key.as_ref()
    }

    /// Resumes after a restart from what was persisted, never below a dot or
    /// timestamp of this replica already present in `state`.
    pub fn resume(id: NodeId, last_counter: u64, hlc: Hlc, state: &impl WrittenBefore) -> Self {
        let mut writer = Writer::new(id);
        writer.last_counter = last_counter;
        writer.hlc = hlc;
        writer.last_counter = writer.last_counter.max(state.max_counter(id));
        writer.hlc.observe(state.latest_timestamp());
        writer
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The counter of the last dot handed out (0: none yet). Persist it.
    pub fn last_counter(&self) -> u64 {
        self.last_counter
    }

    /// Raises the counter, e.g. to a reserved block's end loaded from disk.
    /// Never lowers it: that would reuse dots.
    pub fn raise_counter(&mut self, counter: u64) {
        self.last_counter = self.last_counter.max(counter);
    }

    /// The clock, for persistence.
    pub fn hlc(&self) -> Hlc {
        self.hlc
    }

    /// The dot the next write will get, without taking it.
    pub fn peek_dot(&self) -> Dot {
        Dot::new(self.id, self.last_counter.saturating_add(1))
    }

    /// Takes a fresh dot and a timestamp after both the wall clock and
    /// `after` (the newest value the write supersedes, so a key's set-at
    /// never goes backwards).
    pub(crate) fn next(&mut self, wall_ms: u64, after: Option<Timestamp>) -> (Dot, Timestamp) {
        if let Some(after) = after {
            self.hlc.observe(after);
        }
        self.last_counter = self.last_counter.saturating_add(1);
        (Dot::new(self.id, self.last_counter), self.hlc.tick(wall_ms))
    }

    /// A value under `dot`, signed: it replaces `seen`, the writes of
    /// `key` this replica holds.
    pub(crate) fn sibling<V: Serialize>(
        &self,
        key: &Key,
        dot: Dot,
        at: Timestamp,
        value: V,
        seen: VersionVector,
    ) -> Sibling<V> {
        let digest = content_digest(key, at, Some(&value), &seen);
        Sibling {
            at,
            value,
            seen,
            signature: self.key.as_ref().map(|k| k.sign(dot, &digest)),
            signer: self.signer(key),
        }
    }

    /// A removal under `dot`, signed.
    pub(crate) fn removal(
        &self,
        key: &Key,
        dot: Dot,
        at: Timestamp,
        seen: VersionVector,
    ) -> Removal {
        let digest = content_digest::<()>(key, at, None, &seen);
        Removal {
            at,
            seen,
            signature: self.key.as_ref().map(|k| k.sign(dot, &digest)),
            signer: self.signer(key),
        }
    }

    /// The public key to send with a write: always with an observer's, and
    /// with a node's own entry (where every replica learns a node's key).
    fn signer(&self, key: &Key) -> Option<super::signature::PublicKey> {
        let own_entry = matches!(key, Key::Node(id) if *id == self.id);
        (self.carries_key || own_entry)
            .then(|| self.key.as_ref().map(WriteKey::public))
            .flatten()
    }
}
