//! Real `officemesh node` processes on loopback, driven through the
//! `status` and `set` commands.

mod support;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::raw_peer::{RawPeer, expect_closed, write_frame};
use support::{BIN, Office, counters, keygen, node_names, read_cluster_key, target};

#[test]
fn five_nodes_converge_and_a_target_reaches_every_node() {
    let mut office = Office::new();
    for _ in 0..5 {
        office.add("cluster.key");
    }
    let all = ["n0", "n1", "n2", "n3", "n4"];
    for i in 0..5 {
        office.wait_status(i, Duration::from_secs(30), |d| node_names(d) == all);
    }
    let out = office.observer_cmd(
        &[
            "set",
            "target",
            "lab",
            "21.5",
            "--wait",
            "converged",
            "--timeout",
            "20",
        ],
        2,
    );
    assert!(
        out.status.success(),
        "set failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("converged: 5/5"));
    for i in 0..5 {
        office.wait_status(i, Duration::from_secs(10), |d| {
            target(d, "lab") == Some(21.5)
        });
    }
    // Out of range: refused with the range, exit code 1, nothing written.
    let out = office.observer_cmd(&["set", "target", "lab", "99"], 0);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("5..=30"));
    let doc = office.status(4).unwrap();
    assert_eq!(target(&doc, "lab"), Some(21.5));
}

#[test]
fn a_node_killed_and_restarted_keeps_its_id_state_and_dots() {
    let mut office = Office::new();
    office.add("cluster.key");
    office.add("cluster.key");
    office.wait_status(1, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1"]
    });
    let out = office.observer_cmd(&["set", "target", "hall", "19", "--wait", "stored"], 1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let before = office.wait_status(1, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(19.0)
    });
    let id = before["attached_to"]["id"].as_str().unwrap().to_string();
    let own_counter = |doc: &Value, id: &str| doc["own_version_vector"][id].as_u64().unwrap_or(0);
    let counter_before = own_counter(&before, &id);
    assert!(counter_before > 0);

    office.kill(1);
    office.start(1);
    let after = office.wait_status(1, Duration::from_secs(30), |d| {
        target(d, "hall") == Some(19.0)
    });
    assert_eq!(after["attached_to"]["id"].as_str(), Some(id.as_str()));
    assert!(own_counter(&after, &id) >= counter_before);
    // A new write after the restart gets a dot above every earlier one, and
    // the other node learns it.
    let out = office.observer_cmd(&["set", "target", "hall", "20", "--wait", "converged"], 1);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    office.wait_status(0, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(20.0) && own_counter(d, &id) > counter_before
    });
}

#[test]
fn the_first_node_restarted_without_seeds_finds_its_way_back() {
    // n0 has no seeds: after a restart only the peers it remembered from
    // its last run can bring it back into the overlay.
    let mut office = Office::new();
    for _ in 0..3 {
        office.add("cluster.key");
    }
    office.wait_status(0, Duration::from_secs(30), |d| {
        node_names(d) == ["n0", "n1", "n2"]
    });
    office.kill(0);
    office.start(0);
    let out = office.observer_cmd(&["set", "target", "lobby", "22", "--wait", "stored"], 2);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    office.wait_status(0, Duration::from_secs(30), |d| {
        target(d, "lobby") == Some(22.0)
    });
}

#[test]
fn a_peer_with_the_wrong_key_is_refused_and_changes_nothing() {
    let mut office = Office::new();
    office.add("cluster.key");
    keygen(&office.dir.path().join("wrong.key"));
    office.add("wrong.key");
    // An observer with the wrong key learns nothing.
    let out = Command::new(BIN)
        .args(["status", "--json", "--timeout", "3", "--connect"])
        .arg(office.nodes[0].addr.to_string())
        .arg("--key")
        .arg(office.dir.path().join("wrong.key"))
        .env(
            "OFFICEMESH_OBSERVER_DIR",
            office.dir.path().join("intruder"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    // The wrong-key node keeps trying; nothing of it shows up.
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let doc = office.status(0).expect("status through the good node");
        assert_eq!(node_names(&doc), ["n0"]);
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A client that holds the cluster key, completes the Noise handshake and
/// the Hello, and then sends ciphertext that does not authenticate.
fn authenticated_garbage(addr: SocketAddr, key_file: &Path) -> TcpStream {
    let mut peer = RawPeer::connect(addr, &read_cluster_key(key_file));
    write_frame(&mut peer.stream, &[0xAB; 100]);
    peer.stream
}

/// Bad input closes only the connection it came on: the node keeps its
/// neighbour and keeps answering observers. (A peer that stops reading is
/// covered at the transport level in tests/net.rs.)
#[test]
fn bad_frames_and_truncated_handshakes_close_only_that_connection() {
    let office = Office::joined(2);
    let addr = office.nodes[0].addr;

    // A length prefix far over any handshake message.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0xFF, 0xFF, 0, 0, 0]).unwrap();
    expect_closed(&mut s);

    // Not Noise at all.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"\x00\x20GET / HTTP/1.1\r\nHost: x\r\n\r\n\0\0\0\0\0")
        .unwrap();
    expect_closed(&mut s);

    // A first handshake message cut short, then the socket closed.
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(&[0, 32, 1, 2, 3, 4, 5]).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    expect_closed(&mut s);

    // Authenticated, then a frame that does not decrypt.
    let mut s = authenticated_garbage(addr, &office.dir.path().join("cluster.key"));
    expect_closed(&mut s);

    let c = counters(&office, 0);
    assert!(c["oversized_frames"].as_u64().unwrap() >= 1, "{c}");
    assert!(c["handshakes_refused"].as_u64().unwrap() >= 2, "{c}");
    assert!(c["bad_frames"].as_u64().unwrap() >= 1, "{c}");

    // Still serving: both nodes alive and a write reaches both.
    office.wait_status(0, Duration::from_secs(10), |d| {
        node_names(d) == ["n0", "n1"]
    });
    let out = office.observer_cmd(&["set", "target", "hall", "18", "--wait", "converged"], 0);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    office.wait_status(1, Duration::from_secs(10), |d| {
        target(d, "hall") == Some(18.0)
    });
}
