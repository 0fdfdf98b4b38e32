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
}

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
        }
    }
}
