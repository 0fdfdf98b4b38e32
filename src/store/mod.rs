//! Durable state in an embedded crash-safe database (redb, immediate
//! durability): the dot counter, the HLC, the replica's identity, and the
//! office state (DESIGN.md, "Runtime").
//!
//! The office state is stored as opaque postcard blobs keyed by bytes; the
//! CRDT layer decides what a key and a value mean. A commit made with
//! [`Durability::Immediate`] is on disk when the call returns, which is
//! what lets a node acknowledge a target write as *stored*. Sensor readings
//! may use [`Durability::Lazy`]: they become durable with the next
//! immediate commit and are re-measured anyway.

mod dot_counter;
mod error;

use std::ops::Range;
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

pub use dot_counter::DOT_BLOCK;
use dot_counter::DotCounter;
pub use error::StoreError;
use error::failed;

use crate::node_id::NodeId;

/// Name of the database file inside the data directory.
pub const STORE_FILE: &str = "state.redb";

/// Small named values: the dot bound, the HLC, the identity.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// The office state: CRDT-encoded blobs under CRDT-encoded keys.
const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

const DOT_RESERVED_END: &str = "dot_reserved_end";
const HLC: &str = "hlc";
const IDENTITY: &str = "node_id";

/// One stored state entry: its key and value, both as the CRDT encoded them.
pub type StateEntry = (Vec<u8>, Vec<u8>);

/// When a write must be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// On disk when the call returns (target writes, the dot bound).
    Immediate,
    /// On disk with the next immediate commit (sensor readings).
    Lazy,
}

/// One replica's durable state.
pub struct Store {
    db: Database,
    path: PathBuf,
    dots: DotCounter,
    first_dot: u64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("dots", &self.dots)
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

    /// Opens (or creates) the database file at `path`. The dot counter
    /// resumes after every dot that may have been issued before.
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
            dots: DotCounter::resume(0),
            first_dot: 1,
        };
        let reserved_end = match store.meta(DOT_RESERVED_END)? {
            Some(bytes) => decode_u64(&bytes, "dot counter")?,
            None => 0,
        };
        store.dots = DotCounter::resume(reserved_end);
        store.first_dot = store.dots.next();
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

    /// The next dot, durable-reserved before it is returned.
    pub fn next_dot(&mut self) -> Result<u64, StoreError> {
        Ok(self.reserve_dots(1)?.start)
    }

    /// `n` consecutive dots, never issued before and never to be issued
    /// again, even across a crash.
    pub fn reserve_dots(&mut self, n: u64) -> Result<Range<u64>, StoreError> {
        if let Some(bound) = self.dots.bound_needed(n) {
            self.put_meta(DOT_RESERVED_END, &bound.to_be_bytes())?;
            self.dots.reserved(bound);
        }
        self.dots.take(n).ok_or(StoreError::DotsExhausted)
    }

    /// The end of the durably reserved dot block: dots below it may be used.
    pub fn reserved_dot_end(&self) -> u64 {
        self.dots.reserved_end()
    }

    /// Writes `puts` and, if set, a new reserved dot bound, in one durable
    /// commit: on disk when the call returns, or not at all.
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
        if let Some(bound) = dot_bound {
            let mut meta = txn.open_table(META).map_err(failed("writing metadata"))?;
            meta.insert(DOT_RESERVED_END, &bound.to_be_bytes()[..])
                .map_err(failed("writing metadata"))?;
        }
        txn.commit().map_err(failed("committing state"))?;
        if let Some(bound) = dot_bound {
            self.dots.reserved(bound);
        }
        Ok(())
    }

    /// Saves the hybrid logical clock (opaque bytes), immediately.
    pub fn save_hlc(&mut self, hlc: &[u8]) -> Result<(), StoreError> {
        self.put_meta(HLC, hlc)
    }

    pub fn load_hlc(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(HLC)
    }

    /// Writes one state entry.
    pub fn put_state(
        &mut self,
        key: &[u8],
        value: &[u8],
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.write_state(durability, |table| {
            table.insert(key, value)?;
            Ok(())
        })
    }

    /// Writes several entries in one atomic commit (a delta's worth).
    pub fn put_state_batch<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.write_state(durability, |table| {
            for (key, value) in entries {
                table.insert(key, value)?;
            }
            Ok(())
        })
    }

    pub fn remove_state(&mut self, key: &[u8], durability: Durability) -> Result<(), StoreError> {
        self.write_state(durability, |table| {
            table.remove(key)?;
            Ok(())
        })
    }

    pub fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(failed("reading state"))?;
        let table = txn.open_table(STATE).map_err(failed("reading state"))?;
        let value = table.get(key).map_err(failed("reading state"))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Every state entry, in key order (for loading the office state).
    pub fn state_entries(&self) -> Result<Vec<StateEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(failed("reading state"))?;
        let table = txn.open_table(STATE).map_err(failed("reading state"))?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(failed("reading state"))? {
            let (k, v) = entry.map_err(failed("reading state"))?;
            out.push((k.value().to_vec(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Makes every lazy write so far durable.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.write_state(Durability::Immediate, |_| Ok(()))
    }

    fn write_state(
        &mut self,
        durability: Durability,
        apply: impl FnOnce(&mut redb::Table<&[u8], &[u8]>) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(failed("writing state"))?;
        txn.set_durability(match durability {
            Durability::Immediate => redb::Durability::Immediate,
            Durability::Lazy => redb::Durability::None,
        })
        .map_err(failed("writing state"))?;
        {
            let mut table = txn.open_table(STATE).map_err(failed("writing state"))?;
            apply(&mut table).map_err(failed("writing state"))?;
        }
        txn.commit().map_err(failed("committing state"))
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
    fn dots_are_unique_and_increasing_within_a_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in(dir.path()).unwrap();
        let a = store.next_dot().unwrap();
        let b = store.reserve_dots(5).unwrap();
        let c = store.next_dot().unwrap();
        assert_eq!(a, 1);
        assert_eq!(b, 2..7);
        assert_eq!(c, 7);
        let big = store.reserve_dots(3 * DOT_BLOCK).unwrap();
        assert_eq!(big.start, 8);
        assert_eq!(store.next_dot().unwrap(), 8 + 3 * DOT_BLOCK);
    }

    #[test]
    fn state_and_hlc_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in(dir.path()).unwrap();
        store
            .put_state(b"target/lab", b"21.5", Durability::Immediate)
            .unwrap();
        store
            .put_state_batch(
                [(&b"a"[..], &b"1"[..]), (&b"b"[..], &b"2"[..])],
                Durability::Lazy,
            )
            .unwrap();
        store.save_hlc(&[1, 2, 3]).unwrap();
        assert_eq!(
            store.get_state(b"target/lab").unwrap(),
            Some(b"21.5".to_vec())
        );
        assert_eq!(store.state_entries().unwrap().len(), 3);
        store.remove_state(b"a", Durability::Immediate).unwrap();
        assert_eq!(store.get_state(b"a").unwrap(), None);
        assert_eq!(store.load_hlc().unwrap(), Some(vec![1, 2, 3]));
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
