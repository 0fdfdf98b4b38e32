//! The wire layer: what travels between replicas, and how it is framed.
//!
//! Every message is a serde enum encoded with postcard (compact, no schema
//! negotiation, stable for a given protocol version) inside a
//! length-prefixed frame with a hard size cap. This module knows nothing of
//! sockets or time: the transport feeds it bytes and the protocol machines
//! consume the decoded enums.

pub mod flood;
pub mod frame;
pub mod hello;
pub mod hyparview;
pub mod observer;
pub mod payload;
pub mod peer;
pub mod plumtree;
pub mod sync;
pub mod traffic;

use serde::{Deserialize, Serialize};

pub use frame::{
    FrameDecoder, FrameError, MAX_FRAME_LEN, PREFIX_LEN, decode_message, encode_frame,
    encode_message, push_frame,
};
pub use hello::{Hello, PROTOCOL_VERSION, Role};
pub use peer::PeerInfo;

/// Everything one replica may say to another after the handshake.
///
/// The first frame on every connection is a [`Hello`]; the rest are any of
/// these. Grouped by the layer that consumes them, so the runtime can route
/// a frame without looking inside it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Connection preamble: protocol version and role.
    Hello(Hello),
    /// HyParView membership.
    Membership(hyparview::Message),
    /// Plumtree broadcast.
    Broadcast(plumtree::Message),
    /// The flood baseline (benchmarks only).
    Flood(flood::Message),
    /// Anti-entropy between neighbours (office-state repair).
    Sync(sync::Message),
    /// Between an observer and its node only (writes and their answers).
    Observer(observer::Message),
    /// "This link is alive": sent on a node link of the active view that
    /// has carried nothing from this end for a while, so the other end can
    /// tell a quiet link from one a partition cut silently (TCP reports
    /// neither). It carries nothing and asks for nothing.
    Keepalive,
}

impl Message {
    /// A short, stable name for metrics and logs ("join", "gossip", "ihave"…).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello(_) => "hello",
            Message::Membership(m) => m.kind(),
            Message::Broadcast(m) => m.kind(),
            Message::Flood(m) => m.kind(),
            Message::Sync(m) => m.kind(),
            Message::Observer(m) => m.kind(),
            Message::Keepalive => "keepalive",
        }
    }
}
