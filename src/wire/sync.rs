//! Anti-entropy messages: the digest exchange that repairs what broadcasts
//! missed (see `crdt::anti_entropy`).
//!
//! A periodic round opens with a [`Message::Summary`], a few bytes, and
//! only replicas whose summaries differ go on to exchange full digests:
//! between converged replicas (almost always) a round costs two tiny
//! messages instead of two whole causal contexts.
//!
//! The bodies are opaque bytes here, like a Plumtree payload: the `crdt`
//! layer encodes and decodes them, so the wire layer needs to know nothing
//! of the office state.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// "This is what I have seen; send me what it does not cover." The body
    /// is the sender's causal context. `reply` marks the digest sent back in
    /// answer to the peer's digest: it is answered with entries only, never
    /// with another digest, so a steady-state round is exactly two digests.
    Digest { reply: bool, body: Bytes },
    /// One part of an answer: the registers the peer's digest did not cover.
    /// Parts of one answer share `round` and count `part` up from 0; the
    /// `last` part also carries the dots the answerer has seen that the
    /// digest lacked, so the peer's version vector can close its gaps.
    Answer {
        round: u32,
        part: u16,
        last: bool,
        body: Bytes,
    },
    /// "This is a fingerprint of everything I have seen." `hash` is a
    /// 64-bit BLAKE2s digest of the canonical encoding of the sender's
    /// whole causal context. A receiver whose own fingerprint differs opens
    /// a full `Digest` exchange; one whose fingerprint matches answers a
    /// `reply: false` summary with its own (`reply: true`) and nothing else.
    Summary { reply: bool, hash: [u8; 8] },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Digest { .. } => "digest",
            Message::Answer { .. } => "answer",
            Message::Summary { .. } => "summary",
        }
    }
}
