//! A key holder driven by the test instead of by officemesh: it speaks
//! the wire protocol by hand (Noise handshake, Hello, transport frames), so
//! a test can send what an honest node never would, and records every byte
//! it wrote for replay.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use officemesh::crdt::{WriteKey, Writer};
use officemesh::net::{NOISE_PATTERN, NOISE_PROLOGUE};
use officemesh::node_id::NodeId;
use officemesh::wire::payload::Payload;
use officemesh::wire::plumtree::{self, MessageId};
use officemesh::wire::{self, Hello, Message, PROTOCOL_VERSION, Role};

/// A session that completed the handshake and said Hello as a node.
pub struct RawPeer {
    /// Its replica id (the digest of its static key, as the node sees it).
    pub id: NodeId,
    /// The signing key its Noise static key comes from, as a node's does.
    pub key: WriteKey,
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
        RawPeer::connect_as(addr, psk, rand::random(), Role::Node)
    }

    /// Connects as the replica whose key file holds `seed` (so its id is
    /// `WriteKey::from_seed(seed).id()` and it signs as that replica), in
    /// `role`.
    pub fn connect_as(addr: SocketAddr, psk: &[u8; 32], seed: [u8; 32], role: Role) -> RawPeer {
        let params: snow::params::NoiseParams = NOISE_PATTERN.parse().unwrap();
        let key = WriteKey::from_seed(seed);
        let mut hs = snow::Builder::new(params)
            .local_private_key(&key.x25519_secret())
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
            id: key.id(),
            key,
            stream,
            noise: hs.into_transport_mode().unwrap(),
            handshake,
            frames: Vec::new(),
        };
        let hello = wire::encode_message(&Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            role,
            listen_port: 0,
        }))
        .unwrap();
        peer.send(&hello);
        peer
    }

    /// Broadcasts `payload` as the eager push of message `(origin, seq)`;
    /// an error when the node has closed the connection.
    pub fn gossip(&mut self, origin: NodeId, seq: u64, payload: &Payload) -> std::io::Result<()> {
        let msg = Message::Broadcast(plumtree::Message::Gossip {
            id: MessageId { origin, seq },
            round: 0,
            payload: payload.encode().unwrap(),
        });
        self.try_send(&wire::encode_message(&msg).unwrap())
    }

    /// Encrypts and sends one message body; an error when the node has
    /// closed the connection.
    pub fn try_send(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut ct = vec![0u8; body.len() + 16];
        let len = self.noise.write_message(body, &mut ct).unwrap();
        let mut out = Vec::new();
        wire::push_frame(&mut out, &ct[..len]).unwrap();
        self.stream.write_all(&out)?;
        self.frames.push(out);
        Ok(())
    }

    /// A writer signing as this peer, carrying its public key so that
    /// replicas that never met it can check the signatures.
    pub fn writer(&self) -> Writer {
        Writer::signing(self.key.clone()).carry_key()
    }

    /// Joins the overlay through this connection (HyParView JOIN), so the
    /// node takes it for a neighbour and relays its broadcasts; `listen`
    /// is the address it claims to listen on.
    pub fn join(&mut self, listen: std::net::SocketAddr) {
        let node = wire::PeerInfo {
            id: self.id,
            addr: listen,
        };
        self.send_message(&Message::Membership(wire::hyparview::Message::Join {
            node,
        }));
    }

    /// Reads and throws away whatever the node sends, on a thread of its
    /// own, so a long flood is not cut short by the node dropping a peer
    /// that never reads.
    pub fn discard_replies(&self) {
        let mut reader = self.stream.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = reader.set_read_timeout(None);
            let mut buf = [0u8; 16 * 1024];
            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
        });
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

    /// Encodes, encrypts and sends one message.
    pub fn send_message(&mut self, msg: &Message) {
        self.send(&wire::encode_message(msg).unwrap());
    }

    /// Encrypts and sends one message body.
    pub fn send(&mut self, body: &[u8]) {
        let mut ct = vec![0u8; body.len() + 16];
        let len = self.noise.write_message(body, &mut ct).unwrap();
        let frame = write_frame(&mut self.stream, &ct[..len]);
        self.frames.push(frame);
    }
}
