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
    /// Plumtree: a link that sent within this many milliseconds is busy,
    /// and what else comes for it waits out the window to leave as one
    /// message; an idle link sends at once. 0 turns batching off.
    pub batch_window_ms: u64,
    /// Plumtree: a waiting batch leaves at once at this many bytes
    /// (at most [`BATCH_BYTES_LIMIT`]).
    pub batch_bytes_max: usize,
}

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
            batch_bytes_max: 16 * 1024,
        }
    }
}
