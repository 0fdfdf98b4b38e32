//! The node's durable state: the office state and the writer (dot counter
//! and HLC) in the store, with the dot counter reserved ahead by the store.
//!
//! Rules (issue 4, "Durability"): a dot is never reused across crashes
//! (every dot comes from [`Store::next_dot`], which persists a reserved
//! block bound before handing one out), and a target write is committed
//! with immediate durability before it is acknowledged or broadcast.

use crate::crdt::{CausalContext, OfficeState, Writer};
use crate::node_id::NodeId;
use crate::store::{Durability, Store, StoreError};
use crate::wire::PeerInfo;

/// The whole office state, postcard-encoded. An office has tens of nodes:
/// one blob of a few kilobytes is cheaper to rewrite than to diff.
const STATE_KEY: &[u8] = b"office";
/// The writer (last dot counter and HLC), committed with the state.
const WRITER_KEY: &[u8] = b"writer";

/// The peers this node last knew (active and passive views), so a node
/// restarted without seeds (the office's first node) finds its way back
/// into the overlay instead of waiting alone for someone to join it.
const PEERS_KEY: &[u8] = b"peers";

#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

/// The store plus what the node loaded from it.
#[derive(Debug)]
pub struct Durable {
    store: Store,
}

impl Durable {
    /// Opens the store in `dir` for replica `id` and loads its state and
    /// writer. Dots of this replica below the store's first dot of this
    /// run were issued (or skipped) by an earlier run; they are marked as
    /// seen, so peers' version vectors close the gap a crash leaves instead
    /// of waiting forever for dots that will never come.
    pub fn open(
        dir: &std::path::Path,
        id: NodeId,
    ) -> Result<(Durable, OfficeState, Writer), DurableError> {
        let mut store = Store::open_in(dir)?;
        store.bind_identity(id)?;
        let mut state = match store.get_state(STATE_KEY)? {
            Some(bytes) => OfficeState::decode(&bytes).map_err(|e| DurableError::Corrupt {
                what: "office state",
                reason: e.to_string(),
            })?,
            None => OfficeState::new(),
        };
        let saved: Option<Writer> = match store.get_state(WRITER_KEY)? {
            Some(bytes) => {
                Some(
                    postcard::from_bytes(&bytes).map_err(|e| DurableError::Corrupt {
                        what: "writer",
                        reason: e.to_string(),
                    })?,
                )
            }
            None => None,
        };
        let below = store.first_dot_of_this_run().saturating_sub(1);
        let (last, hlc) = saved
            .filter(|w| w.id() == id)
            .map_or((0, Default::default()), |w| (w.last_counter(), w.hlc()));
        let writer = Writer::resume(id, last.max(below), hlc, &state);
        if below > 0 {
            let mut gap = CausalContext::new();
            gap.insert_range(id, 1, below);
            let gap = gap.difference(state.context());
            if !gap.is_empty() {
                state.join_context(&gap);
            }
        }
        Ok((Durable { store }, state, writer))
    }

    /// The next dot's counter for `writer`, durable-reserved first. The
    /// writer is raised so its next write takes exactly this dot.
    pub fn take_dot(&mut self, writer: &mut Writer) -> Result<(), DurableError> {
        let counter = self.store.next_dot()?;
        writer.raise_counter(counter.saturating_sub(1));
        Ok(())
    }

    /// The peers remembered from the last run (empty when none or unreadable:
    /// they are only hints, the node still has its seeds).
    pub fn remembered_peers(&self) -> Vec<PeerInfo> {
        match self.store.get_state(PEERS_KEY) {
            Ok(Some(bytes)) => postcard::from_bytes(&bytes).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Remembers `peers` for the next start (lazily: they are hints).
    pub fn remember_peers(&mut self, peers: &[PeerInfo]) -> Result<(), DurableError> {
        let bytes = postcard::to_stdvec(peers).map_err(|e| DurableError::Corrupt {
            what: "peers",
            reason: e.to_string(),
        })?;
        self.store.put_state(PEERS_KEY, &bytes, Durability::Lazy)?;
        Ok(())
    }

    /// Commits the state and the writer in one transaction.
    pub fn commit(
        &mut self,
        state: &OfficeState,
        writer: &Writer,
        durability: Durability,
    ) -> Result<(), DurableError> {
        let state_bytes = state.encode().map_err(|e| DurableError::Corrupt {
            what: "office state",
            reason: e.to_string(),
        })?;
        let writer_bytes = postcard::to_stdvec(writer).map_err(|e| DurableError::Corrupt {
            what: "writer",
            reason: e.to_string(),
        })?;
        self.store.put_state_batch(
            [
                (STATE_KEY, state_bytes.as_slice()),
                (WRITER_KEY, writer_bytes.as_slice()),
            ],
            durability,
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Quantity, TargetKey, TargetValue, Unit};

    #[test]
    fn state_and_dots_survive_a_reopen_and_dots_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let id = NodeId(42);
        let first_dot = {
            let (mut durable, mut state, mut writer) = Durable::open(dir.path(), id).unwrap();
            durable.take_dot(&mut writer).unwrap();
            let value = TargetValue {
                value: 21.0,
                unit: Unit::Celsius,
                set_by: "t".into(),
            };
            let key = TargetKey::new("lab", Quantity::Temperature);
            let w = state.set_target(&mut writer, 1_000, key, value);
            durable
                .commit(&state, &writer, Durability::Immediate)
                .unwrap();
            w.dot
        };
        let (mut durable, state, mut writer) = Durable::open(dir.path(), id).unwrap();
        assert!(state.target("lab", Quantity::Temperature).is_some());
        durable.take_dot(&mut writer).unwrap();
        assert!(writer.peek_dot().counter > first_dot.counter);
        // The skipped block counts as seen: the version vector has no gap.
        assert!(state.version_vector().get(id) >= writer.peek_dot().counter - 1);
    }
}
