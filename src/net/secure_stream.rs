//! Noise transport messages on a TCP stream, one per frame.
//!
//! On the socket every message is a big-endian `u16` length followed by
//! that many bytes of Noise ciphertext; the plaintext is one
//! [`crate::wire`] message body. Each direction keeps its own nonce, so the
//! reading and writing halves run in separate tasks without sharing a lock
//! (snow's stateless transport takes the nonce as an argument).

use std::sync::Arc;

use snow::StatelessTransportState;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::counters::NetCounters;
use super::limits::{LENGTH_PREFIX_LEN, MAX_NOISE_MSG_LEN, NOISE_TAG_LEN};
use crate::wire::traffic::Traffic;
use crate::wire::{self, FrameError, MAX_FRAME_LEN, Message};

/// Buffer capacity a connection keeps between frames. One large frame
/// must not pin 64 KiB per buffer per peer for the life of the connection
/// (a node's whole budget is 10 MiB), so bigger buffers are released.
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

/// Reads one length-prefixed message of at most `max` bytes into `buf`.
///
/// A clean end of stream before the prefix is [`ReadError::Eof`]; in the
/// middle of a message it is an I/O error (`UnexpectedEof`).
pub(crate) async fn read_prefixed<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
    counters: &NetCounters,
) -> Result<(), ReadError> {
    let mut prefix = [0u8; LENGTH_PREFIX_LEN];
    let first = reader.read(&mut prefix).await?;
    if first == 0 {
        return Err(ReadError::Eof);
    }
    if first < LENGTH_PREFIX_LEN {
        reader.read_exact(&mut prefix[first..]).await?;
    }
    let len = u16::from_be_bytes(prefix) as usize;
    counters.bytes_received(LENGTH_PREFIX_LEN as u64);
    if len > max {
        counters.oversized_frames(1);
        return Err(ReadError::Oversized { len, max });
    }
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    counters.bytes_received(len as u64);
    Ok(())
}

/// Writes one length-prefixed message (the caller checked `bytes.len()`).
pub(crate) fn push_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The receiving half: decrypts and decodes frames in order.
pub(crate) struct SecureReader<R> {
    inner: R,
    noise: Arc<StatelessTransportState>,
    nonce: u64,
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
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
            ciphertext: Vec::new(),
            plaintext: Vec::new(),
            counters,
        }
    }

    /// The next message from the peer.
    pub(crate) async fn read(&mut self) -> Result<Message, ReadError> {
        read_prefixed(
            &mut self.inner,
            &mut self.ciphertext,
            MAX_NOISE_MSG_LEN,
            &self.counters,
        )
        .await?;
        if self.ciphertext.len() < NOISE_TAG_LEN {
            return Err(ReadError::Truncated {
                len: self.ciphertext.len(),
            });
        }
        self.plaintext.resize(self.ciphertext.len(), 0);
        let len = self
            .noise
            .read_message(self.nonce, &self.ciphertext, &mut self.plaintext)
            .map_err(|_| ReadError::Decrypt)?;
        self.nonce += 1;
        let msg = wire::decode_message(&self.plaintext[..len]);
        trim(&mut self.ciphertext);
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
        push_prefixed(out, &scratch[..len]);
        self.counters.frames_sent(1);
        self.counters
            .sent_traffic(Traffic::of_encoded(body), (len + LENGTH_PREFIX_LEN) as u64);
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
