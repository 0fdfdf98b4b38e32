//! Plumtree broadcast (Leitão, Pereira, Rodrigues, "Epidemic Broadcast
//! Trees", SRDS 2007) over the HyParView active view.
//!
//! Every neighbour starts *eager* (payloads are pushed to it). A duplicate
//! payload shows a redundant link: the receiver PRUNEs it and both ends make
//! it *lazy* (only message ids are announced on it, in IHAVE). What is left
//! eager is a spanning tree. When an announced message does not arrive
//! eagerly in time, the node GRAFTs the announcer: the link turns eager again
//! and the payload is sent, which repairs the tree after a failure.
//!
//! Link states are kept per origin (`origin_trees`): every origin has its
//! own tree, made of the first arrivals of its first broadcast, so each
//! sender's broadcasts take the overlay's fastest paths from it rather than
//! a tree shaped by other senders. PRUNE and GRAFT name the origin whose
//! tree they change, and both ends of a link agree on its state in that
//! tree.
//!
//! IHAVEs are not sent one per message: they queue per peer and leave
//! together on a dispatch timer, and an id is never announced to a peer that
//! is known to have the message already (it sent us the payload or an IHAVE).
//!
//! Eager pushes go through [`LinkBatches`]: an idle link sends at once, a
//! busy one coalesces what comes within `batch_window` into one `Batch`
//! (see `link_batch`), so the message count stops growing with the load.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::link_batch::{Batch, LinkBatches, Pushed};
use super::origin_trees::OriginTrees;
use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::PeerInfo;
use crate::wire::plumtree::{BatchedGossip, Message, MessageId};

/// What the broadcast layer asks of its caller, the overlay (which wraps
/// each into its own output).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `msg` to `to` over the open link.
    Send { to: PeerInfo, msg: Message },
    /// Feed `timer` back at `at` (or later).
    Schedule { at: Time, timer: Timer },
    /// A broadcast reached this node for the first time, handed over by
    /// `from`, `hops` links from its origin.
    Delivered {
        id: MessageId,
        from: NodeId,
        hops: u16,
        payload: Bytes,
    },
}

/// Plumtree's knobs, with the defaults used when nothing is set.
#[derive(Clone, Debug)]
pub struct Config {
    /// How long IHAVE announcements queue before they leave, batched per
    /// peer (default 300 ms). Longer batches save messages, shorter ones
    /// repair a broken tree faster. Under steady load every lazy link
    /// carries an IHAVE each interval: on `glomers`, at 100 ms, more
    /// messages than the payloads themselves. With the 200 ms GRAFT
    /// timeout a lost eager copy is still fetched within about half a
    /// second (docs/benchmarks-scale.md).
    pub ihave_interval: Duration,
    /// Most ids in one IHAVE message, so a batch always fits a frame
    /// (default 512: about 12 KiB).
    pub ihave_batch_max: usize,
    /// How long after the first IHAVE for a missing message the node GRAFTs
    /// (§3.6, default 200 ms). A tree formed under other load can be longer
    /// than today's shortest path; a GRAFT that fires while the tree copy
    /// is still on its way fetches the payload over the shorter lazy path,
    /// so a shorter timeout trades a few duplicates for latency.
    pub graft_timeout: Duration,
    /// The shorter wait before GRAFTing the next announcer when the first
    /// GRAFT brought nothing (§3.6, default 100 ms).
    pub graft_retry: Duration,
    /// The tree optimization (§3.8): when an IHAVE shows a path at least
    /// this many hops shorter than the eager one the payload came by, the
    /// node swaps its eager parent in that origin's tree for the announcer
    /// (default 3; `None` turns the optimization off).
    pub optimization_threshold: Option<u16>,
    /// Copies arriving over a link this node pruned are expected for this
    /// long after the PRUNE (default 2 s: longer than a broadcast takes to
    /// cross the overlay); later ones mean the peer missed it (see
    /// `on_duplicate`).
    pub prune_window: Duration,
    /// A new neighbour is announced (IHAVE) the messages delivered this
    /// recently (default 30 s), so what one side of a healed partition
    /// broadcast reaches the other once a link crosses again.
    pub announce_recent: Duration,
    /// How long payloads stay cached to answer GRAFTs (default 60 s).
    pub cache_ttl: Duration,
    /// Most payloads cached (default 4096), whatever their age.
    pub cache_capacity: usize,
    /// Most bytes the cache may hold (default 256 KiB), whatever the
    /// number of payloads: each counts its length plus
    /// [`CACHE_ENTRY_OVERHEAD`]. 4096 payloads of a full frame each would
    /// be 256 MiB, and a key holder can broadcast full frames. An office's
    /// deltas are a few hundred bytes and a few a second: a minute of them
    /// is tens of KiB, so honest traffic meets the age bound first.
    pub cache_bytes: usize,
    /// How long delivered ids are remembered to drop duplicates
    /// (default 10 min: far longer than any path through the overlay).
    pub seen_ttl: Duration,
    /// Most ids remembered (default 8192, about 0.9 MiB with the table's
    /// slack): every delivered broadcast is remembered, and a key holder
    /// can broadcast as fast as its link carries. Duplicates arrive within
    /// a round trip of the overlay (`prune_window`), thousands of ids
    /// later at most; an id forgotten and seen again is delivered twice,
    /// which the state's join absorbs.
    pub seen_capacity: usize,
    /// A link earns one message of credit per window, up to
    /// `batch_burst`; out of credit it is busy, and further payloads for it
    /// wait for its next credit and leave together (default 45 ms; zero
    /// sends every payload at once). A quiet link, as in an office between
    /// two writes, sends at once. On `glomers` (100 ms links) 45 ms keeps
    /// the median within 75 ms of flooding's at 14.9–15.8 messages per
    /// operation, and under 20 with the partition nemesis; 100 ms saves a
    /// fifth of the messages for a median up to 210 ms higher
    /// (docs/benchmarks-scale.md).
    pub batch_window: Duration,
    /// Messages a quiet link sends at once before it waits for credit
    /// (default 1: on `glomers` every extra message of credit costs about
    /// one more message per operation; a node's `[gossip] batch_burst`
    /// sets its own, see `config::gossip`).
    pub batch_burst: u32,
    /// A waiting batch leaves at once when it reaches this many bytes
    /// (default 16 KiB: a quarter of the frame cap, so a batch never
    /// comes near it).
    pub batch_bytes_max: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ihave_interval: Duration::from_millis(300),
            ihave_batch_max: 512,
            graft_timeout: Duration::from_millis(200),
            graft_retry: Duration::from_millis(100),
            optimization_threshold: Some(3),
            prune_window: Duration::from_secs(2),
            announce_recent: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(60),
            cache_capacity: 4096,
            cache_bytes: 256 * 1024,
            seen_ttl: Duration::from_secs(600),
            seen_capacity: 8192,
            batch_window: Duration::from_millis(45),
            batch_burst: 1,
            batch_bytes_max: 16 * 1024,
        }
    }
}

/// Most GRAFTs sent to one neighbour per `graft_retry` window (see
/// `graft_missing`): with the 100 ms default, 320 a second, and each
/// window's GRAFTs and answers a small share of the transport's 256-frame
/// send queue.
const GRAFTS_PER_PEER: usize = 32;

/// Most messages announced to this node (IHAVE) and not received yet that
/// it awaits at once, from all its neighbours together. Each one costs an
/// entry with its announcers, a GRAFT timer and, when the timer fires, a
/// GRAFT; a key holder can announce ids nobody ever sent, as many as its
/// frames hold. An office's broadcasts are a few a second and a new
/// neighbour announces what it delivered in the last `announce_recent`,
/// tens to hundreds of ids; an announcement past this bound is dropped
/// (counted), and what it named still arrives along the tree or by
/// anti-entropy.
pub const MAX_MISSING: usize = 1024;

/// Most of the [`MAX_MISSING`] awaited messages that one neighbour's
/// announcements may have opened: a quarter, so a neighbour announcing
/// made-up ids cannot crowd out the announcements of the others (an active
/// view holds about five).
pub const MAX_MISSING_PER_PEER: usize = MAX_MISSING / 4;

/// An announcer whose announcements are refused is logged at most once
/// per this interval (every refusal is counted): a flood must not fill
/// the journal on the SD card.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Why an announced id was not awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementRefused {
    #[error("{max} announced messages are awaited already")]
    TooManyMissing { max: usize },
    #[error("this neighbour's announcements opened {max} awaited messages already")]
    TooManyFromPeer { max: usize },
}

/// What a cached payload costs beside its bytes: its slot in the cache's
/// table and its place in the expiry order, and the allocation holding
/// the bytes. Counted against `cache_bytes`, so a flood of tiny payloads
/// is bounded in bytes too.
pub const CACHE_ENTRY_OVERHEAD: usize = 96;

/// Plumtree's wake-ups. A timer that is no longer relevant is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Send the queued IHAVE batches.
    Dispatch,
    /// Messages announced by IHAVE are due to be GRAFTed from an announcer
    /// (see `graft_due`).
    Grafts,
    /// The batching window of the link to this neighbour has closed.
    Flush(NodeId),
}

/// What the node remembers of a message it has delivered.
#[derive(Clone, Copy, Debug)]
struct Seen {
    /// Hops from the origin it arrived with (0 for our own).
    hops: u16,
    /// The neighbour it came from eagerly, for the tree optimization.
    from: Option<NodeId>,
}

/// A bounded map whose entries expire in insertion order.
#[derive(Debug)]
struct Expiring<V> {
    map: HashMap<MessageId, V>,
    order: VecDeque<(Time, MessageId)>,
    ttl: Duration,
    capacity: usize,
    /// What one value weighs, the most all may weigh, and what they do.
    weigh: fn(&V) -> usize,
    budget: usize,
    weight: usize,
}

impl<V> Expiring<V> {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Expiring::weighed(ttl, capacity, |_| 0, usize::MAX)
    }

    /// Bounded also by the total `weigh` of its values.
    fn weighed(ttl: Duration, capacity: usize, weigh: fn(&V) -> usize, budget: usize) -> Self {
        Expiring {
            map: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            capacity: capacity.max(1),
            weigh,
            budget,
            weight: 0,
        }
    }

    fn insert(&mut self, now: Time, id: MessageId, value: V) {
        let adding = (self.weigh)(&value);
        if adding > self.budget {
            return;
        }
        while let Some(&(at, old)) = self.order.front() {
            if self.order.len() < self.capacity
                && at + self.ttl > now
                && self.weight + adding <= self.budget
            {
                break;
            }
            self.order.pop_front();
            if let Some(v) = self.map.remove(&old) {
                self.weight -= (self.weigh)(&v);
            }
        }
        if let Some(old) = self.map.insert(id, value) {
            self.weight -= (self.weigh)(&old);
        } else {
            self.order.push_back((now, id));
        }
        self.weight += adding;
    }

    fn get(&self, id: &MessageId) -> Option<&V> {
        self.map.get(id)
    }

    fn get_mut(&mut self, id: &MessageId) -> Option<&mut V> {
        self.map.get_mut(id)
    }

    fn contains(&self, id: &MessageId) -> bool {
        self.map.contains_key(id)
    }
}

/// Announcements received for a message not yet delivered.
#[derive(Debug)]
struct Missing {
    /// The neighbour whose announcement opened the entry: it is charged
    /// against [`MAX_MISSING_PER_PEER`] until the entry closes.
    opened_by: NodeId,
    /// Announcers not yet GRAFTed, oldest first.
    announcers: VecDeque<PeerInfo>,
    /// When it is next GRAFTed (its place in `Plumtree::graft_due`).
    due: Time,
}

/// One replica's broadcast state.
#[derive(Debug)]
pub struct Plumtree {
    me: NodeId,
    config: Config,
    /// Every active-view neighbour.
    peers: BTreeMap<NodeId, PeerInfo>,
    /// Which links are lazy in each origin's tree.
    trees: OriginTrees,
    seen: Expiring<Seen>,
    cache: Expiring<(u16, Bytes)>,
    missing: BTreeMap<MessageId, Missing>,
    /// How many of `missing` each neighbour's announcement opened.
    missing_opened: BTreeMap<NodeId, usize>,
    /// Announced ids refused by [`MAX_MISSING`] or [`MAX_MISSING_PER_PEER`].
    announcements_refused: u64,
    /// When each announcer's refusals were last logged.
    refusals_logged: BTreeMap<NodeId, Time>,
    /// Which neighbours announced a message to us (so they are not told of
    /// it again); cleared once the IHAVE batch that could use it has left.
    holders: BTreeMap<MessageId, BTreeSet<NodeId>>,
    /// IHAVE announcements waiting for the dispatch timer, per peer.
    lazy_queue: BTreeMap<NodeId, Vec<(MessageId, u16)>>,
    dispatch_armed: bool,
    /// GRAFTs sent to each neighbour in its current `graft_retry` window:
    /// (window start, count).
    graft_budget: BTreeMap<NodeId, (Time, usize)>,
    /// Awaited ids by when they are next GRAFTed: exactly the ids of
    /// `missing`, so at most [`MAX_MISSING`].
    graft_due: BTreeMap<Time, Vec<MessageId>>,
    /// PRUNEs decided while handling the current input, per link, sent
    /// together when it is done.
    prunes: BTreeMap<NodeId, (PeerInfo, Vec<NodeId>)>,
    /// Eager pushes waiting on busy links.
    batches: LinkBatches,
    /// Eager pushes leaving at once, per link, sent together when the
    /// input being handled is done.
    outgoing: BTreeMap<NodeId, Vec<BatchedGossip>>,
}

impl Plumtree {
    pub fn new(me: NodeId, config: Config) -> Self {
        let seen = Expiring::new(config.seen_ttl, config.seen_capacity);
        let cache = Expiring::weighed(
            config.cache_ttl,
            config.cache_capacity,
            |(_, payload): &(u16, Bytes)| payload.len() + CACHE_ENTRY_OVERHEAD,
            config.cache_bytes,
        );
        let batches = LinkBatches::new(
            config.batch_window,
            config.batch_burst,
            config.batch_bytes_max,
        );
        Plumtree {
            batches,
            me,
            config,
            peers: BTreeMap::new(),
            trees: OriginTrees::default(),
            seen,
            cache,
            missing: BTreeMap::new(),
            missing_opened: BTreeMap::new(),
            announcements_refused: 0,
            refusals_logged: BTreeMap::new(),
            holders: BTreeMap::new(),
            lazy_queue: BTreeMap::new(),
            dispatch_armed: false,
            graft_budget: BTreeMap::new(),
            graft_due: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            prunes: BTreeMap::new(),
        }
    }

    /// The neighbours broadcasts go to (the active view).
    pub fn neighbours(&self) -> Vec<NodeId> {
        self.peers.keys().copied().collect()
    }

    /// The neighbours `origin`'s broadcasts are pushed to in full.
    pub fn eager_peers(&self, origin: NodeId) -> Vec<NodeId> {
        self.peers
            .keys()
            .filter(|p| self.trees.is_eager(origin, **p))
            .copied()
            .collect()
    }

    /// The neighbours that only hear `origin`'s ids (IHAVE).
    pub fn lazy_peers(&self, origin: NodeId) -> Vec<NodeId> {
        self.peers
            .keys()
            .filter(|p| !self.trees.is_eager(origin, **p))
            .copied()
            .collect()
    }

    /// A new active-view neighbour starts eager in every tree (§3.4). It is also
    /// announced the messages of the last `announce_recent`: a neighbour
    /// usually replaces one that failed, and what was pushed into the dead
    /// link in the meantime is otherwise lost for whole subtrees; after a
    /// partition heals, the first links across carry what each side missed.
    pub fn neighbor_up(&mut self, now: Time, peer: PeerInfo, out: &mut Vec<Output>) {
        self.peers.insert(peer.id, peer);
        // A new neighbour starts eager in every tree; it was the parent of
        // none here.
        let _ = self.trees.forget_peer(peer.id);
        let window = self.config.announce_recent;
        let recent: Vec<(MessageId, u16)> = self
            .cache
            .order
            .iter()
            .rev()
            .take_while(|(at, _)| *at + window > now)
            .filter_map(|(_, id)| {
                self.cache
                    .get(id)
                    .map(|(hops, _)| (*id, hops.saturating_add(1)))
            })
            .filter(|(id, _)| id.origin != peer.id)
            .collect();
        if recent.is_empty() {
            return;
        }
        self.lazy_queue
            .entry(peer.id)
            .or_default()
            .extend(recent.into_iter().rev());
        self.arm_dispatch(now, out);
    }

    fn arm_dispatch(&mut self, now: Time, out: &mut Vec<Output>) {
        if !self.dispatch_armed {
            self.dispatch_armed = true;
            out.push(Output::Schedule {
                at: now + self.config.ihave_interval,
                timer: Timer::Dispatch,
            });
        }
    }

    /// A neighbour left the active view. Each origin it was the parent
    /// for here (its other links lazy in that tree) is heard from no one
    /// now, and an origin that broadcasts rarely (a writer quiet for a
    /// minute) would reach this node only by IHAVE and GRAFT, hundreds of
    /// milliseconds late. So those trees start over around this node: it
    /// makes every link eager for them and GRAFTs every neighbour (one
    /// message each, without a resend), so their next broadcast floods
    /// here and its duplicates prune a new tree.
    pub fn neighbor_down(&mut self, id: NodeId, out: &mut Vec<Output>) {
        self.peers.remove(&id);
        let orphaned = self.trees.forget_peer(id);
        if !orphaned.is_empty() {
            for orphan in &orphaned {
                tracing::debug!(target: "officemesh::tree", origin = %orphan.origin, lost = %id, "parent lost: tree starts over");
                self.trees.reset(orphan.origin);
            }
            for peer in self.peers.values() {
                for chunk in orphaned.chunks(self.config.ihave_batch_max.max(1)) {
                    send(
                        out,
                        *peer,
                        Message::Graft {
                            ids: chunk.to_vec(),
                            resend: false,
                        },
                    );
                }
            }
        }
        self.graft_budget.remove(&id);
        self.lazy_queue.remove(&id);
        self.batches.remove(id);
        for missing in self.missing.values_mut() {
            missing.announcers.retain(|p| p.id != id);
        }
    }

    /// Originates `payload` under `id` (our own message, or an observer's
    /// write entering the overlay through this node). Returns false when
    /// the id was already seen.
    /// `hops` is this node's distance from the writer (0 for our own).
    pub fn originate(
        &mut self,
        now: Time,
        id: MessageId,
        hops: u16,
        payload: Bytes,
        out: &mut Vec<Output>,
    ) -> bool {
        if self.seen.contains(&id) {
            return false;
        }
        self.seen.insert(now, id, Seen { hops, from: None });
        self.close_missing(&id);
        self.cache.insert(now, id, (hops, payload.clone()));
        self.push(now, id, hops.saturating_add(1), &payload, None, out);
        self.send_outgoing(out);
        true
    }

    pub fn handle_message(
        &mut self,
        now: Time,
        from: PeerInfo,
        msg: Message,
        out: &mut Vec<Output>,
    ) {
        match msg {
            Message::Gossip { id, round, payload } => {
                self.on_gossip(now, from, id, round, payload, out)
            }
            Message::IHave { ids } => self.on_ihave(now, from, ids, out),
            Message::Graft { ids, resend } => self.on_graft(from, ids, resend, out),
            Message::Prune { origins } => {
                if self.peers.contains_key(&from.id) {
                    for origin in origins {
                        self.make_lazy(origin, from.id, None, "pruned by the peer");
                    }
                }
            }
            Message::Batch { gossip, ihave } => {
                for g in gossip {
                    self.on_gossip(now, from, g.id, g.round, g.payload, out);
                }
                if !ihave.is_empty() {
                    self.on_ihave(now, from, ihave, out);
                }
            }
        }
        self.send_outgoing(out);
    }

    pub fn timer_fired(&mut self, now: Time, timer: Timer, out: &mut Vec<Output>) {
        match timer {
            Timer::Dispatch => {
                self.dispatch_armed = false;
                self.dispatch(out);
            }
            Timer::Grafts => self.grafts_due(now, out),
            Timer::Flush(peer) => {
                if let Some(batch) = self.batches.flush(now, peer) {
                    self.send_batch(peer, batch, out);
                }
            }
        }
    }

    /// §3.3: deliver and push on a first copy; PRUNE the sender of a
    /// duplicate (§3.5).
    fn on_gossip(
        &mut self,
        now: Time,
        from: PeerInfo,
        id: MessageId,
        round: u16,
        payload: Bytes,
        out: &mut Vec<Output>,
    ) {
        if id.origin == self.me || self.seen.contains(&id) {
            self.on_duplicate(now, from, id, out);
            return;
        }
        self.seen.insert(
            now,
            id,
            Seen {
                hops: round,
                from: Some(from.id),
            },
        );
        self.cache.insert(now, id, (round, payload.clone()));
        self.close_missing(&id);
        self.trees.touch(id.origin);
        if self.peers.contains_key(&from.id) {
            self.adopt_parent(id, from, "a first copy came over it", out);
        }
        out.push(Output::Delivered {
            id,
            from: from.id,
            hops: round,
            payload: payload.clone(),
        });
        self.push(
            now,
            id,
            round.saturating_add(1),
            &payload,
            Some(from.id),
            out,
        );
    }

    /// §3.5: a duplicate shows a redundant eager link in its origin's tree;
    /// both ends make it lazy there. That holds when the first copy came in
    /// answer to our GRAFT too: the link the duplicate came over is the one
    /// pruned, never the GRAFTed one. Undoing the GRAFT instead (taking the
    /// duplicate for a slow tree copy) left a node whose tree links had all
    /// been pruned with none again, so each of its origin's next broadcasts
    /// reached it only by IHAVE and GRAFT (measured on the 50-node
    /// benchmark: the first two writes after the overlay settled, 115 and
    /// 202 ms late at two such nodes).
    fn on_duplicate(&mut self, now: Time, from: PeerInfo, id: MessageId, out: &mut Vec<Output>) {
        if !self.peers.contains_key(&from.id) {
            return;
        }
        let origin = id.origin;
        let first_from = self.seen.get(&id).and_then(|seen| seen.from);
        if first_from.is_some_and(|first| first != from.id && !self.peers.contains_key(&first)) {
            // The first copy came from a node outside the active view: one
            // that holds a link to us we do not hold (HyParView settles
            // such a link a moment later, one way or the other). Pruning
            // our neighbours on its account would leave this origin's tree
            // hanging on that link, and once its holder dropped it the
            // origin's next broadcast reached this node only by IHAVE and
            // GRAFT (measured on the 50-node benchmark: one write 200 ms
            // late). The first neighbour's copy is the way in instead.
            if let Some(seen) = self.seen.get_mut(&id) {
                seen.from = Some(from.id);
            }
            self.adopt_parent(id, from, "the first copy came from outside the view", out);
            return;
        }
        match self.trees.pruned_at(origin, from.id) {
            None => {
                self.send_prune(now, from, origin);
                if let Some(parent) = self.seen.get(&id).and_then(|seen| seen.from) {
                    self.trees.set_parent(id, parent);
                }
            }
            // A lazy link still carrying copies sent before our PRUNE
            // arrived needs no second PRUNE. Copies that keep coming long
            // after it mean the peer has us as eager again while we have it
            // as lazy (its answer to a GRAFT crossed a copy from elsewhere):
            // without a second PRUNE that link would carry a duplicate of
            // every broadcast of this origin for good.
            Some(pruned) => {
                if pruned.is_none_or(|at| at + self.config.prune_window <= now) {
                    self.send_prune(now, from, origin);
                }
            }
        }
    }

    /// Makes `peer` lazy in `origin`'s tree and tells it to do the same,
    /// in one PRUNE with the other origins pruned on that link while the
    /// same input is handled (a batch of duplicates after a link change).
    fn send_prune(&mut self, now: Time, peer: PeerInfo, origin: NodeId) {
        self.make_lazy(origin, peer.id, Some(now), "pruned here");
        let prunes = &mut self.prunes.entry(peer.id).or_insert((peer, Vec::new())).1;
        if !prunes.contains(&origin) {
            prunes.push(origin);
        }
    }

    /// Eager push to the eager peers, IHAVE to the lazy ones.
    fn push(
        &mut self,
        now: Time,
        id: MessageId,
        round: u16,
        payload: &Bytes,
        from: Option<NodeId>,
        out: &mut Vec<Output>,
    ) {
        let holders = self.holders.remove(&id).unwrap_or_default();
        let mut queued = false;
        let mut eager_peers = Vec::new();
        for (peer_id, peer) in &self.peers {
            if Some(*peer_id) == from || holders.contains(peer_id) {
                continue;
            }
            if self.trees.is_eager(id.origin, *peer_id) {
                eager_peers.push(*peer);
            } else {
                self.lazy_queue
                    .entry(*peer_id)
                    .or_default()
                    .push((id, round));
                queued = true;
            }
        }
        if queued {
            self.arm_dispatch(now, out);
        }
        for peer in eager_peers {
            let item = BatchedGossip {
                id,
                round,
                payload: payload.clone(),
            };
            match self.batches.push(now, peer.id, item) {
                Pushed::Now(g) | Pushed::Joined(g) => {
                    self.outgoing.entry(peer.id).or_default().push(g);
                }
                Pushed::Queued(Some(at)) => out.push(Output::Schedule {
                    at,
                    timer: Timer::Flush(peer.id),
                }),
                Pushed::Queued(None) => {}
                Pushed::Full(batch) => self.send_batch(peer.id, batch, out),
            }
        }
    }

    /// Sends what left at once on each link during this input, one
    /// message per link.
    fn send_outgoing(&mut self, out: &mut Vec<Output>) {
        for (peer, origins) in std::mem::take(&mut self.prunes).into_values() {
            send(out, peer, Message::Prune { origins });
        }
        if self.outgoing.is_empty() {
            return;
        }
        let batching = !self.config.batch_window.is_zero();
        for (peer, gossip) in std::mem::take(&mut self.outgoing) {
            if batching {
                let ihave = Vec::new();
                self.send_batch(peer, Batch { gossip, ihave }, out);
            } else {
                // Without batching every payload is a message of its own.
                for g in gossip {
                    let one = Batch {
                        gossip: vec![g],
                        ihave: Vec::new(),
                    };
                    self.send_batch(peer, one, out);
                }
            }
        }
        self.batches.end_instant();
    }

    /// Sends what a link coalesced, as the smallest message that carries it.
    fn send_batch(&self, peer: NodeId, batch: Batch, out: &mut Vec<Output>) {
        let Some(peer) = self.peers.get(&peer).copied() else {
            return;
        };
        let Batch { mut gossip, ihave } = batch;
        let msg = match (gossip.len(), ihave.is_empty()) {
            (0, true) => return,
            (0, false) => Message::IHave { ids: ihave },
            (1, true) => {
                let Some(g) = gossip.pop() else {
                    return;
                };
                Message::Gossip {
                    id: g.id,
                    round: g.round,
                    payload: g.payload,
                }
            }
            _ => Message::Batch { gossip, ihave },
        };
        send(out, peer, msg);
    }

    fn dispatch(&mut self, out: &mut Vec<Output>) {
        for (peer_id, ids) in std::mem::take(&mut self.lazy_queue) {
            let Some(peer) = self.peers.get(&peer_id) else {
                continue;
            };
            // Peers that announced a message to us meanwhile have it.
            let ids: Vec<(MessageId, u16)> = ids
                .into_iter()
                .filter(|(id, _)| !self.holders.get(id).is_some_and(|h| h.contains(&peer_id)))
                .collect();
            // A batch waiting on the link carries them with its payloads.
            let Some(ids) = self.batches.piggyback(peer_id, ids) else {
                continue;
            };
            for chunk in ids.chunks(self.config.ihave_batch_max.max(1)) {
                send(
                    out,
                    *peer,
                    Message::IHave {
                        ids: chunk.to_vec(),
                    },
                );
            }
        }
        // Announcements of delivered messages were only kept for this batch.
        let seen = &self.seen;
        self.holders.retain(|id, _| !seen.contains(id));
    }

    /// §3.6: remember who announced a missing message and arm its GRAFT
    /// timer; §3.8: an announcement of a delivered message may reveal a
    /// shorter path.
    fn on_ihave(
        &mut self,
        now: Time,
        from: PeerInfo,
        ids: Vec<(MessageId, u16)>,
        out: &mut Vec<Output>,
    ) {
        for (id, round) in ids {
            if id.origin == self.me {
                continue;
            }
            if let Some(seen) = self.seen.get(&id).copied() {
                self.holders.entry(id).or_default().insert(from.id);
                self.maybe_optimize(now, from, id, round, seen, out);
                continue;
            }
            if let Some(missing) = self.missing.get_mut(&id) {
                if !missing.announcers.iter().any(|p| p.id == from.id) {
                    missing.announcers.push_back(from);
                }
                self.holders.entry(id).or_default().insert(from.id);
                continue;
            }
            if let Err(refusal) = self.may_open_missing(from.id) {
                self.refuse_announcement(now, from.id, refusal);
                continue;
            }
            self.holders.entry(id).or_default().insert(from.id);
            self.missing.insert(
                id,
                Missing {
                    opened_by: from.id,
                    announcers: VecDeque::from([from]),
                    due: now,
                },
            );
            *self.missing_opened.entry(from.id).or_default() += 1;
            self.queue_graft(now + self.config.graft_timeout, id, out);
        }
    }

    /// Whether an announcement from `peer` may open one more awaited
    /// message ([`MAX_MISSING`], [`MAX_MISSING_PER_PEER`]).
    fn may_open_missing(&self, peer: NodeId) -> Result<(), AnnouncementRefused> {
        if self.missing.len() >= MAX_MISSING {
            return Err(AnnouncementRefused::TooManyMissing { max: MAX_MISSING });
        }
        let opened = self.missing_opened.get(&peer).copied().unwrap_or(0);
        if opened >= MAX_MISSING_PER_PEER {
            return Err(AnnouncementRefused::TooManyFromPeer {
                max: MAX_MISSING_PER_PEER,
            });
        }
        Ok(())
    }

    /// Counts a refused announcement; logs it once per announcer per
    /// [`REFUSAL_LOG_INTERVAL`].
    fn refuse_announcement(&mut self, now: Time, peer: NodeId, refusal: AnnouncementRefused) {
        self.announcements_refused += 1;
        self.refusals_logged
            .retain(|_, at| *at + REFUSAL_LOG_INTERVAL > now);
        if self.refusals_logged.contains_key(&peer) {
            return;
        }
        self.refusals_logged.insert(peer, now);
        tracing::warn!(%peer, %refusal, "announcements refused (logged once a minute per peer)");
    }

    /// Forgets an awaited message (delivered, or given up on) and frees
    /// the share of its opener.
    fn close_missing(&mut self, id: &MessageId) {
        let Some(missing) = self.missing.remove(id) else {
            return;
        };
        if let Some(opened) = self.missing_opened.get_mut(&missing.opened_by) {
            *opened = opened.saturating_sub(1);
            if *opened == 0 {
                self.missing_opened.remove(&missing.opened_by);
            }
        }
        if let Some(due) = self.graft_due.get_mut(&missing.due) {
            due.retain(|d| d != id);
            if due.is_empty() {
                self.graft_due.remove(&missing.due);
            }
        }
    }

    /// Announced ids refused by the bounds on awaited messages.
    pub fn announcements_refused(&self) -> u64 {
        self.announcements_refused
    }

    /// Messages announced and awaited now.
    pub fn missing_len(&self) -> usize {
        self.missing.len()
    }

    /// §3.8: an announcement over a lazy link of `id`'s tree `threshold`
    /// hops shorter than the path the payload took swaps the eager parent
    /// for the announcer, in that origin's tree only.
    fn maybe_optimize(
        &mut self,
        now: Time,
        from: PeerInfo,
        id: MessageId,
        round: u16,
        seen: Seen,
        out: &mut Vec<Output>,
    ) {
        let Some(threshold) = self.config.optimization_threshold else {
            return;
        };
        let Some(parent) = seen.from else {
            return;
        };
        let lazy = self.peers.contains_key(&from.id) && !self.trees.is_eager(id.origin, from.id);
        if !lazy || parent == from.id || round.saturating_add(threshold) > seen.hops {
            return;
        }
        let Some(parent_info) = self.peers.get(&parent).copied() else {
            return;
        };
        self.make_eager(id.origin, from.id, "a shorter path announced");
        send(
            out,
            from,
            Message::Graft {
                ids: vec![id],
                resend: false,
            },
        );
        self.send_prune(now, parent_info, id.origin);
    }

    /// §3.6: GRAFTs the oldest announcer of a still-missing message, then
    /// waits `graft_retry` before trying the next one. A node that comes
    /// back after missing a burst (a new neighbour announces it every
    /// message of the last `announce_recent`) may miss hundreds at once;
    /// their timers all fire together, and as many GRAFTs (and as many
    /// payloads in answer) on one link overflow the transport's send
    /// queue, which drops the link as dead — measured in the 50-node
    /// benchmark: 658 GRAFTs in one millisecond, the link dropped, a new
    /// neighbour announcing again, ~88,000 GRAFTs from one node in a
    /// minute. So each neighbour gets at most `GRAFTS_PER_PEER` GRAFTs per
    /// `graft_retry` window; the rest wait for the next window.
    fn graft_missing(
        &mut self,
        now: Time,
        id: MessageId,
        grafts: &mut BTreeMap<NodeId, (PeerInfo, Vec<MessageId>)>,
        out: &mut Vec<Output>,
    ) {
        if self.seen.contains(&id) {
            self.close_missing(&id);
            return;
        }
        let window = self.config.graft_retry;
        let budget = &self.graft_budget;
        let Some(missing) = self.missing.get_mut(&id) else {
            return;
        };
        if missing.announcers.is_empty() {
            self.close_missing(&id);
            self.holders.remove(&id);
            return;
        }
        let open = |peer: NodeId| {
            budget
                .get(&peer)
                .is_none_or(|(start, sent)| *start + window <= now || *sent < GRAFTS_PER_PEER)
        };
        let Some(at) = missing.announcers.iter().position(|p| open(p.id)) else {
            // Every announcer has had its share of this window.
            self.queue_graft(now + window, id, out);
            return;
        };
        let Some(peer) = missing.announcers.remove(at) else {
            return;
        };
        let entry = self.graft_budget.entry(peer.id).or_insert((now, 0));
        if entry.0 + window <= now {
            *entry = (now, 0);
        }
        entry.1 += 1;
        self.make_eager(id.origin, peer.id, "a missing message grafted");
        grafts
            .entry(peer.id)
            .or_insert((peer, Vec::new()))
            .1
            .push(id);
        self.queue_graft(now + window, id, out);
    }

    /// Arms a GRAFT of `id` at `at`. Every id opened or retried at one
    /// instant shares one due time and one timer, so the GRAFTs leave
    /// together, one message per announcer: a node that missed a burst
    /// (across a healed partition, hundreds of ids announced at once)
    /// asks for it in a few messages and gets it back in a few batches,
    /// rather than one GRAFT and one payload message per id.
    fn queue_graft(&mut self, at: Time, id: MessageId, out: &mut Vec<Output>) {
        let Some(missing) = self.missing.get_mut(&id) else {
            return;
        };
        missing.due = at;
        let due = self.graft_due.entry(at).or_default();
        if due.is_empty() {
            out.push(Output::Schedule {
                at,
                timer: Timer::Grafts,
            });
        }
        due.push(id);
    }

    /// GRAFTs what is due, one message per announcer.
    fn grafts_due(&mut self, now: Time, out: &mut Vec<Output>) {
        let later = self.graft_due.split_off(&(now + Duration::from_micros(1)));
        let due = std::mem::replace(&mut self.graft_due, later);
        let mut grafts = BTreeMap::new();
        for id in due.into_values().flatten() {
            self.graft_missing(now, id, &mut grafts, out);
        }
        for (peer, ids) in grafts.into_values() {
            for chunk in ids.chunks(self.config.ihave_batch_max.max(1)) {
                send(
                    out,
                    peer,
                    Message::Graft {
                        ids: chunk.to_vec(),
                        resend: true,
                    },
                );
            }
        }
    }

    /// §3.6: the link turns eager in each named origin's tree and, when
    /// asked, the payloads still cached are resent, together, in batches
    /// of at most `batch_bytes_max`. What one GRAFT can ask for is bounded
    /// by the frame cap, and what it gets by the cache's bytes.
    fn on_graft(
        &mut self,
        from: PeerInfo,
        ids: Vec<MessageId>,
        resend: bool,
        out: &mut Vec<Output>,
    ) {
        if !self.peers.contains_key(&from.id) {
            return;
        }
        let mut answer: Vec<BatchedGossip> = Vec::new();
        let mut bytes = 0;
        for id in ids {
            self.make_eager(id.origin, from.id, "grafted by the peer");
            if !resend {
                continue;
            }
            let Some((hops, payload)) = self.cache.get(&id) else {
                continue;
            };
            if !answer.is_empty() && bytes + payload.len() > self.config.batch_bytes_max {
                let gossip = std::mem::take(&mut answer);
                self.send_batch(
                    from.id,
                    Batch {
                        gossip,
                        ihave: Vec::new(),
                    },
                    out,
                );
                bytes = 0;
            }
            bytes += payload.len();
            answer.push(BatchedGossip {
                id,
                round: hops.saturating_add(1),
                payload: payload.clone(),
            });
        }
        self.send_batch(
            from.id,
            Batch {
                gossip: answer,
                ihave: Vec::new(),
            },
            out,
        );
    }
    /// Makes neighbour `from`, whose copy of `id` is this node's way in
    /// for the origin, its parent in that origin's tree. A copy over a
    /// link lazy here means the peer sent it before our PRUNE reached it
    /// and treats the link as lazy now: it is GRAFTed back, so the link is
    /// eager at both ends; otherwise the duplicate that follows prunes our
    /// other parent and no one pushes this origin to us any more.
    fn adopt_parent(
        &mut self,
        id: MessageId,
        from: PeerInfo,
        why: &'static str,
        out: &mut Vec<Output>,
    ) {
        self.trees.set_parent(id, from.id);
        if !self.trees.is_eager(id.origin, from.id) {
            send(
                out,
                from,
                Message::Graft {
                    ids: vec![id],
                    resend: false,
                },
            );
        }
        self.make_eager(id.origin, from.id, why);
    }

    /// Every change of a link's state in a tree is traced
    /// (`officemesh::tree` at debug) with its cause: a node a broadcast
    /// reached late is explained by the history of its links.
    fn make_eager(&mut self, origin: NodeId, peer: NodeId, why: &'static str) {
        if !self.trees.is_eager(origin, peer) {
            tracing::debug!(target: "officemesh::tree", %origin, %peer, eager = true, why, "link state");
        }
        self.trees.set_eager(origin, peer);
    }

    fn make_lazy(
        &mut self,
        origin: NodeId,
        peer: NodeId,
        pruned_at: Option<Time>,
        why: &'static str,
    ) {
        if self.trees.is_eager(origin, peer) {
            tracing::debug!(target: "officemesh::tree", %origin, %peer, eager = false, why, "link state");
        }
        self.trees.set_lazy(origin, peer, pruned_at);
    }
}

fn send(out: &mut Vec<Output>, to: PeerInfo, msg: Message) {
    out.push(Output::Send { to, msg });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::test_net::peer;

    fn tree(me: u64, peers: &[u64]) -> Plumtree {
        tree_with(me, peers, Config::default())
    }

    /// Links busy after one message, so a test sees batching at once.
    fn tree_without_burst(me: u64, peers: &[u64]) -> Plumtree {
        let config = Config {
            batch_burst: 1,
            ..Config::default()
        };
        tree_with(me, peers, config)
    }

    fn tree_with(me: u64, peers: &[u64], config: Config) -> Plumtree {
        let mut p = Plumtree::new(NodeId(me), config);
        for &id in peers {
            p.neighbor_up(Time::ZERO, peer(id), &mut Vec::new());
        }
        p
    }

    fn sent(out: &[Output]) -> Vec<(NodeId, Message)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { to, msg } => Some((to.id, msg.clone())),
                _ => None,
            })
            .collect()
    }

    fn timers(out: &[Output]) -> Vec<(Time, Timer)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Schedule { at, timer: t } => Some((*at, t.clone())),
                _ => None,
            })
            .collect()
    }

    fn mid(origin: u64, seq: u64) -> MessageId {
        MessageId {
            origin: NodeId(origin),
            seq,
        }
    }

    /// A PRUNE of one origin's tree.
    fn prune(origin: u64) -> Message {
        Message::Prune {
            origins: vec![NodeId(origin)],
        }
    }

    fn gossip(id: MessageId, round: u16) -> Message {
        Message::Gossip {
            id,
            round,
            payload: Bytes::from_static(b"p"),
        }
    }

    #[test]
    fn a_first_copy_is_delivered_and_pushed_eagerly_and_lazily() {
        let mut p = tree_without_burst(1, &[2, 3, 4]);
        p.trees.set_lazy(NodeId(9), NodeId(4), None);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 3), &mut out);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::Delivered { hops: 3, .. }))
        );
        assert_eq!(sent(&out), vec![(NodeId(3), gossip(mid(9, 1), 4))]);
        assert_eq!(
            timers(&out),
            vec![(
                Time::ZERO + Config::default().ihave_interval,
                Timer::Dispatch
            )]
        );
        // A second message before the dispatch shares the IHAVE batch and
        // its timer; the eager link, busy since the first, waits out its
        // batching window.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 2), 3), &mut out);
        assert!(sent(&out).is_empty());
        let window = Config::default().batch_window;
        assert_eq!(
            timers(&out),
            vec![(Time::ZERO + window, Timer::Flush(NodeId(3)))]
        );
        let mut out = Vec::new();
        p.timer_fired(Time::from_millis(100), Timer::Dispatch, &mut out);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(4),
                Message::IHave {
                    ids: vec![(mid(9, 1), 4), (mid(9, 2), 4)]
                }
            )]
        );
        // One payload waited: it leaves as a plain GOSSIP.
        let mut out = Vec::new();
        p.timer_fired(Time::ZERO + window, Timer::Flush(NodeId(3)), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(3), gossip(mid(9, 2), 4))]);
        // Nothing queued: nothing sent.
        let mut out = Vec::new();
        p.timer_fired(Time::from_millis(200), Timer::Dispatch, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_busy_link_coalesces_payloads_and_announcements_into_one_batch() {
        let mut p = tree_without_burst(1, &[2, 3]);
        let window = Config::default().batch_window;
        let t0 = Time::from_millis(1_000);
        let mut out = Vec::new();
        p.handle_message(t0, peer(2), gossip(mid(9, 1), 1), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(3), gossip(mid(9, 1), 2))]);
        for seq in 2..=4 {
            let mut out = Vec::new();
            p.handle_message(t0, peer(2), gossip(mid(9, seq), 1), &mut out);
            assert!(sent(&out).is_empty(), "message {seq} waits");
        }
        // Node 3 prunes us meanwhile: the next message is announced to it,
        // and the announcement rides with the waiting payloads.
        p.handle_message(t0, peer(3), prune(9), &mut Vec::new());
        let mut out = Vec::new();
        p.handle_message(t0, peer(2), gossip(mid(9, 5), 1), &mut out);
        let ihave_due = t0 + Config::default().ihave_interval;
        assert!(timers(&out).contains(&(ihave_due, Timer::Dispatch)));
        let mut out = Vec::new();
        p.timer_fired(ihave_due, Timer::Dispatch, &mut out);
        assert!(sent(&out).is_empty());
        let mut out = Vec::new();
        p.timer_fired(t0 + window, Timer::Flush(NodeId(3)), &mut out);
        let batched = |seq| BatchedGossip {
            id: mid(9, seq),
            round: 2,
            payload: Bytes::from_static(b"p"),
        };
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(3),
                Message::Batch {
                    gossip: vec![batched(2), batched(3), batched(4)],
                    ihave: vec![(mid(9, 5), 2)],
                }
            )]
        );
    }

    #[test]
    fn a_received_batch_delivers_each_payload_and_arms_grafts_for_its_announcements() {
        let mut p = tree(1, &[2, 3]);
        let batch = Message::Batch {
            gossip: (1..=3)
                .map(|seq| BatchedGossip {
                    id: mid(9, seq),
                    round: 2,
                    payload: Bytes::from_static(b"p"),
                })
                .collect(),
            ihave: vec![(mid(8, 1), 3)],
        };
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), batch, &mut out);
        let delivered: Vec<MessageId> = out
            .iter()
            .filter_map(|o| match o {
                Output::Delivered { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(delivered, vec![mid(9, 1), mid(9, 2), mid(9, 3)]);
        assert!(
            timers(&out).contains(&(Time::ZERO + Config::default().graft_timeout, Timer::Grafts))
        );
    }

    #[test]
    fn a_zero_window_pushes_every_payload_at_once() {
        let config = Config {
            batch_window: Duration::ZERO,
            ..Config::default()
        };
        let mut p = Plumtree::new(NodeId(1), config);
        for id in [2, 3] {
            p.neighbor_up(Time::ZERO, peer(id), &mut Vec::new());
        }
        for seq in 1..=5 {
            let mut out = Vec::new();
            p.handle_message(Time::ZERO, peer(2), gossip(mid(9, seq), 1), &mut out);
            assert_eq!(sent(&out), vec![(NodeId(3), gossip(mid(9, seq), 2))]);
        }
    }

    #[test]
    fn a_first_copy_from_outside_the_view_leaves_the_first_neighbours_copy_as_the_way_in() {
        let mut p = tree(1, &[2, 3]);
        // 7 holds a link to us that is not in our active view.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(7), gossip(mid(9, 1), 1), &mut out);
        assert!(out.iter().any(|o| matches!(o, Output::Delivered { .. })));
        // The first neighbour's copy is not pruned: it is the way in.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 2), &mut out);
        assert!(sent(&out).is_empty(), "{:?}", sent(&out));
        // The next one is a duplicate of the tree and is pruned.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 1), 3), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(3), prune(9))]);
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(2)]);
        // When 2 goes, the tree starts over around this node: 2 was its
        // parent for the origin, not 7.
        let mut out = Vec::new();
        p.neighbor_down(NodeId(2), &mut out);
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3)]);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(3),
                Message::Graft {
                    ids: vec![mid(9, 1)],
                    resend: false
                }
            )]
        );
    }

    #[test]
    fn a_duplicate_prunes_its_sender_and_prune_makes_the_link_lazy() {
        let mut p = tree(1, &[2, 3]);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 1), &mut out);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 1), 2), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(3), prune(9))]);
        assert!(
            !out.iter().any(|o| matches!(o, Output::Delivered { .. })),
            "delivered at most once"
        );
        assert_eq!(p.lazy_peers(NodeId(9)), vec![NodeId(3)]);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), prune(9), &mut out);
        assert_eq!(p.lazy_peers(NodeId(9)), vec![NodeId(2), NodeId(3)]);
    }

    #[test]
    fn a_prune_changes_only_its_origins_tree() {
        let unbatched = Config {
            batch_window: Duration::ZERO,
            ..Config::default()
        };
        let mut p = tree_with(1, &[2, 3], unbatched);
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 1), &mut Vec::new());
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 1), 2), &mut Vec::new());
        assert_eq!(p.lazy_peers(NodeId(9)), vec![NodeId(3)]);
        // Another origin's broadcast still floods both links: its own
        // first arrivals will shape its tree.
        assert_eq!(p.eager_peers(NodeId(8)), vec![NodeId(2), NodeId(3)]);
        let mut out = Vec::new();
        p.originate(Time::ZERO, mid(1, 1), 0, Bytes::from_static(b"p"), &mut out);
        assert_eq!(
            sent(&out),
            vec![
                (NodeId(2), gossip(mid(1, 1), 1)),
                (NodeId(3), gossip(mid(1, 1), 1))
            ]
        );
        // A PRUNE names its origin; a stranger's PRUNE changes nothing.
        p.handle_message(Time::ZERO, peer(2), prune(1), &mut Vec::new());
        p.handle_message(Time::ZERO, peer(7), prune(8), &mut Vec::new());
        assert_eq!(p.lazy_peers(NodeId(1)), vec![NodeId(2)]);
        assert_eq!(p.lazy_peers(NodeId(8)), Vec::<NodeId>::new());
        assert_eq!(p.lazy_peers(NodeId(9)), vec![NodeId(3)]);
        // Losing a neighbour leaves no trace in any tree, and it comes back
        // eager everywhere.
        p.neighbor_down(NodeId(3), &mut Vec::new());
        p.neighbor_up(Time::ZERO, peer(3), &mut Vec::new());
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(2), NodeId(3)]);
        assert_eq!((p.trees.len(), p.trees.evicted()), (1, 0));
    }

    /// Node 1 between 2 and 3, whose link to 3 a duplicate of message
    /// (9, 1) has just made lazy.
    fn pruned_by_a_duplicate() -> Plumtree {
        let mut p = tree(1, &[2, 3]);
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 1), &mut Vec::new());
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 1), 2), &mut Vec::new());
        assert_eq!(p.lazy_peers(NodeId(9)), vec![NodeId(3)]);
        p
    }

    #[test]
    fn a_first_copy_over_a_link_pruned_here_grafts_it_back() {
        let mut p = pruned_by_a_duplicate();
        // The next message of origin 9 comes first from 3, sent before our
        // PRUNE reached it: 3 now has us as lazy, so we GRAFT it back, and
        // the copy from 2 that follows prunes 2 instead.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 2), 2), &mut out);
        assert_eq!(
            sent(&out)[0],
            (
                NodeId(3),
                Message::Graft {
                    ids: vec![mid(9, 2)],
                    resend: false
                }
            )
        );
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 2), 1), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(2), prune(9))]);
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3)]);
        // A first copy over an eager link needs no GRAFT.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 3), 2), &mut out);
        assert!(
            sent(&out)
                .iter()
                .all(|(_, m)| !matches!(m, Message::Graft { .. }))
        );
    }

    #[test]
    fn losing_the_parent_of_a_tree_grafts_every_other_neighbour() {
        let mut p = tree(1, &[2, 3, 4]);
        let id = mid(9, 1);
        p.handle_message(Time::ZERO, peer(2), gossip(id, 1), &mut Vec::new());
        p.handle_message(Time::ZERO, peer(3), gossip(id, 2), &mut Vec::new());
        p.handle_message(Time::ZERO, peer(4), gossip(id, 2), &mut Vec::new());
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(2)]);
        let mut out = Vec::new();
        p.neighbor_down(NodeId(2), &mut out);
        let graft = Message::Graft {
            ids: vec![id],
            resend: false,
        };
        assert_eq!(
            sent(&out),
            vec![(NodeId(3), graft.clone()), (NodeId(4), graft)]
        );
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3), NodeId(4)]);
        // Losing a child leaves the tree as it is.
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 2), 1), &mut out);
        p.handle_message(Time::ZERO, peer(4), gossip(mid(9, 2), 2), &mut Vec::new());
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3)]);
        p.neighbor_up(Time::ZERO, peer(5), &mut Vec::new());
        let mut out = Vec::new();
        p.neighbor_down(NodeId(5), &mut out);
        assert!(sent(&out).is_empty());
    }

    #[test]
    fn a_duplicate_over_a_link_already_lazy_sends_no_second_prune() {
        let mut p = pruned_by_a_duplicate();
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(mid(9, 1), 2), &mut out);
        assert!(sent(&out).is_empty());
    }

    #[test]
    fn copies_still_coming_over_a_lazy_link_long_after_its_prune_prune_it_again() {
        let mut p = pruned_by_a_duplicate();
        // Peer 3 has us as eager again (say its answer to a GRAFT of ours
        // crossed a copy from elsewhere): every broadcast now comes twice.
        let later = Time::ZERO + Config::default().prune_window * 3;
        p.handle_message(later, peer(2), gossip(mid(9, 2), 1), &mut Vec::new());
        let mut out = Vec::new();
        p.handle_message(later, peer(3), gossip(mid(9, 2), 2), &mut out);
        assert_eq!(sent(&out), vec![(NodeId(3), prune(9))]);
    }

    #[test]
    fn a_burst_of_missing_messages_is_grafted_a_window_at_a_time() {
        let mut p = tree(1, &[2]);
        p.trees.set_lazy(NodeId(9), NodeId(2), None);
        let ids: Vec<(MessageId, u16)> = (0..100).map(|seq| (mid(9, seq), 2)).collect();
        p.handle_message(
            Time::ZERO,
            peer(2),
            Message::IHave { ids: ids.clone() },
            &mut Vec::new(),
        );
        let config = Config::default();
        // The GRAFTs due at one instant leave as one message.
        let fire = |p: &mut Plumtree, at: Time| {
            let mut out = Vec::new();
            p.timer_fired(at, Timer::Grafts, &mut out);
            let sent = sent(&out);
            assert_eq!(sent.len(), 1);
            match &sent[0].1 {
                Message::Graft { ids, resend: true } => ids.len(),
                other => panic!("not a GRAFT: {other:?}"),
            }
        };
        let first = Time::ZERO + config.graft_timeout;
        assert_eq!(fire(&mut p, first), GRAFTS_PER_PEER);
        // The next window takes the next share; ones already grafted wait
        // for their answer instead (their announcer is used up).
        assert_eq!(fire(&mut p, first + config.graft_retry), GRAFTS_PER_PEER);
    }

    #[test]
    fn a_missing_message_is_grafted_from_one_announcer_then_the_next() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(9), NodeId(2), None);
        p.trees.set_lazy(NodeId(9), NodeId(3), None);
        let id = mid(9, 1);
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(2),
            Message::IHave { ids: vec![(id, 2)] },
            &mut out,
        );
        let config = Config::default();
        assert_eq!(
            timers(&out),
            vec![(Time::ZERO + config.graft_timeout, Timer::Grafts)]
        );
        let mut out = Vec::new();
        p.handle_message(
            Time::from_millis(5),
            peer(3),
            Message::IHave { ids: vec![(id, 3)] },
            &mut out,
        );
        assert!(timers(&out).is_empty(), "one timer per message");

        let t1 = Time::ZERO + config.graft_timeout;
        let mut out = Vec::new();
        p.timer_fired(t1, Timer::Grafts, &mut out);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(2),
                Message::Graft {
                    ids: vec![id],
                    resend: true,
                }
            )]
        );
        assert_eq!(timers(&out), vec![(t1 + config.graft_retry, Timer::Grafts)]);
        assert!(p.eager_peers(NodeId(9)).contains(&NodeId(2)));

        let mut out = Vec::new();
        p.timer_fired(t1 + config.graft_retry, Timer::Grafts, &mut out);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(3),
                Message::Graft {
                    ids: vec![id],
                    resend: true,
                }
            )]
        );

        // It arrives: later timers are stale.
        let mut out = Vec::new();
        p.handle_message(t1, peer(3), gossip(id, 3), &mut out);
        let mut out = Vec::new();
        p.timer_fired(t1 + config.graft_retry * 2, Timer::Grafts, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_graft_makes_the_link_eager_and_resends_from_the_cache() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(1), NodeId(3), None);
        let id = mid(1, 7);
        let mut out = Vec::new();
        p.originate(Time::ZERO, id, 0, Bytes::from_static(b"p"), &mut out);
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(3),
            Message::Graft {
                ids: vec![id],
                resend: true,
            },
            &mut out,
        );
        assert_eq!(sent(&out), vec![(NodeId(3), gossip(id, 1))]);
        assert!(p.eager_peers(NodeId(1)).contains(&NodeId(3)));
        // Several ids, one of them not cached: one batch with the others.
        let more = [mid(1, 8), mid(1, 9)];
        for id in more {
            p.originate(Time::ZERO, id, 0, Bytes::from_static(b"p"), &mut Vec::new());
        }
        let mut out = Vec::new();
        let ids = vec![more[0], mid(5, 5), more[1]];
        let graft = Message::Graft { ids, resend: true };
        p.handle_message(Time::ZERO, peer(3), graft, &mut out);
        let batched = |id| BatchedGossip {
            id,
            round: 1,
            payload: Bytes::from_static(b"p"),
        };
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(3),
                Message::Batch {
                    gossip: vec![batched(more[0]), batched(more[1])],
                    ihave: vec![]
                }
            )]
        );
    }

    #[test]
    fn a_peer_that_announced_a_message_is_not_told_of_it() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(9), NodeId(3), None);
        let id = mid(9, 1);
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(3),
            Message::IHave { ids: vec![(id, 1)] },
            &mut out,
        );
        p.handle_message(Time::ZERO, peer(2), gossip(id, 1), &mut out);
        let mut out = Vec::new();
        p.timer_fired(Time::from_millis(100), Timer::Dispatch, &mut out);
        assert!(sent(&out).is_empty());
    }

    #[test]
    fn the_optimization_swaps_a_long_eager_path_for_a_short_lazy_one() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(9), NodeId(3), None);
        let id = mid(9, 1);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(id, 8), &mut out);
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(3),
            Message::IHave { ids: vec![(id, 2)] },
            &mut out,
        );
        assert_eq!(
            sent(&out),
            vec![
                (
                    NodeId(3),
                    Message::Graft {
                        ids: vec![id],
                        resend: false
                    }
                ),
                (NodeId(2), prune(9))
            ]
        );
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3)]);
        // A small gain is not worth reshaping the tree.
        let id = mid(9, 2);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(3), gossip(id, 4), &mut out);
        let mut out = Vec::new();
        p.neighbor_up(Time::ZERO, peer(4), &mut Vec::new());
        p.trees.set_lazy(NodeId(9), NodeId(4), None);
        p.handle_message(
            Time::ZERO,
            peer(4),
            Message::IHave { ids: vec![(id, 2)] },
            &mut out,
        );
        assert!(sent(&out).is_empty());
    }

    #[test]
    fn a_duplicate_after_a_graft_prunes_its_own_link_not_the_grafted_one() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(9), NodeId(3), None);
        let id = mid(9, 1);
        let config = Config::default();
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO,
            peer(3),
            Message::IHave { ids: vec![(id, 1)] },
            &mut out,
        );
        p.timer_fired(Time::ZERO + config.graft_timeout, Timer::Grafts, &mut out);
        p.handle_message(
            Time::ZERO + config.graft_timeout,
            peer(3),
            gossip(id, 1),
            &mut out,
        );
        // A copy over the other link after the GRAFT's answer: that link
        // goes, the GRAFTed one stays this node's way in.
        let mut out = Vec::new();
        p.handle_message(
            Time::ZERO + config.graft_timeout,
            peer(2),
            gossip(id, 6),
            &mut out,
        );
        assert_eq!(sent(&out), vec![(NodeId(2), prune(9))]);
        assert_eq!(p.eager_peers(NodeId(9)), vec![NodeId(3)]);
    }

    #[test]
    fn a_lost_neighbour_leaves_no_trace() {
        let mut p = tree(1, &[2, 3]);
        p.trees.set_lazy(NodeId(9), NodeId(3), None);
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 1), &mut out);
        p.neighbor_down(NodeId(3), &mut Vec::new());
        let mut out = Vec::new();
        p.timer_fired(Time::from_millis(100), Timer::Dispatch, &mut out);
        assert!(sent(&out).is_empty());
        assert!(p.lazy_peers(NodeId(9)).is_empty());
    }

    #[test]
    fn seen_ids_and_cached_payloads_are_bounded_and_expire() {
        let mut e: Expiring<u8> = Expiring::new(Duration::from_secs(1), 3);
        for seq in 0..5 {
            e.insert(Time::ZERO, mid(1, seq), 0);
        }
        assert_eq!(e.map.len(), 3);
        assert!(!e.contains(&mid(1, 0)) && e.contains(&mid(1, 4)));
        e.insert(Time::from_millis(1500), mid(1, 9), 0);
        assert_eq!(e.map.len(), 1, "everything older than the ttl is gone");
    }

    #[test]
    fn cached_payloads_are_bounded_in_bytes() {
        let mut e: Expiring<Vec<u8>> =
            Expiring::weighed(Duration::from_secs(60), 4096, Vec::len, 100);
        for seq in 0..10 {
            e.insert(Time::ZERO, mid(1, seq), vec![0; 30]);
        }
        assert_eq!(e.map.len(), 3, "three of 30 bytes fit in 100");
        assert_eq!(e.weight, 90);
        assert!(e.contains(&mid(1, 9)) && !e.contains(&mid(1, 6)));
        // A value over the whole budget is not cached at all.
        e.insert(Time::ZERO, mid(1, 99), vec![0; 101]);
        assert!(!e.contains(&mid(1, 99)));
        assert_eq!(e.map.len(), 3);
    }

    #[test]
    fn a_new_neighbour_is_told_of_recent_messages() {
        let mut p = tree(1, &[2]);
        let window = Config::default().announce_recent;
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), gossip(mid(9, 1), 1), &mut out);
        let recent = Time::ZERO + (window - Duration::from_millis(1_000));
        p.handle_message(recent, peer(2), gossip(mid(9, 2), 1), &mut out);
        // The first message is just older than the window.
        let now = Time::ZERO + window + Duration::from_millis(1);
        let mut out = Vec::new();
        p.neighbor_up(now, peer(3), &mut out);
        assert_eq!(
            timers(&out),
            vec![(now + Config::default().ihave_interval, Timer::Dispatch)]
        );
        let mut out = Vec::new();
        p.timer_fired(now, Timer::Dispatch, &mut out);
        assert_eq!(
            sent(&out),
            vec![(
                NodeId(3),
                Message::IHave {
                    ids: vec![(mid(9, 2), 2)]
                }
            )]
        );
    }

    fn announce(origin: u64, seqs: std::ops::Range<u64>) -> Message {
        Message::IHave {
            ids: seqs.map(|seq| (mid(origin, seq), 1)).collect(),
        }
    }

    #[test]
    fn announced_missing_messages_stop_at_their_bounds_and_refusals_are_counted() {
        let mut p = tree(1, &[2, 3, 4, 5, 6]);
        let over = MAX_MISSING_PER_PEER as u64 + 10;
        let mut out = Vec::new();
        p.handle_message(Time::ZERO, peer(2), announce(100, 0..over), &mut out);
        assert_eq!(p.missing_len(), MAX_MISSING_PER_PEER);
        assert_eq!(p.announcements_refused(), 10);
        assert_eq!(
            timers(&out),
            vec![(Time::ZERO + Config::default().graft_timeout, Timer::Grafts)],
            "one GRAFT timer for the whole announcement"
        );
        // The other neighbours are still heard, and an id already awaited
        // takes a second announcer without taking a share.
        p.handle_message(Time::ZERO, peer(3), announce(100, 0..5), &mut Vec::new());
        assert_eq!(p.missing_len(), MAX_MISSING_PER_PEER);
        assert_eq!(p.announcements_refused(), 10);
        for (n, origin) in [(3, 200), (4, 300), (5, 400), (6, 500)] {
            p.handle_message(
                Time::ZERO,
                peer(n),
                announce(origin, 0..over),
                &mut Vec::new(),
            );
        }
        assert_eq!(p.missing_len(), MAX_MISSING);
        let refused = p.announcements_refused();
        assert_eq!(refused, 5 * over - MAX_MISSING as u64);
        // A delivery frees its opener's share.
        p.handle_message(Time::ZERO, peer(2), gossip(mid(100, 0), 1), &mut Vec::new());
        assert_eq!(p.missing_len(), MAX_MISSING - 1);
        p.handle_message(Time::ZERO, peer(2), announce(600, 0..2), &mut Vec::new());
        assert_eq!(p.missing_len(), MAX_MISSING);
        assert_eq!(p.announcements_refused(), refused + 1);
    }

    #[test]
    fn an_awaited_message_nobody_sends_is_given_up_and_its_share_freed() {
        let mut p = tree(1, &[2]);
        let n = MAX_MISSING_PER_PEER as u64;
        p.handle_message(Time::ZERO, peer(2), announce(100, 0..n), &mut Vec::new());
        assert_eq!(p.missing_len(), MAX_MISSING_PER_PEER);
        // Each GRAFT timer GRAFTs the only announcer (within the per-peer
        // budget), and the next firing gives the message up.
        let mut now = Time::ZERO;
        for _ in 0..(2 * n as usize / GRAFTS_PER_PEER + 4) {
            now += Duration::from_millis(100);
            p.timer_fired(now, Timer::Grafts, &mut Vec::new());
        }
        assert_eq!(p.missing_len(), 0);
        assert!(p.missing_opened.is_empty());
        p.handle_message(now, peer(2), announce(100, n..2 * n), &mut Vec::new());
        assert_eq!(p.missing_len(), MAX_MISSING_PER_PEER);
    }

    #[derive(Clone, Debug)]
    enum Step {
        Announce { peer: u64, origin: u64, count: u64 },
        Deliver { peer: u64, origin: u64, seq: u64 },
        Graft,
        Down { peer: u64 },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (2u64..7, 0u64..4, 0u64..700).prop_map(|(peer, origin, count)| Step::Announce {
                peer,
                origin,
                count
            }),
            (2u64..7, 0u64..4, 0u64..700).prop_map(|(peer, origin, seq)| Step::Deliver {
                peer,
                origin,
                seq
            }),
            Just(Step::Graft),
            (2u64..7).prop_map(|peer| Step::Down { peer }),
        ]
    }

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn awaited_messages_never_pass_their_bounds(steps in proptest::collection::vec(step(), 1..40)) {
            let mut p = tree(1, &[2, 3, 4, 5, 6]);
            let mut now = Time::ZERO;
            for step in steps {
                now += Duration::from_millis(50);
                let mut out = Vec::new();
                match step {
                    Step::Announce { peer: n, origin, count } => {
                        let ids = announce(origin + 10, 0..count);
                        p.handle_message(now, peer(n), ids, &mut out);
                    }
                    Step::Deliver { peer: n, origin, seq } => {
                        p.handle_message(now, peer(n), gossip(mid(origin + 10, seq), 1), &mut out);
                    }
                    Step::Graft => p.timer_fired(now, Timer::Grafts, &mut out),
                    Step::Down { peer } => p.neighbor_down(NodeId(peer), &mut out),
                }
                prop_assert!(p.missing.len() <= MAX_MISSING);
                let due: Vec<MessageId> = p.graft_due.values().flatten().copied().collect();
                prop_assert_eq!(due.len(), p.missing.len());
                prop_assert!(due.iter().all(|id| p.missing.get(id).is_some_and(|m| p.graft_due[&m.due].contains(id))));
                prop_assert!(p.missing_opened.values().all(|n| *n <= MAX_MISSING_PER_PEER && *n > 0));
                prop_assert_eq!(p.missing_opened.values().sum::<usize>(), p.missing.len());
                prop_assert!(p.refusals_logged.len() <= 5);
            }
        }
    }
}
