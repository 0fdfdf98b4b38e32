//! What a replica keeps on disk, and when: the decisions only, as jobs the
//! driver runs off the event loop and answers with `Persisted`.
//!
//! A Pi's SD card is a consumable, so the rule is to write only what the
//! replica cannot get back from its peers, and only when a promise depends
//! on it:
//! - **dot reservations**, before a dot of the block is used (a reused dot
//!   loses updates), a block at a time, asked for at half-block so writing
//!   never waits for the disk;
//! - **the kept part** — every target and every tombstone — soon after it
//!   changes: at once when a promise waits on it (an observer's write is
//!   answered *stored* only once it is on disk; this replica's own writes
//!   leave only once durable), once peers' changes paused for
//!   [`RELAYED_KEPT_DELAY`] (at most [`RELAYED_KEPT_MAX_WAIT`] after the
//!   first) when they came from peers, so an isolated node still heats to
//!   its target after a restart;
//! - **a snapshot** of the whole state, the writer and the known peers,
//!   rarely ([`SNAPSHOT_EVERY`]) and on a clean stop: other nodes' readings
//!   and entries come back through anti-entropy after a restart anyway, and
//!   this replica's own readings are re-measured.
//!
//! One job is in flight at a time, so jobs land in order and a burst of
//! changes costs one commit, not one per change.

use std::time::Duration;

use crate::crdt::{Delta, OfficeState};
use crate::node_id::NodeId;
use crate::time::Time;

/// The whole office state, postcard-encoded: the snapshot.
pub const STATE_KEY: &[u8] = b"office";
/// The kept part (targets and tombstones), as a delta joined over the
/// snapshot on start.
pub const KEPT_KEY: &[u8] = b"kept";
/// The writer (last dot counter and clock).
pub const WRITER_KEY: &[u8] = b"writer";
/// The peers last known, so a node restarted without seeds finds its way
/// back into the overlay.
pub const PEERS_KEY: &[u8] = b"peers";

/// How often the whole state is written while anything changed.
pub const SNAPSHOT_EVERY: Duration = Duration::from_secs(30 * 60);
/// Dots reserved per reservation. A node publishing a reading every ten
/// seconds from three sensors uses a block in about three hours.
pub const DOT_BLOCK: u64 = 4096;
/// A new block is asked for when fewer than this many dots are left, long
/// before the block runs out.
pub const DOT_LOW_WATER: u64 = DOT_BLOCK / 2;
/// After a failed job (disk full, I/O error), the next try waits this long.
pub const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long changes to the kept part that came from peers must pause
/// before they are committed. Such a change is already durable where it
/// was acknowledged (an observer's write is answered *stored* only from
/// disk) and comes back through anti-entropy after a crash, so nothing
/// waits on this replica's copy. Committing it at once put every
/// replica's commit in the same few milliseconds as the broadcast's
/// forwarding, and the commit's CPU and disk work then delayed the next
/// hops: on 50 nodes sharing two cores, a target's spread took 13–17 ms
/// instead of 7–10. Waiting for a pause folds a burst of changes (a saved
/// week program, an operator dragging a slider, an automation's steps)
/// into one commit, which the SD card counts, and keeps every replica's
/// commit out of the way of the writes still coming: the writer's own
/// commit is on each write's path, and on 200 nodes sharing one disk the
/// others' commits during a burst made it wait 50–70 ms.
pub const RELAYED_KEPT_DELAY: Duration = Duration::from_secs(1);
/// The longest a peer's change to the kept part stays unwritten while
/// changes keep coming: a steady stream still reaches the disk.
pub const RELAYED_KEPT_MAX_WAIT: Duration = Duration::from_secs(10);

/// One commit for the driver: these entries and, if set, a new dot bound,
/// atomically and durably; answered with `Persisted { token, .. }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersistJob {
    pub token: u64,
    pub puts: Vec<(&'static [u8], Vec<u8>)>,
    /// Dots below this are reserved once the job lands.
    pub dot_bound: Option<u64>,
}

/// An observer write waiting for its commit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingAck {
    pub observer: NodeId,
    pub request: u64,
    /// Neighbours the write was already broadcast to.
    pub sent_to: u32,
}

/// What went into the job in flight.
#[derive(Debug)]
struct InFlight {
    token: u64,
    kept: bool,
    snapshot: bool,
    dot_bound: Option<u64>,
    acks: Vec<PendingAck>,
    held: Vec<bytes::Bytes>,
}

/// The persistence decisions of one replica.
#[derive(Debug)]
pub struct Persistence {
    in_flight: Option<InFlight>,
    next_token: u64,
    /// The kept part must be written with the next job.
    kept_dirty: bool,
    /// A peer's change to the kept part is unwritten: it goes with the
    /// next job, or on its own at this time.
    kept_due: Option<Time>,
    /// When the oldest unwritten peer's change came.
    kept_since: Option<Time>,
    /// The one wake asked of the caller for `kept_due`, if any.
    kept_wake: Option<Time>,
    snapshot_dirty: bool,
    snapshot_wanted: bool,
    acks: Vec<PendingAck>,
    /// This replica's own kept writes (its targets), broadcast only once
    /// on disk: after a crash the replica marks every dot of its last run
    /// as seen, so one that left before it was durable would be deleted
    /// everywhere by its next anti-entropy rounds.
    held: Vec<bytes::Bytes>,
    reserved_until: u64,
    /// Set after a failed job until [`RETRY_AFTER`] passes.
    paused: bool,
    failures: u64,
    commits: u64,
}

/// What a landed job means for the replica.
#[derive(Debug, Default)]
pub struct Landed {
    pub acks: Vec<PendingAck>,
    /// Own writes now durable: broadcast them.
    pub release: Vec<bytes::Bytes>,
    pub error: Option<String>,
}

impl Persistence {
    /// `reserved_until`: the dot bound already durable when the replica
    /// starts.
    pub fn new(reserved_until: u64) -> Self {
        Persistence {
            in_flight: None,
            next_token: 1,
            kept_dirty: false,
            kept_due: None,
            kept_since: None,
            kept_wake: None,
            snapshot_dirty: false,
            snapshot_wanted: false,
            acks: Vec::new(),
            held: Vec::new(),
            reserved_until,
            paused: false,
            failures: 0,
            commits: 0,
        }
    }

    pub fn commits(&self) -> u64 {
        self.commits
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Whether the dot after `last_counter` is durably reserved.
    pub fn dot_available(&self, last_counter: u64) -> bool {
        last_counter.saturating_add(1) < self.reserved_until
    }

    /// Something in the kept part changed and nothing waits on it here (a
    /// peer's write, a tombstone collected): it is written once such
    /// changes paused for [`RELAYED_KEPT_DELAY`], and at most
    /// [`RELAYED_KEPT_MAX_WAIT`] after the first. Returns when to wake for
    /// it, if no wake is asked for yet; one asked for earlier is answered
    /// by [`Persistence::kept_wake`].
    pub fn kept_changed(&mut self, now: Time) -> Option<Time> {
        self.snapshot_dirty = true;
        if self.kept_dirty {
            return None;
        }
        let since = *self.kept_since.get_or_insert(now);
        let due = (now + RELAYED_KEPT_DELAY).min(since + RELAYED_KEPT_MAX_WAIT);
        self.kept_due = Some(due);
        if self.kept_wake.is_some() {
            return None;
        }
        self.kept_wake = Some(due);
        Some(due)
    }

    /// The wake asked for by [`Persistence::kept_changed`] came: returns
    /// the next one when later changes moved the commit on.
    pub fn kept_wake(&mut self, now: Time) -> Option<Time> {
        self.kept_wake = None;
        let due = self.kept_due.filter(|due| *due > now)?;
        self.kept_wake = Some(due);
        Some(due)
    }

    /// Something outside the kept part changed.
    pub fn other_changed(&mut self) {
        self.snapshot_dirty = true;
    }

    /// The snapshot timer fired, or the replica is stopping.
    pub fn want_snapshot(&mut self, force: bool) {
        if self.snapshot_dirty || force {
            self.snapshot_wanted = true;
        }
    }

    /// An observer write to answer once the kept part is on disk.
    pub fn ack_after_commit(&mut self, ack: PendingAck) {
        self.kept_dirty = true;
        self.acks.push(ack);
    }

    /// An own kept write to broadcast once it is on disk.
    pub fn broadcast_after_commit(&mut self, payload: bytes::Bytes) {
        self.kept_dirty = true;
        self.held.push(payload);
    }

    /// Whether anything waits for the disk.
    pub fn idle(&self) -> bool {
        self.in_flight.is_none()
            && !self.kept_dirty
            && self.kept_due.is_none()
            && !self.snapshot_wanted
    }

    /// The retry pause is over.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// The next job, if one is due at `now` and none is in flight.
    pub fn next_job(
        &mut self,
        now: Time,
        state: &OfficeState,
        writer_bytes: impl FnOnce() -> Vec<u8>,
        peers_bytes: impl FnOnce() -> Vec<u8>,
        last_counter: u64,
    ) -> Option<PersistJob> {
        if self.in_flight.is_some() || self.paused {
            return None;
        }
        if self.kept_due.is_some_and(|due| due <= now) {
            self.kept_dirty = true;
        }
        let next = last_counter.saturating_add(1);
        let dot_bound = (self.reserved_until.saturating_sub(next) < DOT_LOW_WATER)
            .then(|| next.saturating_add(DOT_BLOCK));
        if !self.kept_dirty && !self.snapshot_wanted && dot_bound.is_none() {
            return None;
        }
        let mut puts = vec![(WRITER_KEY, writer_bytes())];
        let kept = self.kept_dirty || self.snapshot_wanted;
        if kept {
            // A peer's change not yet due rides along.
            self.kept_due = None;
            self.kept_since = None;
            match kept_delta(state).encode() {
                Ok(bytes) => puts.push((KEPT_KEY, bytes)),
                Err(error) => tracing::error!(%error, "cannot encode the kept state"),
            }
        }
        let snapshot = self.snapshot_wanted;
        if snapshot {
            match state.encode() {
                Ok(bytes) => puts.push((STATE_KEY, bytes)),
                Err(error) => tracing::error!(%error, "cannot encode the office state"),
            }
            puts.push((PEERS_KEY, peers_bytes()));
        }
        let token = self.next_token;
        self.next_token += 1;
        self.kept_dirty = false;
        self.snapshot_wanted = false;
        if snapshot {
            self.snapshot_dirty = false;
        }
        self.in_flight = Some(InFlight {
            token,
            kept,
            snapshot,
            dot_bound,
            acks: std::mem::take(&mut self.acks),
            held: std::mem::take(&mut self.held),
        });
        Some(PersistJob {
            token,
            puts,
            dot_bound,
        })
    }

    /// A job landed (or failed). Unknown tokens are ignored.
    pub fn landed(&mut self, token: u64, result: Result<(), String>) -> Landed {
        let Some(job) = self.in_flight.take_if(|j| j.token == token) else {
            return Landed::default();
        };
        match result {
            Ok(()) => {
                self.commits += 1;
                if let Some(bound) = job.dot_bound {
                    self.reserved_until = self.reserved_until.max(bound);
                }
                Landed {
                    acks: job.acks,
                    release: job.held,
                    error: None,
                }
            }
            Err(error) => {
                self.failures += 1;
                self.paused = true;
                // What the job carried is still unwritten.
                self.kept_dirty |= job.kept;
                if job.snapshot {
                    self.snapshot_dirty = true;
                }
                // Unsent own writes wait for the next commit that lands.
                let mut held = job.held;
                held.append(&mut self.held);
                self.held = held;
                Landed {
                    acks: job.acks,
                    release: Vec::new(),
                    error: Some(error),
                }
            }
        }
    }
}

/// A stored entry that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("the stored {what} is corrupt: {reason}")]
pub struct RestoreError {
    pub what: &'static str,
    pub reason: String,
}

/// Rebuilds a replica's state and writer from what [`PersistJob`]s wrote:
/// the snapshot with the kept part joined over it, and the writer resumed
/// past `first_dot - 1`, the end of every dot block reserved before this
/// run. Those earlier dots are marked as seen: peers' version vectors then
/// close the gap a crash leaves instead of waiting for dots that will
/// never come. The node's store and the simulator's disk both call this.
pub fn restore(
    id: NodeId,
    snapshot: Option<&[u8]>,
    kept: Option<&[u8]>,
    writer: Option<&[u8]>,
    first_dot: u64,
) -> Result<Restored, RestoreError> {
    use crate::crdt::{CausalContext, Writer};
    let mut state = match snapshot {
        Some(bytes) => OfficeState::decode(bytes).map_err(|e| RestoreError {
            what: "office state",
            reason: e.to_string(),
        })?,
        None => OfficeState::new(),
    };
    if let Some(bytes) = kept {
        let kept = Delta::decode(bytes).map_err(|e| RestoreError {
            what: "targets and tombstones",
            reason: e.to_string(),
        })?;
        state.apply(&kept);
    }
    let saved: Option<Writer> = match writer {
        Some(bytes) => Some(postcard::from_bytes(bytes).map_err(|e| RestoreError {
            what: "writer",
            reason: e.to_string(),
        })?),
        None => None,
    };
    let below = first_dot.saturating_sub(1);
    let (last, hlc) = saved
        .filter(|w| w.id() == id)
        .map_or((0, Default::default()), |w| (w.last_counter(), w.hlc()));
    let known = last.max(state.context().max_counter(id));
    let writer = Writer::resume(id, last.max(below), hlc, &state);
    if below > 0 {
        let mut gap = CausalContext::new();
        gap.insert_range(id, 1, below);
        let gap = gap.difference(state.context());
        if !gap.is_empty() {
            state.join_context(&gap);
        }
    }
    let skipped = (known < below).then_some((known + 1, below));
    Ok(Restored {
        state,
        writer,
        skipped,
    })
}

/// What a replica restarts from.
#[derive(Debug)]
pub struct Restored {
    pub state: OfficeState,
    pub writer: crate::crdt::Writer,
    /// This replica's dots of an earlier run that it no longer knows (the
    /// end of the last reserved block): marked as seen here, and announced
    /// to the others once the replica writes again.
    pub skipped: Option<(u64, u64)>,
}

/// The part of the state kept on disk as soon as it changes: every target,
/// every schedule, preset and override (operators' writes a node must not
/// lose to a power cut: it heats by them with no network), and every
/// tombstone.
pub fn kept_delta(state: &OfficeState) -> Delta {
    let regs = &state.registers;
    let mut kept = crate::crdt::Delta::default();
    kept.0.targets = regs.targets.clone();
    kept.0.schedules = regs.schedules.clone();
    kept.0.presets = regs.presets.clone();
    kept.0.overrides = regs.overrides.clone();
    kept.0.nodes = regs
        .nodes
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(k, r)| (*k, r.clone()))
        .collect();
    kept.0.sensors = regs
        .sensors
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(k, r)| (*k, r.clone()))
        .collect();
    kept.0.actuators = regs
        .actuators
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(k, r)| (*k, r.clone()))
        .collect();
    kept
}

/// Whether a delta changes the kept part.
pub fn touches_kept(delta: &Delta) -> bool {
    let regs = &delta.0;
    !regs.targets.is_empty()
        || !regs.schedules.is_empty()
        || !regs.presets.is_empty()
        || !regs.overrides.is_empty()
        || regs.nodes.values().any(|r| r.is_empty())
        || regs.sensors.values().any(|r| r.is_empty())
        || regs.actuators.values().any(|r| r.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Time = Time::ZERO;

    #[test]
    fn one_job_at_a_time_and_acks_wait_for_theirs() {
        let state = OfficeState::new();
        let mut p = Persistence::new(10 * DOT_BLOCK);
        assert!(
            p.next_job(T0, &state, Vec::new, Vec::new, 0).is_none(),
            "nothing to do"
        );
        let ack = PendingAck {
            observer: NodeId(9),
            request: 1,
            sent_to: 3,
        };
        p.ack_after_commit(ack);
        let job = p.next_job(T0, &state, || vec![1], Vec::new, 0).unwrap();
        assert!(job.puts.iter().any(|(k, _)| *k == KEPT_KEY));
        assert!(job.puts.iter().all(|(k, _)| *k != STATE_KEY), "no snapshot");
        // A second ack while the first job is in flight waits for the next.
        let ack2 = PendingAck { request: 2, ..ack };
        p.ack_after_commit(ack2);
        assert!(p.next_job(T0, &state, Vec::new, Vec::new, 0).is_none());
        assert_eq!(p.landed(job.token, Ok(())).acks, vec![ack]);
        let job2 = p.next_job(T0, &state, Vec::new, Vec::new, 0).unwrap();
        assert_eq!(p.landed(job2.token, Ok(())).acks, vec![ack2]);
        assert!(p.idle());
    }

    #[test]
    fn a_failed_job_is_reported_retried_after_a_pause_and_keeps_its_content() {
        let state = OfficeState::new();
        let mut p = Persistence::new(10 * DOT_BLOCK);
        let due = p.kept_changed(T0).unwrap();
        let job = p.next_job(due, &state, Vec::new, Vec::new, 0).unwrap();
        let landed = p.landed(job.token, Err("disk full".into()));
        assert_eq!(landed.error.as_deref(), Some("disk full"));
        assert!(
            p.next_job(T0, &state, Vec::new, Vec::new, 0).is_none(),
            "paused"
        );
        p.resume();
        let retry = p.next_job(due, &state, Vec::new, Vec::new, 0).unwrap();
        assert!(retry.puts.iter().any(|(k, _)| *k == KEPT_KEY));
    }

    #[test]
    fn dots_are_reserved_ahead_at_half_a_block() {
        let state = OfficeState::new();
        let mut p = Persistence::new(DOT_BLOCK);
        assert!(p.dot_available(0));
        assert!(p.next_job(T0, &state, Vec::new, Vec::new, 10).is_none());
        let job = p
            .next_job(T0, &state, Vec::new, Vec::new, DOT_BLOCK - DOT_LOW_WATER)
            .unwrap();
        let bound = job.dot_bound.unwrap();
        assert!(!p.dot_available(DOT_BLOCK - 1), "not before the job lands");
        p.landed(job.token, Ok(()));
        assert!(p.dot_available(DOT_BLOCK + 10));
        assert!(bound > DOT_BLOCK);
    }

    #[test]
    fn snapshots_only_when_something_changed_or_forced() {
        let state = OfficeState::new();
        let mut p = Persistence::new(10 * DOT_BLOCK);
        p.want_snapshot(false);
        assert!(p.next_job(T0, &state, Vec::new, Vec::new, 0).is_none());
        p.other_changed();
        p.want_snapshot(false);
        let job = p.next_job(T0, &state, Vec::new, || vec![7], 0).unwrap();
        assert!(job.puts.iter().any(|(k, _)| *k == STATE_KEY));
        assert!(
            job.puts
                .iter()
                .any(|(k, v)| *k == PEERS_KEY && v == &vec![7])
        );
    }

    #[test]
    fn peers_changes_are_written_once_they_pause_or_have_waited_long_enough() {
        let state = OfficeState::new();
        let mut p = Persistence::new(10 * DOT_BLOCK);
        let first = p.kept_changed(T0).unwrap();
        // A change every half second moves the commit on, with one wake
        // asked for at a time.
        let step = RELAYED_KEPT_DELAY / 2;
        let mut now = T0;
        let mut wake = first;
        let mut commit_at = None;
        while commit_at.is_none() {
            now += step;
            if now == wake {
                match p.kept_wake(now) {
                    Some(next) => wake = next,
                    None => {
                        assert!(p.next_job(now, &state, Vec::new, Vec::new, 0).is_some());
                        commit_at = Some(now);
                        continue;
                    }
                }
            }
            assert!(p.next_job(now, &state, Vec::new, Vec::new, 0).is_none());
            assert_eq!(p.kept_changed(now), None, "the wake already asked for");
        }
        assert_eq!(commit_at, Some(T0 + RELAYED_KEPT_MAX_WAIT));

        // After the last of a burst, one pause and the commit.
        let mut p = Persistence::new(10 * DOT_BLOCK);
        let wake = p.kept_changed(T0).unwrap();
        assert_eq!(p.kept_changed(T0 + step), None);
        assert_eq!(p.kept_wake(wake), Some(T0 + step + RELAYED_KEPT_DELAY));
        assert!(p.next_job(wake, &state, Vec::new, Vec::new, 0).is_none());
        let job = p.next_job(
            T0 + step + RELAYED_KEPT_DELAY,
            &state,
            Vec::new,
            Vec::new,
            0,
        );
        assert!(job.is_some_and(|j| j.puts.iter().any(|(k, _)| *k == KEPT_KEY)));
    }

    #[test]
    fn a_peers_change_waits_its_delay_unless_a_promise_takes_it_along() {
        let state = OfficeState::new();
        let mut p = Persistence::new(10 * DOT_BLOCK);
        let due = p.kept_changed(T0).unwrap();
        assert_eq!(due, T0 + RELAYED_KEPT_DELAY);
        assert_eq!(p.kept_changed(T0), None, "one wake for a burst");
        assert!(!p.idle(), "a stop still writes it");
        assert!(p.next_job(T0, &state, Vec::new, Vec::new, 0).is_none());
        let job = p.next_job(due, &state, Vec::new, Vec::new, 0).unwrap();
        assert!(job.puts.iter().any(|(k, _)| *k == KEPT_KEY));
        p.landed(job.token, Ok(()));
        assert!(p.idle());

        // An observer's write is answered from disk at once, and the
        // peer's change waiting meanwhile goes in the same commit.
        p.kept_changed(due);
        p.ack_after_commit(PendingAck {
            observer: NodeId(9),
            request: 1,
            sent_to: 0,
        });
        let job = p.next_job(due, &state, Vec::new, Vec::new, 0).unwrap();
        assert!(job.puts.iter().any(|(k, _)| *k == KEPT_KEY));
        p.landed(job.token, Ok(()));
        assert!(p.idle(), "nothing left for the timer");
        assert!(
            p.next_job(due + RELAYED_KEPT_DELAY, &state, Vec::new, Vec::new, 0)
                .is_none()
        );
    }
}
