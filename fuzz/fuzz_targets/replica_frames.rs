//! A node's whole replica core fed a neighbour's and an observer's frames:
//! every message kind on every route (broadcast deliveries, anti-entropy
//! digests and answers, observer writes, Watch leases, clock reports),
//! with time passing and commits landing in between. Admission answers or
//! refuses; the core never panics and its state still encodes.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use officemesh::config::TargetsSection;
use officemesh::crdt::anti_entropy;
use officemesh::crdt::{NodeInfo, OfficeState, Writer};
use officemesh::replica::{Config, Input, LinkId, Output, Replica};
use officemesh::wire::{FrameDecoder, MAX_FRAME_LEN, Message, PeerInfo, Role, decode_message};
use officemesh::{NodeId, Time};

const WALL: u64 = 1_800_000_000_000;

fn peer(id: u64) -> PeerInfo {
    PeerInfo {
        id: NodeId(id),
        addr: format!("10.0.0.{id}:7946").parse().expect("an address"),
    }
}

fn replica() -> Replica {
    let config = Config {
        me: peer(1),
        info: NodeInfo {
            name: "n1".into(),
            zone: "lab".into(),
            role: Role::Node,
            version: "0".into(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys: Vec::new(),
        },
        seeds: Vec::new(),
        remembered: Vec::new(),
        overlay: officemesh::proto::Config::default(),
        anti_entropy: anti_entropy::Config::default(),
        targets: TargetsSection::default(),
        seed: 1,
        reserved_dots: 1 << 20,
        tombstone_grace: Duration::from_secs(3600),
        skipped: None,
        trust: Default::default(),
    };
    Replica::new(config, OfficeState::new(), Writer::new(NodeId(1)))
}

fuzz_target!(|data: &[u8]| {
    let mut r = replica();
    let mut now = Time::from_millis(1);
    let mut out = Vec::new();
    let feed = |r: &mut Replica, now: Time, input: Input, out: &mut Vec<Output>| {
        out.clear();
        r.handle(now, WALL + now.as_millis(), input, out);
        // Every commit lands at once, so acknowledgements are exercised.
        let landed: Vec<u64> = out
            .iter()
            .filter_map(|o| match o {
                Output::Persist(job) => Some(job.token),
                _ => None,
            })
            .collect();
        for token in landed {
            let mut more = Vec::new();
            r.handle(
                now,
                WALL + now.as_millis(),
                Input::Persisted {
                    token,
                    result: Ok(()),
                },
                &mut more,
            );
        }
    };
    feed(&mut r, now, Input::Start, &mut out);
    let node_link = LinkId(1);
    let observer_link = LinkId(2);
    feed(
        &mut r,
        now,
        Input::LinkUp {
            peer: peer(2),
            role: Role::Node,
            outbound: false,
            link: node_link,
        },
        &mut out,
    );
    feed(
        &mut r,
        now,
        Input::LinkUp {
            peer: PeerInfo {
                id: NodeId(3),
                addr: "10.0.0.3:0".parse().expect("an address"),
            },
            role: Role::Observer,
            outbound: false,
            link: observer_link,
        },
        &mut out,
    );
    // Each frame: one byte choosing the link and how much time passes,
    // then one message body.
    let mut frames = FrameDecoder::new(MAX_FRAME_LEN);
    frames.extend(data);
    while let Ok(Some(frame)) = frames.next_frame() {
        let Some((&control, body)) = frame.split_first() else {
            continue;
        };
        let link = if control & 1 == 0 {
            node_link
        } else {
            observer_link
        };
        let Ok(msg) = decode_message::<Message>(body) else {
            continue;
        };
        now = now + Duration::from_millis(u64::from(control >> 1) * 100);
        feed(&mut r, now, Input::Tick, &mut out);
        feed(&mut r, now, Input::Frame { link, msg }, &mut out);
    }
    r.state().encode().expect("the state encodes");
});
