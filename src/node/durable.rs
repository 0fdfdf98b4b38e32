//! The node's durable state in the store: what the replica core decided to
//! keep ([`crate::replica::persistence`]), written by [`Durable::run`] on
//! the persister thread, and read back once at start.
//!
//! Rules: a dot is never reused across crashes (the core uses only dots
//! below a bound that is on disk first, see [`Loaded::reserved_dots`]); a
//! target write is on disk before its observer is told *stored*.

use crate::crdt::{OfficeState, Writer};
use crate::node_id::NodeId;
use crate::replica::PersistJob;
use crate::replica::persistence::{
    DOT_BLOCK, KEPT_KEY, PEERS_KEY, STATE_KEY, WRITER_KEY, restore,
};
use crate::store::{Store, StoreError};
use crate::wire::PeerInfo;

#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored {what} is corrupt: {reason}")]
    Corrupt { what: &'static str, reason: String },
}

/// The store, owned by the persister thread once the node runs.
#[derive(Debug)]
pub struct Durable {
    store: Store,
}

/// What a replica starts from.
#[derive(Debug)]
pub struct Loaded {
    pub state: OfficeState,
    pub writer: Writer,
    /// Dots below this are durably reserved for this run.
    pub reserved_dots: u64,
    /// The peers of the last run (hints: the node still has its seeds).
    pub peers: Vec<PeerInfo>,
}

impl Durable {
    /// Opens the store in `dir` for replica `id`, loads the snapshot with
    /// the kept part joined over it, and reserves this run's first dot
    /// block. Dots of this replica below the run's first dot were issued
    /// (or skipped) by an earlier run; they are marked as seen, so peers'
    /// version vectors close the gap a crash leaves instead of waiting
    /// forever for dots that will never come.
    pub fn open(dir: &std::path::Path, id: NodeId) -> Result<(Durable, Loaded), DurableError> {
        let mut store = Store::open_in(dir)?;
        store.bind_identity(id)?;
        let snapshot = store.get_state(STATE_KEY)?;
        let kept = store.get_state(KEPT_KEY)?;
        let writer = store.get_state(WRITER_KEY)?;
        let (state, writer) = restore(
            id,
            snapshot.as_deref(),
            kept.as_deref(),
            writer.as_deref(),
            store.first_dot_of_this_run(),
        )
        .map_err(|e| DurableError::Corrupt {
            what: e.what,
            reason: e.reason,
        })?;
        let reserved_dots = writer
            .last_counter()
            .saturating_add(1)
            .saturating_add(DOT_BLOCK);
        store.commit(&[], Some(reserved_dots))?;
        let peers = match store.get_state(PEERS_KEY) {
            Ok(Some(bytes)) => postcard::from_bytes(&bytes).unwrap_or_default(),
            _ => Vec::new(),
        };
        let loaded = Loaded {
            state,
            writer,
            reserved_dots,
            peers,
        };
        Ok((Durable { store }, loaded))
    }

    /// Runs one job: one durable commit.
    pub fn run(&mut self, job: &PersistJob) -> Result<(), DurableError> {
        let puts: Vec<(&[u8], &[u8])> = job.puts.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        self.store.commit(&puts, job.dot_bound)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crdt::{Quantity, TargetKey, TargetValue, Unit};
    use crate::replica::persistence::kept_delta;

    #[test]
    fn kept_targets_survive_a_reopen_without_a_snapshot_and_dots_never_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let id = NodeId(42);
        let (first_dot, reserved) = {
            let (mut durable, mut loaded) = Durable::open(dir.path(), id).unwrap();
            let value = TargetValue {
                value: 21.0,
                unit: Unit::Celsius,
                set_by: "t".into(),
            };
            let key = TargetKey::new("lab", Quantity::Temperature);
            let w = loaded
                .state
                .set_target(&mut loaded.writer, 1_000, key, value);
            let job = PersistJob {
                token: 1,
                puts: vec![
                    (KEPT_KEY, kept_delta(&loaded.state).encode().unwrap()),
                    (WRITER_KEY, postcard::to_stdvec(&loaded.writer).unwrap()),
                ],
                dot_bound: None,
            };
            durable.run(&job).unwrap();
            (w.dot, loaded.reserved_dots)
        };
        let (_durable, loaded) = Durable::open(dir.path(), id).unwrap();
        assert!(loaded.state.target("lab", Quantity::Temperature).is_some());
        let next = loaded.writer.peek_dot().counter;
        assert!(next > first_dot.counter);
        assert!(next >= reserved, "the whole earlier block is skipped");
        // The skipped block counts as seen: the version vector has no gap.
        assert!(loaded.state.version_vector().get(id) >= next - 1);
        assert!(loaded.reserved_dots > next);
    }
}
