//! The replica's dot counter, reserved ahead in blocks.
//!
//! A dot `(replica, n)` must never be issued twice: if a replica reused a
//! number after a crash, peers that already saw the old dot would take the
//! new write for the old one and drop it (DESIGN.md, "Identities"). Writing
//! the counter to disk before every dot costs one fsync per sensor reading
//! on an SD card, so the counter is reserved ahead: the end of a block is
//! made durable first, then dots are handed out from it in memory. After a
//! crash the counter restarts at the end of the last reserved block,
//! skipping whatever of that block was not used.

use std::ops::Range;

/// Dots reserved per durable write. Large enough that a busy node commits
/// its counter rarely; a crash skips at most this many numbers of a `u64`.
pub const DOT_BLOCK: u64 = 1024;

/// In-memory view of the counter: `next` is the next dot to hand out,
/// `reserved_end` the durable bound (every dot below it may have been used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DotCounter {
    next: u64,
    reserved_end: u64,
}

impl DotCounter {
    /// The counter of a replica whose durable bound is `reserved_end`: it
    /// restarts there, since any dot below may have been issued.
    pub(crate) fn resume(reserved_end: u64) -> Self {
        let start = reserved_end.max(1);
        Self {
            next: start,
            reserved_end: start,
        }
    }

    /// The first dot this run may issue.
    pub(crate) fn reserved_end(&self) -> u64 {
        self.reserved_end
    }

    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// The bound that must be durable before `n` more dots are handed out,
    /// or `None` when the current block has room.
    pub(crate) fn bound_needed(&self, n: u64) -> Option<u64> {
        let end = self.next.checked_add(n)?;
        if end <= self.reserved_end {
            None
        } else {
            Some(end.saturating_add(DOT_BLOCK))
        }
    }

    /// Records that `bound` is now durable.
    pub(crate) fn reserved(&mut self, bound: u64) {
        self.reserved_end = self.reserved_end.max(bound);
    }

    /// Hands out `n` dots; the caller made sure they lie below the bound.
    pub(crate) fn take(&mut self, n: u64) -> Option<Range<u64>> {
        let end = self.next.checked_add(n)?;
        if end > self.reserved_end {
            return None;
        }
        let range = self.next..end;
        self.next = end;
        Some(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dots_come_from_the_reserved_block_only() {
        let mut c = DotCounter::resume(0);
        assert_eq!(c.next(), 1);
        assert_eq!(c.take(1), None, "nothing is reserved yet");
        let bound = c.bound_needed(1).unwrap();
        assert_eq!(bound, 2 + DOT_BLOCK);
        c.reserved(bound);
        assert_eq!(c.take(1), Some(1..2));
        assert_eq!(c.bound_needed(10), None);
        assert_eq!(c.take(10), Some(2..12));
    }

    #[test]
    fn resuming_skips_the_whole_reserved_block() {
        let c = DotCounter::resume(500);
        assert_eq!(c.next(), 500);
    }
}
