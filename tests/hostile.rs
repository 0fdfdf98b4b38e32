//! Hostile peers against a real `officemesh node`: a flood of connections
//! that never finish their handshake, slowloris peers, and a peer replaying
//! captured frames. The node keeps serving its honest peers (an observer's
//! `status` and `set` through it still work) and stays within its memory
//! bound.

mod support;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use officemesh::wire::plumtree;
use officemesh::wire::{self, Message};
use socket2::{Domain, SockAddr, Socket, Type};
use support::raw_peer::{RawPeer, expect_closed};
use support::{Office, counters, metric, node_names, read_cluster_key, rss_kib, target};

/// The memory a node under attack may use (issue: RSS ≤ 16 MiB).
const RSS_BOUND_KIB: u64 = 16 * 1024;

/// A TCP connection from a chosen loopback source address, so the
/// attackers and the honest observer (127.0.0.1) are different hosts to
/// the node, as on a LAN.
fn connect_from(source: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    socket.connect_timeout(&SockAddr::from(to), Duration::from_secs(1))?;
    Ok(socket.into())
}

/// Whether the node has closed `s` (a read returns end of stream or an error).
fn closed_by_node(s: &mut TcpStream) -> bool {
    let _ = s.set_nonblocking(true);
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Opens connections from `source` as fast as it can and never sends a
/// byte, keeping up to `keep` open, until `stop`. Returns how many it opened.
fn handshake_flood(source: IpAddr, to: SocketAddr, keep: usize, stop: Arc<AtomicBool>) -> u64 {
    let mut open = VecDeque::new();
    let mut opened = 0;
    while !stop.load(Ordering::Relaxed) {
        if let Ok(s) = connect_from(source, to) {
            opened += 1;
            open.push_back(s);
        }
        if open.len() > keep {
            open.pop_front();
        }
        thread::sleep(Duration::from_micros(500));
    }
    opened
}

/// Slowloris: `conns` connections from `source`, each dribbling a
/// plausible handshake message one byte every `every`, reopened as soon as
/// the node drops them, until `stop`. Returns how many the node dropped.
fn slowloris(
    source: IpAddr,
    to: SocketAddr,
    conns: usize,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> u64 {
    // A first handshake message announcing 32 bytes (the real length).
    let message: Vec<u8> = [0u8, 32].into_iter().chain([0x42; 32]).collect();
    let mut open: Vec<(TcpStream, usize)> = Vec::new();
    let mut dropped = 0;
    while !stop.load(Ordering::Relaxed) {
        while open.len() < conns {
            match connect_from(source, to) {
                Ok(s) => open.push((s, 0)),
                Err(_) => break,
            }
        }
        open.retain_mut(|(s, sent)| {
            if closed_by_node(s) {
                dropped += 1;
                return false;
            }
            // Hold back the last byte: the message never completes.
            if *sent + 1 < message.len() {
                let _ = s.set_nonblocking(false);
                if s.write_all(&message[*sent..*sent + 1]).is_ok() {
                    *sent += 1;
                }
            }
            true
        });
        thread::sleep(every);
    }
    dropped
}

/// Samples `pid`'s RSS until `stop`, keeping the largest value.
fn sample_rss(pid: u32, max: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Some(kib) = rss_kib(pid) {
            max.fetch_max(kib, Ordering::Relaxed);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_handshake_flood_and_slowloris_peers_leave_honest_peers_served_within_16_mib() {
    let office = Office::joined(2);
    let addr = office.nodes[0].addr;
    let pid = office.nodes[0].child.as_ref().unwrap().id();
    let rss_before = rss_kib(pid).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let (max, stop) = (max_rss.clone(), stop.clone());
        thread::spawn(move || sample_rss(pid, max, stop))
    };
    // Six flooding hosts: together they could hold every handshake slot
    // (6 × MAX_PENDING_HANDSHAKES_PER_IP > MAX_PENDING_HANDSHAKES).
    let flood: Vec<_> = [2u8, 4, 5, 6, 7, 8]
        .into_iter()
        .map(|host| {
            let stop = stop.clone();
            let source = IpAddr::from([127, 0, 0, host]);
            thread::spawn(move || handshake_flood(source, addr, 100, stop))
        })
        .collect();
    let loris = {
        let stop = stop.clone();
        thread::spawn(move || {
            slowloris(
                "127.0.0.3".parse().unwrap(),
                addr,
                16,
                Duration::from_millis(300),
                stop,
            )
        })
    };

    // Under attack, an observer on another host still gets answers and a
    // write through the attacked node still reaches the other node.
    thread::sleep(Duration::from_secs(2));
    let attack_started = Instant::now();
    for _ in 0..3 {
        let doc = office.status(0).expect("status through the attacked node");
        assert_eq!(node_names(&doc), ["n0", "n1"]);
    }
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            "hall",
            "20.5",
            "--wait",
            "converged",
            "--timeout",
            "20",
        ],
        0,
    );
    assert!(
        out.status.success(),
        "set through the attacked node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    office.wait_status(1, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(20.5)
    });
    // Long enough for slowloris connections to hit the handshake timeout.
    let elapsed = attack_started.elapsed();
    if elapsed < Duration::from_secs(7) {
        thread::sleep(Duration::from_secs(7) - elapsed);
    }
    stop.store(true, Ordering::Relaxed);
    let opened: u64 = flood.into_iter().map(|f| f.join().unwrap()).sum();
    let loris_dropped = loris.join().unwrap();
    sampler.join().unwrap();

    let c = counters(&office, 0);
    let max_rss = max_rss.load(Ordering::Relaxed);
    println!(
        "flood from 6 hosts: {opened} connections opened; slowloris: {loris_dropped} dropped by the node; \
         node RSS {rss_before} KiB before, {max_rss} KiB at most under attack; counters {c}"
    );
    assert!(opened > 100, "the flood ran ({opened} connections)");
    assert!(c["busy_refused"].as_u64().unwrap() > 0, "{c}");
    assert!(c["handshakes_timed_out"].as_u64().unwrap() > 0, "{c}");
    assert!(loris_dropped > 0, "slowloris connections are dropped");
    assert!(
        max_rss <= RSS_BOUND_KIB,
        "node RSS reached {max_rss} KiB under attack (bound {RSS_BOUND_KIB} KiB)"
    );
    // Logged once per source per minute, not once per connection.
    let log = std::fs::read_to_string(office.dir.path().join("n0.log")).unwrap();
    let refusals = log
        .lines()
        .filter(|l| l.contains("refused") || l.contains("gave way"))
        .count();
    println!("{refusals} log lines about refusals");
    assert!(
        refusals <= 3 * 7,
        "{refusals} refusal lines for seven attacking sources:\n{log}"
    );
    // Still serving after the attack.
    let doc = office.status(0).expect("status after the attack");
    assert_eq!(node_names(&doc), ["n0", "n1"]);
}

/// Noise nonces: a transport frame replayed inside its session fails
/// authentication (the node expects the next nonce) and ends that
/// connection; a whole session replayed on a new connection fails the
/// handshake (the node's ephemeral key is new), so nothing reaches it.
#[test]
fn a_peer_replaying_captured_frames_is_refused() {
    let office = Office::joined(2);
    let addr = office.nodes[0].addr;
    let psk = read_cluster_key(&office.dir.path().join("cluster.key"));
    let before = counters(&office, 0);
    let count = |doc: &serde_json::Value, k: &str| doc[k].as_u64().unwrap();

    let prune = wire::encode_message(&Message::Broadcast(plumtree::Message::Prune {
        origins: vec![officemesh::node_id::NodeId(1)],
    }))
    .unwrap();
    let mut session = RawPeer::connect(addr, &psk);
    session.send(&prune);
    // Replay the last frame on the same connection.
    let replayed = session.frames.last().unwrap().clone();
    session.stream.write_all(&replayed).unwrap();
    expect_closed(&mut session.stream);

    // Replay the whole recorded session on a fresh connection.
    let mut s = TcpStream::connect(addr).unwrap();
    for m in session.handshake.iter().chain(&session.frames) {
        if s.write_all(m).is_err() {
            break;
        }
    }
    expect_closed(&mut s);

    let after = counters(&office, 0);
    assert!(
        count(&after, "bad_frames") > count(&before, "bad_frames"),
        "the replayed frame was refused: {after}"
    );
    assert!(
        count(&after, "handshakes_refused") > count(&before, "handshakes_refused"),
        "the replayed handshake was refused: {after}"
    );
    let doc = office.status(0).expect("still serving");
    assert_eq!(node_names(&doc), ["n0", "n1"]);
}

/// `n` nodes like [`Office::joined`], each also serving `/metrics` on a
/// port of its own (returned in node order), so a test can read what a
/// node says it refused.
fn office_with_metrics(n: usize) -> (Office, Vec<SocketAddr>) {
    let mut office = Office::new();
    let mut metrics = Vec::new();
    for _ in 0..n {
        let i = office.add_stopped("cluster.key");
        metrics.push(office.serve_metrics(i));
        office.start(i);
    }
    let all: Vec<String> = (0..n).map(|i| format!("n{i}")).collect();
    office.wait_status(0, Duration::from_secs(30), |d| node_names(d) == all);
    (office, metrics)
}

/// Every node's pid.
fn pids(office: &Office) -> Vec<u32> {
    office
        .nodes
        .iter()
        .map(|n| n.child.as_ref().unwrap().id())
        .collect()
}

/// Samples every pid's RSS until `stop`; returns each one's largest.
fn sample_all_rss(pids: Vec<u32>, stop: Arc<AtomicBool>) -> thread::JoinHandle<Vec<u64>> {
    thread::spawn(move || {
        let mut max = vec![0u64; pids.len()];
        while !stop.load(Ordering::Relaxed) {
            for (m, pid) in max.iter_mut().zip(&pids) {
                *m = (*m).max(rss_kib(*pid).unwrap_or(0));
            }
            thread::sleep(Duration::from_millis(50));
        }
        max
    })
}

/// A write through `node` reaches every node of the office.
fn honest_write_converges(office: &Office, node: usize, zone: &str, value: f64) {
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            zone,
            &value.to_string(),
            "--wait",
            "stored",
            "--timeout",
            "20",
        ],
        node,
    );
    assert!(
        out.status.success(),
        "set through n{node}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..office.nodes.len() {
        office.wait_status(i, Duration::from_secs(30), |d| {
            target(d, zone) == Some(value)
        });
    }
}

/// When each connection accepted on `listener` until `stop` arrived.
fn count_dials(
    listener: std::net::TcpListener,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<Instant>> {
    thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut dials = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok(_) => dials.push(Instant::now()),
                Err(_) => thread::sleep(Duration::from_millis(10)),
            }
        }
        dials
    })
}

/// A key holder broadcasts 3,000 `Watch` leases with random `via`
/// addresses and the longest lease it can say, half of them claiming to
/// come from the `via` they name. Every node of the office keeps within
/// its memory bound, nobody dials the named addresses over and over, the
/// nodes count what they refused, and a write still reaches everyone.
#[test]
fn a_watch_flood_with_random_via_leaves_every_node_bounded_and_converging() {
    use officemesh::node_id::NodeId;
    use officemesh::replica::watch::MAX_WATCHERS;
    use officemesh::wire::PeerInfo;
    use officemesh::wire::payload::Payload;
    use rand::{Rng, SeedableRng};

    const NODES: usize = 5;
    let (office, metrics) = office_with_metrics(NODES);
    let psk = read_cluster_key(&office.dir.path().join("cluster.key"));
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = sample_all_rss(pids(&office), stop.clone());
    // Addresses the flood names that a test listener answers, so every
    // dial to them is counted; the other named addresses refuse at once.
    let traps: Vec<std::net::TcpListener> = (0..4)
        .map(|k| std::net::TcpListener::bind(format!("127.0.0.{}:0", 20 + k)).unwrap())
        .collect();
    let trap_addrs: Vec<SocketAddr> = traps.iter().map(|l| l.local_addr().unwrap()).collect();
    let dials: Vec<_> = traps
        .into_iter()
        .map(|l| count_dials(l, stop.clone()))
        .collect();

    // A key holder that joined the overlay, as a node would.
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut peer = RawPeer::connect(office.nodes[0].addr, &psk);
    peer.join(nowhere);
    peer.discard_replies();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut reconnects = 0;
    let flood_started = Instant::now();
    for k in 0..3_000u64 {
        let addr = if k % 2 == 0 {
            trap_addrs[rng.random_range(0..trap_addrs.len())]
        } else {
            SocketAddr::new(
                IpAddr::from([127, 0, rng.random_range(1..255), rng.random_range(2..255)]),
                rng.random_range(1024..65535),
            )
        };
        let via = PeerInfo {
            id: NodeId(rng.random()),
            addr,
        };
        // Half claim to be the watched node itself, the rest are honest
        // about who sends them.
        let origin = if k % 4 < 2 { via.id } else { peer.id };
        let watch = Payload::Watch {
            until_ms_from_now: u32::MAX,
            via,
        };
        // A node that closes the connection is dialled again: the flood
        // goes on.
        while peer.gossip(origin, k, &watch).is_err() {
            reconnects += 1;
            assert!(reconnects < 1_000, "the node stopped taking connections");
            peer = RawPeer::connect(office.nodes[0].addr, &psk);
            peer.join(nowhere);
            peer.discard_replies();
        }
    }
    println!(
        "3,000 Watch messages sent in {:?}, reconnecting {reconnects} times",
        flood_started.elapsed()
    );

    // Honest peers keep converging, under the leases the flood left.
    honest_write_converges(&office, 2, "after-watch-flood", 21.5);
    // Long enough for several report rounds toward every lease.
    let elapsed = flood_started.elapsed();
    if elapsed < Duration::from_secs(20) {
        thread::sleep(Duration::from_secs(20) - elapsed);
    }
    stop.store(true, Ordering::Relaxed);
    let dials: Vec<Instant> = dials.into_iter().flat_map(|d| d.join().unwrap()).collect();
    let late = dials
        .iter()
        .filter(|at| at.duration_since(flood_started) > Duration::from_secs(10))
        .count();
    let dials = dials.len();
    let max_rss = max_rss.join().unwrap();
    let refused: Vec<u64> = metrics
        .iter()
        .map(|m| metric(*m, "officemesh_watches_refused", ""))
        .collect();
    println!(
        "watch flood: largest RSS per node {max_rss:?} KiB; {dials} dials to the named addresses \
         in {:?} ({late} of them after the first 10 s); leases refused per node {refused:?}",
        flood_started.elapsed()
    );
    for (i, rss) in max_rss.iter().enumerate() {
        assert!(
            *rss <= RSS_BOUND_KIB,
            "n{i} reached {rss} KiB RSS (bound {RSS_BOUND_KIB})"
        );
    }
    assert!(
        refused.iter().sum::<u64>() >= 1_000,
        "the nodes say they refused the flood's leases: {refused:?}"
    );
    // A node dials the `via` of the few leases it admitted (at most
    // MAX_WATCHERS new ones per lease length), and a `via` it cannot
    // reach ends the lease: the dials come with the flood, not again and
    // again after it.
    assert!(
        dials <= NODES * MAX_WATCHERS * 4,
        "{dials} dials to addresses only the flood named"
    );
    assert!(
        late <= NODES * 2,
        "{late} dials to the flood's addresses after the first 10 s: a dial storm"
    );
}

/// A key holder broadcasts 200 target writes whose zone names are 30 KB
/// long: every node refuses them, counts them, stores nothing of them
/// (its store does not grow) and keeps within its memory bound, and an
/// honest write still reaches every node.
#[test]
fn a_junk_zone_flood_is_refused_counted_and_leaves_no_trace_on_disk() {
    use officemesh::crdt::{OfficeState, Quantity, TargetKey, TargetValue, Unit};
    use officemesh::wire::payload::Payload;

    const NODES: usize = 3;
    let (office, metrics) = office_with_metrics(NODES);
    let psk = read_cluster_key(&office.dir.path().join("cluster.key"));
    let store_bytes = |i: usize| {
        std::fs::metadata(office.data_dir(i).join("state.redb"))
            .map(|m| m.len())
            .unwrap_or(0)
    };
    let disk_before: Vec<u64> = (0..NODES).map(store_bytes).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = sample_all_rss(pids(&office), stop.clone());

    let mut peer = RawPeer::connect(office.nodes[0].addr, &psk);
    peer.join("127.0.0.1:9".parse().unwrap());
    peer.discard_replies();
    let mut state = OfficeState::new();
    let mut writer = peer.writer();
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    for k in 0..200u64 {
        let zone = format!("{k:05}{}", "z".repeat(30_000));
        let write = state.set_target(
            &mut writer,
            wall_ms,
            TargetKey::new(zone, Quantity::Temperature),
            TargetValue {
                value: 21.0,
                unit: Unit::Celsius,
                set_by: "flood".into(),
            },
        );
        let bytes = bytes::Bytes::from(write.delta.encode().unwrap());
        peer.gossip(peer.id, k + 1, &Payload::Delta(bytes))
            .expect("the node keeps the connection during the flood");
    }
    honest_write_converges(&office, 1, "after-junk-flood", 19.5);
    // The node's commits of the honest write are done by now; give a slow
    // commit a moment more.
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let max_rss = max_rss.join().unwrap();
    let disk_after: Vec<u64> = (0..NODES).map(store_bytes).collect();
    let refused = metric(metrics[0], "officemesh_writes_rejected", "");
    let too_long = metric(metrics[0], "officemesh_writes_rejected", "zone_too_long");
    println!(
        "junk-zone flood: n0 refused {refused} writes ({too_long} as zones too long); state.redb {disk_before:?} → \
         {disk_after:?} bytes; largest RSS per node {max_rss:?} KiB"
    );
    assert!(refused >= 200, "n0 counts every junk zone it refused");
    for i in 0..NODES {
        assert!(
            disk_after[i] <= disk_before[i] + 256 * 1024,
            "n{i}'s store grew from {} to {} bytes",
            disk_before[i],
            disk_after[i]
        );
        assert!(
            max_rss[i] <= RSS_BOUND_KIB,
            "n{i} reached {} KiB RSS (bound {RSS_BOUND_KIB})",
            max_rss[i]
        );
    }
    // No node holds a zone of the flood.
    for i in 0..NODES {
        let doc = office.status(i).unwrap();
        let longest = doc["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["zone"].as_str().map(str::len))
            .max()
            .unwrap_or(0);
        assert!(longest < 100, "n{i} holds a zone of {longest} bytes");
    }
}

/// Key holders sending what no honest node would, each message well
/// formed: notices with counters near `u64::MAX`, a write whose dot is
/// `u64::MAX`, announcements and grafts of message ids nobody sent, and
/// 10,000 sensors from eight identities (more keys than a replica holds).
/// Every node stays up and within its memory bound, says what it refused,
/// and a write to a zone the office already had still reaches everyone.
#[test]
fn absurd_well_formed_messages_leave_every_node_bounded_and_converging() {
    use officemesh::crdt::{Hlc, OfficeState, Quantity, Reading, SensorId, Unit, Writer};
    use officemesh::node_id::NodeId;
    use officemesh::wire::payload::Payload;
    use officemesh::wire::plumtree::MessageId;

    const NODES: usize = 3;
    let (office, metrics) = office_with_metrics(NODES);
    // A zone the office holds before the attack.
    honest_write_converges(&office, 0, "hall", 20.0);
    let psk = read_cluster_key(&office.dir.path().join("cluster.key"));
    let stop = Arc::new(AtomicBool::new(false));
    let max_rss = sample_all_rss(pids(&office), stop.clone());
    let nowhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let reading = Reading {
        value: 21.0,
        unit: Unit::Celsius,
    };
    let delta = |write: officemesh::crdt::Write| {
        Payload::Delta(bytes::Bytes::from(write.delta.encode().unwrap()))
    };

    let mut peer = RawPeer::connect(office.nodes[0].addr, &psk);
    peer.join(nowhere);
    peer.discard_replies();
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };
    // Huge counters: a restart skipping every dot there will ever be, a
    // clock report of counters at the top, a write numbered u64::MAX.
    let id = peer.id;
    let notices = [
        Payload::Skipped {
            from: 1,
            to: u64::MAX,
        },
        Payload::ClockReport {
            node: id,
            full: true,
            entries: (0..2_000).map(|i| (NodeId(i), u64::MAX)).collect(),
        },
    ];
    for notice in &notices {
        peer.gossip(id, next(), notice).unwrap();
    }
    let mut state = OfficeState::new();
    let mut writer = Writer::resume(id, u64::MAX - 1, Hlc::new(), &state);
    writer.set_key(peer.key.clone());
    let mut writer = writer.carry_key();
    let sensor = SensorId {
        quantity: Quantity::Temperature,
        index: 0,
    };
    let huge = delta(state.publish_reading(&mut writer, wall_ms, sensor, reading));
    peer.gossip(id, next(), &huge).unwrap();
    // Unknown ids: 10,000 announced, then grafted.
    for chunk in 0..5u64 {
        let ids = (0..2_000u64)
            .map(|i| {
                (
                    MessageId {
                        origin: NodeId(chunk * 2_000 + i + 1),
                        seq: u64::MAX - i,
                    },
                    u16::MAX,
                )
            })
            .collect();
        peer.send_message(&officemesh::wire::Message::Broadcast(
            officemesh::wire::plumtree::Message::IHave { ids },
        ));
    }
    for i in 0..1_000u64 {
        peer.send_message(&officemesh::wire::Message::Broadcast(
            officemesh::wire::plumtree::Message::Graft {
                ids: vec![MessageId {
                    origin: NodeId(i + 77),
                    seq: i,
                }],
                resend: true,
            },
        ));
    }

    // 10,000 sensors: 1,250 from each of eight identities (a node's
    // sensor ids run out at 5 quantities × 256).
    let quantities = [
        Quantity::Temperature,
        Quantity::Humidity,
        Quantity::Pressure,
        Quantity::Co2,
        Quantity::Illuminance,
    ];
    let mut sent = 0;
    for _ in 0..8 {
        let mut sybil = RawPeer::connect(office.nodes[1].addr, &psk);
        sybil.join(nowhere);
        sybil.discard_replies();
        let mut state = OfficeState::new();
        let mut writer = sybil.writer();
        for k in 0..1_250usize {
            let sensor = SensorId {
                quantity: quantities[k / 256],
                index: (k % 256) as u8,
            };
            let write = delta(state.publish_reading(&mut writer, wall_ms, sensor, reading));
            sybil
                .gossip(sybil.id, k as u64 + 1, &write)
                .expect("the node keeps a joined peer's connection");
            sent += 1;
        }
        // Let the node catch up before the next identity.
        thread::sleep(Duration::from_millis(500));
    }
    println!("{sent} sensor readings sent from 8 identities");

    honest_write_converges(&office, 2, "hall", 22.5);
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let max_rss = max_rss.join().unwrap();
    let rejected = |node: usize, reason: &str| {
        metric(
            metrics[node],
            "officemesh_writes_rejected",
            &format!("reason=\"{reason}\""),
        )
    };
    let said: Vec<(u64, u64)> = (0..NODES)
        .map(|i| (rejected(i, "skipped_notice"), rejected(i, "node_full")))
        .collect();
    let sensors: Vec<usize> = (0..NODES)
        .map(|i| {
            office.status(i).unwrap()["sensors"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .collect();
    let announced_refused = metric(metrics[0], "officemesh_announcements_refused", "");
    println!(
        "absurd messages: largest RSS per node {max_rss:?} KiB; refused per node \
         (skipped notices, keys past a node's bound) {said:?}; sensors held {sensors:?}; \
         unknown ids announced and not awaited by n0: {announced_refused}"
    );
    assert!(
        announced_refused >= 1,
        "n0 counts the unknown ids it did not await"
    );
    for i in 0..NODES {
        assert!(rss_kib(pids(&office)[i]).is_some(), "n{i} is still running");
        assert!(
            max_rss[i] <= RSS_BOUND_KIB,
            "n{i} reached {} KiB RSS (bound {RSS_BOUND_KIB})",
            max_rss[i]
        );
        let (skipped, full) = said[i];
        assert!(skipped >= 1, "n{i} counts the absurd skipped-dots notice");
        assert!(full >= 1, "n{i} counts the sensors past a node's key bound");
    }
}
