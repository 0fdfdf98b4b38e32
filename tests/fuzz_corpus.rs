//! The fuzzers' seed corpora, made from real encoded messages, and a check
//! that every committed seed still goes through the decoders it seeds.
//!
//! Regenerate the seeds (after a wire change) with:
//!
//! ```text
//! OFFICEMESH_WRITE_FUZZ_CORPUS=1 cargo test --test fuzz_corpus
//! ```
//!
//! which writes `fuzz/corpus/<target>/seed-*`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::Bytes;
use officemesh::NodeId;
use officemesh::Time;
use officemesh::config::Config;
use officemesh::crdt::anti_entropy::{self, Input, Output};
use officemesh::crdt::{
    AntiEntropy, Delta, OfficeState, Quantity, Reading, SensorId, TargetKey, TargetValue, Writer,
};
use officemesh::net::{NOISE_PATTERN, NOISE_PROLOGUE};
use officemesh::wire::hyparview::{self, Priority};
use officemesh::wire::payload::Payload;
use officemesh::wire::plumtree::{self, MessageId};
use officemesh::wire::{
    self, FrameDecoder, Hello, MAX_FRAME_LEN, Message, PROTOCOL_VERSION, PeerInfo, Role, observer,
    sync,
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

/// Two replicas' states, each with writes of its own.
fn two_offices() -> (OfficeState, OfficeState, Vec<Delta>) {
    let unit = Quantity::Temperature.default_unit();
    let mut deltas = Vec::new();
    let mut a = OfficeState::new();
    let mut wa = Writer::new(NodeId(1));
    deltas.push(
        a.set_target(
            &mut wa,
            1_000,
            TargetKey::new("office", Quantity::Temperature),
            TargetValue {
                value: 21.5,
                unit,
                set_by: "alice@pi-1".into(),
            },
        )
        .delta,
    );
    deltas.push(
        a.publish_reading(
            &mut wa,
            2_000,
            SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            },
            Reading { value: 20.25, unit },
        )
        .delta,
    );
    let mut b = OfficeState::new();
    let mut wb = Writer::new(NodeId(2));
    deltas.push(
        b.set_target(
            &mut wb,
            1_500,
            TargetKey::new("office", Quantity::Temperature),
            TargetValue {
                value: 19.0,
                unit,
                set_by: "bob@pi-2".into(),
            },
        )
        .delta,
    );
    deltas.push(
        b.publish_reading(
            &mut wb,
            2_500,
            SensorId {
                quantity: Quantity::Humidity,
                index: 1,
            },
            Reading {
                value: 41.0,
                unit: Quantity::Humidity.default_unit(),
            },
        )
        .delta,
    );
    (a, b, deltas)
}

/// Every sync message of a real anti-entropy exchange between two replicas:
/// the digests sent when they become neighbours, the answers, then a
/// periodic round's summary.
fn sync_exchange() -> Vec<sync::Message> {
    let (mut a, mut b, _) = two_offices();
    let (ida, idb) = (NodeId(1), NodeId(2));
    let mut ma = AntiEntropy::new(anti_entropy::Config::default(), 1);
    let mut mb = AntiEntropy::new(anti_entropy::Config::default(), 2);
    let now = Time::from_millis(0);
    let mut out = Vec::new();
    let mut queue = Vec::new();
    ma.handle(now, &mut a, Input::NeighborUp(idb), &mut out);
    let round = out
        .iter()
        .find_map(|o| match o {
            Output::Schedule { timer, .. } => Some(*timer),
            _ => None,
        })
        .expect("the first neighbour arms the round timer");
    queue.extend(sends(ida, &mut out));
    mb.handle(now, &mut b, Input::NeighborUp(ida), &mut out);
    queue.extend(sends(idb, &mut out));
    let mut seen = Vec::new();
    for phase in 0..2 {
        if phase == 1 {
            ma.handle(now, &mut a, Input::TimerFired(round), &mut out);
            queue.extend(sends(ida, &mut out));
        }
        while let Some((from, to, msg)) = queue.pop() {
            seen.push(msg.clone());
            assert!(seen.len() < 100, "the exchange ends");
            let (m, s) = if to == ida {
                (&mut ma, &mut a)
            } else {
                (&mut mb, &mut b)
            };
            m.handle(now, s, Input::Message { from, msg }, &mut out);
            queue.extend(sends(to, &mut out));
        }
    }
    assert_eq!(
        a.version_vector(),
        b.version_vector(),
        "the exchange converged"
    );
    seen
}

fn sends(from: NodeId, out: &mut Vec<Output>) -> Vec<(NodeId, NodeId, sync::Message)> {
    out.drain(..)
        .filter_map(|o| match o {
            Output::Send { to, msg } => Some((from, to, msg)),
            _ => None,
        })
        .collect()
}

fn peer(id: u64) -> PeerInfo {
    PeerInfo {
        id: NodeId(id),
        addr: format!("10.0.0.{id}:7946").parse().unwrap(),
    }
}

/// One of every kind of message a node sends, with real payloads.
fn messages() -> Vec<Message> {
    let (_, _, deltas) = two_offices();
    let delta = Bytes::from(deltas[0].encode().unwrap());
    let payload = Payload::Delta(delta.clone()).encode().unwrap();
    let id = MessageId {
        origin: NodeId(1),
        seq: 7,
    };
    let mut msgs = vec![
        Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            role: Role::Node,
            listen_port: 7946,
        }),
        Message::Membership(hyparview::Message::Join { node: peer(1) }),
        Message::Membership(hyparview::Message::ForwardJoin {
            node: peer(2),
            ttl: 6,
        }),
        Message::Membership(hyparview::Message::Neighbor {
            priority: Priority::High,
        }),
        Message::Membership(hyparview::Message::NeighborReply { accepted: true }),
        Message::Membership(hyparview::Message::Shuffle {
            origin: peer(3),
            ttl: 5,
        }),
        Message::Membership(hyparview::Message::ShuffleReply {
            nodes: vec![peer(4), peer(5)],
            answer: true,
        }),
        Message::Broadcast(plumtree::Message::Gossip {
            id,
            round: 2,
            payload: payload.clone(),
        }),
        Message::Broadcast(plumtree::Message::IHave { ids: vec![(id, 1)] }),
        Message::Broadcast(plumtree::Message::Graft {
            ids: vec![id],
            resend: true,
        }),
        Message::Broadcast(plumtree::Message::Prune {
            origins: vec![id.origin],
        }),
        Message::Flood(wire::flood::Message::Flood {
            id,
            hops: 1,
            payload,
        }),
    ];
    msgs.extend(observer_messages().into_iter().map(Message::Observer));
    msgs.extend(sync_exchange().into_iter().map(Message::Sync));
    msgs
}

fn payloads() -> Vec<Payload> {
    let (_, _, deltas) = two_offices();
    let mut p: Vec<Payload> = deltas
        .iter()
        .map(|d| Payload::Delta(Bytes::from(d.encode().unwrap())))
        .collect();
    p.push(Payload::Watch {
        until_ms_from_now: 30_000,
        via: peer(3),
    });
    p.push(Payload::ClockReport {
        node: NodeId(3),
        full: true,
        entries: vec![(NodeId(1), 4), (NodeId(3), 12)],
    });
    p
}

fn observer_messages() -> Vec<observer::Message> {
    let (_, _, deltas) = two_offices();
    let report = Payload::ClockReport {
        node: NodeId(3),
        full: false,
        entries: vec![(NodeId(1), 4)],
    };
    vec![
        observer::Message::Write {
            request: 1,
            delta: Bytes::from(deltas[0].encode().unwrap()),
        },
        observer::Message::Stored { request: 1 },
        observer::Message::Rejected {
            request: 2,
            reason: "temperature target 35 is outside the allowed range".into(),
        },
        observer::Message::ClockReport(report.encode().unwrap()),
        observer::Message::NotStored {
            request: 3,
            reason: "disk full".into(),
            sent_to: 2,
        },
        observer::Message::Admitted(
            Payload::Delta(Bytes::from(deltas[1].encode().unwrap()))
                .encode()
                .unwrap(),
        ),
    ]
}

fn framed(bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in bodies {
        wire::push_frame(&mut out, b).unwrap();
    }
    out
}

/// A real initiator's first handshake message, framed as on the socket.
fn noise_first_message() -> Vec<u8> {
    let keys = snow::Builder::new(NOISE_PATTERN.parse().unwrap())
        .generate_keypair()
        .unwrap();
    let mut hs = snow::Builder::new(NOISE_PATTERN.parse().unwrap())
        .local_private_key(&keys.private)
        .unwrap()
        .psk(3, &[9; 32])
        .unwrap()
        .prologue(NOISE_PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut msg = [0u8; 256];
    let len = hs.write_message(&[], &mut msg).unwrap();
    framed(&[msg[..len].to_vec()])
}

/// Every seed, by fuzz target.
fn seeds() -> BTreeMap<&'static str, Vec<Vec<u8>>> {
    let enc = |m: &Message| wire::encode_message(m).unwrap();
    let msgs = messages();
    let bodies: Vec<Vec<u8>> = msgs.iter().map(enc).collect();
    let mut stream = vec![7u8]; // the chunk size the frame_reader target splits by
    stream.extend(framed(&bodies));
    let sync_bodies: Vec<Vec<u8>> = sync_exchange()
        .iter()
        .map(|m| wire::encode_message(m).unwrap())
        .collect();
    let (_, _, deltas) = two_offices();
    let example_config =
        std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config.example.toml"))
            .unwrap();
    let mut s = BTreeMap::new();
    s.insert("frame_reader", vec![stream]);
    s.insert("wire_message", bodies);
    s.insert(
        "payload",
        payloads()
            .iter()
            .map(|p| p.encode().unwrap().to_vec())
            .collect(),
    );
    s.insert(
        "observer_message",
        observer_messages()
            .iter()
            .map(|m| wire::encode_message(m).unwrap())
            .collect(),
    );
    s.insert("sync_message", sync_bodies.clone());
    s.insert(
        "delta_apply",
        deltas.iter().map(|d| d.encode().unwrap()).collect(),
    );
    s.insert("anti_entropy", vec![framed(&sync_bodies)]);
    s.insert(
        "config",
        vec![
            example_config,
            b"[node]\nname = \"pi-1\"\nzone = \"office\"\n[cluster]\nseeds = [\"10.0.0.2:7946\"]\n"
                .to_vec(),
        ],
    );
    s.insert("noise_responder", vec![noise_first_message()]);
    // Each frame: a control byte (link: even the neighbour, odd the
    // observer; the rest, time passing) and a message body.
    let to_replica: Vec<Vec<u8>> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let observer = matches!(m, Message::Observer(_));
            let mut f = vec![(i as u8 % 8) << 1 | u8::from(observer)];
            f.extend(enc(m));
            f
        })
        .collect();
    s.insert("replica_frames", vec![framed(&to_replica)]);
    s
}

#[test]
fn seeds_are_real_messages_and_are_written_on_request() {
    let seeds = seeds();
    // The seeds decode as what they claim to be.
    let mut frames = FrameDecoder::new(MAX_FRAME_LEN);
    frames.extend(&seeds["frame_reader"][0][1..]);
    let mut n = 0;
    while let Some(m) = frames.next_message().unwrap() {
        assert_eq!(m, messages()[n]);
        n += 1;
    }
    assert_eq!(n, messages().len());
    for b in &seeds["delta_apply"] {
        Delta::decode(b).unwrap();
    }
    for b in &seeds["config"] {
        Config::parse(std::str::from_utf8(b).unwrap(), "seed.toml".as_ref()).unwrap();
    }
    assert!(seeds["sync_message"].len() >= 3, "a real exchange");

    if std::env::var_os("OFFICEMESH_WRITE_FUZZ_CORPUS").is_some() {
        for (target, list) in &seeds {
            let dir = corpus_dir().join(target);
            std::fs::create_dir_all(&dir).unwrap();
            for (i, bytes) in list.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i:02}")), bytes).unwrap();
            }
        }
    }
}

/// Every committed seed and every regression input in the corpus goes
/// through the decoders without a panic (the fuzz targets' contract, run
/// by `cargo test` without libFuzzer).
#[test]
fn committed_corpus_goes_through_the_decoders() {
    let read = |target: &str| -> Vec<Vec<u8>> {
        let dir = corpus_dir().join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    };
    let mut total = 0;
    for body in read("wire_message") {
        let _ = wire::decode_message::<Message>(&body);
        total += 1;
    }
    for body in read("sync_message") {
        let _ = wire::decode_message::<sync::Message>(&body);
        total += 1;
    }
    for body in read("observer_message") {
        let _ = wire::decode_message::<observer::Message>(&body);
        total += 1;
    }
    for body in read("payload") {
        let _ = Payload::decode(&body);
        total += 1;
    }
    for body in read("delta_apply") {
        if let Ok(d) = Delta::decode(&body) {
            OfficeState::new().apply(&d);
        }
        total += 1;
    }
    for body in read("config") {
        if let Ok(text) = std::str::from_utf8(&body) {
            let _ = Config::parse(text, "corpus.toml".as_ref());
        }
        total += 1;
    }
    for stream in read("frame_reader") {
        let mut frames = FrameDecoder::new(MAX_FRAME_LEN);
        frames.extend(stream.get(1..).unwrap_or_default());
        while let Ok(Some(_)) = frames.next_message() {}
        total += 1;
    }
    assert!(total > 0, "the corpus is committed under fuzz/corpus");
}
