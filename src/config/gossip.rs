//! `[gossip]`: the overlay's tuning. Defaults follow the papers.

use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GossipSection {
    /// HyParView active view size (§4: log(n) + c; 5 suits up to ~10 000 nodes).
    pub active_view_size: usize,
    /// HyParView passive view size (§4: k · (log(n) + c); 30 in the paper).
    pub passive_view_size: usize,
    /// Active random walk length for FORWARDJOIN (§4, ARWL = 6).
    pub active_random_walk_length: u8,
    /// Passive random walk length (§4, PRWL = 3).
    pub passive_random_walk_length: u8,
    /// Milliseconds between SHUFFLEs that refresh the passive view.
    pub shuffle_period_ms: u64,
    /// Milliseconds between anti-entropy rounds with a random neighbour.
    /// The default is `crdt::anti_entropy`'s 5 s: a round between converged
    /// replicas is two summaries, so the short period costs little.
    pub anti_entropy_period_ms: u64,
    /// Plumtree: milliseconds to wait for a message announced by IHAVE
    /// before GRAFTing (§3.6).
    pub graft_timeout_ms: u64,
    /// Plumtree: a link earns one message of credit per this many
    /// milliseconds, up to `batch_burst`; out of credit, what comes for it
    /// waits for the next credit to leave as one message. 0 turns batching
    /// off.
    pub batch_window_ms: u64,
    /// Plumtree: messages a quiet link sends at once before batching
    /// (1 to [`BATCH_BURST_LIMIT`]; default 4). In an office broadcasts
    /// come a few at a time (an operator's write right after the Watch
    /// renewal of their open TUI, a reading with its relay change): with
    /// a burst of one, the second waited out the whole window at every
    /// hop. A sustained load still gets one message per window.
    pub batch_burst: u32,
    /// Plumtree: a waiting batch leaves at once at this many bytes
    /// (at most [`BATCH_BYTES_LIMIT`]).
    pub batch_bytes_max: usize,
}

/// The largest `batch_burst`: past a few, a burst is a load, which is
/// what batching is for.
pub const BATCH_BURST_LIMIT: u32 = 64;

/// The largest `batch_bytes_max`: half the frame cap, so a batch and its
/// encoding overhead always fit one frame.
pub const BATCH_BYTES_LIMIT: usize = crate::wire::MAX_FRAME_LEN / 2;

impl Default for GossipSection {
    fn default() -> Self {
        Self {
            active_view_size: 5,
            passive_view_size: 30,
            active_random_walk_length: 6,
            passive_random_walk_length: 3,
            shuffle_period_ms: 10_000,
            anti_entropy_period_ms: 5_000,
            graft_timeout_ms: 100,
            batch_window_ms: 100,
            batch_burst: 4,
            batch_bytes_max: 16 * 1024,
        }
    }
}
