//! Length-prefixed frames with a hard cap.
//!
//! A frame is a big-endian `u16` length followed by that many bytes of
//! postcard. The cap keeps one frame inside one Noise transport message
//! (65,535 bytes including its 16-byte tag), so a frame is encrypted and
//! authenticated whole, and a peer can never make us buffer more than one
//! frame's worth per connection.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Message;

/// The largest frame body: one Noise message (65,535) less its AEAD tag (16).
pub const MAX_FRAME_LEN: usize = 65_535 - 16;

/// Bytes of the length prefix.
const PREFIX_LEN: usize = 2;

/// Why bytes could not become a message, in terms an operator can act on.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the {max}-byte cap")]
    Oversized { len: usize, max: usize },
    #[error("frame is empty")]
    Empty,
    #[error("malformed frame: {0}")]
    Malformed(#[from] postcard::Error),
    #[error("frame has {extra} trailing bytes after the message")]
    TrailingBytes { extra: usize },
}

/// Encodes a message body (no length prefix) with postcard, refusing bodies
/// over the cap so an oversized message is caught by its sender.
pub fn encode_message<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = postcard::to_stdvec(msg)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::Oversized {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    Ok(body)
}

/// Decodes one message body; every byte must belong to the message.
pub fn decode_message<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::Oversized {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let (msg, rest) = postcard::take_from_bytes(body)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes { extra: rest.len() });
    }
    Ok(msg)
}

/// Encodes a [`Message`] as one length-prefixed frame.
pub fn encode_frame(msg: &Message) -> Result<Vec<u8>, FrameError> {
    let body = encode_message(msg)?;
    let mut frame = Vec::with_capacity(PREFIX_LEN + body.len());
    frame.extend_from_slice(&(body.len() as u16).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Splits a byte stream into frames.
///
/// Feed it whatever the socket returned; take complete frame bodies out.
/// It never holds more than one partial frame plus what was fed.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame body, `Ok(None)` when more bytes are needed.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.buf.len() < PREFIX_LEN {
            return Ok(None);
        }
        let len = u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize;
        if len > MAX_FRAME_LEN {
            return Err(FrameError::Oversized {
                len,
                max: MAX_FRAME_LEN,
            });
        }
        if len == 0 {
            return Err(FrameError::Empty);
        }
        if self.buf.len() < PREFIX_LEN + len {
            return Ok(None);
        }
        let body = self.buf[PREFIX_LEN..PREFIX_LEN + len].to_vec();
        self.buf.drain(..PREFIX_LEN + len);
        Ok(Some(body))
    }

    /// The next complete message.
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        match self.next_body()? {
            Some(body) => decode_message(&body).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes held that do not yet form a frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node_id::NodeId;
    use crate::wire::hyparview::{self, Priority};
    use crate::wire::plumtree::{self, MessageId};
    use crate::wire::{Hello, PeerInfo, Role, flood};
    use bytes::Bytes;
    use proptest::prelude::*;

    fn arb_peer() -> impl Strategy<Value = PeerInfo> {
        (any::<u64>(), any::<[u8; 4]>(), any::<u16>()).prop_map(|(id, ip, port)| PeerInfo {
            id: NodeId(id),
            addr: (std::net::Ipv4Addr::from(ip), port).into(),
        })
    }

    fn arb_id() -> impl Strategy<Value = MessageId> {
        (any::<u64>(), any::<u64>()).prop_map(|(o, seq)| MessageId {
            origin: NodeId(o),
            seq,
        })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        prop_oneof![
            (any::<u16>(), any::<bool>(), any::<u16>()).prop_map(|(version, obs, listen_port)| {
                Message::Hello(Hello {
                    version,
                    role: if obs { Role::Observer } else { Role::Node },
                    listen_port,
                })
            }),
            arb_peer().prop_map(|node| Message::Membership(hyparview::Message::Join { node })),
            (arb_peer(), any::<u8>()).prop_map(|(node, ttl)| Message::Membership(
                hyparview::Message::ForwardJoin { node, ttl }
            )),
            any::<bool>().prop_map(|high| Message::Membership(hyparview::Message::Neighbor {
                priority: if high { Priority::High } else { Priority::Low }
            })),
            any::<bool>().prop_map(|accepted| Message::Membership(
                hyparview::Message::NeighborReply { accepted }
            )),
            (arb_peer(), any::<u8>()).prop_map(|(origin, ttl)| Message::Membership(
                hyparview::Message::Shuffle { origin, ttl }
            )),
            (proptest::collection::vec(arb_peer(), 0..8), any::<bool>()).prop_map(
                |(nodes, answer)| Message::Membership(hyparview::Message::ShuffleReply {
                    nodes,
                    answer
                })
            ),
            (
                arb_id(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..512)
            )
                .prop_map(|(id, round, p)| Message::Broadcast(
                    plumtree::Message::Gossip {
                        id,
                        round,
                        payload: Bytes::from(p)
                    }
                )),
            proptest::collection::vec((arb_id(), any::<u16>()), 0..20)
                .prop_map(|ids| Message::Broadcast(plumtree::Message::IHave { ids })),
            (proptest::option::of(arb_id()), any::<u16>())
                .prop_map(|(id, round)| Message::Broadcast(plumtree::Message::Graft { id, round })),
            Just(Message::Broadcast(plumtree::Message::Prune)),
            (
                arb_id(),
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..64)
            )
                .prop_map(|(id, hops, p)| Message::Flood(flood::Message::Flood {
                    id,
                    hops,
                    payload: Bytes::from(p)
                })),
        ]
    }

    proptest! {
        #[test]
        fn frames_round_trip_through_any_chunking(
            msgs in proptest::collection::vec(arb_message(), 1..10),
            chunk in 1usize..64,
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| encode_frame(m).unwrap()).collect();
            let mut dec = FrameDecoder::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                dec.extend(piece);
                while let Some(m) = dec.next_message().unwrap() {
                    out.push(m);
                }
            }
            prop_assert_eq!(out, msgs);
            prop_assert_eq!(dec.pending(), 0);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut dec = FrameDecoder::new();
            dec.extend(&bytes);
            while let Ok(Some(_)) = dec.next_message() {}
        }
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_buffering() {
        let mut dec = FrameDecoder::new();
        dec.extend(&[0xff, 0xff, 1, 2, 3]);
        assert!(matches!(
            dec.next_body(),
            Err(FrameError::Oversized { len: 65_535, .. })
        ));
    }

    #[test]
    fn oversized_message_is_refused_by_its_sender() {
        let msg = Message::Broadcast(plumtree::Message::Gossip {
            id: MessageId {
                origin: NodeId(1),
                seq: 1,
            },
            round: 0,
            payload: Bytes::from(vec![0u8; MAX_FRAME_LEN]),
        });
        assert!(matches!(
            encode_frame(&msg),
            Err(FrameError::Oversized { .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut body = encode_message(&Message::Broadcast(plumtree::Message::Prune)).unwrap();
        body.push(0);
        assert!(matches!(
            decode_message::<Message>(&body),
            Err(FrameError::TrailingBytes { extra: 1 })
        ));
    }
}
