//! Noise transport messages on a TCP stream, one per frame.
//!
//! On the socket every message is one [`crate::wire::frame`] (a big-endian
//! `u16` length, then that many bytes) of Noise ciphertext; the plaintext
//! is one [`crate::wire`] message body. Frames are split by the wire
//! layer's [`FrameDecoder`], the only frame reader. Each direction keeps its own nonce, so the
//! reading and writing halves run in separate tasks without sharing a lock
//! (snow's stateless transport takes the nonce as an argument).

use std::sync::Arc;

use snow::StatelessTransportState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::counters::NetCounters;
use super::limits::{MAX_NOISE_MSG_LEN, NOISE_TAG_LEN};
use crate::wire::traffic::Traffic;
use crate::wire::{self, FrameDecoder, FrameError, MAX_FRAME_LEN, Message};

/// Plaintext capacity a reader keeps between frames: one large frame
/// must not pin 64 KiB per peer for the life of the connection (a node's
/// whole budget is 10 MiB), so a bigger buffer is released.
const RETAINED_BUFFER_BYTES: usize = 8 * 1024;

/// Drops `buf`'s allocation when it grew past [`RETAINED_BUFFER_BYTES`].
fn trim(buf: &mut Vec<u8>) {
    if buf.capacity() > RETAINED_BUFFER_BYTES {
        *buf = Vec::new();
    }
}

/// Why a frame could not be read. Each variant closes the connection.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the peer closed the connection")]
    Eof,
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("length prefix of {len} bytes exceeds the {max}-byte cap")]
    Oversized { len: usize, max: usize },
    #[error("frame of {len} bytes is too short to carry a Noise tag")]
    Truncated { len: usize },
    #[error("frame failed authentication (not from the peer that did the handshake)")]
    Decrypt,
    #[error("frame is not a message: {0}")]
    Decode(#[from] FrameError),
}

/// Reads from `reader` until `frames` holds one whole frame, and returns
/// its body. Reads only the bytes that frame lacks, so the next frame stays
/// in the socket for whoever reads it next (the handshake hands the socket
/// to the transport this way).
///
/// A clean end of stream between frames is [`ReadError::Eof`]; in the
/// middle of a frame it is an I/O error (`UnexpectedEof`).
pub(crate) async fn read_frame<'d, R: AsyncRead + Unpin>(
    reader: &mut R,
    frames: &'d mut FrameDecoder,
    counters: &NetCounters,
) -> Result<&'d [u8], ReadError> {
    let oversized = |e: FrameError| match e {
        FrameError::Oversized { len, max } => {
            counters.oversized_frames(1);
            ReadError::Oversized { len, max }
        }
        other => ReadError::Decode(other),
    };
    loop {
        let space = frames.read_buf().map_err(oversized)?;
        if space.is_empty() {
            break;
        }
        let n = reader.read(space).await?;
        if n == 0 {
            return Err(if frames.is_between_frames() {
                ReadError::Eof
            } else {
                std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()
            });
        }
        frames.advance(n);
        counters.bytes_received(n as u64);
    }
    match frames.next_frame().map_err(oversized)? {
        Some(body) => Ok(body),
        None => Err(std::io::Error::other("frame decoder lost a whole frame").into()),
    }
}

/// The receiving half: decrypts and decodes frames in order.
pub(crate) struct SecureReader<R> {
    inner: R,
    noise: Arc<StatelessTransportState>,
    nonce: u64,
    frames: FrameDecoder,
    plaintext: Vec<u8>,
    /// The plaintext length of the last message read.
    last_len: usize,
    counters: Arc<NetCounters>,
}

impl<R: AsyncRead + Unpin> SecureReader<R> {
    pub(crate) fn new(
        inner: R,
        noise: Arc<StatelessTransportState>,
        counters: Arc<NetCounters>,
    ) -> Self {
        Self {
            inner,
            noise,
            nonce: 0,
            frames: FrameDecoder::new(MAX_NOISE_MSG_LEN),
            plaintext: Vec::new(),
            last_len: 0,
            counters,
        }
    }

    /// The plaintext length of the last message [`Self::read`] returned:
    /// what it weighs in the owner's event queue.
    pub(crate) fn last_len(&self) -> usize {
        self.last_len
    }

    /// The next message from the peer.
    pub(crate) async fn read(&mut self) -> Result<Message, ReadError> {
        let ciphertext = read_frame(&mut self.inner, &mut self.frames, &self.counters).await?;
        if ciphertext.len() < NOISE_TAG_LEN {
            return Err(ReadError::Truncated {
                len: ciphertext.len(),
            });
        }
        self.plaintext.resize(ciphertext.len(), 0);
        let len = self
            .noise
            .read_message(self.nonce, ciphertext, &mut self.plaintext)
            .map_err(|_| ReadError::Decrypt)?;
        self.nonce += 1;
        self.last_len = len;
        let msg = wire::decode_message(&self.plaintext[..len]);
        trim(&mut self.plaintext);
        let msg = msg?;
        self.counters.frames_received(1);
        Ok(msg)
    }
}

/// Why a frame could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("message of {len} bytes exceeds the {max}-byte frame cap")]
    Oversized { len: usize, max: usize },
    #[error("encryption failed")]
    Encrypt,
}

/// The sending half: encrypts message bodies and writes them out.
pub(crate) struct SecureWriter<W> {
    inner: W,
    noise: Arc<StatelessTransportState>,
    nonce: u64,
    out: Vec<u8>,
    scratch: Vec<u8>,
    counters: Arc<NetCounters>,
}

impl<W: AsyncWrite + Unpin> SecureWriter<W> {
    pub(crate) fn new(
        inner: W,
        noise: Arc<StatelessTransportState>,
        counters: Arc<NetCounters>,
    ) -> Self {
        Self {
            inner,
            noise,
            nonce: 0,
            out: Vec::new(),
            scratch: Vec::new(),
            counters,
        }
    }

    /// Encrypts one body (from [`wire::encode_message`]) into the pending
    /// output; [`SecureWriter::flush`] writes everything queued in one go.
    pub(crate) fn queue(&mut self, body: &[u8]) -> Result<(), WriteError> {
        if body.len() > MAX_FRAME_LEN {
            return Err(WriteError::Oversized {
                len: body.len(),
                max: MAX_FRAME_LEN,
            });
        }
        self.scratch.resize(body.len() + NOISE_TAG_LEN, 0);
        let len = self
            .noise
            .write_message(self.nonce, body, &mut self.scratch)
            .map_err(|_| WriteError::Encrypt)?;
        self.nonce += 1;
        let Self { out, scratch, .. } = self;
        wire::push_frame(out, &scratch[..len]).map_err(|_| WriteError::Oversized {
            len,
            max: MAX_NOISE_MSG_LEN,
        })?;
        self.counters.frames_sent(1);
        self.counters.sent_traffic(
            Traffic::of_encoded(body),
            (len + wire::frame::PREFIX_LEN) as u64,
        );
        Ok(())
    }

    /// Bytes waiting for [`SecureWriter::flush`].
    pub(crate) fn pending(&self) -> usize {
        self.out.len()
    }

    pub(crate) async fn flush(&mut self) -> Result<(), WriteError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.inner.write_all(&self.out).await?;
        self.counters.bytes_sent(self.out.len() as u64);
        self.out.clear();
        trim(&mut self.out);
        trim(&mut self.scratch);
        Ok(())
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }
}
