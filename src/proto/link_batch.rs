//! Adaptive batching of what Plumtree pushes over one link (Nagle-like).
//!
//! Each link may send `burst` messages at once and then one per window
//! (a token bucket, kept as the generic cell rate algorithm's one
//! timestamp per link). A link with credit left sends a payload at once,
//! so an office's writes keep their latency even when two come together
//! (an operator's write right after their key's announcement, a reading
//! and a relay change). A link out of credit is busy: what comes for it
//! queues until its next credit (or until the queue reaches its byte
//! bound) and then leaves as one message. Under sustained load the number
//! of messages per link is then at most one per window plus the burst,
//! whatever the number of broadcasts, at the price of at most one window
//! of delay per hop.
//!
//! Payloads that come for an idle link while one input is handled (the
//! payloads of a batch just received, say) leave together at once, as one
//! message: a batch stays whole down the tree instead of its first payload
//! going on alone and the rest waiting out the window at every hop.
//!
//! Pure state: the caller passes the time in and arms the flush timer this
//! asks for; nothing here reads a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::node_id::NodeId;
use crate::time::Time;
use crate::wire::plumtree::{BatchedGossip, MessageId};

/// Bytes one queued payload costs beyond its own length: its id, round and
/// length prefix in the postcard encoding, rounded up.
const ITEM_OVERHEAD: usize = 24;

/// Bytes one piggybacked IHAVE entry costs, rounded up.
const IHAVE_ENTRY: usize = 16;

/// What became of a payload handed to [`LinkBatches::push`].
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The link was idle: send this payload now (with any others that
    /// join it before [`LinkBatches::end_instant`]).
    Now(BatchedGossip),
    /// The link sent at once during the input being handled: this payload
    /// leaves with that one, in the same message.
    Joined(BatchedGossip),
    /// Queued. `Some(at)`: arm the link's flush timer for `at` (it was not
    /// armed); `None`: a flush is already due.
    Queued(Option<Time>),
    /// The queue reached its byte bound: send this batch now.
    Full(Batch),
}

/// What leaves on one link in one message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub gossip: Vec<BatchedGossip>,
    pub ihave: Vec<(MessageId, u16)>,
}

#[derive(Debug, Default)]
struct Link {
    /// The bucket's state: the link is out of credit while this is more
    /// than `burst - 1` windows ahead of now; `None` is a full bucket.
    credit_from: Option<Time>,
    queued: Batch,
    bytes: usize,
    /// A flush timer is armed for the link.
    flush_armed: bool,
    /// When payloads last left at once during the input being handled,
    /// and their bytes; `None` once that input is done.
    instant: Option<(Time, usize)>,
}

/// The batching state of every link of one node.
#[derive(Debug)]
pub struct LinkBatches {
    window: Duration,
    /// How far ahead of now `credit_from` may be for a send to go at once:
    /// `burst - 1` windows.
    tolerance: Duration,
    bytes_max: usize,
    links: BTreeMap<NodeId, Link>,
}

impl LinkBatches {
    /// `window` zero turns batching off: every payload leaves at once.
    /// `burst` messages may leave at once on a link that was quiet (at
    /// least one).
    pub fn new(window: Duration, burst: u32, bytes_max: usize) -> Self {
        LinkBatches {
            window,
            tolerance: window.saturating_mul(burst.max(1) - 1),
            bytes_max,
            links: BTreeMap::new(),
        }
    }

    /// Hands one payload to the link to `peer`.
    pub fn push(&mut self, now: Time, peer: NodeId, item: BatchedGossip) -> Pushed {
        let (window, tolerance) = (self.window, self.tolerance);
        let link = self.links.entry(peer).or_default();
        let cost = item.payload.len() + ITEM_OVERHEAD;
        if let Some((at, bytes)) = link.instant.as_mut()
            && *at == now
            && *bytes + cost <= self.bytes_max
            && link.queued.gossip.is_empty()
        {
            *bytes += cost;
            return Pushed::Joined(item);
        }
        let credit = link.credit_from.is_none_or(|at| at <= now + tolerance);
        if credit && link.queued.gossip.is_empty() && link.queued.ihave.is_empty() {
            spend(link, now, window);
            if !window.is_zero() {
                link.instant = Some((now, cost));
            }
            return Pushed::Now(item);
        }
        link.bytes += cost;
        link.queued.gossip.push(item);
        if link.bytes >= self.bytes_max {
            return Pushed::Full(take(link, now, window));
        }
        if link.flush_armed {
            return Pushed::Queued(None);
        }
        link.flush_armed = true;
        let due = link
            .credit_from
            .map_or(now, |at| at.saturating_sub(tolerance))
            .max(now);
        Pushed::Queued(Some(due))
    }

    /// Adds IHAVE entries to a batch already waiting on the link to `peer`;
    /// gives them back when none waits (they then leave on their own).
    pub fn piggyback(
        &mut self,
        peer: NodeId,
        ids: Vec<(MessageId, u16)>,
    ) -> Option<Vec<(MessageId, u16)>> {
        match self.links.get_mut(&peer) {
            Some(link) if !link.queued.gossip.is_empty() => {
                link.bytes += ids.len() * IHAVE_ENTRY;
                link.queued.ihave.extend(ids);
                None
            }
            _ => Some(ids),
        }
    }

    /// The flush timer of `peer`'s link fired: what waits there, if
    /// anything, leaves now.
    pub fn flush(&mut self, now: Time, peer: NodeId) -> Option<Batch> {
        let link = self.links.get_mut(&peer)?;
        link.flush_armed = false;
        if link.queued.gossip.is_empty() && link.queued.ihave.is_empty() {
            return None;
        }
        Some(take(link, now, self.window))
    }

    /// The input being handled is done: what left at once has left, and
    /// later payloads find the links busy.
    pub fn end_instant(&mut self) {
        for link in self.links.values_mut() {
            link.instant = None;
        }
    }

    /// The link is gone; what waited for it is dropped (the neighbour
    /// that replaces it is announced recent messages anyway).
    pub fn remove(&mut self, peer: NodeId) {
        self.links.remove(&peer);
    }
}

/// One message leaves on the link: it uses one window of credit.
fn spend(link: &mut Link, now: Time, window: Duration) {
    link.credit_from = Some(link.credit_from.map_or(now, |at| at.max(now)) + window);
}

fn take(link: &mut Link, now: Time, window: Duration) -> Batch {
    spend(link, now, window);
    link.bytes = 0;
    std::mem::take(&mut link.queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use proptest::prelude::*;

    fn item(seq: u64, len: usize) -> BatchedGossip {
        BatchedGossip {
            id: MessageId {
                origin: NodeId(9),
                seq,
            },
            round: 1,
            payload: Bytes::from(vec![0u8; len]),
        }
    }

    const W: Duration = Duration::from_millis(50);
    const P: NodeId = NodeId(2);

    #[test]
    fn an_idle_link_sends_at_once_and_a_busy_one_waits_out_the_window() {
        let mut b = LinkBatches::new(W, 1, 4096);
        let t0 = Time::from_millis(1_000);
        assert_eq!(b.push(t0, P, item(1, 10)), Pushed::Now(item(1, 10)));
        // 10 ms later the link is busy: queued until 50 ms after the send.
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(b.push(t1, P, item(2, 10)), Pushed::Queued(Some(t0 + W)));
        assert_eq!(b.push(t1, P, item(3, 10)), Pushed::Queued(None));
        let batch = b.flush(t0 + W, P).unwrap();
        assert_eq!(batch.gossip, vec![item(2, 10), item(3, 10)]);
        // The flush counts as a send: the link stays busy a window more.
        assert_eq!(
            b.push(t0 + W, P, item(4, 10)),
            Pushed::Queued(Some(t0 + W + W))
        );
        // Another link is independent.
        assert_eq!(b.push(t1, NodeId(3), item(5, 10)), Pushed::Now(item(5, 10)));
        // A window of quiet makes the link idle again.
        assert!(b.flush(t0 + W + W, P).is_some());
        let later = t0 + W * 4;
        assert_eq!(b.push(later, P, item(6, 10)), Pushed::Now(item(6, 10)));
    }

    #[test]
    fn payloads_for_an_idle_link_during_one_input_leave_together() {
        let mut b = LinkBatches::new(W, 1, 4096);
        let t0 = Time::from_millis(1_000);
        assert_eq!(b.push(t0, P, item(1, 10)), Pushed::Now(item(1, 10)));
        assert_eq!(b.push(t0, P, item(2, 10)), Pushed::Joined(item(2, 10)));
        b.end_instant();
        // The next input finds the link busy.
        assert_eq!(b.push(t0, P, item(3, 10)), Pushed::Queued(Some(t0 + W)));
        // An instant is bounded in bytes like a batch.
        let mut b = LinkBatches::new(W, 1, 100);
        assert!(matches!(b.push(t0, P, item(1, 60)), Pushed::Now(_)));
        assert!(matches!(
            b.push(t0, P, item(2, 60)),
            Pushed::Queued(Some(_))
        ));
    }

    #[test]
    fn a_full_queue_leaves_before_its_timer() {
        let mut b = LinkBatches::new(W, 1, 200);
        let t0 = Time::from_millis(5);
        assert!(matches!(b.push(t0, P, item(1, 100)), Pushed::Now(_)));
        b.end_instant();
        assert!(matches!(
            b.push(t0, P, item(2, 100)),
            Pushed::Queued(Some(_))
        ));
        match b.push(t0, P, item(3, 100)) {
            Pushed::Full(batch) => assert_eq!(batch.gossip.len(), 2),
            other => panic!("expected a full batch, got {other:?}"),
        }
        // The armed timer still fires; it finds the queue it then holds.
        assert!(matches!(b.push(t0, P, item(4, 10)), Pushed::Queued(None)));
        assert_eq!(b.flush(t0 + W, P).unwrap().gossip, vec![item(4, 10)]);
        assert_eq!(b.flush(t0 + W, P), None);
    }

    #[test]
    fn ihaves_ride_only_on_a_waiting_batch() {
        let mut b = LinkBatches::new(W, 1, 4096);
        let ids = vec![(item(7, 0).id, 2)];
        assert_eq!(b.piggyback(P, ids.clone()), Some(ids.clone()));
        let t0 = Time::from_millis(0);
        let _ = b.push(t0, P, item(1, 1));
        b.end_instant();
        assert_eq!(b.piggyback(P, ids.clone()), Some(ids.clone()));
        let _ = b.push(t0, P, item(2, 1));
        assert_eq!(b.piggyback(P, ids.clone()), None);
        let batch = b.flush(t0 + W, P).unwrap();
        assert_eq!((batch.gossip.len(), batch.ihave), (1, ids));
    }

    #[test]
    fn a_quiet_link_sends_a_burst_at_once_then_one_message_per_window() {
        let mut b = LinkBatches::new(W, 3, 4096);
        let t0 = Time::from_millis(1_000);
        let ms = Duration::from_millis;
        for (seq, at) in [(1, t0), (2, t0 + ms(5)), (3, t0 + ms(10))] {
            assert_eq!(b.push(at, P, item(seq, 10)), Pushed::Now(item(seq, 10)));
            b.end_instant();
        }
        // Out of credit: the next credit comes a window after the first send.
        assert_eq!(
            b.push(t0 + ms(12), P, item(4, 10)),
            Pushed::Queued(Some(t0 + W))
        );
        assert_eq!(b.flush(t0 + W, P).unwrap().gossip, vec![item(4, 10)]);
        // Credit comes back at one message per window.
        assert_eq!(
            b.push(t0 + W + ms(1), P, item(5, 10)),
            Pushed::Queued(Some(t0 + W * 2))
        );
        assert!(b.flush(t0 + W * 2, P).is_some());
        // After a quiet spell of `burst` windows the whole burst is back.
        let later = t0 + W * 6;
        for seq in 6..9 {
            assert!(matches!(b.push(later, P, item(seq, 10)), Pushed::Now(_)));
            b.end_instant();
        }
        assert!(matches!(b.push(later, P, item(9, 10)), Pushed::Queued(_)));
    }

    #[test]
    fn a_zero_window_never_batches() {
        let mut b = LinkBatches::new(Duration::ZERO, 1, 4096);
        for seq in 0..10 {
            assert!(matches!(
                b.push(Time::from_millis(3), P, item(seq, 10)),
                Pushed::Now(_)
            ));
        }
    }

    proptest! {
        /// Under any arrival pattern, every payload leaves exactly once, in
        /// order, none waits longer than one window once its timer is
        /// honoured, and a link sends at most `burst` messages plus one per
        /// window, besides the ones its byte bound forces.
        #[test]
        fn every_payload_leaves_once_in_order_within_a_window(
            gaps in proptest::collection::vec(0u64..120, 1..60),
            lens in proptest::collection::vec(1usize..300, 60),
            burst in 1u32..5,
        ) {
            let bytes_max = 1_000;
            let mut b = LinkBatches::new(W, burst, bytes_max);
            let mut now = Time::from_millis(0);
            let mut due: Option<Time> = None;
            let mut queued_at: Vec<(u64, Time)> = Vec::new();
            let mut sent: Vec<u64> = Vec::new();
            let mut sends: Vec<(Time, bool)> = Vec::new();
            let fire = |b: &mut LinkBatches, at: Time, sent: &mut Vec<u64>,
                            queued_at: &mut Vec<(u64, Time)>, sends: &mut Vec<(Time, bool)>| {
                if let Some(batch) = b.flush(at, P) {
                    for g in &batch.gossip {
                        let waited = queued_at.iter().find(|(s, _)| *s == g.id.seq).unwrap().1;
                        prop_assert!(at - waited <= W);
                        sent.push(g.id.seq);
                    }
                    sends.push((at, false));
                }
                Ok(())
            };
            for (seq, gap) in gaps.iter().enumerate() {
                let next = now + Duration::from_millis(*gap);
                if let Some(at) = due.filter(|at| *at <= next) {
                    fire(&mut b, at, &mut sent, &mut queued_at, &mut sends)?;
                    due = None;
                }
                if next > now {
                    b.end_instant();
                }
                now = next;
                let seq = seq as u64;
                queued_at.push((seq, now));
                match b.push(now, P, item(seq, lens[seq as usize])) {
                    Pushed::Now(g) => {
                        sent.push(g.id.seq);
                        sends.push((now, false));
                    }
                    Pushed::Joined(g) => {
                        prop_assert_eq!(sends.last().map(|(at, _)| *at), Some(now));
                        sent.push(g.id.seq);
                    }
                    Pushed::Queued(Some(at)) => {
                        prop_assert!(due.is_none());
                        prop_assert!(at >= now && at <= now + W);
                        due = Some(at);
                    }
                    Pushed::Queued(None) => prop_assert!(due.is_some()),
                    Pushed::Full(batch) => {
                        sent.extend(batch.gossip.iter().map(|g| g.id.seq));
                        sends.push((now, true));
                    }
                }
            }
            if let Some(at) = due {
                fire(&mut b, at, &mut sent, &mut queued_at, &mut sends)?;
            }
            let expected: Vec<u64> = (0..gaps.len() as u64).collect();
            prop_assert_eq!(sent, expected);
            // Unless the byte bound forced one, any n sends span at least
            // n - burst windows.
            if !sends.iter().any(|(_, full)| *full) {
                let burst = burst as usize;
                for (i, first) in sends.iter().enumerate() {
                    for (j, last) in sends.iter().enumerate().skip(i + burst) {
                        let n = (j - i + 1 - burst) as u32;
                        prop_assert!(last.0 - first.0 >= W * n);
                    }
                }
            }
        }
    }
}
