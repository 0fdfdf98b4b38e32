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

use serde::Serialize;

use super::authorship::{Authorship, Trust, Unauthored};
use super::awaiting_keys::{Awaiting, AwaitingKeys};
pub use super::route::Route;
use crate::config::TargetsSection;
use crate::crdt::{
    Delta, HeatingLimits, Key, MvRegister, NodeInfo, OfficeState, OverrideValue, PresetKey,
    PresetValue, PublicKey, Quantity, Schedule, SignatureError, TargetKey, TargetValue, WriteProof,
};
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
/// Most sensors and actuators one node may have. A Pi drives a handful
/// (a thermometer or three, a relay); a node announcing thousands is a
/// peer filling every replica's memory under a made-up identity.
pub const MAX_KEYS_PER_NODE: usize = 64;
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

/// Most dots one restart may announce as skipped: the rest of a reserved
/// block and what its last run wrote since its writer was last stored.
pub const MAX_SKIPPED: u64 = 4 * crate::replica::persistence::DOT_BLOCK;

/// A peer's repeated rejection for the same reason is logged at most this
/// often.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Peers remembered for log rate limiting; past it the oldest is forgotten.
const MAX_LOGGED: usize = 256;

/// Why a change was refused, in the operator's terms.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Rejection {
    #[error("observers change the office only through write requests, not anti-entropy")]
    ObserverSync,
    #[error(
        "an observer may only write targets, schedules, presets and overrides, or forget nodes"
    )]
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
    #[error("node {node} already has {MAX_KEYS_PER_NODE} sensors and actuators")]
    NodeFull { node: NodeId },
    #[error("undecodable: {0}")]
    Undecodable(String),
    #[error("a refusal notice for {replica}: a node, too many writes, or not signed by it")]
    RefusalNotice { replica: NodeId },
    #[error("this write was refused before")]
    RefusedBefore,
    #[error("a skipped-dots notice of {replica} before any later write of it, or too long")]
    SkippedNotice { replica: NodeId },
    #[error("{key}: {reason}")]
    Heating { key: String, reason: String },
    #[error("a write by {writer}: {reason}")]
    Signature {
        writer: NodeId,
        reason: SignatureError,
    },
    #[error("{writer} may not write {key}")]
    NotAuthorised { writer: NodeId, key: String },
    #[error("a write by {writer}, which is revoked")]
    Revoked { writer: NodeId },
    #[error("claims write {counter} of {replica} was seen, but only {proven} is proven")]
    UnprovenClaim {
        replica: NodeId,
        counter: u64,
        proven: u64,
    },
    #[error("{count} proofs that do not check against their author's key")]
    BadProofs { count: usize },
    #[error("operator {writer} signs as `{claimed}`, not as its configured name")]
    Impersonation { writer: NodeId, claimed: String },
    #[error("a clock report from {from} for another node, or from a node nobody knows")]
    ForeignReport { from: NodeId },
}

impl From<Unauthored> for Rejection {
    fn from(why: Unauthored) -> Self {
        match why {
            Unauthored::Signature { writer, reason } => Rejection::Signature { writer, reason },
            Unauthored::NotAuthorised { writer, key } => Rejection::NotAuthorised { writer, key },
            Unauthored::Revoked { writer } => Rejection::Revoked { writer },
            Unauthored::UnprovenClaim {
                replica,
                counter,
                proven,
            } => Rejection::UnprovenClaim {
                replica,
                counter,
                proven,
            },
            Unauthored::Impersonation { writer, claimed } => {
                Rejection::Impersonation { writer, claimed }
            }
        }
    }
}

impl Rejection {
    /// Whether the change may pass once a proof arrives: it claims to
    /// replace a write not proven here yet, or its author's key (which
    /// comes with the author's `Node` entry) is not known here yet.
    pub fn awaits_proof(&self) -> bool {
        matches!(
            self,
            Rejection::UnprovenClaim { .. }
                | Rejection::Signature {
                    reason: SignatureError::UnknownKey,
                    ..
                }
        )
    }

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
            Rejection::NodeFull { .. } => "node_full",
            Rejection::Undecodable(_) => "undecodable",
            Rejection::RefusalNotice { .. } => "refusal_notice",
            Rejection::RefusedBefore => "refused_before",
            Rejection::SkippedNotice { .. } => "skipped_notice",
            Rejection::Heating { .. } => "heating_out_of_bounds",
            Rejection::Signature {
                reason: SignatureError::Unsigned,
                ..
            } => "unsigned",
            Rejection::Signature {
                reason: SignatureError::UnknownKey,
                ..
            } => "unknown_signer",
            Rejection::Signature { .. } => "bad_signature",
            Rejection::NotAuthorised { .. } => "not_authorised",
            Rejection::Revoked { .. } => "revoked",
            Rejection::UnprovenClaim { .. } => "unproven_claim",
            Rejection::BadProofs { .. } => "bad_proof",
            Rejection::Impersonation { .. } => "impersonation",
            Rejection::ForeignReport { .. } => "foreign_report",
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

/// What a change is checked against: the replica's state, and its
/// writer's last counter (no change may claim this replica's writes past
/// it).
#[derive(Clone, Copy)]
pub struct Holding<'a> {
    pub state: &'a OfficeState,
    pub my_counter: u64,
}

/// The admission checks of one replica and what they refused.
#[derive(Debug)]
pub struct Admission {
    me: NodeId,
    targets: TargetsSection,
    authorship: Authorship,
    rejected: BTreeMap<&'static str, u64>,
    logged: BTreeMap<(NodeId, &'static str), Time>,
    /// Whether the last [`Admission::filter`] dropped a change only for
    /// want of a proof or a key that the peer it came from holds.
    awaited_proof: bool,
    /// Writes whose author's key is not known here yet.
    awaiting: AwaitingKeys,
}

impl Admission {
    pub fn new(me: NodeId, targets: TargetsSection, trust: Trust) -> Self {
        Admission {
            me,
            targets,
            authorship: Authorship::new(trust),
            rejected: BTreeMap::new(),
            logged: BTreeMap::new(),
            awaited_proof: false,
            awaiting: AwaitingKeys::default(),
        }
    }

    /// Whether the last [`Admission::filter`] dropped a change only because
    /// what proves it (an earlier write it claims to replace, or its
    /// author's key) has not reached this replica yet. Writes relayed in
    /// another order than they were made, as after a partition heals, are
    /// refused this way; the peer that relayed them holds the proofs.
    pub fn awaited_proof(&self) -> bool {
        self.awaited_proof
    }

    /// Who wrote what this replica holds, and who may write.
    pub fn authorship(&self) -> &Authorship {
        &self.authorship
    }

    /// Takes a reloaded operators list and revoked set.
    pub fn set_trust(&mut self, trust: Trust) {
        self.authorship.set_trust(trust);
    }

    /// Records the signing keys and proven counters of writes that need no
    /// check: this replica's own, and its state from its own disk.
    pub(crate) fn learn(&mut self, regs: &crate::crdt::Registers) {
        self.authorship.learn(regs.signed_writes());
    }

    /// This replica's own signing key: a write under its dots is checked
    /// against it from the start, not held as by an unknown author.
    pub(crate) fn learn_own_key(&mut self, key: PublicKey) {
        self.authorship.learn_key(key);
    }

    /// Holds the dots a peer vouches it has seen to what is proven here: a
    /// claim on this replica's counter to its writer, on another's to
    /// that replica's highest signed write known here.
    pub fn clip_seen(&self, seen: &mut crate::crdt::CausalContext, my_counter: u64) {
        let a = &self.authorship;
        let me = self.me;
        *seen = seen.clipped(|r| if r == me { my_counter } else { a.proven(r) });
    }

    /// Takes the proofs an anti-entropy answer carries, refusing (and
    /// counting) those that do not check.
    pub fn accept_proofs(&mut self, now: Time, from: NodeId, proofs: &[WriteProof]) {
        let count = self.authorship.accept_proofs(proofs);
        if count > 0 {
            self.refuse(
                now,
                from,
                Route::AntiEntropy,
                &Rejection::BadProofs { count },
            );
        }
    }

    /// Rejections so far, by [`Rejection::kind`].
    pub fn rejected(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejected
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// Drops from `delta` every register that may not enter `held.state`
    /// by `route` from `from`; returns how many were dropped, refused or
    /// set aside until their authors' keys are known (see
    /// [`Admission::checkable`]): either way they are not joined now.
    pub fn filter(
        &mut self,
        now: Time,
        wall_ms: u64,
        from: NodeId,
        route: Route,
        delta: &mut Delta,
        held: Holding<'_>,
    ) -> usize {
        let Holding { state, my_counter } = held;
        self.awaited_proof = false;
        if route == Route::Broadcast && delta.len() > MAX_KEYS_PER_WRITE {
            let count = delta.len();
            *delta = Delta::default();
            self.refuse(now, from, route, &Rejection::TooManyKeys { count });
            return count;
        }
        let mut refused = Vec::new();
        let regs = &mut delta.0;
        let mut keep = |r: Result<(), Rejection>| passes(r, &mut refused);
        regs.nodes
            .retain(|_, r| keep(check_node(r, wall_ms).and_then(|()| check_common(r, wall_ms))));
        regs.sensors.retain(|_, r| keep(check_common(r, wall_ms)));
        regs.actuators.retain(|_, r| keep(check_common(r, wall_ms)));
        let targets = &self.targets;
        regs.targets
            .retain(|k, r| keep(check_target_register(targets, k, r, wall_ms)));
        let limits = targets.heating_limits();
        regs.schedules
            .retain(|z, r| keep(check_schedule_register(&limits, z, r, wall_ms)));
        regs.presets
            .retain(|k, r| keep(check_preset_register(&limits, k, r, wall_ms)));
        regs.overrides
            .retain(|z, r| keep(check_override_register(&limits, z, r, wall_ms)));
        // Signatures and write rights first, learning the keys and proofs
        // of what passes; then every claim against what is now proven.
        let held = &state.registers;
        let mut waiting = crate::crdt::Registers::default();
        let a = &mut self.authorship;
        screen(
            &mut regs.nodes,
            &held.nodes,
            |k| Key::Node(*k),
            a,
            &mut refused,
            &mut waiting.nodes,
        );
        screen(
            &mut regs.sensors,
            &held.sensors,
            |k| Key::Sensor(*k),
            a,
            &mut refused,
            &mut waiting.sensors,
        );
        screen(
            &mut regs.actuators,
            &held.actuators,
            |k| Key::Actuator(*k),
            a,
            &mut refused,
            &mut waiting.actuators,
        );
        screen(
            &mut regs.targets,
            &held.targets,
            |k| Key::Target(k.clone()),
            a,
            &mut refused,
            &mut waiting.targets,
        );
        screen(
            &mut regs.schedules,
            &held.schedules,
            |k| Key::Schedule(k.clone()),
            a,
            &mut refused,
            &mut waiting.schedules,
        );
        screen(
            &mut regs.presets,
            &held.presets,
            |k| Key::Preset(k.clone()),
            a,
            &mut refused,
            &mut waiting.presets,
        );
        screen(
            &mut regs.overrides,
            &held.overrides,
            |k| Key::Override(k.clone()),
            a,
            &mut refused,
            &mut waiting.overrides,
        );
        let (me, a) = (self.me, &self.authorship);
        let checked = &mut refused;
        regs.targets
            .retain(|k, r| passes(a.check_label(r, held.targets.get(k)), checked));
        regs.schedules
            .retain(|k, r| passes(a.check_label(r, held.schedules.get(k)), checked));
        regs.presets
            .retain(|k, r| passes(a.check_label(r, held.presets.get(k)), checked));
        regs.overrides
            .retain(|k, r| passes(a.check_label(r, held.overrides.get(k)), checked));
        regs.nodes
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.sensors
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.actuators
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.targets
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.schedules
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.presets
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        regs.overrides
            .retain(|_, r| passes(a.check_claims(r, me, my_counter), checked));
        // New keys only while the replica is under its bound; the keys it
        // holds keep being updated.
        let regs = &mut delta.0;
        let held = &state.registers;
        // And a node's own keys (sensors and actuators) only up to its
        // bound, so identities made up by one key holder cannot fill the
        // replica's room for everyone else.
        let mut per_node: BTreeMap<NodeId, usize> = BTreeMap::new();
        let mut node_room = |node: NodeId, known: bool| {
            if known {
                return true;
            }
            let used = per_node.entry(node).or_insert_with(|| {
                held.sensors.keys().filter(|k| k.node == node).count()
                    + held.actuators.keys().filter(|k| k.node == node).count()
            });
            if *used >= MAX_KEYS_PER_NODE {
                refused.push(Rejection::NodeFull { node });
                return false;
            }
            *used += 1;
            true
        };
        regs.sensors
            .retain(|k, _| node_room(k.node, held.sensors.contains_key(k)));
        regs.actuators
            .retain(|k, _| node_room(k.node, held.actuators.contains_key(k)));
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
        regs.schedules
            .retain(|k, _| fits(held.schedules.contains_key(k)));
        regs.presets
            .retain(|k, _| fits(held.presets.contains_key(k)));
        regs.overrides
            .retain(|k, _| fits(held.overrides.contains_key(k)));
        let deferred = waiting.len();
        if !waiting.is_empty() {
            let held = Awaiting {
                since: now,
                from,
                route,
                delta: Delta(waiting),
            };
            // An observer's write is answered at once: it cannot wait.
            if route == Route::ObserverWrite {
                self.refuse_unknown(now, held);
            } else {
                for old in self.awaiting.hold(held) {
                    self.refuse_unknown(now, old);
                }
            }
        }
        let count = refused.len();
        self.awaited_proof = refused.iter().any(Rejection::awaits_proof);
        for e in refused {
            self.refuse(now, from, route, &e);
        }
        count + deferred
    }

    /// Changes whose authors' keys are all known now, to be checked again
    /// (through [`Admission::filter`], by the route they came by); those
    /// that waited their time are refused.
    pub fn checkable(&mut self, now: Time) -> Vec<Awaiting> {
        if self.awaiting.is_empty() {
            return Vec::new();
        }
        let authorship = &self.authorship;
        let (expired, ready) = self
            .awaiting
            .take(now, |author| authorship.key(author).is_some());
        for old in expired {
            self.refuse_unknown(now, old);
        }
        ready
    }

    fn refuse_unknown(&mut self, now: Time, old: Awaiting) {
        let writer = old
            .delta
            .authors()
            .into_iter()
            .find(|a| self.authorship.key(*a).is_none())
            .unwrap_or(old.from);
        let why = Rejection::Signature {
            writer,
            reason: SignatureError::UnknownKey,
        };
        self.refuse_all(now, old.from, old.route, old.delta.len(), &why);
    }

    /// Checks an observer's write request as a whole: it is applied
    /// entirely or not at all, and answered either way.
    pub fn observer_write(
        &mut self,
        now: Time,
        wall_ms: u64,
        observer: NodeId,
        delta: &Delta,
        state: &OfficeState,
        my_counter: u64,
    ) -> Result<(), Rejection> {
        let result = self
            .check_observer_write(wall_ms, observer, delta)
            .and_then(|()| self.check_authorship(delta, state, my_counter));
        if let Err(e) = &result {
            self.refuse(now, observer, Route::ObserverWrite, e);
        }
        result
    }

    /// Signatures, write rights and claims of a change taken whole: the
    /// first failure refuses all of it.
    fn check_authorship(
        &mut self,
        delta: &Delta,
        state: &OfficeState,
        my_counter: u64,
    ) -> Result<(), Rejection> {
        let regs = &delta.0;
        let held = &state.registers;
        let a = &mut self.authorship;
        for (k, r) in &regs.nodes {
            a.check_signed(&Key::Node(*k), r, held.nodes.get(k))?;
        }
        for (k, r) in &regs.sensors {
            a.check_signed(&Key::Sensor(*k), r, held.sensors.get(k))?;
        }
        for (k, r) in &regs.actuators {
            a.check_signed(&Key::Actuator(*k), r, held.actuators.get(k))?;
        }
        for (k, r) in &regs.targets {
            a.check_signed(&Key::Target(k.clone()), r, held.targets.get(k))?;
        }
        for (k, r) in &regs.schedules {
            a.check_signed(&Key::Schedule(k.clone()), r, held.schedules.get(k))?;
        }
        for (k, r) in &regs.presets {
            a.check_signed(&Key::Preset(k.clone()), r, held.presets.get(k))?;
        }
        for (k, r) in &regs.overrides {
            a.check_signed(&Key::Override(k.clone()), r, held.overrides.get(k))?;
        }
        let me = self.me;
        let a = &self.authorship;
        for (k, r) in &regs.targets {
            a.check_label(r, held.targets.get(k))?;
        }
        for (k, r) in &regs.schedules {
            a.check_label(r, held.schedules.get(k))?;
        }
        for (k, r) in &regs.presets {
            a.check_label(r, held.presets.get(k))?;
        }
        for (k, r) in &regs.overrides {
            a.check_label(r, held.overrides.get(k))?;
        }
        regs.nodes
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.sensors
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.actuators
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.targets
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.schedules
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.presets
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        regs.overrides
            .values()
            .try_for_each(|r| a.check_claims(r, me, my_counter))?;
        Ok(())
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
        let limits = self.targets.heating_limits();
        for (zone, register) in &regs.schedules {
            own(&mut register.siblings().map(|(d, _)| d))?;
            check_schedule_register(&limits, zone, register, wall_ms)?;
        }
        for (key, register) in &regs.presets {
            own(&mut register.siblings().map(|(d, _)| d))?;
            check_preset_register(&limits, key, register, wall_ms)?;
        }
        for (zone, register) in &regs.overrides {
            own(&mut register.siblings().map(|(d, _)| d))?;
            check_override_register(&limits, zone, register, wall_ms)?;
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

    /// Checks a refusal notice: writes of an observer (no `Node` entry),
    /// few, each proven by the observer's own signature.
    pub fn refusal_notice(
        &mut self,
        now: Time,
        from: NodeId,
        observer: NodeId,
        key: Option<PublicKey>,
        proofs: &[WriteProof],
        state: &OfficeState,
    ) -> Result<(), Rejection> {
        let node = state.registers.nodes.contains_key(&observer);
        let key = key
            .filter(|k| k.node_id() == Some(observer))
            .or_else(|| self.authorship.key(observer));
        let proven =
            |p: &WriteProof| p.dot.replica == observer && key.is_some_and(|k| p.verify(&k).is_ok());
        if node || proofs.len() > MAX_REFUSED_DOTS || !proofs.iter().all(proven) {
            let why = Rejection::RefusalNotice { replica: observer };
            self.refuse(now, from, Route::Broadcast, &why);
            return Err(why);
        }
        self.authorship.accept_refused(observer, key, proofs);
        Ok(())
    }

    /// Learns the proofs of an observer's writes this replica refuses
    /// itself, those that check against the observer's key: it marks their
    /// dots as seen, and its anti-entropy answers must prove them to a
    /// peer the refusal notice did not reach.
    pub fn refused_here(
        &mut self,
        observer: NodeId,
        key: Option<PublicKey>,
        proofs: &[WriteProof],
    ) {
        self.authorship.accept_refused(observer, key, proofs);
    }

    /// Checks a restarted replica's notice of skipped dots: a bounded range
    /// below a dot of it this replica already holds.
    pub fn skipped_notice(
        &mut self,
        now: Time,
        origin: NodeId,
        from: u64,
        to: u64,
        state: &OfficeState,
    ) -> Result<(), Rejection> {
        let later = state.context().max_counter(origin) > to;
        if from == 0 || to < from || to - from >= MAX_SKIPPED || !later {
            let why = Rejection::SkippedNotice { replica: origin };
            self.refuse(now, origin, Route::Broadcast, &why);
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
/// Checks the signature and write rights of every register in `map`,
/// dropping those that fail.
///
/// A register refused only because its author's key is not known yet is
/// moved to `waiting` instead (see `awaiting_keys`).
fn screen<K: Ord + Clone, V: Serialize + Clone + PartialEq>(
    map: &mut BTreeMap<K, MvRegister<V>>,
    held: &BTreeMap<K, MvRegister<V>>,
    key: impl Fn(&K) -> Key,
    authorship: &mut Authorship,
    refused: &mut Vec<Rejection>,
    waiting: &mut BTreeMap<K, MvRegister<V>>,
) {
    map.retain(
        |k, r| match authorship.check_signed(&key(k), r, held.get(k)) {
            Ok(()) => true,
            Err(Unauthored::Signature {
                reason: SignatureError::UnknownKey,
                ..
            }) => {
                waiting.insert(k.clone(), r.clone());
                false
            }
            Err(e) => {
                refused.push(e.into());
                false
            }
        },
    );
}

/// Whether a check passed; a refusal is kept for counting.
fn passes<E: Into<Rejection>>(result: Result<(), E>, refused: &mut Vec<Rejection>) -> bool {
    match result {
        Ok(()) => true,
        Err(e) => {
            refused.push(e.into());
            false
        }
    }
}

fn check_common<V: Clone>(r: &MvRegister<V>, wall_ms: u64) -> Result<(), Rejection> {
    if r.writes() > MAX_SIBLINGS {
        return Err(Rejection::TooManySiblings { count: r.writes() });
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

/// A heating register: a value (removal is not how a schedule is cleared:
/// an empty schedule or a cleared override is a write), the shared bounds,
/// and the value's own check.
fn check_heating<V: Clone, E: std::fmt::Display>(
    key: impl std::fmt::Display,
    r: &MvRegister<V>,
    wall_ms: u64,
    check: impl Fn(&V, u64) -> Result<(), E>,
) -> Result<(), Rejection> {
    if r.is_empty() {
        return Err(Rejection::Heating {
            key: key.to_string(),
            reason: "a value is required (clearing is a write)".into(),
        });
    }
    check_common(r, wall_ms)?;
    for (_, s) in r.siblings() {
        check(&s.value, s.at.wall_ms).map_err(|e| Rejection::Heating {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

fn check_schedule_register(
    limits: &HeatingLimits,
    zone: &str,
    r: &MvRegister<Schedule>,
    wall_ms: u64,
) -> Result<(), Rejection> {
    check_heating(
        format_args!("schedule {zone}"),
        r,
        wall_ms,
        |v: &Schedule, _| v.check(zone, limits),
    )
}

fn check_preset_register(
    limits: &HeatingLimits,
    key: &PresetKey,
    r: &MvRegister<PresetValue>,
    wall_ms: u64,
) -> Result<(), Rejection> {
    check_heating(
        format_args!("preset {}/{}", key.zone, key.preset),
        r,
        wall_ms,
        |v: &PresetValue, _| v.check(key, limits),
    )
}

fn check_override_register(
    limits: &HeatingLimits,
    zone: &str,
    r: &MvRegister<OverrideValue>,
    wall_ms: u64,
) -> Result<(), Rejection> {
    check_heating(
        format_args!("override {zone}"),
        r,
        wall_ms,
        |v: &OverrideValue, written_at| v.check(zone, written_at, limits),
    )
}

#[cfg(test)]
mod heating_tests {
    use super::*;
    use crate::control::schedule_syntax;
    use crate::replica::tests::{nid, writer_of};

    const NOW_MS: u64 = 1_796_032_800_000;

    fn schedule_write(observer: u64, text: &str) -> Delta {
        let mut writer = writer_of(observer);
        let schedule = schedule_syntax::parse(text, "alice").unwrap();
        OfficeState::new()
            .set_schedule(&mut writer, NOW_MS, "kitchen".into(), schedule)
            .delta
    }

    #[test]
    fn heating_writes_are_checked_on_every_route() {
        let observer = nid(7);
        let mut a = Admission::new(nid(1), TargetsSection::default(), Trust::default());
        let empty = OfficeState::new();
        let good = schedule_write(7, "mon-fri 07:00 comfort, 18:00 eco");
        assert_eq!(
            a.observer_write(Time::ZERO, NOW_MS, observer, &good, &empty, 0),
            Ok(())
        );
        let hot = schedule_write(7, "mon-fri 07:00 45");
        assert!(matches!(
            a.observer_write(Time::ZERO, NOW_MS, observer, &hot, &empty, 0),
            Err(Rejection::Heating { .. })
        ));
        assert!(matches!(
            a.observer_write(Time::ZERO, NOW_MS, nid(8), &good, &empty, 0),
            Err(Rejection::ForeignDot { .. })
        ));
        let mut broadcast = hot.clone();
        let dropped = a.filter(
            Time::ZERO,
            NOW_MS,
            nid(9),
            Route::Broadcast,
            &mut broadcast,
            Holding {
                state: &empty,
                my_counter: 0,
            },
        );
        assert_eq!((dropped, broadcast.is_empty()), (1, true));
        let mut writer = writer_of(7);
        let boost = OfficeState::new().set_override(
            &mut writer,
            NOW_MS,
            "kitchen".into(),
            OverrideValue {
                celsius: Some(23.0),
                expires_at_ms: Some(NOW_MS + 30 * 24 * 3600 * 1000),
                set_by: "alice".into(),
            },
        );
        assert!(matches!(
            a.observer_write(Time::ZERO, NOW_MS, observer, &boost.delta, &empty, 0),
            Err(Rejection::Heating { .. })
        ));
    }
}
