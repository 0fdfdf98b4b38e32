//! Forgetting a node, in virtual time: a few replica cores wired to each
//! other in memory (every frame delivered at once, every disk write landing
//! at once), an operator's tombstone sent as an observer write, the grace
//! period, and an old replica that slept through it all.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::{Config, Input, LinkId, Output, Replica};
use crate::config::TargetsSection;
use crate::crdt::{NodeInfo, OfficeState, Writer, anti_entropy};
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::{self, Message, PeerInfo, Role};

/// The wall clock at virtual time zero.
const WALL0: u64 = 1_795_000_000_000;
const GRACE: Duration = Duration::from_secs(600);
const AE_PERIOD: Duration = Duration::from_secs(1);

/// Replica cores joined by in-memory links.
struct Net {
    now: Time,
    replicas: Vec<Option<Replica>>,
    /// `(replica, its link id)` → `(the other replica, its link id)`.
    links: BTreeMap<(usize, LinkId), (usize, LinkId)>,
    next_link: u64,
    inbox: VecDeque<(usize, Input)>,
    /// Answers to observer writes, by the replica that sent them.
    answers: Vec<(usize, wire::observer::Message)>,
}

fn peer(i: usize) -> PeerInfo {
    PeerInfo {
        id: super::tests::nid(0x1000 + i as u64),
        addr: SocketAddr::from(([127, 0, 0, 1], 7000 + i as u16)),
    }
}

fn config(i: usize) -> Config {
    Config {
        me: peer(i),
        info: NodeInfo {
            name: format!("n{i}"),
            zone: format!("zone-{i}"),
            role: Role::Node,
            version: "test".into(),
            interfaces: Vec::new(),
            failed_sensors: Vec::new(),
            neighbours: Vec::new(),
            cluster_keys: Vec::new(),
        },
        seeds: if i == 0 {
            Vec::new()
        } else {
            vec![peer(0).addr]
        },
        remembered: Vec::new(),
        overlay: crate::proto::Config::default(),
        anti_entropy: anti_entropy::Config {
            period: AE_PERIOD,
            ..anti_entropy::Config::default()
        },
        targets: TargetsSection::default(),
        seed: i as u64,
        reserved_dots: 0,
        tombstone_grace: GRACE,
        skipped: None,
        trust: Default::default(),
    }
}

impl Net {
    fn new() -> Net {
        Net {
            now: Time::ZERO,
            replicas: Vec::new(),
            links: BTreeMap::new(),
            next_link: 1,
            inbox: VecDeque::new(),
            answers: Vec::new(),
        }
    }

    fn wall(&self) -> u64 {
        WALL0 + self.now.as_millis()
    }

    /// Starts replica `i` over `state` and `writer` (a restart from its
    /// store), or new.
    fn start(&mut self, i: usize, restored: Option<(OfficeState, Writer)>) {
        let (state, writer) = restored.unwrap_or_else(|| {
            (
                OfficeState::new(),
                Writer::signing(super::tests::key(0x1000 + i as u64)),
            )
        });
        let mut config = config(i);
        config.reserved_dots = writer.last_counter() + 1;
        if self.replicas.len() <= i {
            self.replicas.resize_with(i + 1, || None);
        }
        self.replicas[i] = Some(Replica::new(config, state, writer));
        self.inbox.push_back((i, Input::Start));
        self.settle();
    }

    /// Stops replica `i` as a power cut would; returns what its store held
    /// (here: everything, since every write lands at once).
    fn stop(&mut self, i: usize) -> (OfficeState, Writer) {
        let replica = self.replicas[i].take().expect("a running replica");
        let gone: Vec<(usize, LinkId)> = self
            .links
            .iter()
            .filter(|((r, _), _)| *r == i)
            .map(|(_, other)| *other)
            .collect();
        self.links.retain(|(r, _), (o, _)| *r != i && *o != i);
        for (other, link) in gone {
            self.inbox.push_back((other, Input::LinkDown { link }));
        }
        self.settle();
        (replica.state().clone(), replica.writer().clone())
    }

    fn replica(&self, i: usize) -> &Replica {
        self.replicas[i].as_ref().expect("a running replica")
    }

    fn connect(&mut self, from: usize, to: usize, role_from: Role) -> (LinkId, LinkId) {
        let (a, b) = (LinkId(self.next_link), LinkId(self.next_link + 1));
        self.next_link += 2;
        self.links.insert((from, a), (to, b));
        self.links.insert((to, b), (from, a));
        if role_from == Role::Node {
            self.inbox.push_back((
                from,
                Input::LinkUp {
                    peer: peer(to),
                    role: Role::Node,
                    outbound: true,
                    link: a,
                },
            ));
        }
        self.inbox.push_back((
            to,
            Input::LinkUp {
                peer: peer(from),
                role: role_from,
                outbound: false,
                link: b,
            },
        ));
        (a, b)
    }

    /// Feeds every queued input and what it causes, at the current time.
    fn settle(&mut self) {
        let wall = self.wall();
        while let Some((i, input)) = self.inbox.pop_front() {
            let Some(replica) = self.replicas.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let mut out = Vec::new();
            replica.handle(self.now, wall, input, &mut out);
            for output in out {
                self.output(i, output);
            }
        }
    }

    fn output(&mut self, i: usize, output: Output) {
        match output {
            Output::Send { link, msg } => match self.links.get(&(i, link)) {
                Some(&(to, their)) if self.replicas.get(to).is_some_and(Option::is_some) => {
                    self.inbox
                        .push_back((to, Input::Frame { link: their, msg }));
                }
                Some(&(to, _)) if to >= self.replicas.len() => match msg {
                    Message::Observer(
                        wire::observer::Message::ClockReport(_)
                        | wire::observer::Message::Admitted(_),
                    ) => {}
                    Message::Observer(answer) => self.answers.push((i, answer)),
                    _ => {}
                },
                _ => {}
            },
            Output::Dial { addr, .. } => {
                let target = (0..self.replicas.len())
                    .find(|&j| peer(j).addr == addr && self.replicas[j].is_some());
                match target {
                    Some(j) => {
                        self.connect(i, j, Role::Node);
                    }
                    None => self.inbox.push_back((i, Input::DialFailed { addr })),
                }
            }
            Output::Close { link } => {
                if let Some((to, their)) = self.links.remove(&(i, link)) {
                    self.links.remove(&(to, their));
                    self.inbox.push_back((to, Input::LinkDown { link: their }));
                }
            }
            Output::Persist(job) => self.inbox.push_back((
                i,
                Input::Persisted {
                    token: job.token,
                    result: Ok(()),
                },
            )),
            Output::Targets(_) | Output::Retired | Output::Programs => {}
        }
    }

    /// Runs the running replicas' timers for `d` of virtual time.
    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        loop {
            let next = self
                .replicas
                .iter()
                .flatten()
                .filter_map(Replica::poll_timeout)
                .min();
            match next {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    for i in 0..self.replicas.len() {
                        let due = self.replicas[i]
                            .as_ref()
                            .and_then(Replica::poll_timeout)
                            .is_some_and(|t| t <= self.now);
                        if due {
                            self.inbox.push_back((i, Input::Tick));
                        }
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = until;
    }
}

/// Whether replica `i` holds any register for `node`, live or tombstone.
fn holds(net: &Net, i: usize, node: NodeId) -> bool {
    net.replica(i).state().registers.nodes.contains_key(&node)
}

#[test]
fn a_forgotten_node_is_collected_after_the_grace_period_and_an_old_replica_cannot_bring_it_back() {
    // n0..n2 stay; n3 is decommissioned; n2 sleeps through the forget.
    let mut net = Net::new();
    for i in 0..4 {
        net.start(i, None);
    }
    net.run_for(Duration::from_secs(10));
    let gone = peer(3).id;
    for i in 0..4 {
        assert_eq!(net.replica(i).state().nodes().count(), 4, "replica {i}");
    }
    let old = net.stop(2);
    net.stop(3);
    assert!(old.0.node(gone).is_some());

    // An operator forgets n3 through n0.
    let mut writer = super::tests::writer_of(0xfeed);
    let delta = net
        .replica(0)
        .state()
        .clone()
        .forget_node(&mut writer, net.wall(), gone);
    let observer_slot = net.replicas.len() + 10;
    let (_, link) = net.connect(observer_slot, 0, Role::Observer);
    let delta = Bytes::from(delta.encode().unwrap());
    net.inbox.push_back((
        0,
        Input::Frame {
            link,
            msg: Message::Observer(wire::observer::Message::Write { request: 1, delta }),
        },
    ));
    net.settle();
    net.run_for(2 * AE_PERIOD);
    assert_eq!(
        net.answers,
        [(0, wire::observer::Message::Stored { request: 1 })]
    );
    for i in [0, 1] {
        assert!(net.replica(i).state().node(gone).is_none(), "replica {i}");
        // The tombstone is kept through the grace period.
        assert!(holds(&net, i, gone), "replica {i}");
    }

    // Past the grace period (and the next sweep) the tombstone is gone
    // from the running replicas, its dots still in their contexts.
    net.run_for(GRACE + super::TOMBSTONE_SWEEP);
    for i in [0, 1] {
        assert!(!holds(&net, i, gone), "replica {i} still holds n3");
        assert_eq!(net.replica(i).state().nodes().count(), 3, "replica {i}");
    }

    // The old replica comes back with n3 live in its store: anti-entropy
    // with the others neither brings n3 back to them nor leaves it with it.
    net.start(2, Some(old));
    net.run_for(10 * AE_PERIOD);
    for i in [0, 1, 2] {
        assert!(
            net.replica(i).state().node(gone).is_none(),
            "replica {i} shows the forgotten node again"
        );
        assert_eq!(net.replica(i).state().nodes().count(), 3, "replica {i}");
    }
}
