//! The replica core in virtual time: no sockets, no sleeps. Each test
//! drives one or two cores by hand and asserts on what they emit.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use super::links::IDLE_LINK;
use super::persistence::{DOT_BLOCK, KEPT_KEY};
use super::watch::{WATCH_LEASE, WATCH_RENEW};
use super::*;
use crate::crdt::{Quantity, Reading, SensorId, TargetKey, TargetValue, Unit};
use crate::wire::{observer, plumtree};

const WALL: u64 = 1_800_000_000_000;

/// Test replica `n`'s identity: a key of its own, as its key file holds.
pub(super) fn key(n: u64) -> crate::crdt::WriteKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&n.to_le_bytes());
    crate::crdt::WriteKey::from_seed(seed)
}

/// Test replica `n`'s id.
pub(super) fn nid(n: u64) -> NodeId {
    key(n).id()
}

/// A writer for test replica `n` whose writes carry its key, so a core
/// that has never seen its `Node` entry can check them.
pub(super) fn writer_of(n: u64) -> Writer {
    Writer::signing(key(n)).carry_key()
}

fn peer(id: u64) -> PeerInfo {
    PeerInfo {
        id: nid(id),
        addr: format!("10.0.0.{id}:7946").parse().unwrap(),
    }
}

fn config(id: u64) -> Config {
    Config {
        me: peer(id),
        info: NodeInfo {
            name: format!("n{id}"),
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
        overlay: proto::Config::default(),
        anti_entropy: anti_entropy::Config::default(),
        targets: TargetsSection::default(),
        seed: id,
        reserved_dots: 1 + DOT_BLOCK,
        tombstone_grace: Duration::from_secs(3600),
        skipped: None,
        trust: Default::default(),
    }
}

/// One core and a clock.
struct Harness {
    r: Replica,
    now: Time,
    out: Vec<Output>,
}

impl Harness {
    fn new(id: u64) -> Self {
        let mut h = Harness {
            r: Replica::new(config(id), OfficeState::new(), Writer::signing(key(id))),
            now: Time::from_millis(1),
            out: Vec::new(),
        };
        h.feed(Input::Start);
        h
    }

    fn feed(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.r
            .handle(self.now, WALL + self.now.as_millis(), input, &mut out);
        self.out.extend(out.iter().cloned());
        out
    }

    fn advance(&mut self, by: Duration) -> Vec<Output> {
        self.now += by;
        self.feed(Input::Tick)
    }

    fn up(&mut self, id: u64, role: Role, link: u64) -> Vec<Output> {
        self.feed(Input::LinkUp {
            peer: peer(id),
            role,
            outbound: false,
            link: LinkId(link),
        })
    }

    /// Lands every persistence job in `out`.
    fn land(&mut self, out: &[Output], result: Result<(), String>) -> Vec<Output> {
        let mut all = Vec::new();
        for o in out {
            if let Output::Persist(job) = o {
                all.extend(self.feed(Input::Persisted {
                    token: job.token,
                    result: result.clone(),
                }));
            }
        }
        all
    }

    /// Node `id` connects and joins through this one: an active neighbour.
    fn neighbour(&mut self, id: u64, link: u64) {
        self.up(id, Role::Node, link);
        self.feed(Input::Frame {
            link: LinkId(link),
            msg: Message::Membership(wire::hyparview::Message::Join { node: peer(id) }),
        });
        self.feed(Input::Frame {
            link: LinkId(link),
            msg: Message::Membership(wire::hyparview::Message::NeighborReply { accepted: true }),
        });
        assert!(
            self.r
                .overlay()
                .active_view()
                .iter()
                .any(|p| p.id == nid(id))
        );
    }

    fn target(&self, zone: &str) -> Option<f32> {
        self.r
            .state()
            .target(zone, Quantity::Temperature)
            .and_then(|r| r.winner().map(|(_, s)| s.value.value))
    }
}

/// A target write by replica `by`, as an encoded delta.
fn target_write(by: u64, zone: &str, value: f32) -> Bytes {
    let mut state = OfficeState::new();
    let mut writer = writer_of(by);
    let delta = state
        .set_target(
            &mut writer,
            WALL,
            TargetKey::new(zone, Quantity::Temperature),
            TargetValue {
                value,
                unit: Unit::Celsius,
                set_by: "t".into(),
            },
        )
        .delta;
    Bytes::from(delta.encode().unwrap())
}

fn observer_write(h: &mut Harness, link: u64, request: u64, delta: Bytes) -> Vec<Output> {
    h.feed(Input::Frame {
        link: LinkId(link),
        msg: Message::Observer(observer::Message::Write { request, delta }),
    })
}

fn replies(out: &[Output]) -> Vec<observer::Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                msg:
                    Message::Observer(
                        m @ (observer::Message::Stored { .. }
                        | observer::Message::Rejected { .. }
                        | observer::Message::NotStored { .. }),
                    ),
                ..
            } => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn gossip(origin: u64, seq: u64, payload: Payload) -> Message {
    Message::Broadcast(plumtree::Message::Gossip {
        id: plumtree::MessageId {
            origin: nid(origin),
            seq,
        },
        round: 1,
        payload: payload.encode().unwrap(),
    })
}

#[test]
fn an_observer_write_is_stored_only_once_its_commit_lands() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    let out = observer_write(&mut h, 7, 1, target_write(50, "lab", 21.0));
    assert!(replies(&out).is_empty(), "no answer before the disk");
    assert_eq!(h.target("lab"), Some(21.0), "applied at once");
    let job = out
        .iter()
        .find_map(|o| match o {
            Output::Persist(job) => Some(job.clone()),
            _ => None,
        })
        .expect("a commit for the write");
    assert!(job.puts.iter().any(|(k, _)| *k == KEPT_KEY));
    let out = h.feed(Input::Persisted {
        token: job.token,
        result: Ok(()),
    });
    assert_eq!(
        replies(&out),
        vec![observer::Message::Stored { request: 1 }]
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Targets(t) if t.len() == 1))
            || h.target("lab").is_some()
    );
}

#[test]
fn a_failed_commit_is_reported_as_not_stored_never_as_a_refusal() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    let out = observer_write(&mut h, 7, 1, target_write(50, "lab", 21.0));
    let out = h.land(&out, Err("no space left on device".into()));
    let r = replies(&out);
    assert!(
        matches!(&r[..], [observer::Message::NotStored { request: 1, reason, .. }] if reason.contains("no space")),
        "{r:?}"
    );
    // The write stays: it was admitted and may have spread.
    assert_eq!(h.target("lab"), Some(21.0));
    // The commit is tried again after the pause, and lands.
    let out = h.advance(persistence::RETRY_AFTER);
    assert!(out.iter().any(|o| matches!(o, Output::Persist(_))));
}

#[test]
fn an_out_of_range_observer_write_is_refused_and_its_dot_voided() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    let out = observer_write(&mut h, 7, 3, target_write(50, "lab", 35.0));
    assert!(
        matches!(&replies(&out)[..], [observer::Message::Rejected { request: 3, reason }] if reason.contains("outside")),
    );
    assert_eq!(h.target("lab"), None);
    assert_eq!(h.r.stats().rejected.get("target_out_of_range"), Some(&1));
    // The refused dot counts as seen: the same write by another route is old.
    assert!(h.r.state().covers(crate::crdt::Dot::new(nid(50), 1)));
    h.neighbour(2, 8);
    h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(2, 1, Payload::Delta(target_write(50, "lab", 35.0))),
    });
    assert_eq!(h.target("lab"), None);
}

/// Runs anti-entropy between two cores joined as neighbours (`a` reaches
/// `b` on `a_link`, `b` reaches `a` on `b_link`) until neither has more to
/// say, with a periodic round or two on the way.
fn sync(a: &mut Harness, a_link: u64, b: &mut Harness, b_link: u64) {
    let syncs = |out: Vec<Output>, link: u64| -> Vec<Message> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::Send {
                    link: l,
                    msg: msg @ Message::Sync(_),
                } if l == LinkId(link) => Some(msg),
                _ => None,
            })
            .collect()
    };
    for _ in 0..3 {
        let mut to_b = syncs(std::mem::take(&mut a.out), a_link);
        let mut to_a = syncs(std::mem::take(&mut b.out), b_link);
        while !to_a.is_empty() || !to_b.is_empty() {
            for msg in to_b.drain(..) {
                b.feed(Input::Frame {
                    link: LinkId(b_link),
                    msg,
                });
            }
            for msg in to_a.drain(..) {
                a.feed(Input::Frame {
                    link: LinkId(a_link),
                    msg,
                });
            }
            to_b = syncs(std::mem::take(&mut a.out), a_link);
            to_a = syncs(std::mem::take(&mut b.out), b_link);
        }
        let period = anti_entropy::Config::default().period + Duration::from_millis(1);
        b.now = a.now.max(b.now);
        a.now = b.now;
        a.advance(period);
        b.advance(period);
    }
}

#[test]
fn a_refused_write_is_seen_by_a_replica_the_refusal_notice_missed() {
    // Node 1 refuses observer 50's write and broadcasts the notice to 2;
    // nodes 3 and 4 were cut off when it went round. The refused dot
    // counts as seen on 1 and 2; each proves it to the node it repairs,
    // or that node's version vector keeps a gap the others do not have.
    let refused = crate::crdt::Dot::new(nid(50), 2);
    let mut n1 = Harness::new(1);
    n1.neighbour(2, 8);
    n1.up(50, Role::Observer, 7);
    // The observer's first write is stored (so its key travels with it);
    // its second is out of range.
    let mut observer_state = OfficeState::new();
    let mut observer_writer = writer_of(50);
    let mut write = |value: f32| {
        let delta = observer_state
            .set_target(
                &mut observer_writer,
                WALL,
                TargetKey::new("lab", Quantity::Temperature),
                TargetValue {
                    value,
                    unit: Unit::Celsius,
                    set_by: "t".into(),
                },
            )
            .delta;
        Bytes::from(delta.encode().unwrap())
    };
    let out = observer_write(&mut n1, 7, 2, write(21.0));
    n1.land(&out, Ok(()));
    assert_eq!(n1.target("lab"), Some(21.0));
    let out = observer_write(&mut n1, 7, 3, write(35.0));
    assert!(matches!(
        &replies(&out)[..],
        [observer::Message::Rejected { .. }]
    ));
    // Plumtree sends what a batching window gathered when it closes.
    n1.advance(Duration::from_secs(1));
    let notice: Vec<Message> = std::mem::take(&mut n1.out)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send {
                link: LinkId(8),
                msg: msg @ Message::Broadcast(_),
            } => Some(msg),
            _ => None,
        })
        .collect();
    assert!(!notice.is_empty(), "the refusal is broadcast");
    let mut n2 = Harness::new(2);
    n2.neighbour(1, 8);
    for msg in notice {
        n2.feed(Input::Frame {
            link: LinkId(8),
            msg,
        });
    }
    assert!(n2.r.state().covers(refused));
    assert_eq!(n2.r.stats().rejected.get("refusal_notice"), None);

    for (repairer, link) in [(&mut n1, 1), (&mut n2, 2)] {
        let mut late = Harness::new(3);
        late.now = repairer.now;
        repairer.neighbour(3, 20 + link);
        late.neighbour(link, 30);
        sync(repairer, 20 + link, &mut late, 30);
        assert_eq!(late.target("lab"), Some(21.0));
        assert!(
            late.r.state().covers(refused),
            "a replica repaired by node {link} lacks the refused dot"
        );
    }
}

#[test]
fn observer_writes_must_be_the_observers_own_targets_with_values() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    // Another replica's dot.
    let out = observer_write(&mut h, 7, 1, target_write(51, "lab", 21.0));
    assert!(
        matches!(&replies(&out)[..], [observer::Message::Rejected { reason, .. }] if reason.contains("not the writer"))
    );
    // A sibling-less target register (it would delete the zone's target).
    let mut empty = Delta::default();
    empty.0.targets.insert(
        TargetKey::new("lab", Quantity::Temperature),
        crate::crdt::MvRegister::new(),
    );
    let out = observer_write(&mut h, 7, 2, Bytes::from(empty.encode().unwrap()));
    assert!(
        matches!(&replies(&out)[..], [observer::Message::Rejected { reason, .. }] if reason.contains("without a value"))
    );
    // A reading.
    let mut s = OfficeState::new();
    let mut w = writer_of(50);
    let reading = s
        .publish_reading(
            &mut w,
            WALL,
            SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            },
            Reading {
                value: 20.0,
                unit: Unit::Celsius,
            },
        )
        .delta;
    let out = observer_write(&mut h, 7, 3, Bytes::from(reading.encode().unwrap()));
    assert!(
        matches!(&replies(&out)[..], [observer::Message::Rejected { reason, .. }] if reason.contains("only write targets"))
    );
    // Garbage.
    let out = observer_write(&mut h, 7, 4, Bytes::from_static(&[0xff, 0xff, 0xff]));
    assert!(
        matches!(&replies(&out)[..], [observer::Message::Rejected { reason, .. }] if reason.contains("undecodable"))
    );
    assert_eq!(h.target("lab"), None);
    assert_eq!(h.r.stats().rejected.values().sum::<u64>(), 4);
}

#[test]
fn broadcast_deltas_are_admitted_register_by_register() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    // In range: joined. Out of range, long zone, from the future: refused.
    let deliver = |h: &mut Harness, seq: u64, bytes: Bytes| {
        h.feed(Input::Frame {
            link: LinkId(8),
            msg: gossip(2, seq, Payload::Delta(bytes)),
        })
    };
    deliver(&mut h, 1, target_write(60, "lab", 22.0));
    assert_eq!(h.target("lab"), Some(22.0));
    deliver(&mut h, 2, target_write(61, "hall", 99.0));
    assert_eq!(h.target("hall"), None);
    let long = "x".repeat(admission::MAX_ZONE_LEN + 1);
    deliver(&mut h, 3, target_write(62, &long, 20.0));
    assert_eq!(h.target(&long), None);
    let mut s = OfficeState::new();
    let mut w = writer_of(63);
    let future = s
        .set_target(
            &mut w,
            WALL + 365 * 86_400_000,
            TargetKey::new("attic", Quantity::Temperature),
            TargetValue {
                value: 20.0,
                unit: Unit::Celsius,
                set_by: "t".into(),
            },
        )
        .delta;
    deliver(&mut h, 4, Bytes::from(future.encode().unwrap()));
    assert_eq!(h.target("attic"), None);
    let rejected = h.r.stats().rejected;
    assert_eq!(rejected.get("target_out_of_range"), Some(&1));
    assert_eq!(rejected.get("zone_too_long"), Some(&1));
    assert_eq!(rejected.get("from_the_future"), Some(&1));
}

#[test]
fn an_observers_anti_entropy_answers_are_refused() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    // What an observer's answer would carry: a value it holds and the node
    // does not (one the node refused, say).
    let mut s = OfficeState::new();
    let mut w = writer_of(50);
    s.set_target(
        &mut w,
        WALL,
        TargetKey::new("lab", Quantity::Temperature),
        TargetValue {
            value: 35.0,
            unit: Unit::Celsius,
            set_by: "t".into(),
        },
    );
    // Let the observer run a real anti-entropy exchange with the node.
    let mut ae = AntiEntropy::new(anti_entropy::Config::default(), 9);
    let mut ae_out = Vec::new();
    ae.handle(
        h.now,
        &mut s,
        anti_entropy::Input::NeighborUp(nid(1)),
        &mut ae_out,
    );
    let mut to_node: Vec<wire::sync::Message> = ae_out
        .iter()
        .filter_map(|o| match o {
            anti_entropy::Output::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect();
    for _ in 0..4 {
        let mut back = Vec::new();
        for msg in to_node.drain(..) {
            back.extend(h.feed(Input::Frame {
                link: LinkId(7),
                msg: Message::Sync(msg),
            }));
        }
        for o in back {
            if let Output::Send {
                msg: Message::Sync(msg),
                ..
            } = o
            {
                let mut ae_out = Vec::new();
                ae.handle(
                    h.now,
                    &mut s,
                    anti_entropy::Input::Message { from: nid(1), msg },
                    &mut ae_out,
                );
                to_node.extend(ae_out.into_iter().filter_map(|o| match o {
                    anti_entropy::Output::Send { msg, .. } => Some(msg),
                    _ => None,
                }));
            }
        }
    }
    assert_eq!(h.target("lab"), None);
    assert!(
        h.r.stats()
            .rejected
            .get("observer_sync")
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

fn reading(value: f32) -> Input {
    Input::Local(LocalWrite::Reading {
        sensor: SensorId {
            quantity: Quantity::Temperature,
            index: 0,
        },
        reading: Reading {
            value,
            unit: Unit::Celsius,
        },
    })
}

/// A decoded clock report: the reporting node, whether it is whole, and
/// its entries.
type SentReport = (NodeId, bool, Vec<(NodeId, u64)>);

/// The clock reports in `out` sent on `link`, decoded.
fn reports_on(out: &[Output], link: u64) -> Vec<SentReport> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send {
                link: l,
                msg: Message::Observer(observer::Message::ClockReport(bytes)),
            } if *l == LinkId(link) => match Payload::decode(bytes) {
                Ok(Payload::ClockReport {
                    node,
                    full,
                    entries,
                }) => Some((node, full, entries)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn an_attached_observer_gets_a_full_report_then_only_what_changed() {
    let mut h = Harness::new(1);
    let out = h.up(50, Role::Observer, 7);
    let first = reports_on(&out, 7);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].1, "a whole report at once");
    // Renewals alone send only an empty report (the node is alive, and
    // says so at least every renewal); a change sends only its entry.
    let mut later = Vec::new();
    for _ in 0..2 {
        later.extend(h.advance(WATCH_RENEW));
    }
    let heartbeats = reports_on(&later, 7);
    assert_eq!(heartbeats.len(), 2, "{heartbeats:?}");
    assert!(
        heartbeats
            .iter()
            .all(|(n, full, e)| *n == h.r.id() && !full && e.is_empty())
    );
    h.advance(super::watch::REPORT_COALESCE);
    let out = h.feed(reading(20.0));
    let changed = reports_on(&out, 7);
    assert_eq!(changed.len(), 1);
    let (node, full, entries) = &changed[0];
    assert_eq!((*node, *full), (h.r.id(), false));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, h.r.id());
    // After the observer leaves, the lease runs out and reports stop.
    h.feed(Input::LinkDown { link: LinkId(7) });
    h.advance(WATCH_LEASE + WATCH_RENEW);
    let out = h.feed(reading(21.0));
    assert!(!out.iter().any(|o| matches!(
        o,
        Output::Send {
            msg: Message::Observer(observer::Message::ClockReport(_)),
            ..
        }
    )));
}

#[test]
fn a_second_observer_gets_every_relayed_clock_from_the_node_it_attaches_to() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    h.up(50, Role::Observer, 7);
    let report = |node: u64, full: bool, entries: Vec<(NodeId, u64)>| Input::Frame {
        link: LinkId(8),
        msg: Message::Observer(observer::Message::ClockReport(
            Payload::ClockReport {
                node: NodeId(node),
                full,
                entries,
            }
            .encode()
            .unwrap(),
        )),
    };
    // A node this replica does not know is not believed, nor one
    // speaking in another's name: neither relayed nor kept.
    let out = h.feed(report(2, true, vec![(NodeId(2), 4)]));
    assert!(reports_on(&out, 7).is_empty());
    let out = h.feed(report(3, true, vec![(NodeId(3), 1)]));
    assert!(reports_on(&out, 7).is_empty());
    // A second observer gets what the first was told: this node's clock.
    let out = h.up(51, Role::Observer, 9);
    let known = reports_on(&out, 9);
    let me = h.r.id();
    assert!(
        known.iter().any(|(n, full, _)| *n == me && *full),
        "{known:?}"
    );
    assert!(
        !known
            .iter()
            .any(|(n, _, _)| *n == NodeId(2) || *n == NodeId(3))
    );
}

#[test]
fn an_observer_attaching_after_another_left_still_gets_every_nodes_clock() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    // Node 2's entry, so its reports are believed.
    let mut entry = OfficeState::new();
    let info = config(2).info;
    let delta = entry.announce_node(&mut writer_of(2), WALL, info).delta;
    h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(2, 1, Payload::Delta(Bytes::from(delta.encode().unwrap()))),
    });
    let report = Input::Frame {
        link: LinkId(8),
        msg: Message::Observer(observer::Message::ClockReport(
            Payload::ClockReport {
                node: nid(2),
                full: true,
                entries: vec![(nid(2), 4)],
            }
            .encode()
            .unwrap(),
        )),
    };
    h.up(50, Role::Observer, 7);
    let out = h.feed(report.clone());
    assert_eq!(reports_on(&out, 7).len(), 1, "relayed to the observer");
    // The observer leaves; node 2 reports nothing more while the lease
    // runs (nothing changed), so the next observer must get it from here.
    h.feed(Input::LinkDown { link: LinkId(7) });
    h.advance(WATCH_RENEW);
    let out = h.up(51, Role::Observer, 9);
    let known = reports_on(&out, 9);
    let me = h.r.id();
    assert!(
        known.iter().any(|(n, full, _)| *n == me && *full),
        "{known:?}"
    );
    assert!(
        known
            .iter()
            .any(|(n, full, e)| *n == nid(2) && *full && e == &vec![(nid(2), 4)]),
        "{known:?}"
    );
    // Node 2's link goes: what it said last may be a dead node's, and is
    // not passed on as if it were alive.
    h.feed(Input::LinkDown { link: LinkId(8) });
    let out = h.up(53, Role::Observer, 11);
    let known = reports_on(&out, 11);
    assert!(known.iter().all(|(n, _, _)| *n != nid(2)), "{known:?}");
    h.feed(Input::LinkDown { link: LinkId(11) });
    // Once nobody is attached and the lease has lapsed, nothing is kept:
    // the next lease asks every node for its whole vector again.
    h.feed(Input::LinkDown { link: LinkId(9) });
    h.advance(WATCH_LEASE);
    h.advance(WATCH_RENEW);
    let out = h.up(52, Role::Observer, 10);
    let known = reports_on(&out, 10);
    assert!(known.iter().all(|(n, _, _)| *n == me), "{known:?}");
}

/// A reading of test replica `by`, from its writer, signed without its
/// key (as nodes write them: their key travels in their entry).
fn reading_of(by: u64, writer: &mut Writer, seq: u64, value: f32) -> Message {
    let sensor = SensorId {
        quantity: Quantity::Temperature,
        index: 0,
    };
    let reading = Reading {
        value,
        unit: Unit::Celsius,
    };
    let delta = OfficeState::new()
        .publish_reading(writer, WALL, sensor, reading)
        .delta;
    gossip(
        by,
        seq,
        Payload::Delta(Bytes::from(delta.encode().unwrap())),
    )
}

#[test]
fn a_reading_that_overtakes_its_nodes_entry_waits_for_it_instead_of_being_refused() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    let sensor = SensorId {
        quantity: Quantity::Temperature,
        index: 0,
    };
    let mut node2 = Writer::signing(key(2));
    let entry = OfficeState::new()
        .announce_node(&mut node2, WALL, config(2).info)
        .delta;
    h.feed(Input::Frame {
        link: LinkId(8),
        msg: reading_of(2, &mut node2, 2, 21.5),
    });
    assert!(h.r.state().sensor(nid(2), sensor).is_none());
    assert!(
        h.r.stats().rejected.is_empty(),
        "{:?}",
        h.r.stats().rejected
    );
    // The entry (which carries node 2's key) arrives: the reading is
    // checked again and joined.
    h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(2, 1, Payload::Delta(Bytes::from(entry.encode().unwrap()))),
    });
    let held = h.r.state().sensor(nid(2), sensor);
    assert_eq!(
        held.and_then(|r| r.winner()).map(|(_, s)| s.value.value),
        Some(21.5)
    );
    assert!(
        h.r.stats().rejected.is_empty(),
        "{:?}",
        h.r.stats().rejected
    );

    // A reading from an author whose key never comes is refused once it
    // has waited its time, as it would have been at once.
    h.feed(Input::Frame {
        link: LinkId(8),
        msg: reading_of(3, &mut Writer::signing(key(3)), 1, 19.0),
    });
    h.advance(crate::replica::awaiting_keys::AWAIT_KEY);
    assert!(h.r.state().sensor(nid(3), sensor).is_none());
    assert_eq!(h.r.stats().rejected.get("unknown_signer"), Some(&1));
}

#[test]
fn a_new_connection_to_the_via_carries_a_whole_report() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    // Node 5 watches for its observer: node 1 dials it and reports whole.
    let watch = |seq: u64| Input::Frame {
        link: LinkId(8),
        msg: gossip(
            5,
            seq,
            Payload::Watch {
                until_ms_from_now: 30_000,
                via: peer(5),
            },
        ),
    };
    let out = h.feed(watch(1));
    assert!(out.contains(&Output::Dial {
        addr: peer(5).addr,
        seed: false
    }));
    let out = h.feed(Input::LinkUp {
        peer: peer(5),
        role: Role::Node,
        outbound: true,
        link: LinkId(20),
    });
    let sent = reports_on(&out, 20);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1);
    // That connection carried the whole report: nothing more follows.
    assert!(reports_on(&h.advance(watch::MIN_FULL_REPORT_GAP), 20).is_empty());
    // A renewal asks nothing; the connection drops (a report may have
    // died with it): the next change goes whole over a new one.
    h.advance(Duration::from_secs(2));
    assert!(reports_on(&h.feed(watch(2)), 20).is_empty());
    h.feed(Input::LinkDown { link: LinkId(20) });
    h.advance(watch::REPORT_COALESCE);
    let out = h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(3, 1, Payload::Delta(target_write(3, "lab", 21.0))),
    });
    assert!(out.contains(&Output::Dial {
        addr: peer(5).addr,
        seed: false
    }));
    let out = h.feed(Input::LinkUp {
        peer: peer(5),
        role: Role::Node,
        outbound: true,
        link: LinkId(21),
    });
    let sent = reports_on(&out, 21);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1);
}

#[test]
fn a_watch_naming_another_node_is_refused_and_leases_are_bounded() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    // Node 2 relays a Watch that claims node 99 is the via: refused, no dial.
    let out = h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(
            3,
            1,
            Payload::Watch {
                until_ms_from_now: u32::MAX,
                via: peer(99),
            },
        ),
    });
    assert!(!out.iter().any(|o| matches!(o, Output::Dial { .. })));
    assert_eq!(h.r.stats().watches_refused, 1);
    // Many honest-looking Watches: at most MAX_WATCHERS nodes are reported to.
    for i in 0..(watch::MAX_WATCHERS as u64 + 10) {
        let origin = 100 + i;
        h.feed(Input::Frame {
            link: LinkId(8),
            msg: gossip(
                origin,
                1,
                Payload::Watch {
                    until_ms_from_now: 30_000,
                    via: PeerInfo {
                        id: nid(origin),
                        addr: format!("10.1.0.{}:7946", i + 1).parse().unwrap(),
                    },
                },
            ),
        });
    }
    assert_eq!(h.r.stats().watches_refused, 11);
}

#[test]
fn a_closed_link_outside_the_active_view_is_no_failure() {
    let mut h = Harness::new(1);
    // Node 2 connects but never joins the active view (a shuffle reply).
    h.up(2, Role::Node, 8);
    let out = h.feed(Input::LinkDown { link: LinkId(8) });
    assert!(
        out.iter().all(|o| !matches!(o, Output::Dial { .. })),
        "{out:?}"
    );
    // And idle links outside the view are closed by the sweep.
    h.up(3, Role::Node, 9);
    let out = h.advance(IDLE_LINK + Duration::from_secs(1));
    assert!(out.contains(&Output::Close { link: LinkId(9) }));
}

#[test]
fn a_node_without_seeds_founds_the_overlay_and_one_with_seeds_dials_them() {
    let h = Harness::new(1);
    assert!(!h.out.iter().any(|o| matches!(o, Output::Dial { .. })));
    let mut c = config(1);
    c.seeds = vec![peer(2).addr, peer(3).addr];
    let mut r = Replica::new(c, OfficeState::new(), Writer::signing(key(1)));
    let mut out = Vec::new();
    r.handle(Time::ZERO, WALL, Input::Start, &mut out);
    let dials: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dial { addr, seed: true } => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(dials, vec![peer(2).addr, peer(3).addr]);
    // Reaching a seed sends it a JOIN.
    let mut out = Vec::new();
    r.handle(
        Time::ZERO,
        WALL,
        Input::LinkUp {
            peer: peer(2),
            role: Role::Node,
            outbound: true,
            link: LinkId(1),
        },
        &mut out,
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send {
            link: LinkId(1),
            msg: Message::Membership(_)
        }
    )));
}

#[test]
fn readings_are_not_written_to_disk_but_targets_are() {
    let mut h = Harness::new(1);
    let start = h.out.clone();
    h.land(&start, Ok(()));
    let mut persisted = 0;
    for i in 0..100 {
        let out = h.feed(Input::Local(LocalWrite::Reading {
            sensor: SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            },
            reading: Reading {
                value: 20.0 + i as f32 / 10.0,
                unit: Unit::Celsius,
            },
        }));
        persisted += out
            .iter()
            .filter(|o| matches!(o, Output::Persist(_)))
            .count();
        h.land(&out, Ok(()));
    }
    assert_eq!(persisted, 0, "a hundred readings, no commit");
    let out = h.feed(Input::Local(LocalWrite::Target {
        zone: "lab".into(),
        quantity: Quantity::Temperature,
        value: 21.0,
        set_by: "t".into(),
    }));
    assert_eq!(
        out.iter()
            .filter(|o| matches!(o, Output::Persist(_)))
            .count(),
        1
    );
    // A snapshot after its period holds the readings too.
    h.land(&out, Ok(()));
    let out = h.advance(persistence::SNAPSHOT_EVERY);
    assert!(out.iter().any(|o| matches!(o, Output::Persist(j) if j.puts.iter().any(|(k, _)| *k == persistence::STATE_KEY))));
}

#[test]
fn a_target_relayed_by_a_peer_is_committed_after_its_delay_not_while_forwarded() {
    let mut h = Harness::new(1);
    let start = h.out.clone();
    h.land(&start, Ok(()));
    h.neighbour(2, 8);
    let commits = |out: &[Output]| {
        out.iter()
            .filter(
                |o| matches!(o, Output::Persist(j) if j.puts.iter().any(|(k, _)| *k == KEPT_KEY)),
            )
            .count()
    };
    let mut seen = 0;
    for seq in 1..=3 {
        let out = h.feed(Input::Frame {
            link: LinkId(8),
            msg: gossip(2, seq, Payload::Delta(target_write(60 + seq, "lab", 21.0))),
        });
        seen += commits(&out);
    }
    assert_eq!(h.target("lab"), Some(21.0), "applied at once");
    assert_eq!(seen, 0, "no commit while the writes are forwarded");
    let out = h.advance(persistence::RELAYED_KEPT_DELAY);
    assert_eq!(commits(&out), 1, "the burst in one commit");
    h.land(&out, Ok(()));
    assert!(h.r.persistence_idle());
}

#[test]
fn writes_wait_for_a_durable_dot_reservation() {
    let mut c = config(1);
    c.reserved_dots = 3;
    let mut r = Replica::new(c, OfficeState::new(), Writer::signing(key(1)));
    let mut out = Vec::new();
    r.handle(Time::ZERO, WALL, Input::Start, &mut out);
    let job = out
        .iter()
        .find_map(|o| match o {
            Output::Persist(j) if j.dot_bound.is_some() => Some(j.clone()),
            _ => None,
        })
        .expect("a reservation asked for ahead of time");
    let reading = || {
        Input::Local(LocalWrite::Reading {
            sensor: SensorId {
                quantity: Quantity::Temperature,
                index: 0,
            },
            reading: Reading {
                value: 20.0,
                unit: Unit::Celsius,
            },
        })
    };
    for _ in 0..3 {
        r.handle(Time::ZERO, WALL, reading(), &mut out);
    }
    assert!(
        r.stats().writes_without_dot >= 1,
        "dots past the bound are not used"
    );
    assert!(r.writer().last_counter() < 3);
    r.handle(
        Time::ZERO,
        WALL,
        Input::Persisted {
            token: job.token,
            result: Ok(()),
        },
        &mut out,
    );
    let before = r.writer().last_counter();
    r.handle(Time::ZERO, WALL, reading(), &mut out);
    assert_eq!(r.writer().last_counter(), before + 1);
}

#[test]
fn a_forgotten_node_retires() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    // An operator's tombstone for this node's entry, relayed by node 2.
    let mut s = h.r.state().clone();
    let mut w = writer_of(50);
    let tomb = s.forget_node(&mut w, WALL, nid(1));
    let out = h.feed(Input::Frame {
        link: LinkId(8),
        msg: gossip(2, 1, Payload::Delta(Bytes::from(tomb.encode().unwrap()))),
    });
    assert!(out.contains(&Output::Retired));
    assert!(h.r.is_retired());
    assert!(out.contains(&Output::Close { link: LinkId(8) }));
    // It writes nothing more.
    let before = h.r.writer().last_counter();
    h.feed(Input::Local(LocalWrite::FailedSensors(Vec::new())));
    h.feed(Input::Interfaces(Vec::new()));
    assert_eq!(h.r.writer().last_counter(), before);
    let _ = BTreeMap::<u8, u8>::new();
}

/// Whether the core sent anything on `link`.
fn sent_on(out: &[Output], link: u64) -> bool {
    out.iter()
        .any(|o| matches!(o, Output::Send { link: l, .. } if *l == LinkId(link)))
}

/// The longest this end went without sending on `link`, given the times
/// it sent.
fn widest_gap(times: &[Time]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].saturating_since(w[0]))
        .max()
        .unwrap_or(Duration::MAX)
}

fn dials_to(out: &[Output], id: u64) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::Dial { addr, .. } if *addr == peer(id).addr))
        .count()
}

fn is_neighbour(h: &Harness, id: u64) -> bool {
    h.r.overlay().active_view().iter().any(|p| p.id == nid(id))
}

#[test]
fn a_neighbour_link_silent_for_silent_link_is_closed_as_failed() {
    let mut h = Harness::new(1);
    h.neighbour(2, 10);
    let start = h.now;
    let mut out = Vec::new();
    let mut sends = vec![start];
    // A cut: nothing arrives. This end keeps saying it is alive...
    while h.now.saturating_since(start) < liveness::SILENT_LINK - Duration::from_secs(1) {
        let step = h.advance(Duration::from_millis(500));
        if sent_on(&step, 10) {
            sends.push(h.now);
        }
        out.extend(step);
        assert!(is_neighbour(&h, 2), "failed early, at {:?}", h.now);
    }
    assert!(widest_gap(&sends) <= liveness::KEEPALIVE_AFTER + Duration::from_millis(500));
    assert!(!out.contains(&Output::Close { link: LinkId(10) }));
    // ...and a link nothing was heard on for SILENT_LINK is failed.
    for _ in 0..4 {
        out.extend(h.advance(Duration::from_millis(500)));
    }
    assert!(out.contains(&Output::Close { link: LinkId(10) }));
    assert!(!is_neighbour(&h, 2));
    assert!(h.r.links().get(nid(2)).is_none());
}

#[test]
fn a_link_that_hears_keepalives_stays_up_and_a_busy_one_needs_none() {
    let mut h = Harness::new(1);
    h.neighbour(2, 10);
    let mut out = Vec::new();
    let mut sends = vec![h.now];
    let mut keepalives = 0;
    // Two idle minutes: the peer's keepalives every 5 s keep it up.
    for step in 1..=240u32 {
        let o = h.advance(Duration::from_millis(500));
        if sent_on(&o, 10) {
            sends.push(h.now);
        }
        keepalives += o
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Output::Send {
                        msg: Message::Keepalive,
                        ..
                    }
                )
            })
            .count();
        out.extend(o);
        if step % 10 == 0 {
            h.feed(Input::Frame {
                link: LinkId(10),
                msg: Message::Keepalive,
            });
        }
    }
    assert!(is_neighbour(&h, 2));
    assert!(!out.contains(&Output::Close { link: LinkId(10) }));
    // This end too says something at least every KEEPALIVE_AFTER: here
    // its anti-entropy rounds, every 5 s with its only neighbour, so it
    // needs hardly a keepalive of its own.
    assert!(widest_gap(&sends) <= liveness::KEEPALIVE_AFTER + Duration::from_millis(500));
    assert!(keepalives <= 5, "{keepalives} keepalives on a busy link");
    // A keepalive is no use of the link: it does not hold off the sweep
    // of a link outside the active view.
    h.up(3, Role::Node, 11);
    for _ in 0..(IDLE_LINK.as_secs() * 2 + 2) {
        h.advance(Duration::from_millis(500));
        h.feed(Input::Frame {
            link: LinkId(11),
            msg: Message::Keepalive,
        });
    }
    assert!(h.r.links().get(nid(3)).is_none(), "swept");
}

#[test]
fn a_neighbour_lost_to_silence_is_redialled_until_it_answers() {
    let mut h = Harness::new(1);
    h.neighbour(2, 10);
    let mut out = Vec::new();
    for _ in 0..40 {
        out.extend(h.advance(Duration::from_millis(500)));
    }
    assert!(out.contains(&Output::Close { link: LinkId(10) }));
    let failed_at = h.now;
    // The cut lasts: every probe's dial fails, and the next follows within
    // PROBE_MIN and its jitter.
    let mut dial_times = Vec::new();
    while h.now.saturating_since(failed_at) < Duration::from_secs(60) {
        let out = h.advance(Duration::from_millis(500));
        if dials_to(&out, 2) > 0 {
            dial_times.push(h.now);
            h.feed(Input::DialFailed { addr: peer(2).addr });
        }
    }
    assert!(
        dial_times.len() >= 8,
        "{} redials in a minute",
        dial_times.len()
    );
    let widest = dial_times
        .windows(2)
        .map(|w| w[1].saturating_since(w[0]))
        .max()
        .unwrap();
    assert!(widest <= Duration::from_secs(8), "{widest:?}");
    // The heal: the next dial connects, and the JOIN it carried goes out.
    let mut out = Vec::new();
    while dials_to(&out, 2) == 0 {
        out = h.advance(Duration::from_millis(500));
    }
    let out = h.feed(Input::LinkUp {
        peer: peer(2),
        role: Role::Node,
        outbound: true,
        link: LinkId(20),
    });
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send {
            link: LinkId(20),
            msg: Message::Membership(wire::hyparview::Message::Join { .. })
        }
    )));
}

#[test]
fn a_dial_that_fails_after_its_peer_was_heard_from_does_not_lose_it_again() {
    let mut h = Harness::new(1);
    h.neighbour(2, 10);
    h.neighbour(3, 11);
    // A cut between 1 and 2 only: 3 keeps talking, 2 goes silent.
    let mut out = Vec::new();
    for step in 0..40 {
        out.extend(h.advance(Duration::from_millis(500)));
        if step % 4 == 0 {
            h.feed(Input::Frame {
                link: LinkId(11),
                msg: Message::Keepalive,
            });
        }
    }
    assert!(out.contains(&Output::Close { link: LinkId(10) }));
    assert!(is_neighbour(&h, 3) && !is_neighbour(&h, 2));
    // 2 is lost and probed: a dial to it starts while the cut lasts...
    let mut out = Vec::new();
    while dials_to(&out, 2) == 0 {
        out = h.advance(Duration::from_millis(500));
        h.feed(Input::Frame {
            link: LinkId(11),
            msg: Message::Keepalive,
        });
    }
    // ...the cut heals: a broadcast of 2's own arrives through 3, and 2's
    // own probe reaches this node first, so 2 is a neighbour again...
    let report = Payload::ClockReport {
        node: nid(2),
        full: true,
        entries: Vec::new(),
    };
    h.feed(Input::Frame {
        link: LinkId(11),
        msg: gossip(2, 1, report),
    });
    h.neighbour(2, 12);
    // ...then the dial begun during the cut times out. It says nothing
    // about 2: the link stays, 2 stays a neighbour, and is not probed.
    let failed = h.feed(Input::DialFailed { addr: peer(2).addr });
    assert!(!failed.contains(&Output::Close { link: LinkId(12) }));
    assert!(is_neighbour(&h, 2), "2 was taken for failed again");
    let mut later = Vec::new();
    for _ in 0..60 {
        later.extend(h.advance(Duration::from_millis(500)));
        for link in [11, 12] {
            h.feed(Input::Frame {
                link: LinkId(link),
                msg: Message::Keepalive,
            });
        }
    }
    assert_eq!(dials_to(&later, 2), 0);
    assert!(is_neighbour(&h, 2));
    assert_eq!(h.r.overlay().lost_peers(), 0);
}

// ---- what observers are told ------------------------------------------

/// The payloads passed on to the observer on `link`, decoded; and no
/// overlay message reaches it (a delivery is unchecked until admitted).
fn told_on(out: &[Output], link: u64) -> Vec<Payload> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { link: l, msg } if *l == LinkId(link) => Some(msg),
            _ => None,
        })
        .filter_map(|msg| match msg {
            Message::Observer(observer::Message::Admitted(bytes)) => {
                Some(Payload::decode(bytes).expect("a payload"))
            }
            Message::Broadcast(_) | Message::Flood(_) => {
                panic!("an overlay message reached an observer: {msg:?}")
            }
            _ => None,
        })
        .collect()
}

/// The target zones, with their values, the observer on `link` was told.
fn targets_told(out: &[Output], link: u64) -> Vec<(String, f32)> {
    let mut zones = Vec::new();
    for payload in told_on(out, link) {
        if let Payload::Delta(bytes) = payload {
            let delta = Delta::decode(&bytes).unwrap();
            for (key, register) in &delta.0.targets {
                for (_, sibling) in register.siblings() {
                    zones.push((key.zone.to_string(), sibling.value.value));
                }
            }
        }
    }
    zones
}

/// A target write made by `writer`, stamped at `wall`.
fn target_by(writer: &mut Writer, wall: u64, zone: &str, value: f32) -> Delta {
    OfficeState::new()
        .set_target(
            writer,
            wall,
            TargetKey::new(zone, Quantity::Temperature),
            TargetValue {
                value,
                unit: Unit::Celsius,
                set_by: "t".into(),
            },
        )
        .delta
}

fn delta_gossip(origin: u64, seq: u64, delta: &Delta) -> Message {
    gossip(
        origin,
        seq,
        Payload::Delta(Bytes::from(delta.encode().unwrap())),
    )
}

#[test]
fn an_observer_is_told_only_what_its_node_admitted_from_a_broadcast() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    h.up(50, Role::Observer, 7);
    let operator = 70;
    h.feed(Input::Trust(authorship::Trust {
        operators: [(
            nid(operator),
            authorship::Operator {
                // What `target_by` signs as.
                name: "t".into(),
                key: key(operator).public(),
            },
        )]
        .into(),
        revoked: Default::default(),
    }));
    let deliver = |h: &mut Harness, seq: u64, delta: Delta| {
        let out = h.feed(Input::Frame {
            link: LinkId(8),
            msg: delta_gossip(2, seq, &delta),
        });
        targets_told(&out, 7)
    };
    // A forged signature: the operator's dots, someone else's key.
    let mut forger = Writer::forging(nid(operator), key(66)).carry_key();
    let forged = target_by(&mut forger, WALL, "lab", 21.0);
    assert_eq!(deliver(&mut h, 1, forged), vec![]);
    // Not an operator.
    let unauthorised = target_by(&mut writer_of(61), WALL, "lab", 21.0);
    assert_eq!(deliver(&mut h, 2, unauthorised), vec![]);
    // Stamped an hour ahead of every clock here (by a writer of its own:
    // a hybrid clock never goes back, so its later writes would be too).
    let mut fast = writer_of(operator);
    fast.raise_counter(100);
    let ahead = WALL + 3_600_000;
    let future = target_by(&mut fast, ahead, "lab", 21.0);
    assert_eq!(deliver(&mut h, 3, future), vec![]);
    // Out of range.
    let mut op = writer_of(operator);
    let hot = target_by(&mut op, WALL, "lab", 99.0);
    assert_eq!(deliver(&mut h, 4, hot), vec![]);
    assert_eq!(h.target("lab"), None);
    let refused: u64 = h.r.stats().rejected.values().sum();
    assert_eq!(refused, 4, "{:?}", h.r.stats().rejected);

    // An operator's write in range: told as it came.
    let good = target_by(&mut op, WALL, "lab", 21.5);
    assert_eq!(deliver(&mut h, 5, good.clone()), vec![("lab".into(), 21.5)]);
    // Half of a write refused: only the half admitted is told.
    let mut mixed = target_by(&mut op, WALL, "hall", 19.0);
    let bad = target_by(&mut op, WALL, "attic", 99.0);
    mixed.0.targets.extend(bad.0.targets);
    assert_eq!(deliver(&mut h, 6, mixed), vec![("hall".into(), 19.0)]);
    // A copy of what is held already tells nothing more.
    assert_eq!(deliver(&mut h, 7, good), vec![]);
}

#[test]
fn an_observer_is_told_a_held_write_once_its_authors_key_admits_it() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    h.up(50, Role::Observer, 7);
    let mut node3 = Writer::signing(key(3));
    let entry = OfficeState::new()
        .announce_node(&mut node3, WALL, config(3).info)
        .delta;
    let out = h.feed(Input::Frame {
        link: LinkId(8),
        msg: reading_of(3, &mut node3, 2, 21.5),
    });
    assert!(told_on(&out, 7).is_empty(), "held, so not told");
    let out = h.feed(Input::Frame {
        link: LinkId(8),
        msg: delta_gossip(3, 1, &entry),
    });
    let told = told_on(&out, 7);
    let sensors: usize = told
        .iter()
        .filter_map(|p| match p {
            Payload::Delta(bytes) => Some(Delta::decode(bytes).unwrap().0.sensors.len()),
            _ => None,
        })
        .sum();
    assert_eq!(told.len(), 2, "the entry, then the reading: {told:?}");
    assert_eq!(sensors, 1);
}

#[test]
fn an_observer_is_told_what_an_anti_entropy_answer_brought_once_admitted() {
    let mut h = Harness::new(1);
    h.neighbour(2, 8);
    h.up(50, Role::Observer, 7);
    // Node 2 holds a target in range and one out of range (written before
    // the range was narrowed there, say).
    let mut s = OfficeState::new();
    let mut w = writer_of(60);
    for (zone, value) in [("lab", 21.0), ("hall", 99.0)] {
        s.set_target(
            &mut w,
            WALL,
            TargetKey::new(zone, Quantity::Temperature),
            TargetValue {
                value,
                unit: Unit::Celsius,
                set_by: "t".into(),
            },
        );
    }
    let mut ae = AntiEntropy::new(anti_entropy::Config::default(), 9);
    let mut ae_out = Vec::new();
    ae.handle(
        h.now,
        &mut s,
        anti_entropy::Input::NeighborUp(nid(1)),
        &mut ae_out,
    );
    let mut to_node: Vec<wire::sync::Message> = ae_out
        .iter()
        .filter_map(|o| match o {
            anti_entropy::Output::Send { msg, .. } => Some(msg.clone()),
            _ => None,
        })
        .collect();
    let mut told = Vec::new();
    for _ in 0..4 {
        let mut back = Vec::new();
        for msg in to_node.drain(..) {
            let out = h.feed(Input::Frame {
                link: LinkId(8),
                msg: Message::Sync(msg),
            });
            told.extend(targets_told(&out, 7));
            back.extend(out);
        }
        for o in back {
            if let Output::Send {
                link: LinkId(8),
                msg: Message::Sync(msg),
            } = o
            {
                let mut ae_out = Vec::new();
                ae.handle(
                    h.now,
                    &mut s,
                    anti_entropy::Input::Message { from: nid(1), msg },
                    &mut ae_out,
                );
                to_node.extend(ae_out.into_iter().filter_map(|o| match o {
                    anti_entropy::Output::Send { msg, .. } => Some(msg),
                    _ => None,
                }));
            }
        }
    }
    assert_eq!(h.target("lab"), Some(21.0), "the exchange ran");
    assert_eq!(h.target("hall"), None);
    assert_eq!(told, vec![("lab".to_string(), 21.0)]);
}

#[test]
fn an_observer_is_told_its_nodes_own_writes_and_other_observers_admitted_ones() {
    let mut h = Harness::new(1);
    h.up(50, Role::Observer, 7);
    h.up(51, Role::Observer, 9);
    // A reading leaves at once.
    let out = h.feed(reading(20.5));
    let told = told_on(&out, 7);
    assert!(
        matches!(&told[..], [Payload::Delta(b)] if Delta::decode(b).unwrap().0.sensors.len() == 1),
        "{told:?}"
    );
    // A target is told when it leaves: once on disk.
    let out = h.feed(Input::Local(LocalWrite::Target {
        zone: "lab".into(),
        quantity: Quantity::Temperature,
        value: 20.0,
        set_by: "panel".into(),
    }));
    assert!(targets_told(&out, 7).is_empty(), "not before the disk");
    let out = h.land(&out, Ok(()));
    assert_eq!(targets_told(&out, 7), vec![("lab".into(), 20.0)]);
    // Observer 50's admitted write reaches observer 51; its refused one
    // only as a refusal notice.
    let mut o = writer_of(50);
    let mut write = |zone: &str, value: f32| {
        Bytes::from(target_by(&mut o, WALL, zone, value).encode().unwrap())
    };
    let out = observer_write(&mut h, 7, 1, write("hall", 19.0));
    assert_eq!(targets_told(&out, 9), vec![("hall".into(), 19.0)]);
    let out = observer_write(&mut h, 7, 2, write("attic", 99.0));
    assert!(targets_told(&out, 9).is_empty());
    assert!(
        matches!(&told_on(&out, 9)[..], [Payload::Refused { observer, .. }] if *observer == nid(50)),
        "{:?}",
        told_on(&out, 9)
    );
}
