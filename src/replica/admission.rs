//! Admission: every change a peer sends is input to be checked, not state
//! to be joined. One function per route a change can enter by — a
//! broadcast delivery, an anti-entropy answer, an observer's write — all
//! built on the same register checks, so no route is weaker than another.
//!
//! A rejected register is dropped before the join, counted by reason, and
//! logged once per peer and reason per minute (a hostile peer must not be
//! able to fill the log either).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::TargetsSection;
use crate::crdt::{Delta, MvRegister, NodeInfo, OfficeState, Quantity, TargetKey, TargetValue};
use crate::node_id::NodeId;
use crate::time::Time;

/// Longest zone name. Zones are short room names ("meeting-2"); the name
/// travels in every target delta and every replica keeps it.
pub const MAX_ZONE_LEN: usize = 64;
/// Longest human label (a node's name, a target's set-by).
pub const MAX_LABEL_LEN: usize = 64;
/// Most values one key may hold at once. Concurrent writes to one key are
/// rare (two operators in the same second); a register with hundreds of
/// siblings is a peer inflating every replica's memory.
pub const MAX_SIBLINGS: usize = 16;
/// Most keys one broadcast write may touch: forgetting a node touches its
/// entry and each of its sensors and actuators, every other write one key.
pub const MAX_KEYS_PER_WRITE: usize = 256;
/// Most keys a replica holds. Fifty Pis with a dozen sensors each hold
/// about a thousand; past this new keys are refused so a peer cannot grow
/// every replica's memory and disk without bound.
pub const MAX_KEYS: usize = 10_000;
/// How far ahead of this replica's wall clock a write may be stamped. A
/// write from the future would win every later conflict and drag every
/// replica's hybrid clock forward with it; an office's clocks agree within
/// seconds under NTP, and a Pi without a real-time clock boots in the
/// past, not the future.
pub const MAX_CLOCK_AHEAD: Duration = Duration::from_secs(15 * 60);
/// Most interfaces, failed sensors and neighbours a `Node` entry lists.
pub const MAX_ENTRY_ITEMS: usize = 64;
/// Longest free text in a `Node` entry (a failed sensor's message).
pub const MAX_TEXT_LEN: usize = 256;
/// Most dots one refusal notice names: an observer writes one key at a time.
pub const MAX_REFUSED_DOTS: usize = 8;
/// How far past the highest counter a replica has seen of an observer a
/// refusal notice may reach. A refused write is the observer's next one,
/// so a notice needs no more; a peer lying about refusals can then mark at
/// most this many of an observer's future writes as seen, and the node
/// that later gets one of them answers that it was refused, never
/// *stored*.
pub const MAX_REFUSED_AHEAD: u64 = 4;

/// A peer's repeated rejection for the same reason is logged at most this
/// often.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Peers remembered for log rate limiting; past it the oldest is forgotten.
const MAX_LOGGED: usize = 256;

/// The route a change arrived by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A Plumtree delivery (any node may have relayed it).
    Broadcast,
    /// A register in an anti-entropy answer.
    AntiEntropy,
    /// An observer's write request to the node it is attached to.
    ObserverWrite,
}

/// Why a change was refused, in the operator's terms.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("observers change the office only through write requests, not anti-entropy")]
    ObserverSync,
    #[error("an observer may only write targets or forget nodes")]
    ObserverKey,
    #[error("the write carries a dot of replica {found}, not the writer's ({writer})")]
    ForeignDot { found: NodeId, writer: NodeId },
    #[error("the write is empty")]
    Empty,
    #[error("target {zone}: a target without a value (only forgetting a node removes keys)")]
    TargetWithoutValue { zone: String },
    #[error("{reason}")]
    TargetOutOfRange { reason: String },
    #[error("a zone name of {len} bytes (at most {MAX_ZONE_LEN})")]
    ZoneTooLong { len: usize },
    #[error("a label of {len} bytes (at most {MAX_LABEL_LEN})")]
    LabelTooLong { len: usize },
    #[error("{count} values under one key (at most {MAX_SIBLINGS})")]
    TooManySiblings { count: usize },
    #[error("stamped {ahead_s} s ahead of this replica's clock (at most {} s)", MAX_CLOCK_AHEAD.as_secs())]
    FromTheFuture { ahead_s: u64 },
    #[error("a node entry with {what}")]
    NodeEntryTooLarge { what: &'static str },
    #[error("{count} keys in one write (at most {MAX_KEYS_PER_WRITE})")]
    TooManyKeys { count: usize },
    #[error("this replica already holds {MAX_KEYS} keys")]
    StateFull,
    #[error("undecodable: {0}")]
    Undecodable(String),
    #[error("a refusal notice for {replica}, which is a node or too far ahead")]
    RefusalNotice { replica: NodeId },
    #[error("this write was refused before")]
    RefusedBefore,
}

impl Rejection {
    /// A short stable name, for counters and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::ObserverSync => "observer_sync",
            Rejection::ObserverKey => "observer_key",
            Rejection::ForeignDot { .. } => "foreign_dot",
            Rejection::Empty => "empty",
            Rejection::TargetWithoutValue { .. } => "target_without_value",
            Rejection::TargetOutOfRange { .. } => "target_out_of_range",
            Rejection::ZoneTooLong { .. } => "zone_too_long",
            Rejection::LabelTooLong { .. } => "label_too_long",
            Rejection::TooManySiblings { .. } => "too_many_siblings",
            Rejection::FromTheFuture { .. } => "from_the_future",
            Rejection::NodeEntryTooLarge { .. } => "node_entry_too_large",
            Rejection::TooManyKeys { .. } => "too_many_keys",
            Rejection::StateFull => "state_full",
            Rejection::Undecodable(_) => "undecodable",
            Rejection::RefusalNotice { .. } => "refusal_notice",
            Rejection::RefusedBefore => "refused_before",
        }
    }
}

/// Checks a target value against the configured range, with a message an
/// operator can act on.
pub fn check_target(
    targets: &TargetsSection,
    quantity: Quantity,
    value: f32,
) -> Result<(), String> {
    let Some(range) = targets.range(quantity.name()) else {
        return Err(format!(
            "no range is configured for {quantity} targets (only [targets.temperature])"
        ));
    };
    range.check(f64::from(value)).map_err(|e| {
        format!(
            "{quantity} target {e} {unit} (configured in [targets.{quantity}]: min {}, max {}, step {})",
            range.min,
            range.max,
            range.step,
            unit = quantity.default_unit()
        )
    })
}

/// The admission checks of one replica and what they refused.
#[derive(Debug)]
pub struct Admission {
    targets: TargetsSection,
    rejected: BTreeMap<&'static str, u64>,
    logged: BTreeMap<(NodeId, &'static str), Time>,
}

impl Admission {
    pub fn new(targets: TargetsSection) -> Self {
        Admission {
            targets,
            rejected: BTreeMap::new(),
            logged: BTreeMap::new(),
        }
    }

    /// Rejections so far, by [`Rejection::kind`].
    pub fn rejected(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Drops from `delta` every register that may not enter `state` by
    /// `route` from `from`; returns how many were dropped.
    pub fn filter(
        &mut self,
        now: Time,
        wall_ms: u64,
        from: NodeId,
        route: Route,
        delta: &mut Delta,
        state: &OfficeState,
    ) -> usize {
        if route == Route::Broadcast && delta.len() > MAX_KEYS_PER_WRITE {
            let count = delta.len();
            *delta = Delta::default();
            self.refuse(now, from, route, &Rejection::TooManyKeys { count });
            return count;
        }
        let mut refused = Vec::new();
        let regs = &mut delta.0;
        let mut keep = |r: Result<(), Rejection>| match r {
            Ok(()) => true,
            Err(e) => {
                refused.push(e);
                false
            }
        };
        regs.nodes
            .retain(|_, r| keep(check_node(r, wall_ms).and_then(|()| check_common(r, wall_ms))));
        regs.sensors.retain(|_, r| keep(check_common(r, wall_ms)));
        regs.actuators.retain(|_, r| keep(check_common(r, wall_ms)));
        let targets = &self.targets;
        regs.targets
            .retain(|k, r| keep(check_target_register(targets, k, r, wall_ms)));
        // New keys only while the replica is under its bound; the keys it
        // holds keep being updated.
        let regs = &mut delta.0;
        let held = &state.registers;
        let mut room = MAX_KEYS.saturating_sub(held.len());
        let mut fits = |known: bool| {
            if known {
                return true;
            }
            if room == 0 {
                refused.push(Rejection::StateFull);
                return false;
            }
            room -= 1;
            true
        };
        regs.nodes.retain(|k, _| fits(held.nodes.contains_key(k)));
        regs.sensors
            .retain(|k, _| fits(held.sensors.contains_key(k)));
        regs.actuators
            .retain(|k, _| fits(held.actuators.contains_key(k)));
        regs.targets
            .retain(|k, _| fits(held.targets.contains_key(k)));
        let count = refused.len();
        for e in refused {
            self.refuse(now, from, route, &e);
        }
        count
    }

    /// Checks an observer's write request as a whole: it is applied
    /// entirely or not at all, and answered either way.
    pub fn observer_write(
        &mut self,
        now: Time,
        wall_ms: u64,
        observer: NodeId,
        delta: &Delta,
    ) -> Result<(), Rejection> {
        let result = self.check_observer_write(wall_ms, observer, delta);
        if let Err(e) = &result {
            self.refuse(now, observer, Route::ObserverWrite, e);
        }
        result
    }

    fn check_observer_write(
        &self,
        wall_ms: u64,
        observer: NodeId,
        delta: &Delta,
    ) -> Result<(), Rejection> {
        let regs = &delta.0;
        if delta.is_empty() {
            return Err(Rejection::Empty);
        }
        if delta.len() > MAX_KEYS_PER_WRITE {
            return Err(Rejection::TooManyKeys { count: delta.len() });
        }
        // Nodes, sensors and actuators only as tombstones: forgetting a node.
        let forgets = regs.nodes.values().all(MvRegister::is_empty)
            && regs.sensors.values().all(MvRegister::is_empty)
            && regs.actuators.values().all(MvRegister::is_empty);
        if !forgets {
            return Err(Rejection::ObserverKey);
        }
        let own = |dots: &mut dyn Iterator<Item = crate::crdt::Dot>| {
            dots.map(|d| d.replica)
                .find(|r| *r != observer)
                .map_or(Ok(()), |found| {
                    Err(Rejection::ForeignDot {
                        found,
                        writer: observer,
                    })
                })
        };
        for (key, register) in &regs.targets {
            own(&mut register.siblings().map(|(d, _)| d))?;
            check_target_register(&self.targets, key, register, wall_ms)?;
        }
        // A tombstone's own dot is the newest entry of its context.
        for r in regs.nodes.values() {
            own(&mut r
                .context()
                .iter()
                .filter(|(id, _)| *id == observer)
                .map(|(id, c)| crate::crdt::Dot::new(id, c)))?;
        }
        Ok(())
    }

    /// Checks a refusal notice: dots of an observer (no `Node` entry), few,
    /// and at most [`MAX_REFUSED_AHEAD`] past what `state` has seen of it.
    pub fn refusal_notice(
        &mut self,
        now: Time,
        from: NodeId,
        observer: NodeId,
        counters: &[u64],
        state: &OfficeState,
    ) -> Result<(), Rejection> {
        let known = state.context().max_counter(observer);
        let node = state.registers.nodes.contains_key(&observer);
        if node
            || counters.len() > MAX_REFUSED_DOTS
            || counters
                .iter()
                .any(|c| *c == 0 || *c > known.saturating_add(MAX_REFUSED_AHEAD))
        {
            let why = Rejection::RefusalNotice { replica: observer };
            self.refuse(now, from, Route::Broadcast, &why);
            return Err(why);
        }
        Ok(())
    }

    /// Counts `n` changes refused for one reason (a whole message).
    pub fn refuse_all(&mut self, now: Time, from: NodeId, route: Route, n: usize, why: &Rejection) {
        *self.rejected.entry(why.kind()).or_default() += n.saturating_sub(1) as u64;
        self.refuse(now, from, route, why);
    }

    fn refuse(&mut self, now: Time, from: NodeId, route: Route, why: &Rejection) {
        *self.rejected.entry(why.kind()).or_default() += 1;
        let key = (from, why.kind());
        let due = self
            .logged
            .get(&key)
            .is_none_or(|at| now.saturating_since(*at) >= LOG_EVERY);
        if due {
            tracing::warn!(peer = %from, ?route, reason = %why, "change refused");
            if self.logged.len() >= MAX_LOGGED {
                self.logged
                    .retain(|_, at| now.saturating_since(*at) < LOG_EVERY);
            }
            if self.logged.len() < MAX_LOGGED {
                self.logged.insert(key, now);
            }
        }
    }
}

/// Bounds every register shares: sibling count and time stamps.
fn check_common<V: Clone>(r: &MvRegister<V>, wall_ms: u64) -> Result<(), Rejection> {
    if r.len() > MAX_SIBLINGS {
        return Err(Rejection::TooManySiblings { count: r.len() });
    }
    let limit = wall_ms.saturating_add(MAX_CLOCK_AHEAD.as_millis() as u64);
    let newest = r
        .siblings()
        .map(|(_, s)| s.at.wall_ms)
        .chain(r.removed_at().map(|t| t.wall_ms))
        .max()
        .unwrap_or(0);
    if newest > limit {
        return Err(Rejection::FromTheFuture {
            ahead_s: (newest - wall_ms) / 1000,
        });
    }
    Ok(())
}

fn check_node(r: &MvRegister<NodeInfo>, _wall_ms: u64) -> Result<(), Rejection> {
    for (_, s) in r.siblings() {
        let info = &s.value;
        if info.name.len() > MAX_LABEL_LEN {
            return Err(Rejection::LabelTooLong {
                len: info.name.len(),
            });
        }
        if info.zone.len() > MAX_ZONE_LEN {
            return Err(Rejection::ZoneTooLong {
                len: info.zone.len(),
            });
        }
        if info.version.len() > MAX_LABEL_LEN {
            return Err(Rejection::NodeEntryTooLarge {
                what: "a long version",
            });
        }
        if info.interfaces.len() > MAX_ENTRY_ITEMS
            || info.interfaces.iter().any(|i| {
                i.name.len() > MAX_LABEL_LEN
                    || i.ipv4.len() > MAX_ENTRY_ITEMS
                    || i.ipv6.len() > MAX_ENTRY_ITEMS
            })
        {
            return Err(Rejection::NodeEntryTooLarge {
                what: "too many interfaces or addresses",
            });
        }
        if info.failed_sensors.len() > MAX_ENTRY_ITEMS
            || info
                .failed_sensors
                .iter()
                .any(|f| f.sensor.len() > MAX_LABEL_LEN || f.message.len() > MAX_TEXT_LEN)
        {
            return Err(Rejection::NodeEntryTooLarge {
                what: "too many or too long failed sensors",
            });
        }
        if info.neighbours.len() > MAX_ENTRY_ITEMS {
            return Err(Rejection::NodeEntryTooLarge {
                what: "too many neighbours",
            });
        }
    }
    Ok(())
}

fn check_target_register(
    targets: &TargetsSection,
    key: &TargetKey,
    r: &MvRegister<TargetValue>,
    wall_ms: u64,
) -> Result<(), Rejection> {
    if key.zone.len() > MAX_ZONE_LEN {
        return Err(Rejection::ZoneTooLong {
            len: key.zone.len(),
        });
    }
    if r.is_empty() {
        return Err(Rejection::TargetWithoutValue {
            zone: key.zone.clone(),
        });
    }
    check_common(r, wall_ms)?;
    for (_, s) in r.siblings() {
        if s.value.set_by.len() > MAX_LABEL_LEN {
            return Err(Rejection::LabelTooLong {
                len: s.value.set_by.len(),
            });
        }
        check_target(targets, key.quantity, s.value.value)
            .map_err(|reason| Rejection::TargetOutOfRange { reason })?;
    }
    Ok(())
}
