//! Durable state in an embedded crash-safe database (redb, immediate
//! durability): the replica's identity, its dot bound, and the blobs the
//! replica core asks to keep (DESIGN.md, "Runtime").
//!
//! The blobs are opaque bytes under byte keys; the replica core decides
//! what they mean. A [`Store::commit`] is on disk when the call returns,
//! which is what lets a node acknowledge a target write as *stored*; the
//! node runs commits off the thread that serves sockets and the thermostat.

mod error;

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, TableDefinition};

pub use error::StoreError;
use error::failed;

use crate::node_id::NodeId;

/// Name of the database file inside the data directory.
pub const STORE_FILE: &str = "state.redb";

/// Small named values: the dot bound, the identity.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// What the replica core keeps: opaque blobs under its keys.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

const DOT_RESERVED_END: &str = "dot_reserved_end";
const IDENTITY: &str = "node_id";

/// One replica's durable state.
pub struct Store {
    db: Database,
    path: PathBuf,
    /// The durable dot bound: every dot of this replica below it may have
    /// been issued. Only ever raised.
    dot_bound: u64,
    first_dot: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("dot_bound", &self.dot_bound)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) `dir/state.redb`, creating `dir` if needed.
    pub fn open_in(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Self::open(&dir.join(STORE_FILE))
    }

    /// Opens (or creates) the database file at `path`. This run's first
    /// dot is the durable bound: every dot below it may have been issued.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let txn = db.begin_write().map_err(failed("starting a transaction"))?;
        {
            // Create the tables, so readers never see them missing.
            txn.open_table(META).map_err(failed("creating tables"))?;
            txn.open_table(STATE).map_err(failed("creating tables"))?;
        }
        txn.commit().map_err(failed("creating tables"))?;
        let mut store = Self {
            db,
            path: path.to_path_buf(),
            dot_bound: 0,
            first_dot: 1,
        };
        store.dot_bound = match store.meta(DOT_RESERVED_END)? {
            Some(bytes) => decode_u64(&bytes, "dot bound")?,
            None => 0,
        };
        store.first_dot = store.dot_bound.max(1);
        tracing::debug!(path = %path.display(), first_dot = store.first_dot, "state database open");
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Binds the database to a replica on first use and refuses it to any
    /// other: a state database carries one replica's dots.
    pub fn bind_identity(&mut self, id: NodeId) -> Result<(), StoreError> {
        match self.meta(IDENTITY)? {
            Some(bytes) => {
                let stored = NodeId(decode_u64(&bytes, "replica id")?);
                if stored == id {
                    Ok(())
                } else {
                    Err(StoreError::IdentityMismatch {
                        stored,
                        current: id,
                    })
                }
            }
            None => self.put_meta(IDENTITY, &id.0.to_be_bytes()),
        }
    }

    /// The first dot this run of the replica issues. Every dot of this
    /// replica below it was either issued before a restart or skipped by
    /// one and will never be issued, so the CRDT may count all of them as
    /// seen in its own causal context.
    pub fn first_dot_of_this_run(&self) -> u64 {
        self.first_dot
    }

    /// Writes `puts` and, if set, a new dot bound, in one durable commit:
    /// on disk when the call returns, or not at all. A bound below the
    /// durable one leaves it as it is: dots once reserved stay reserved.
    pub fn commit(
        &mut self,
        puts: &[(&[u8], &[u8])],
        dot_bound: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(failed("writing state"))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(failed("writing state"))?;
        {
            let mut table = txn.open_table(STATE).map_err(failed("writing state"))?;
            for (key, value) in puts {
                table
                    .insert(*key, *value)
                    .map_err(failed("writing state"))?;
            }
        }
        let dot_bound = dot_bound.filter(|&b| b > self.dot_bound);
        if let Some(bound) = dot_bound {
            let mut meta = txn.open_table(META).map_err(failed("writing metadata"))?;
            meta.insert(DOT_RESERVED_END, &bound.to_be_bytes()[..])
                .map_err(failed("writing metadata"))?;
        }
        txn.commit().map_err(failed("committing state"))?;
        if let Some(bound) = dot_bound {
            self.dot_bound = bound;
        }
        Ok(())
    }

    /// A blob a commit wrote, if any.
    pub fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(failed("reading state"))?;
        let table = txn.open_table(STATE).map_err(failed("reading state"))?;
        let value = table.get(key).map_err(failed("reading state"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(failed("reading metadata"))?;
        let table = txn.open_table(META).map_err(failed("reading metadata"))?;
        let value = table.get(key).map_err(failed("reading metadata"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(failed("writing metadata"))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(failed("writing metadata"))?;
        {
            let mut table = txn.open_table(META).map_err(failed("writing metadata"))?;
            table
                .insert(key, value)
                .map_err(failed("writing metadata"))?;
        }
        txn.commit().map_err(failed("committing metadata"))
    }
}

fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64, StoreError> {
    let array: [u8; 8] = bytes.try_into().map_err(|_| StoreError::Corrupt {
        what,
        reason: format!("{} bytes, expected 8", bytes.len()),
    })?;
    Ok(u64::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_writes_blobs_and_never_lowers_the_dot_bound() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in(dir.path()).unwrap();
        assert_eq!(store.first_dot_of_this_run(), 1);
        store
            .commit(&[(b"target/lab", b"21.5"), (b"a", b"1")], Some(500))
            .unwrap();
        store.commit(&[(b"a", b"2")], Some(100)).unwrap();
        assert_eq!(store.get_state(b"a").unwrap(), Some(b"2".to_vec()));
        assert_eq!(store.get_state(b"b").unwrap(), None);
        drop(store);
        let store = Store::open_in(dir.path()).unwrap();
        assert_eq!(
            store.get_state(b"target/lab").unwrap(),
            Some(b"21.5".to_vec())
        );
        assert_eq!(store.first_dot_of_this_run(), 500);
    }

    #[test]
    fn identity_is_bound_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in(dir.path()).unwrap();
        store.bind_identity(NodeId(7)).unwrap();
        store.bind_identity(NodeId(7)).unwrap();
        let err = store.bind_identity(NodeId(8)).unwrap_err();
        assert!(matches!(
            err,
            StoreError::IdentityMismatch {
                stored: NodeId(7),
                current: NodeId(8)
            }
        ));
    }
}
