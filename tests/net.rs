//! The encrypted transport over real TCP on 127.0.0.1.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use officemesh::NodeId;
use officemesh::net::{
    CloseReason, ClusterKey, Endpoint, HandshakeError, Keyring, Limits, Listener, NOISE_PATTERN,
    NOISE_PROLOGUE, NetEvent, PeerHandle, StaticKeypair,
};
use officemesh::wire::plumtree::{self, MessageId};
use officemesh::wire::{self, Hello, Message, PROTOCOL_VERSION, Role};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Upper bound on any single wait; tests finish far sooner when they pass.
const WAIT: Duration = Duration::from_secs(10);

struct Node {
    endpoint: Endpoint,
    addr: SocketAddr,
    events: mpsc::Receiver<NetEvent>,
    events_tx: mpsc::Sender<NetEvent>,
}

async fn node(key: &ClusterKey, limits: Limits) -> Node {
    let endpoint = Endpoint::with_limits(
        StaticKeypair::generate().unwrap(),
        key.clone(),
        Role::Node,
        limits,
    );
    let listener = Listener::bind(&endpoint, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (events_tx, events) = mpsc::channel(1024);
    listener.spawn(events_tx.clone());
    Node {
        endpoint,
        addr,
        events,
        events_tx,
    }
}

async fn next_event(rx: &mut mpsc::Receiver<NetEvent>) -> NetEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("event in time")
        .expect("channel open")
}

async fn expect_connected(rx: &mut mpsc::Receiver<NetEvent>) -> PeerHandle {
    match next_event(rx).await {
        NetEvent::Connected { handle, .. } => handle,
        other => panic!("expected Connected, got {other:?}"),
    }
}

async fn expect_frame(rx: &mut mpsc::Receiver<NetEvent>, from: NodeId) -> Message {
    match next_event(rx).await {
        NetEvent::Frame { peer, msg, .. } if peer == from => msg,
        other => panic!("expected a frame from {from}, got {other:?}"),
    }
}

async fn expect_closed(rx: &mut mpsc::Receiver<NetEvent>, who: NodeId) -> CloseReason {
    loop {
        match next_event(rx).await {
            NetEvent::Closed { peer, reason, .. } if peer == who => return reason,
            NetEvent::Frame { peer, .. } if peer == who => continue,
            other => panic!("expected {who} to close, got {other:?}"),
        }
    }
}

/// Polls until `cond` holds; the bound keeps a failing test from hanging.
async fn eventually(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("condition reached in time");
}

fn gossip(seq: u64, payload_len: usize) -> Message {
    Message::Broadcast(plumtree::Message::Gossip {
        id: MessageId {
            origin: NodeId(1),
            seq,
        },
        round: 0,
        payload: Bytes::from(vec![seq as u8; payload_len]),
    })
}

/// Connects a fresh peer to `server` and checks one frame each way.
async fn good_peer_round_trip(server: &mut Node, key: &ClusterKey) {
    let mut client = node(key, Limits::default()).await;
    let conn = client.endpoint.connect(server.addr).await.unwrap();
    let to_server = conn.spawn(client.events_tx.clone());
    assert_eq!(
        expect_connected(&mut client.events).await.id(),
        server.endpoint.node_id()
    );
    let to_client = expect_connected(&mut server.events).await;
    assert_eq!(to_client.id(), client.endpoint.node_id());
    to_server.send(&gossip(1, 10)).unwrap();
    assert_eq!(
        expect_frame(&mut server.events, client.endpoint.node_id()).await,
        gossip(1, 10)
    );
    to_client.send(&gossip(2, 10)).unwrap();
    assert_eq!(
        expect_frame(&mut client.events, server.endpoint.node_id()).await,
        gossip(2, 10)
    );
}

#[tokio::test]
async fn two_replicas_with_the_same_key_exchange_frames() {
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let mut b = node(&key, Limits::default()).await;

    let conn = b.endpoint.connect(a.addr).await.unwrap();
    assert_eq!(conn.peer().id, a.endpoint.node_id());
    assert_eq!(conn.peer().addr, a.addr);
    assert_eq!(conn.role(), Role::Node);
    let b_to_a = conn.spawn(b.events_tx.clone());
    // The dialling side is told too, before any frame.
    assert_eq!(
        expect_connected(&mut b.events).await.id(),
        a.endpoint.node_id()
    );

    let (a_to_b, peer) = match next_event(&mut a.events).await {
        NetEvent::Connected {
            handle, peer, role, ..
        } => {
            assert_eq!(role, Role::Node);
            (handle, peer)
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(peer.id, b.endpoint.node_id());
    // B's Hello named its listening port: A can tell others how to reach B.
    assert_eq!(peer.addr, b.addr);

    for seq in 0..50 {
        b_to_a.send(&gossip(seq, 100)).unwrap();
    }
    for seq in 0..50 {
        assert_eq!(
            expect_frame(&mut a.events, b.endpoint.node_id()).await,
            gossip(seq, 100)
        );
    }
    a_to_b.send(&gossip(99, wire::MAX_FRAME_LEN - 100)).unwrap();
    assert_eq!(
        expect_frame(&mut b.events, a.endpoint.node_id()).await,
        gossip(99, wire::MAX_FRAME_LEN - 100)
    );

    // Closing flushes what was queued, then both sides see the close.
    b_to_a.send(&gossip(7, 10)).unwrap();
    b_to_a.close();
    assert_eq!(
        expect_frame(&mut a.events, b.endpoint.node_id()).await,
        gossip(7, 10)
    );
    assert_eq!(
        expect_closed(&mut a.events, b.endpoint.node_id()).await,
        CloseReason::PeerClosed
    );
    assert_eq!(
        expect_closed(&mut b.events, a.endpoint.node_id()).await,
        CloseReason::Local
    );

    let (sa, sb) = (a.endpoint.counters(), b.endpoint.counters());
    assert_eq!(sa.connections_established, 1);
    assert_eq!(
        sa.frames_received,
        51 + 1,
        "50 gossips, the last one and the Hello"
    );
    assert!(sa.bytes_received > 50 * 100 && sa.bytes_received == sb.bytes_sent);
    assert_eq!(sa.bytes_sent, sb.bytes_received);
}

#[tokio::test]
async fn oversized_message_is_refused_by_the_sender_and_the_connection_survives() {
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let b = node(&key, Limits::default()).await;
    let b_to_a = b
        .endpoint
        .connect(a.addr)
        .await
        .unwrap()
        .spawn(b.events_tx.clone());
    let _a_to_b = expect_connected(&mut a.events).await;
    assert!(matches!(
        b_to_a.send(&gossip(1, wire::MAX_FRAME_LEN)),
        Err(officemesh::net::SendError::Oversized { .. })
    ));
    b_to_a.send(&gossip(2, 10)).unwrap();
    assert_eq!(
        expect_frame(&mut a.events, b.endpoint.node_id()).await,
        gossip(2, 10)
    );
}

#[tokio::test]
async fn wrong_cluster_key_is_refused_counted_and_never_delivered() {
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let intruder = node(&ClusterKey::generate(), Limits::default()).await;

    // The intruder names a key `a` does not hold: `a` hangs up before
    // its second handshake message.
    let err = intruder.endpoint.connect(a.addr).await.unwrap_err();
    assert!(matches!(err, HandshakeError::Unanswered { .. }), "{err}");
    eventually(|| a.endpoint.counters().handshakes_unknown_key == 1).await;
    assert!(
        a.events.try_recv().is_err(),
        "nothing from the intruder reached the owner"
    );
    assert_eq!(a.endpoint.counters().connections_established, 0);

    // The other way round: the intruder's listener refuses us.
    let err = a.endpoint.connect(intruder.addr).await.unwrap_err();
    assert!(matches!(err, HandshakeError::Unanswered { .. }), "{err}");
    // Each side counts the dial it made and the one it refused.
    eventually(|| intruder.endpoint.counters().handshakes_unknown_key == 1).await;
    assert_eq!(a.endpoint.counters().handshakes_refused, 1);
    assert_eq!(intruder.endpoint.counters().handshakes_refused, 1);

    good_peer_round_trip(&mut a, &key).await;
}

/// A peer that knows the cluster key but then misbehaves: does the Noise
/// handshake by hand, then sends whatever the test wants.
struct RawPeer {
    stream: TcpStream,
    noise: snow::TransportState,
}

impl RawPeer {
    async fn connect(addr: SocketAddr, key: &ClusterKey, psk: [u8; 32]) -> RawPeer {
        let _ = key;
        let builder = snow::Builder::new(NOISE_PATTERN.parse().unwrap());
        let keys = builder.generate_keypair().unwrap();
        let mut hs = snow::Builder::new(NOISE_PATTERN.parse().unwrap())
            .local_private_key(&keys.private)
            .unwrap()
            .psk(3, &psk)
            .unwrap()
            .prologue(NOISE_PROLOGUE)
            .unwrap()
            .build_initiator()
            .unwrap();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 1024];
        let mut payload = [0u8; 1024];
        while !hs.is_handshake_finished() {
            if hs.is_my_turn() {
                let len = hs.write_message(&[], &mut buf).unwrap();
                write_prefixed(&mut stream, &buf[..len]).await;
            } else {
                let msg = read_prefixed(&mut stream).await;
                hs.read_message(&msg, &mut payload).unwrap();
            }
        }
        let mut peer = RawPeer {
            stream,
            noise: hs.into_transport_mode().unwrap(),
        };
        let hello = Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            role: Role::Node,
            listen_port: 0,
        });
        peer.send_plain(&wire::encode_message(&hello).unwrap())
            .await;
        peer
    }

    async fn send_plain(&mut self, body: &[u8]) {
        let mut ct = vec![0u8; body.len() + 16];
        let len = self.noise.write_message(body, &mut ct).unwrap();
        write_prefixed(&mut self.stream, &ct[..len]).await;
    }
}

async fn write_prefixed(stream: &mut TcpStream, bytes: &[u8]) {
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(bytes).await.unwrap();
}

async fn read_prefixed(stream: &mut TcpStream) -> Vec<u8> {
    let mut prefix = [0u8; 2];
    stream.read_exact(&mut prefix).await.unwrap();
    let mut buf = vec![0u8; u16::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut buf).await.unwrap();
    buf
}

/// Reads until the server closes: the connection must end, not hang.
async fn expect_eof(stream: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .expect("server closed the connection");
}

#[tokio::test]
async fn garbage_frames_close_only_that_connection() {
    let psk = [9u8; 32];
    let key = ClusterKey::from_bytes(psk);
    let mut a = node(&key, Limits::default()).await;

    // Ciphertext that does not authenticate.
    let mut raw = RawPeer::connect(a.addr, &key, psk).await;
    let held = expect_connected(&mut a.events).await;
    let raw_id = held.id();
    write_prefixed(&mut raw.stream, &[0xAB; 100]).await;
    assert!(matches!(
        expect_closed(&mut a.events, raw_id).await,
        CloseReason::BadFrame(_)
    ));
    expect_eof(&mut raw.stream).await;

    // Authentic ciphertext of bytes that are not a message.
    let mut raw = RawPeer::connect(a.addr, &key, psk).await;
    let held = expect_connected(&mut a.events).await;
    let raw_id = held.id();
    raw.send_plain(&[0xFF; 40]).await;
    assert!(matches!(
        expect_closed(&mut a.events, raw_id).await,
        CloseReason::BadFrame(_)
    ));
    expect_eof(&mut raw.stream).await;

    // A frame too short to hold a Noise tag.
    let mut raw = RawPeer::connect(a.addr, &key, psk).await;
    let held = expect_connected(&mut a.events).await;
    let raw_id = held.id();
    write_prefixed(&mut raw.stream, &[1, 2, 3]).await;
    assert!(matches!(
        expect_closed(&mut a.events, raw_id).await,
        CloseReason::BadFrame(_)
    ));

    assert_eq!(a.endpoint.counters().bad_frames, 3);
    good_peer_round_trip(&mut a, &key).await;
}

#[tokio::test]
async fn wrong_protocol_version_is_refused() {
    let psk = [5u8; 32];
    let key = ClusterKey::from_bytes(psk);
    let mut a = node(&key, Limits::default()).await;
    let builder = snow::Builder::new(NOISE_PATTERN.parse().unwrap());
    let keys = builder.generate_keypair().unwrap();
    let mut hs = snow::Builder::new(NOISE_PATTERN.parse().unwrap())
        .local_private_key(&keys.private)
        .unwrap()
        .psk(3, &psk)
        .unwrap()
        .prologue(NOISE_PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut stream = TcpStream::connect(a.addr).await.unwrap();
    let (mut buf, mut payload) = ([0u8; 1024], [0u8; 1024]);
    while !hs.is_handshake_finished() {
        if hs.is_my_turn() {
            let len = hs.write_message(&[], &mut buf).unwrap();
            write_prefixed(&mut stream, &buf[..len]).await;
        } else {
            let msg = read_prefixed(&mut stream).await;
            hs.read_message(&msg, &mut payload).unwrap();
        }
    }
    let mut noise = hs.into_transport_mode().unwrap();
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION + 1,
        role: Role::Node,
        listen_port: 0,
    });
    let body = wire::encode_message(&hello).unwrap();
    let mut ct = vec![0u8; body.len() + 16];
    let len = noise.write_message(&body, &mut ct).unwrap();
    write_prefixed(&mut stream, &ct[..len]).await;
    expect_eof(&mut stream).await;
    eventually(|| a.endpoint.counters().handshakes_refused == 1).await;
    assert!(a.events.try_recv().is_err());
    good_peer_round_trip(&mut a, &key).await;
}

#[tokio::test]
async fn oversized_and_truncated_handshakes_close_only_that_connection() {
    let key = ClusterKey::generate();
    let limits = Limits {
        handshake_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let mut a = node(&key, limits).await;

    // A length prefix far over any handshake message.
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(&[0xFF, 0xFF, 0, 0, 0]).await.unwrap();
    expect_eof(&mut s).await;
    eventually(|| a.endpoint.counters().oversized_frames == 1).await;

    // A first message cut short, then the socket closed.
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(&[0, 32, 1, 2, 3, 4, 5]).await.unwrap();
    s.shutdown().await.unwrap();
    expect_eof(&mut s).await;
    eventually(|| a.endpoint.counters().handshakes_refused == 2).await;

    // A first message cut short, then silence: the handshake timeout ends it.
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(&[0, 32, 1, 2, 3]).await.unwrap();
    expect_eof(&mut s).await;
    eventually(|| a.endpoint.counters().handshakes_timed_out == 1).await;

    // Plain garbage instead of Noise.
    let mut s = TcpStream::connect(a.addr).await.unwrap();
    s.write_all(b"\x00\x20GET / HTTP/1.1\r\nHost: x\r\n\r\n\0\0\0\0\0")
        .await
        .unwrap();
    expect_eof(&mut s).await;

    assert!(
        a.events.try_recv().is_err(),
        "no stranger reached the owner"
    );
    good_peer_round_trip(&mut a, &key).await;
}

#[tokio::test]
async fn unauthenticated_connections_beyond_the_cap_are_refused() {
    let key = ClusterKey::generate();
    let limits = Limits {
        max_pending_handshakes: 2,
        handshake_timeout: Duration::from_secs(3),
        ..Limits::default()
    };
    let mut a = node(&key, limits).await;
    // Two silent sockets hold both handshake slots.
    let _s1 = TcpStream::connect(a.addr).await.unwrap();
    let _s2 = TcpStream::connect(a.addr).await.unwrap();
    let mut s3 = TcpStream::connect(a.addr).await.unwrap();
    expect_eof(&mut s3).await;
    assert_eq!(a.endpoint.counters().busy_refused, 1);
    drop((_s1, _s2));
    eventually(|| a.endpoint.counters().handshakes_refused == 2).await;
    good_peer_round_trip(&mut a, &key).await;
}

/// A silent connection from `source` (a loopback address of its own, so it
/// is another host to the node).
async fn silent_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(source.parse().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn a_flood_that_fills_every_handshake_slot_gives_way_to_another_host() {
    let key = ClusterKey::generate();
    let limits = Limits {
        max_pending_handshakes: 4,
        max_pending_handshakes_per_ip: 3,
        handshake_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let mut a = node(&key, limits).await;
    // Two flooding hosts hold every slot with silent sockets.
    let mut flood = Vec::new();
    for _ in 0..3 {
        flood.push(silent_from("127.0.0.2", a.addr).await);
    }
    flood.push(silent_from("127.0.0.3", a.addr).await);
    eventually(|| a.endpoint.pending_handshakes_count() == 4).await;
    // An honest replica on another host still gets in, at once (well
    // before the flood's handshakes time out), and the flood's oldest
    // handshake is the one closed.
    let started = std::time::Instant::now();
    good_peer_round_trip(&mut a, &key).await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(a.endpoint.counters().handshakes_evicted, 1);
    expect_eof(&mut flood[0]).await;
}

#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_and_others_carry_on() {
    let key = ClusterKey::generate();
    let limits = Limits {
        send_queue_len: 8,
        ..Limits::default()
    };
    let mut a = node(&key, limits).await;

    // The sluggard completes the handshake, then never reads again.
    let sluggard = node(&key, Limits::default()).await;
    let stuck = sluggard.endpoint.connect(a.addr).await.unwrap();
    let to_sluggard = expect_connected(&mut a.events).await;

    let friend = node(&key, Limits::default()).await;
    let mut friend_events = friend.events;
    let friend_to_a = friend
        .endpoint
        .connect(a.addr)
        .await
        .unwrap()
        .spawn(friend.events_tx.clone());
    expect_connected(&mut friend_events).await;
    let to_friend = expect_connected(&mut a.events).await;

    let big = gossip(1, 60_000);
    let mut queued = 0usize;
    tokio::time::timeout(WAIT, async {
        loop {
            match to_sluggard.send(&big) {
                Ok(()) => queued += 1,
                // Eight frames of 60 KB reach the byte bound as soon as
                // the frame bound: either says the queue is full.
                Err(
                    officemesh::net::SendError::QueueFull
                    | officemesh::net::SendError::QueueBytesFull { .. },
                ) => break,
                Err(e) => panic!("{e}"),
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the queue fills");
    let reason = expect_closed(&mut a.events, sluggard.endpoint.node_id()).await;
    assert_eq!(reason, CloseReason::SlowPeer);
    assert_eq!(a.endpoint.counters().slow_peers_dropped, 1);
    // Bounded: at most the queue, what TCP buffered, and what was in flight.
    assert!(queued < 2_000, "queued {queued} frames");

    to_friend.send(&gossip(3, 10)).unwrap();
    assert_eq!(
        expect_frame(&mut friend_events, a.endpoint.node_id()).await,
        gossip(3, 10)
    );
    friend_to_a.send(&gossip(4, 10)).unwrap();
    assert_eq!(
        expect_frame(&mut a.events, friend.endpoint.node_id()).await,
        gossip(4, 10)
    );
    drop(stuck);
}

/// With room for 256 frames, a peer that stops reading is dropped by the
/// byte bound long before: 256 full frames would be 16 MiB.
#[tokio::test]
async fn a_send_queue_is_bounded_in_bytes_whatever_its_frame_count() {
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let sluggard = node(&key, Limits::default()).await;
    let stuck = sluggard.endpoint.connect(a.addr).await.unwrap();
    let to_sluggard = expect_connected(&mut a.events).await;
    let big = gossip(1, 60_000);
    let refusal = tokio::time::timeout(WAIT, async {
        loop {
            match to_sluggard.send(&big) {
                Ok(()) => tokio::task::yield_now().await,
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the queue fills");
    match refusal {
        officemesh::net::SendError::QueueBytesFull { queued, max } => {
            assert_eq!(max, officemesh::net::limits::SEND_QUEUE_BYTES);
            assert!(queued + 65_535 > max, "refused with room left: {queued}");
        }
        other => panic!("refused for another reason: {other}"),
    }
    let reason = expect_closed(&mut a.events, sluggard.endpoint.node_id()).await;
    assert_eq!(reason, CloseReason::SlowPeer);
    assert_eq!(a.endpoint.counters().slow_peers_dropped, 1);
    drop(stuck);
}

/// An owner that does not take its events holds at most
/// `EVENT_QUEUE_BYTES` of frames in its queue; the peer's further frames
/// wait (in TCP) and all arrive once the owner catches up.
#[tokio::test]
async fn frames_waiting_for_the_owner_are_bounded_in_bytes() {
    const FRAMES: u64 = 24;
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let friend = node(&key, Limits::default()).await;
    let friend_to_a = friend
        .endpoint
        .connect(a.addr)
        .await
        .unwrap()
        .spawn(friend.events_tx.clone());
    // Held: the connection lives while a handle does.
    let _to_friend = expect_connected(&mut a.events).await;
    for seq in 0..FRAMES {
        friend_to_a.send(&gossip(seq, 60_000)).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut held = Vec::new();
    while let Ok(event) = a.events.try_recv() {
        held.push(event);
    }
    let max = officemesh::net::limits::EVENT_QUEUE_BYTES / 60_000;
    assert!(
        !held.is_empty() && held.len() <= max,
        "{} frames of 60 KB waiting (room for {max})",
        held.len()
    );
    let mut received = held.len() as u64;
    drop(held);
    while received < FRAMES {
        match next_event(&mut a.events).await {
            NetEvent::Frame { .. } => received += 1,
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn spawn_connect_retries_with_backoff_then_reports() {
    let key = ClusterKey::generate();
    let a = node(&key, Limits::default()).await;
    let (tx, mut rx) = mpsc::channel(16);
    // Nobody listens on this port: bind one, note it, close it.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let backoff = officemesh::net::Backoff::with_bounds(
        Duration::from_millis(1),
        Duration::from_millis(5),
        1,
    );
    a.endpoint
        .spawn_connect(free, Some(backoff), Some(3), tx.clone());
    match next_event(&mut rx).await {
        NetEvent::ConnectFailed { addr, .. } => assert_eq!(addr, free),
        other => panic!("{other:?}"),
    }

    let mut b = node(&key, Limits::default()).await;
    a.endpoint.spawn_connect(b.addr, None, None, tx);
    match next_event(&mut rx).await {
        NetEvent::Connected { peer, .. } => assert_eq!(peer.id, b.endpoint.node_id()),
        other => panic!("{other:?}"),
    }
    let _held = expect_connected(&mut b.events).await;
}

#[tokio::test]
async fn a_dialer_whose_primary_is_not_installed_there_yet_falls_back_to_its_other_key() {
    let (old, new) = (ClusterKey::generate(), ClusterKey::generate());
    // `a` was not told about the new key yet; `b` already dials with it.
    let mut a = node(&old, Limits::default()).await;
    let b = Endpoint::new(
        StaticKeypair::generate().unwrap(),
        Keyring::new(new.clone(), vec![old.clone()]).unwrap(),
        Role::Node,
    );
    let conn = b.connect(a.addr).await.unwrap();
    let (b_tx, _b_rx) = mpsc::channel(16);
    let handle = conn.spawn(b_tx);
    assert_eq!(handle.cluster_key(), old.fingerprint());
    let theirs = expect_connected(&mut a.events).await;
    assert_eq!(theirs.cluster_key(), old.fingerprint());
    // The first attempt, with the new key, was refused and counted.
    assert_eq!(a.endpoint.counters().handshakes_unknown_key, 1);

    // `a` installs the new key: `b`'s first attempt now goes through.
    a.endpoint
        .set_keyring(Keyring::new(old.clone(), vec![new.clone()]).unwrap());
    let conn = b.connect(a.addr).await.unwrap();
    let (b_tx, _b_rx) = mpsc::channel(16);
    assert_eq!(conn.spawn(b_tx).cluster_key(), new.fingerprint());
    assert_eq!(a.endpoint.counters().handshakes_unknown_key, 1);

    // Once the old key is removed, a link made with it is one to close.
    a.endpoint.set_keyring(Keyring::from(new.clone()));
    assert!(!a.endpoint.keeps(theirs.id(), theirs.cluster_key()));
    assert!(a.endpoint.keeps(theirs.id(), new.fingerprint()));
}

#[tokio::test]
async fn a_revoked_replica_is_refused_after_proving_its_key_whoever_dials() {
    let key = ClusterKey::generate();
    let mut a = node(&key, Limits::default()).await;
    let stolen = node(&key, Limits::default()).await;
    a.endpoint
        .set_revoked([stolen.endpoint.node_id()].into_iter().collect());

    let err = stolen.endpoint.connect(a.addr).await.unwrap_err();
    assert!(matches!(err, HandshakeError::ClosedByPeer { .. }), "{err}");
    eventually(|| a.endpoint.counters().handshakes_revoked == 1).await;
    let err = a.endpoint.connect(stolen.addr).await.unwrap_err();
    assert!(
        matches!(err, HandshakeError::Revoked { peer, .. } if peer == stolen.endpoint.node_id()),
        "{err}"
    );
    assert_eq!(a.endpoint.counters().handshakes_revoked, 2);
    assert_eq!(a.endpoint.counters().connections_established, 0);
    assert!(a.events.try_recv().is_err(), "nothing reached the owner");
    assert!(
        !a.endpoint
            .keeps(stolen.endpoint.node_id(), key.fingerprint())
    );

    good_peer_round_trip(&mut a, &key).await;
}
