//! A key holder driven by the test instead of by officemesh: it speaks
//! the wire protocol by hand (Noise handshake, Hello, transport frames), so
//! a test can send what an honest node never would, and records every byte
//! it wrote for replay. It may hold a real identity (a key file's seed), so
//! what it signs is signed by a member of the office.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use officemesh::crdt::WriteKey;
use officemesh::net::{NOISE_PATTERN, NOISE_PROLOGUE};
use officemesh::wire::{self, Hello, Message, PROTOCOL_VERSION, Role};

/// A session that completed the handshake and said Hello as a node.
pub struct RawPeer {
    pub stream: TcpStream,
    noise: snow::TransportState,
    /// The handshake messages this end wrote, framed, as they left.
    pub handshake: Vec<Vec<u8>>,
    /// Its transport frames (the Hello first), as they left.
    pub frames: Vec<Vec<u8>>,
}

/// Writes one length-prefixed frame; returns the bytes written.
pub fn write_frame(stream: &mut TcpStream, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    wire::push_frame(&mut out, body).unwrap();
    stream.write_all(&out).unwrap();
    out
}

pub fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut buf).unwrap();
    buf
}

/// Reads until the node closes the socket; panics if it does not within 10 s.
pub fn expect_closed(stream: &mut TcpStream) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                panic!("the node kept the connection open")
            }
            Err(_) => return,
        }
    }
}

impl RawPeer {
    /// Connects with a fresh static key and the cluster key `psk`,
    /// completes the handshake and says Hello as a node.
    pub fn connect(addr: SocketAddr, psk: &[u8; 32]) -> RawPeer {
        let params: snow::params::NoiseParams = NOISE_PATTERN.parse().unwrap();
        let keys = snow::Builder::new(params).generate_keypair().unwrap();
        let secret: [u8; 32] = keys.private.as_slice().try_into().unwrap();
        RawPeer::connect_with(addr, psk, &secret, Role::Node)
    }

    /// Connects as the replica whose key file holds `seed` (so its id is
    /// `WriteKey::from_seed(seed).id()` and it can sign as that replica),
    /// in `role`.
    pub fn connect_as(addr: SocketAddr, psk: &[u8; 32], seed: [u8; 32], role: Role) -> RawPeer {
        let secret = WriteKey::from_seed(seed).x25519_secret();
        RawPeer::connect_with(addr, psk, &secret, role)
    }

    fn connect_with(addr: SocketAddr, psk: &[u8; 32], secret: &[u8; 32], role: Role) -> RawPeer {
        let params: snow::params::NoiseParams = NOISE_PATTERN.parse().unwrap();
        let mut hs = snow::Builder::new(params)
            .local_private_key(secret)
            .unwrap()
            .psk(3, psk)
            .unwrap()
            .prologue(NOISE_PROLOGUE)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut buf, mut payload) = ([0u8; 1024], [0u8; 1024]);
        let mut handshake = Vec::new();
        while !hs.is_handshake_finished() {
            if hs.is_my_turn() {
                let len = hs.write_message(&[], &mut buf).unwrap();
                handshake.push(write_frame(&mut stream, &buf[..len]));
            } else {
                let msg = read_frame(&mut stream);
                hs.read_message(&msg, &mut payload).unwrap();
            }
        }
        let mut peer = RawPeer {
            stream,
            noise: hs.into_transport_mode().unwrap(),
            handshake,
            frames: Vec::new(),
        };
        peer.send_message(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            role,
            listen_port: 0,
        }));
        peer
    }

    /// Encrypts and sends one message body.
    pub fn send(&mut self, body: &[u8]) {
        let mut ct = vec![0u8; body.len() + 16];
        let len = self.noise.write_message(body, &mut ct).unwrap();
        let frame = write_frame(&mut self.stream, &ct[..len]);
        self.frames.push(frame);
    }

    /// Encodes, encrypts and sends one message.
    pub fn send_message(&mut self, msg: &Message) {
        let body = wire::encode_message(msg).unwrap();
        self.send(&body);
    }

    /// Reads and decrypts the next message (the node's Hello first);
    /// `None` once the node closed the connection or said nothing for the
    /// read timeout.
    pub fn recv(&mut self) -> Option<Message> {
        let mut prefix = [0u8; 2];
        self.stream.read_exact(&mut prefix).ok()?;
        let mut ct = vec![0u8; u16::from_be_bytes(prefix) as usize];
        self.stream.read_exact(&mut ct).ok()?;
        let mut body = vec![0u8; ct.len()];
        let len = self.noise.read_message(&ct, &mut body).ok()?;
        wire::decode_message(&body[..len]).ok()
    }
}
