//! The Noise `XXpsk3` handshake and the `Hello` exchange that follows it.
//!
//! `XX` lets both sides learn and prove each other's static key, which
//! becomes the peer's [`NodeId`]; `psk3` mixes the cluster key into the last
//! message, so a stranger without it cannot finish the handshake and never
//! gets a transport key (DESIGN.md, "Runtime"). Handshake messages use the
//! same `u16` length prefix as frames, capped at
//! [`MAX_HANDSHAKE_MSG_LEN`].
//!
//! **Which cluster key.** A replica accepts every key of its [`Keyring`]
//! and dials with the primary. In `XXpsk3` only the dialer's third message
//! proves the key, after both sides have mixed their Diffie-Hellman
//! results, so a responder cannot try its keys one after the other on one
//! connection: a failed attempt has already spent the state that a second
//! one would need (the key that encrypts the dialer's static key would
//! have to be recomputed from the responder's ephemeral key, which is
//! gone), and starting over means a new message 2, hence a new
//! connection. What the pattern does allow is a payload in the first
//! message, before any key is needed: the dialer puts there the
//! fingerprint of the key it will prove ([`KeyFingerprint`], a digest that
//! reveals nothing of the key), and the responder sets that key of its
//! keyring as the PSK before message 3 arrives, or hangs up at once when
//! it holds no such key (counted, and logged with the fingerprint, so an
//! administrator sees which node still dials with a removed key). The
//! payload is mixed into the handshake hash, so tampering with it only
//! makes the handshake fail. A first message without a fingerprint is
//! checked against the primary. A dialer whose first message goes
//! unanswered tries its other keys, each on a new connection, so at most
//! [`crate::net::MAX_KEYRING_KEYS`] attempts: that covers a rollout done
//! out of order (a node made a key its primary before every node had
//! installed it).

use std::net::SocketAddr;
use std::sync::Arc;

use snow::{Builder, HandshakeState, StatelessTransportState};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::counters::NetCounters;
use super::identity::{ClusterKey, StaticKeypair};
use super::keyring::Keyring;
use super::limits::MAX_HANDSHAKE_MSG_LEN;
use super::secure_stream::{ReadError, read_frame};
use crate::key_fingerprint::{FINGERPRINT_LEN, KeyFingerprint};
use crate::node_id::NodeId;
use crate::wire::{self, FrameDecoder, PROTOCOL_VERSION, Role};

/// The Noise protocol every connection speaks.
pub const NOISE_PATTERN: &str = "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2s";

/// Binds the handshake to this protocol, so a handshake meant for another
/// application using the same Noise pattern and key cannot be replayed here.
pub const NOISE_PROLOGUE: &[u8] = b"officemesh/1";

/// Which end of the TCP connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled.
    Outbound,
    /// We accepted.
    Inbound,
}

/// Why a connection did not become an authenticated peer.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("handshake with {addr} did not finish in time")]
    TimedOut { addr: SocketAddr },
    #[error("{addr} does not hold our cluster key (its handshake failed authentication)")]
    WrongClusterKey { addr: SocketAddr },
    #[error(
        "{addr} dials with cluster key {key}, which is not in our keyring \
         (removed, or not installed yet)"
    )]
    UnknownClusterKey {
        addr: SocketAddr,
        key: KeyFingerprint,
    },
    #[error(
        "{addr} closed the connection without answering (it does not hold cluster key {key}, \
         or it is busy)"
    )]
    Unanswered {
        addr: SocketAddr,
        key: KeyFingerprint,
    },
    #[error("{addr} is {peer}, a revoked replica (cluster.revoked)")]
    Revoked { addr: SocketAddr, peer: NodeId },
    #[error(
        "{addr} closed the connection during the handshake (it may hold another cluster key, \
         or be busy)"
    )]
    ClosedByPeer { addr: SocketAddr },
    #[error("{addr} is not an officemesh peer: {reason}")]
    NotNoise { addr: SocketAddr, reason: String },
    #[error("{addr} sent a handshake message of {len} bytes (cap {max})")]
    Oversized {
        addr: SocketAddr,
        len: usize,
        max: usize,
    },
    #[error("socket error during the handshake with {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{addr} speaks protocol version {theirs}, we speak {ours}: upgrade the older replica")]
    VersionMismatch {
        addr: SocketAddr,
        ours: u16,
        theirs: u16,
    },
    #[error("{addr} did not start with a Hello: {reason}")]
    BadHello { addr: SocketAddr, reason: String },
    #[error("{addr} ({peer}) refused: connection limit reached ({reason})")]
    ConnectionLimit {
        addr: SocketAddr,
        peer: NodeId,
        reason: super::slots::SlotRefused,
    },
    #[error("the Noise library refused our keys: {0}")]
    Local(String),
}

/// What the handshake established.
pub(crate) struct Established {
    pub noise: Arc<StatelessTransportState>,
    pub remote_id: NodeId,
    /// The cluster key both sides proved.
    pub key: KeyFingerprint,
}

/// The cluster keys one side of a handshake may use.
#[derive(Clone, Copy, Debug)]
pub(crate) enum HandshakeKeys<'a> {
    /// Dialling: prove this key, announced by its fingerprint.
    Dial(KeyFingerprint, &'a ClusterKey),
    /// Accepting: any key of this keyring, as the dialer announces.
    Accept(&'a Keyring),
}

fn builder_for<'a>(
    params: snow::params::NoiseParams,
    keypair: &'a StaticKeypair,
    cluster_key: &'a ClusterKey,
    initiator: bool,
) -> Result<HandshakeState, HandshakeError> {
    let local = |e: snow::Error| HandshakeError::Local(e.to_string());
    let builder = Builder::new(params)
        .local_private_key(keypair.private())
        .map_err(local)?
        .psk(3, cluster_key.bytes())
        .map_err(local)?
        .prologue(NOISE_PROLOGUE)
        .map_err(local)?;
    if initiator {
        builder.build_initiator()
    } else {
        builder.build_responder()
    }
    .map_err(local)
}

/// Runs the three handshake messages on `stream`.
pub(crate) async fn noise_handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    addr: SocketAddr,
    direction: Direction,
    keypair: &StaticKeypair,
    keys: HandshakeKeys<'_>,
    counters: &NetCounters,
) -> Result<Established, HandshakeError> {
    let params = NOISE_PATTERN
        .parse()
        .map_err(|e: snow::Error| HandshakeError::Local(e.to_string()))?;
    let initiator = direction == Direction::Outbound;
    // The responder starts with its primary and switches once the
    // dialer's first message names its key.
    let (mut key_used, first_key, hint) = match keys {
        HandshakeKeys::Dial(fp, key) => (fp, key, fp.0.to_vec()),
        HandshakeKeys::Accept(ring) => (ring.primary_fingerprint(), ring.primary(), Vec::new()),
    };
    let mut state = builder_for(params, keypair, first_key, initiator)?;
    let mut frames = FrameDecoder::new(MAX_HANDSHAKE_MSG_LEN);
    let mut msg = [0u8; MAX_HANDSHAKE_MSG_LEN];
    let mut payload = [0u8; MAX_HANDSHAKE_MSG_LEN];
    // Message 2 (responder → initiator) carries no PSK yet; message 3 is the
    // first that proves the cluster key, so a failure there is a wrong key.
    let mut messages_read = 0;
    while !state.is_handshake_finished() {
        if state.is_my_turn() {
            // Only the dialer's first message carries a payload: the
            // fingerprint of the key it proves in message 3.
            let first = initiator && messages_read == 0;
            let body: &[u8] = if first { &hint } else { &[] };
            let len = state
                .write_message(body, &mut msg)
                .map_err(|e| HandshakeError::Local(e.to_string()))?;
            let mut out = Vec::with_capacity(len + wire::PREFIX_LEN);
            wire::push_frame(&mut out, &msg[..len])
                .map_err(|e| HandshakeError::Local(e.to_string()))?;
            stream
                .write_all(&out)
                .await
                .map_err(|source| HandshakeError::Io { addr, source })?;
            counters.bytes_sent(out.len() as u64);
            tracing::trace!(target: "officemesh::sent", kind = "handshake", len = out.len());
        } else {
            // A responder that holds no key with our fingerprint hangs up
            // instead of sending message 2.
            let unanswered = initiator && messages_read == 0;
            let inbuf = match read_frame(stream, &mut frames, counters).await {
                Ok(body) => body,
                Err(ReadError::Eof) if unanswered => {
                    return Err(HandshakeError::Unanswered {
                        addr,
                        key: key_used,
                    });
                }
                Err(ReadError::Io(source)) if unanswered && closed_by_peer(&source) => {
                    return Err(HandshakeError::Unanswered {
                        addr,
                        key: key_used,
                    });
                }
                Err(ReadError::Eof) => return Err(HandshakeError::ClosedByPeer { addr }),
                Err(ReadError::Oversized { len, max }) => {
                    return Err(HandshakeError::Oversized { addr, len, max });
                }
                Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(HandshakeError::NotNoise {
                        addr,
                        reason: "handshake message cut short".into(),
                    });
                }
                Err(ReadError::Io(source)) if closed_by_peer(&source) => {
                    return Err(HandshakeError::ClosedByPeer { addr });
                }
                Err(ReadError::Io(source)) => return Err(HandshakeError::Io { addr, source }),
                Err(other) => {
                    return Err(HandshakeError::NotNoise {
                        addr,
                        reason: other.to_string(),
                    });
                }
            };
            messages_read += 1;
            let payload_len = match state.read_message(inbuf, &mut payload) {
                Ok(len) => len,
                Err(e) => {
                    let proves_psk = !initiator && messages_read == 2;
                    return Err(if proves_psk && matches!(e, snow::Error::Decrypt) {
                        HandshakeError::WrongClusterKey { addr }
                    } else {
                        HandshakeError::NotNoise {
                            addr,
                            reason: e.to_string(),
                        }
                    });
                }
            };
            if let (HandshakeKeys::Accept(ring), 1) = (keys, messages_read) {
                key_used = accept_key(addr, ring, &payload[..payload_len], &mut state)?;
            }
        }
    }
    let mut remote_key = [0u8; 32];
    match state.get_remote_static() {
        Some(key) if key.len() == remote_key.len() => remote_key.copy_from_slice(key),
        _ => {
            return Err(HandshakeError::NotNoise {
                addr,
                reason: "no static key".into(),
            });
        }
    }
    let noise = state
        .into_stateless_transport_mode()
        .map_err(|e| HandshakeError::Local(e.to_string()))?;
    Ok(Established {
        noise: Arc::new(noise),
        remote_id: NodeId::from_public_key(&remote_key),
        key: key_used,
    })
}

/// The responder's choice of key after the dialer's first message: the key
/// whose fingerprint it carries, or the primary when it carries none.
fn accept_key(
    addr: SocketAddr,
    ring: &Keyring,
    hint: &[u8],
    state: &mut HandshakeState,
) -> Result<KeyFingerprint, HandshakeError> {
    if hint.is_empty() {
        return Ok(ring.primary_fingerprint());
    }
    let bytes: [u8; FINGERPRINT_LEN] = hint.try_into().map_err(|_| HandshakeError::NotNoise {
        addr,
        reason: format!(
            "its first message carries {} bytes, not a key fingerprint",
            hint.len()
        ),
    })?;
    let fp = KeyFingerprint(bytes);
    let key = ring
        .get(&fp)
        .ok_or(HandshakeError::UnknownClusterKey { addr, key: fp })?;
    state
        .set_psk(3, key.bytes())
        .map_err(|e| HandshakeError::Local(e.to_string()))?;
    Ok(fp)
}

/// Checks the peer's `Hello`.
pub(crate) fn check_version(addr: SocketAddr, theirs: u16) -> Result<(), HandshakeError> {
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(HandshakeError::VersionMismatch {
            addr,
            ours: PROTOCOL_VERSION,
            theirs,
        })
    }
}

/// The `Hello` we send: our version, role and the port we accept on.
pub(crate) fn our_hello(role: Role, listen_port: u16) -> crate::wire::Hello {
    crate::wire::Hello {
        version: PROTOCOL_VERSION,
        role,
        listen_port,
    }
}

/// Whether an I/O error means the peer hung up on us: after our last
/// handshake message that is how a peer with another cluster key answers.
pub(crate) fn closed_by_peer(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        BrokenPipe | ConnectionAborted | ConnectionReset | UnexpectedEof
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:7946".parse().unwrap()
    }

    /// Runs both sides of one handshake over an in-memory pipe.
    async fn run(
        dial: (KeyFingerprint, &ClusterKey),
        accept: &Keyring,
    ) -> (
        Result<Established, HandshakeError>,
        Result<Established, HandshakeError>,
    ) {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let (ka, kb) = (
            StaticKeypair::generate().unwrap(),
            StaticKeypair::generate().unwrap(),
        );
        let (ca, cb) = (NetCounters::new(), NetCounters::new());
        let dialer = async {
            let r = noise_handshake(
                &mut a,
                addr(),
                Direction::Outbound,
                &ka,
                HandshakeKeys::Dial(dial.0, dial.1),
                &ca,
            )
            .await;
            drop(a);
            r
        };
        let responder = async {
            let r = noise_handshake(
                &mut b,
                addr(),
                Direction::Inbound,
                &kb,
                HandshakeKeys::Accept(accept),
                &cb,
            )
            .await;
            // A refusing responder hangs up, as the listener does.
            drop(b);
            r
        };
        tokio::join!(dialer, responder)
    }

    #[tokio::test]
    async fn a_responder_accepts_any_key_of_its_keyring() {
        let (old, new) = (ClusterKey::generate(), ClusterKey::generate());
        let ring = Keyring::new(old.clone(), vec![new.clone()]).unwrap();
        for key in [&old, &new] {
            let (dialer, responder) = run((key.fingerprint(), key), &ring).await;
            let (dialer, responder) = (dialer.unwrap(), responder.unwrap());
            assert_eq!(dialer.key, key.fingerprint());
            assert_eq!(responder.key, key.fingerprint());
        }
    }

    #[tokio::test]
    async fn a_key_not_in_the_keyring_is_refused_before_message_2() {
        let (old, new) = (ClusterKey::generate(), ClusterKey::generate());
        let ring = Keyring::from(new);
        let (dialer, responder) = run((old.fingerprint(), &old), &ring).await;
        assert!(
            matches!(responder, Err(HandshakeError::UnknownClusterKey { key, .. }) if key == old.fingerprint()),
            "{:?}",
            responder.err()
        );
        assert!(
            matches!(dialer, Err(HandshakeError::Unanswered { key, .. }) if key == old.fingerprint()),
            "{:?}",
            dialer.err()
        );
    }

    #[tokio::test]
    async fn a_fingerprint_that_lies_about_the_key_fails_authentication() {
        // The dialer names the responder's key but proves another: the
        // fingerprint only chooses the key, it proves nothing.
        let (real, other) = (ClusterKey::generate(), ClusterKey::generate());
        let ring = Keyring::from(real.clone());
        let (_, responder) = run((real.fingerprint(), &other), &ring).await;
        assert!(
            matches!(responder, Err(HandshakeError::WrongClusterKey { .. })),
            "{:?}",
            responder.err()
        );
    }
}
