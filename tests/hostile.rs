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
use support::{Office, counters, node_names, read_cluster_key, rss_kib, target};

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

    let prune = wire::encode_message(&Message::Broadcast(plumtree::Message::Prune)).unwrap();
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
