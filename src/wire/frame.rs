//! Length-prefixed frames with a hard cap: the one frame reader.
//!
//! On the socket every message is a big-endian `u16` length followed by that
//! many bytes: the Noise handshake messages, then one Noise transport message
//! per frame whose plaintext is one postcard-encoded [`Message`] body. The
//! cap keeps one frame inside one Noise message (65,535 bytes including its
//! 16-byte tag), so a frame is encrypted and authenticated whole.
//!
//! [`FrameDecoder`] is sans-IO: the socket driver (and the fuzzer) feed it
//! bytes and take whole frames out. It checks a length prefix against its cap
//! before buffering the body, so a peer can never make us hold more than one
//! frame's worth per connection.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Message;

/// The largest frame body: one Noise message (65,535) less its AEAD tag (16).
pub const MAX_FRAME_LEN: usize = 65_535 - 16;

/// Bytes of the big-endian length prefix in front of every frame.
pub const PREFIX_LEN: usize = 2;

/// The largest length a `u16` prefix can state.
pub const MAX_PREFIXED_LEN: usize = u16::MAX as usize;

/// Buffer capacity a decoder keeps between frames. One large frame must
/// not pin 64 KiB per peer for the life of the connection (a node's whole
/// budget is 10 MiB), so a buffer grown past this is released once empty.
const RETAINED_BUFFER_BYTES: usize = 8 * 1024;

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

/// Appends `body` to `out` as one frame: its `u16` length, then the bytes.
pub fn push_frame(out: &mut Vec<u8>, body: &[u8]) -> Result<(), FrameError> {
    let len = u16::try_from(body.len()).map_err(|_| FrameError::Oversized {
        len: body.len(),
        max: MAX_PREFIXED_LEN,
    })?;
    out.reserve(PREFIX_LEN + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// A [`Message`] as one unencrypted frame: the size a message costs on the
/// wire less the Noise tag, which is how the simulator counts bytes.
pub fn encode_frame(msg: &Message) -> Result<Vec<u8>, FrameError> {
    let body = encode_message(msg)?;
    let mut frame = Vec::with_capacity(PREFIX_LEN + body.len());
    push_frame(&mut frame, &body)?;
    Ok(frame)
}

/// Splits a byte stream into frames of at most `max_len` bytes each.
///
/// Two ways to feed it: [`FrameDecoder::extend`] with whatever bytes arrived,
/// or [`FrameDecoder::read_buf`] + [`FrameDecoder::advance`], which hands out
/// exactly the bytes still missing from the current frame, so a socket
/// reader never consumes a byte of the next one (the handshake and the
/// transport read the same socket with different caps).
#[derive(Debug)]
pub struct FrameDecoder {
    max_len: usize,
    /// `buf[..filled]` holds received bytes; the rest is read space.
    buf: Vec<u8>,
    filled: usize,
    /// Bytes of the frame last returned, dropped at the next call.
    consumed: usize,
}

impl FrameDecoder {
    /// A decoder refusing any frame longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            buf: Vec::new(),
            filled: 0,
            consumed: 0,
        }
    }

    /// The cap this decoder enforces.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Drops the frame handed out last, and the buffer if it grew large.
    fn discard_consumed(&mut self) {
        if self.consumed > 0 {
            self.buf.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        self.buf.truncate(self.filled);
        if self.filled == 0 && self.buf.capacity() > RETAINED_BUFFER_BYTES {
            self.buf = Vec::new();
        }
    }

    /// The length the current frame's prefix states, once it is complete.
    fn stated_len(&self) -> Option<usize> {
        (self.filled >= PREFIX_LEN).then(|| u16::from_be_bytes([self.buf[0], self.buf[1]]) as usize)
    }

    /// Appends received bytes (any amount, any split).
    pub fn extend(&mut self, bytes: &[u8]) {
        self.discard_consumed();
        self.buf.extend_from_slice(bytes);
        self.filled = self.buf.len();
    }

    /// Space for exactly the bytes the current frame still lacks (its
    /// prefix, or its body once the prefix is known); fill some of it, then
    /// call [`FrameDecoder::advance`]. Empty when a whole frame is buffered.
    /// A prefix over the cap is refused here, before any body is buffered.
    pub fn read_buf(&mut self) -> Result<&mut [u8], FrameError> {
        self.discard_consumed();
        let target = match self.stated_len() {
            None => PREFIX_LEN,
            Some(len) => PREFIX_LEN + self.check_len(len)?,
        };
        let target = target.max(self.filled);
        self.buf.resize(target, 0);
        Ok(&mut self.buf[self.filled..target])
    }

    /// Records that `n` bytes of [`FrameDecoder::read_buf`] were filled.
    pub fn advance(&mut self, n: usize) {
        self.filled = (self.filled + n).min(self.buf.len());
    }

    fn check_len(&self, len: usize) -> Result<usize, FrameError> {
        if len > self.max_len {
            Err(FrameError::Oversized {
                len,
                max: self.max_len,
            })
        } else {
            Ok(len)
        }
    }

    /// The next complete frame body, `Ok(None)` when more bytes are needed.
    /// The body borrows the decoder and is dropped at the next call.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        self.discard_consumed();
        let Some(len) = self.stated_len() else {
            return Ok(None);
        };
        let len = self.check_len(len)?;
        if self.filled < PREFIX_LEN + len {
            return Ok(None);
        }
        self.consumed = PREFIX_LEN + len;
        Ok(Some(&self.buf[PREFIX_LEN..PREFIX_LEN + len]))
    }

    /// The next complete frame decoded as one [`Message`] body (a frame
    /// of plaintext, as [`encode_frame`] makes).
    pub fn next_message(&mut self) -> Result<Option<Message>, FrameError> {
        match self.next_frame()? {
            Some(body) => decode_message(body).map(Some),
            None => Ok(None),
        }
    }

    /// Bytes received that do not yet form a frame (or have not been taken).
    pub fn pending(&self) -> usize {
        self.filled - self.consumed
    }

    /// Whether no byte of a frame has arrived: a clean place for the stream
    /// to end.
    pub fn is_between_frames(&self) -> bool {
        self.pending() == 0
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
            (proptest::collection::vec(arb_id(), 0..20), any::<bool>()).prop_map(
                |(ids, resend)| Message::Broadcast(plumtree::Message::Graft { ids, resend })
            ),
            proptest::collection::vec(any::<u64>(), 0..20).prop_map(|o| Message::Broadcast(
                plumtree::Message::Prune {
                    origins: o.into_iter().map(NodeId).collect()
                }
            )),
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
            let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
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
            let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
            dec.extend(&bytes);
            while let Ok(Some(_)) = dec.next_message() {}
        }
    }

    #[test]
    fn oversized_length_prefix_is_refused_before_buffering() {
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        dec.extend(&[0xff, 0xff, 1, 2, 3]);
        assert!(matches!(
            dec.next_frame(),
            Err(FrameError::Oversized { len: 65_535, .. })
        ));
        let mut dec = FrameDecoder::new(MAX_FRAME_LEN);
        dec.read_buf().unwrap().copy_from_slice(&[0xff, 0xff]);
        dec.advance(2);
        assert!(matches!(
            dec.read_buf(),
            Err(FrameError::Oversized { len: 65_535, .. })
        ));
    }

    #[test]
    fn read_buf_asks_for_exactly_the_current_frame() {
        let stream: Vec<u8> = [b"abc".as_slice(), b"de".as_slice()]
            .iter()
            .flat_map(|b| {
                let mut f = Vec::new();
                push_frame(&mut f, b).unwrap();
                f
            })
            .collect();
        let mut dec = FrameDecoder::new(16);
        let mut at = 0;
        let mut frames = Vec::new();
        while at < stream.len() {
            if let Some(f) = dec.next_frame().unwrap() {
                frames.push(f.to_vec());
                continue;
            }
            let space = dec.read_buf().unwrap();
            assert!(!space.is_empty());
            // One byte at a time, as a slow socket would deliver them.
            space[0] = stream[at];
            dec.advance(1);
            at += 1;
            assert!(dec.pending() <= PREFIX_LEN + 3);
        }
        frames.extend(dec.next_frame().unwrap().map(<[u8]>::to_vec));
        assert_eq!(frames, vec![b"abc".to_vec(), b"de".to_vec()]);
        assert!(dec.is_between_frames());
    }

    #[test]
    fn a_zero_length_frame_is_a_frame() {
        let mut dec = FrameDecoder::new(4);
        dec.extend(&[0, 0]);
        assert_eq!(dec.next_frame().unwrap(), Some(&[][..]));
        assert_eq!(dec.next_frame().unwrap(), None);
        assert!(dec.is_between_frames());
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
        let mut body = encode_message(&Message::Broadcast(plumtree::Message::Prune {
            origins: vec![NodeId(1)],
        }))
        .unwrap();
        body.push(0);
        assert!(matches!(
            decode_message::<Message>(&body),
            Err(FrameError::TrailingBytes { extra: 1 })
        ));
    }
}
