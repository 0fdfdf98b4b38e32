//! A hostile member against a real office: a peer that holds the cluster
//! key and a real identity (some of them even on the operators list) sends
//! well-formed, validly encrypted messages crafted with the library's own
//! types — forged writes, out-of-range targets, causal claims on other
//! replicas' futures, tombstones for others' entries, writes by observers
//! who may not write, clock reports for nodes nobody knows. Every node
//! refuses each one and counts it by kind (`officemesh_writes_rejected`
//! on its metrics endpoint), and each victim's next genuine write still
//! reaches every node.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use officemesh::NodeId;
use officemesh::crdt::anti_entropy::encode_answer_body;
use officemesh::crdt::{
    CausalContext, Delta, Dot, Interface, NodeInfo, OfficeState, Quantity, Reading, SensorId,
    TargetKey, TargetValue, Unit, WriteKey, WriteProof, Writer,
};
use officemesh::wire::hyparview::{self, Priority};
use officemesh::wire::payload::Payload;
use officemesh::wire::plumtree::{self, MessageId};
use officemesh::wire::{Message, Role, observer, sync};
use serde_json::Value;
use support::raw_peer::RawPeer;
use support::{BIN, Office, free_port, node_names, read_cluster_key, target};

/// Nodes in the office.
const NODES: usize = 4;
/// Anti-entropy period of the test nodes.
const AE_MS: u64 = 500;
/// A key on the operators list, held by a hostile member: even a listed
/// operator proves only its own writes.
const MALLORY: [u8; 32] = [0x4d; 32];
/// Another listed operator's key in hostile hands, used as an observer.
const EVE: [u8; 32] = [0x45; 32];
/// A member that is no operator.
const BOB: [u8; 32] = [0x42; 32];
/// An observer that is no operator.
const CAROL: [u8; 32] = [0x43; 32];
/// The counter every causal claim below pretends a victim reached.
const FAR: u64 = 1 << 62;
/// The forged MAC of the victim node's entry.
const FORGED_MAC: &str = "de:ad:be:ef:00:01";
/// The forged reading of the victim node's thermometer.
const FORGED_READING: f64 = 99.0;

struct Hostile {
    office: Office,
    /// Each node's metrics endpoint.
    metrics: Vec<SocketAddr>,
    psk: [u8; 32],
    /// The honest operator (`set` through the office's observer directory).
    alice: NodeId,
    /// The victim node, `n1`.
    victim: NodeId,
    /// Every node's id, by index.
    ids: Vec<NodeId>,
    /// Values alice sets, one per check.
    next_value: f64,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The id and the public key `officemesh whoami` prints for the observer
/// identity in `dir`.
fn whoami(dir: &Path, name: &str) -> (NodeId, String) {
    let out = Command::new(BIN)
        .args(["whoami", "--name", name, "--observer-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("id:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let key = text
        .lines()
        .find_map(|l| l.strip_prefix("key = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    (id, key)
}

/// The body of `GET /metrics` at `addr`.
fn scrape(addr: SocketAddr) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200 ").then(|| body.to_string())
}

/// Every `officemesh_writes_rejected_total` counter of one node, by reason.
fn rejected(addr: SocketAddr) -> BTreeMap<String, u64> {
    let body = scrape(addr).unwrap_or_else(|| panic!("no metrics at {addr}"));
    body.lines()
        .filter_map(|l| l.strip_prefix("officemesh_writes_rejected_total{reason=\""))
        .filter_map(|l| {
            let (reason, rest) = l.split_once("\"}")?;
            Some((reason.to_string(), rest.trim().parse().ok()?))
        })
        .collect()
}

/// The count of `kind`, or of any of several kinds given as `a|b`.
fn count(counters: &BTreeMap<String, u64>, kind: &str) -> u64 {
    kind.split('|')
        .map(|k| counters.get(k).copied().unwrap_or(0))
        .sum()
}

impl Hostile {
    fn start() -> Hostile {
        let mut office = Office::new();
        let (alice, alice_key) = whoami(&office.dir.path().join("observer"), "alice");
        let operator = |name: &str, seed: [u8; 32]| {
            format!(
                "[[cluster.operators]]\nname = \"{name}\"\nkey = \"{}\"\n",
                WriteKey::from_seed(seed).public().to_hex()
            )
        };
        office.extra_config = format!(
            "[gossip]\nanti_entropy_period_ms = {AE_MS}\n\
             [targets.temperature]\nmin = 10.0\nmax = 25.0\nstep = 0.5\n\
             [[sensor]]\nkind = \"simulated\"\nname = \"thermometer\"\ninterval = 1\nheartbeat = 1\n\
             [simulated_room]\n\
             [[cluster.operators]]\nname = \"alice\"\nkey = \"{alice_key}\"\n{}{}",
            operator("mallory", MALLORY),
            operator("eve", EVE),
        );
        let mut metrics = Vec::new();
        for _ in 0..NODES {
            let i = office.add_stopped("cluster.key");
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let mut text = std::fs::read_to_string(&office.nodes[i].config).unwrap();
            text.push_str(&format!("[metrics]\nlisten = \"{addr}\"\n"));
            std::fs::write(&office.nodes[i].config, text).unwrap();
            office.start(i);
            metrics.push(addr);
        }
        let names: Vec<String> = (0..NODES).map(|i| format!("n{i}")).collect();
        let mut docs = Vec::new();
        for i in 0..NODES {
            docs.push(office.wait_status(i, Duration::from_secs(30), |d| node_names(d) == names));
        }
        let ids: Vec<NodeId> = (0..NODES)
            .map(|i| {
                let name = format!("n{i}");
                let n = docs[0]["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|n| n["name"] == name.as_str())
                    .unwrap();
                n["id"].as_str().unwrap().parse().unwrap()
            })
            .collect();
        let psk = read_cluster_key(&office.dir.path().join("cluster.key"));
        Hostile {
            victim: ids[1],
            ids,
            metrics,
            psk,
            alice,
            office,
            next_value: 18.0,
        }
    }

    /// Every node's rejection counters.
    fn counters(&self) -> Vec<BTreeMap<String, u64>> {
        self.metrics.iter().map(|m| rejected(*m)).collect()
    }

    /// Runs `attack` and waits until every node counted at least `n` more
    /// rejections of each `kind`.
    /// What `attack` returns (its connections) stays open until then, so
    /// nothing it sent is lost to a connection closed early.
    fn expect_refused<T>(&self, kinds: &[(&str, u64)], attack: impl FnOnce(&Hostile) -> T) {
        let before = self.counters();
        let _open = attack(self);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let after = self.counters();
            let (b_all, a_all) = (&before, &after);
            let short: Vec<String> = (0..NODES)
                .flat_map(|i| {
                    kinds.iter().filter_map(move |&(kind, n)| {
                        let (b, a) = (count(&b_all[i], kind), count(&a_all[i], kind));
                        (a < b + n).then(|| format!("n{i} {kind}: {b} → {a}, wanted +{n}"))
                    })
                })
                .collect();
            if short.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not refused and counted everywhere: {short:?}\nbefore {before:?}\nafter {after:?}\n\
                 n0's log ends:\n{}",
                tail(&self.office.log(0), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The victims' next genuine writes still reach every node: alice sets
    /// `zone-1` and it converges and shows everywhere; the victim node's
    /// thermometer reading taken after now shows everywhere. And nothing
    /// forged shows anywhere.
    fn victims_still_heard(&mut self) {
        let since = wall_ms();
        let value = self.next_value;
        self.next_value += 0.5;
        let config = self.office.nodes[0].config.to_str().unwrap().to_string();
        let text = value.to_string();
        let out = self.office.observer_cmd(
            &[
                "set",
                "target",
                "zone-1",
                &text,
                "--wait",
                "converged",
                "--timeout",
                "20",
                "--config",
                &config,
            ],
            2,
        );
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success() && said.contains(&format!("converged: {NODES}/{NODES}")),
            "alice's write: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let victim = self.victim.to_string();
        let office = &self.office;
        std::thread::scope(|s| {
            for i in 0..NODES {
                let victim = &victim;
                s.spawn(move || {
                    let doc = office.wait_status(i, Duration::from_secs(20), |d| {
                        target(d, "zone-1") == Some(value) && reading_at(d, victim) > since
                    });
                    assert_nothing_forged(&doc, victim);
                });
            }
        });
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// When the newest thermometer reading of `node` shown in `doc` was taken.
fn reading_at(doc: &Value, node: &str) -> u64 {
    doc["sensors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["node"] == node)
        .filter_map(|s| s["measured_at_ms"].as_u64())
        .max()
        .unwrap_or(0)
}

/// Nothing any attack below sent shows in `doc`.
fn assert_nothing_forged(doc: &Value, victim: &str) {
    assert_eq!(
        node_names(doc),
        (0..NODES).map(|i| format!("n{i}")).collect::<Vec<_>>()
    );
    for n in doc["nodes"].as_array().unwrap() {
        for i in n["interfaces"].as_array().into_iter().flatten() {
            assert_ne!(i["mac"], FORGED_MAC, "a forged entry: {n:#}");
        }
    }
    for s in doc["sensors"].as_array().unwrap() {
        if s["node"] == victim {
            assert_ne!(s["value"].as_f64(), Some(FORGED_READING), "{s:#}");
        }
    }
    for t in doc["targets"].as_array().unwrap() {
        for s in t["siblings"].as_array().unwrap() {
            assert_eq!(s["set_by"], "alice", "a target not by alice: {t:#}");
            let v = s["value"].as_f64().unwrap();
            assert!((10.0..=25.0).contains(&v), "{t:#}");
        }
    }
}

/// The hostile member's own replica: a local state it crafts writes in.
struct Crafter {
    state: OfficeState,
}

impl Crafter {
    fn new() -> Self {
        Crafter {
            state: OfficeState::new(),
        }
    }

    fn target(&mut self, writer: &mut Writer, zone: &str, value: f32, by: &str) -> Delta {
        self.state
            .set_target(
                writer,
                wall_ms(),
                TargetKey::new(zone, Quantity::Temperature),
                TargetValue {
                    value,
                    unit: Unit::Celsius,
                    set_by: by.into(),
                },
            )
            .delta
    }

    /// `author`'s target on `zone` whose context claims each victim's
    /// counter `FAR`, signed by `author` (who may sign what it likes).
    fn claiming(&mut self, author: [u8; 32], zone: &str, victims: &[NodeId]) -> Delta {
        for &v in victims {
            // The victim's write only lands in the local state, so the
            // author's write replaces it and says so under its signature.
            let mut forger = Writer::forging(v, WriteKey::from_seed([0x66; 32]));
            forger.raise_counter(FAR - 1);
            self.target(&mut forger, zone, 20.0, "x");
        }
        let name = if author == MALLORY { "mallory" } else { "eve" };
        let mut writer = Writer::signing(WriteKey::from_seed(author)).carry_key();
        self.target(&mut writer, zone, 21.0, name)
    }
}

fn id_of(seed: [u8; 32]) -> NodeId {
    WriteKey::from_seed(seed).id()
}

/// A node-role link from `seed` into `addr`'s active view.
fn member(h: &Hostile, node: usize, seed: [u8; 32]) -> RawPeer {
    let mut peer = RawPeer::connect_as(h.office.nodes[node].addr, &h.psk, seed, Role::Node);
    // The node's Hello: it has taken the link.
    assert!(matches!(peer.recv(), Some(Message::Hello(_))));
    peer.send_message(&Message::Membership(hyparview::Message::Neighbor {
        priority: Priority::High,
    }));
    peer
}

/// Broadcasts `delta` as `origin`'s broadcast number `seq`.
fn gossip(peer: &mut RawPeer, origin: NodeId, seq: u64, delta: &Delta) {
    let payload = Payload::Delta(Bytes::from(delta.encode().unwrap()))
        .encode()
        .unwrap();
    peer.send_message(&Message::Broadcast(plumtree::Message::Gossip {
        id: MessageId { origin, seq },
        round: 0,
        payload,
    }));
}

/// Sends `delta` as an observer's write request and returns the node's
/// refusal (panics if it stored the write).
fn observer_write(peer: &mut RawPeer, request: u64, delta: &Delta) -> String {
    peer.send_message(&Message::Observer(observer::Message::Write {
        request,
        delta: Bytes::from(delta.encode().unwrap()),
    }));
    loop {
        match peer.recv() {
            Some(Message::Observer(observer::Message::Rejected { request: r, reason }))
                if r == request =>
            {
                return reason;
            }
            Some(Message::Observer(
                m @ (observer::Message::Stored { .. } | observer::Message::NotStored { .. }),
            )) => panic!("the write was admitted: {m:?}"),
            Some(_) => {}
            None => panic!("no answer to the write"),
        }
    }
}

/// A proof of `dot` that is no signature of its author's.
fn forged_proof(dot: Dot) -> WriteProof {
    let bytes = postcard::to_stdvec(&(dot, [7u8; 32], [9u8; 32], [9u8; 32])).unwrap();
    postcard::from_bytes(&bytes).unwrap()
}

#[test]
fn a_hostile_member_is_refused_everywhere_and_its_victims_are_still_heard() {
    let started = Instant::now();
    let mut h = Hostile::start();
    h.victims_still_heard();
    let mallory = id_of(MALLORY);
    let mut seq = 0;
    let mut next = || {
        seq += 1;
        seq
    };

    // Another node's entry and reading: the victim's dots, Mallory's
    // signature. (The victim itself holds no key of its own to check them
    // against, its own writes being checked by no one: it refuses them
    // as signed by no key it knows.)
    h.expect_refused(&[("bad_signature|unknown_signer", 2)], |h| {
        let mut c = Crafter::new();
        let mut forger = Writer::forging(h.victim, WriteKey::from_seed(MALLORY));
        forger.raise_counter(1_000);
        let entry = c
            .state
            .announce_node(
                &mut forger,
                wall_ms(),
                NodeInfo {
                    name: "n1".into(),
                    zone: "zone-1".into(),
                    role: Role::Node,
                    version: "0.1.0".into(),
                    interfaces: vec![Interface {
                        name: "eth0".into(),
                        mac: [0xde, 0xad, 0xbe, 0xef, 0x00, 0x01],
                        ipv4: vec!["10.66.66.66".parse().unwrap()],
                        ipv6: vec![],
                    }],
                    failed_sensors: vec![],
                    neighbours: vec![],
                    cluster_keys: vec![],
                },
            )
            .delta;
        let reading = c
            .state
            .publish_reading(
                &mut forger,
                wall_ms(),
                SensorId {
                    quantity: Quantity::Temperature,
                    index: 0,
                },
                Reading {
                    value: FORGED_READING as f32,
                    unit: Unit::Celsius,
                },
            )
            .delta;
        let mut peer = member(h, 0, MALLORY);
        gossip(&mut peer, mallory, next(), &entry);
        gossip(&mut peer, mallory, next(), &reading);
        peer
    });
    h.victims_still_heard();

    // A target under another replica's dot: an operator's (a forged
    // signature) and a node's (which may not write targets at all).
    h.expect_refused(&[("bad_signature", 1), ("not_authorised", 1)], |h| {
        let mut c = Crafter::new();
        let mut as_alice = Writer::forging(h.alice, WriteKey::from_seed(MALLORY));
        as_alice.raise_counter(1_000);
        let alices = c.target(&mut as_alice, "zone-0", 24.0, "alice");
        let mut as_node = Writer::forging(h.ids[2], WriteKey::from_seed(MALLORY));
        as_node.raise_counter(1_000);
        let nodes = c.target(&mut as_node, "zone-2", 24.0, "alice");
        let mut peer = member(h, 0, MALLORY);
        gossip(&mut peer, mallory, next(), &alices);
        gossip(&mut peer, mallory, next(), &nodes);
        peer
    });

    // An out-of-range target under any dot: Mallory's own, alice's.
    h.expect_refused(&[("target_out_of_range", 2)], |h| {
        let mut c = Crafter::new();
        let mut own = Writer::signing(WriteKey::from_seed(MALLORY)).carry_key();
        let high = c.target(&mut own, "zone-2", 40.0, "mallory");
        let mut as_alice = Writer::forging(h.alice, WriteKey::from_seed(MALLORY));
        as_alice.raise_counter(2_000);
        let low = c.target(&mut as_alice, "zone-3", 5.0, "alice");
        let mut peer = member(h, 0, MALLORY);
        gossip(&mut peer, mallory, next(), &high);
        gossip(&mut peer, mallory, next(), &low);
        peer
    });
    h.victims_still_heard();

    // A context claiming counter 2^62 of the victim node and of alice, by
    // broadcast, in a write Mallory really signed.
    h.expect_refused(&[("unproven_claim", 1)], |h| {
        let poison = Crafter::new().claiming(MALLORY, "zone-1", &[h.victim, h.alice]);
        let mut peer = member(h, 0, MALLORY);
        gossip(&mut peer, mallory, next(), &poison);
        peer
    });
    h.victims_still_heard();

    // The same claim by anti-entropy answer, sent to every node, with a
    // forged proof of the claimed write and the claimed dots vouched for
    // as seen (in a second answer with no register at all, too).
    h.expect_refused(&[("unproven_claim", 1), ("bad_proof", 1)], |h| {
        let poison = Crafter::new().claiming(MALLORY, "zone-1", &[h.victim, h.alice]);
        let mut seen = CausalContext::new();
        seen.insert(Dot::new(h.victim, FAR));
        seen.insert(Dot::new(h.alice, FAR));
        let proofs = vec![
            forged_proof(Dot::new(h.victim, FAR)),
            forged_proof(Dot::new(h.alice, FAR)),
        ];
        let mut peers = Vec::new();
        for node in 0..NODES {
            let mut peer = member(h, node, MALLORY);
            for (round, body) in [
                encode_answer_body(poison.clone(), Some(seen.clone()), proofs.clone()),
                encode_answer_body(Delta::default(), Some(seen.clone()), Vec::new()),
            ]
            .into_iter()
            .enumerate()
            {
                peer.send_message(&Message::Sync(sync::Message::Answer {
                    round: round as u32,
                    part: 0,
                    last: true,
                    body: Bytes::from(body.unwrap()),
                }));
            }
            peers.push(peer);
        }
        peers
    });
    h.victims_still_heard();

    // The same claim inside an operator's observer write, to every node.
    h.expect_refused(&[("unproven_claim", 1)], |h| {
        let poison = Crafter::new().claiming(EVE, "zone-1", &[h.victim, h.alice]);
        for node in 0..NODES {
            let mut peer =
                RawPeer::connect_as(h.office.nodes[node].addr, &h.psk, EVE, Role::Observer);
            let reason = observer_write(&mut peer, 1, &poison);
            assert!(reason.contains("proven"), "{reason}");
        }
    });
    h.victims_still_heard();

    // A tombstone for the victim's entry by a member that is no operator.
    h.expect_refused(&[("not_authorised", 1)], |h| {
        let mut c = Crafter::new();
        let mut as_victim = Writer::forging(h.victim, WriteKey::from_seed(BOB));
        let entry = c.state.announce_node(
            &mut as_victim,
            wall_ms(),
            NodeInfo {
                name: "n1".into(),
                zone: "zone-1".into(),
                role: Role::Node,
                version: "0.1.0".into(),
                interfaces: vec![],
                failed_sensors: vec![],
                neighbours: vec![],
                cluster_keys: vec![],
            },
        );
        assert_eq!(entry.dot.counter, 1);
        let mut bob = Writer::signing(WriteKey::from_seed(BOB)).carry_key();
        let tombstone = c.state.forget_node(&mut bob, wall_ms(), h.victim);
        assert_eq!(tombstone.len(), 1);
        let mut peer = member(h, 0, BOB);
        gossip(&mut peer, id_of(BOB), 1, &tombstone);
        peer
    });

    // A write by an observer that is no operator, to every node.
    h.expect_refused(&[("not_authorised", 1)], |h| {
        let mut carol = Writer::signing(WriteKey::from_seed(CAROL)).carry_key();
        let write = Crafter::new().target(&mut carol, "zone-0", 22.0, "carol");
        for node in 0..NODES {
            let mut peer =
                RawPeer::connect_as(h.office.nodes[node].addr, &h.psk, CAROL, Role::Observer);
            let reason = observer_write(&mut peer, 7, &write);
            assert!(reason.contains("may not write"), "{reason}");
        }
    });
    h.victims_still_heard();

    // Clock reports for a node nobody knows, sent to the node alice
    // watches through while she waits for convergence: that node refuses
    // them (counted as foreign reports) and she still counts only the
    // nodes her replica knows (`victims_still_heard` asks for
    // "converged: 4/4").
    let before = rejected(h.metrics[2]);
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let stop = stop.clone();
        let mut peer = member(&h, 2, MALLORY);
        std::thread::spawn(move || {
            let ghost = NodeId(0x0bad_0bad_0bad_0bad);
            let report = Payload::ClockReport {
                node: ghost,
                full: true,
                entries: vec![(ghost, 3)],
            }
            .encode()
            .unwrap();
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                peer.send_message(&Message::Observer(observer::Message::ClockReport(
                    report.clone(),
                )));
                sent += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    h.victims_still_heard();
    stop.store(true, Ordering::Relaxed);
    let reports = reporter.join().unwrap();
    assert!(reports > 10, "{reports} reports sent");
    // The node they were sent to passes on only a node's own reports.
    let after = rejected(h.metrics[2]);
    assert!(
        count(&after, "foreign_report") > count(&before, "foreign_report"),
        "{before:?} → {after:?}"
    );

    println!(
        "hostile member: every attack refused on all {NODES} nodes in {:.1} s; counters {:?}",
        started.elapsed().as_secs_f64(),
        h.counters()
    );
}
