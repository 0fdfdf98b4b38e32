//! The flood baseline: every node forwards every new message to every active
//! neighbour, as Gnutella did. Kept only so the benchmarks can show what
//! Plumtree saves.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::plumtree::MessageId;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    Flood {
        id: MessageId,
        hops: u16,
        payload: Bytes,
    },
}

impl Message {
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Flood { .. } => "flood",
        }
    }
}
