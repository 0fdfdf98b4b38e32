//! An observer's identity in the operator's data directory: its Noise
//! keypair (so its writes carry a stable replica id and an audit trail)
//! and its dot counter, persisted before each use so a dot is never reused
//! and never skipped (a skipped dot would leave a gap no version vector
//! closes, and *converged* could never be reported).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::net::{IdentityError, StaticKeypair};

/// The counter file inside the observer directory.
pub const COUNTER_FILE: &str = "observer.counter";

#[derive(Debug, thiserror::Error)]
pub enum ObserverIdentityError {
    #[error(transparent)]
    Key(#[from] IdentityError),
    #[error("cannot read or write the observer's dot counter {path}: {source}")]
    Counter { path: PathBuf, source: io::Error },
    #[error("the observer's dot counter {path} is corrupt")]
    CorruptCounter { path: PathBuf },
}

/// The observer directory used when none is given: `observer/` in the
/// per-user data directory (`directories::ProjectDirs`).
pub fn default_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "officemesh").map(|d| d.data_dir().join("observer"))
}

#[derive(Debug)]
pub struct ObserverIdentity {
    pub keypair: StaticKeypair,
    dir: PathBuf,
}

impl ObserverIdentity {
    pub fn load_or_generate(dir: &Path) -> Result<Self, ObserverIdentityError> {
        let keypair = StaticKeypair::load_or_generate(dir)?;
        Ok(Self {
            keypair,
            dir: dir.to_path_buf(),
        })
    }

    fn counter_path(&self) -> PathBuf {
        self.dir.join(COUNTER_FILE)
    }

    /// The last dot counter this observer used (0: none).
    pub fn last_counter(&self) -> Result<u64, ObserverIdentityError> {
        let path = self.counter_path();
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(ObserverIdentityError::Counter { path, source }),
        };
        decode_counter(&bytes).ok_or(ObserverIdentityError::CorruptCounter { path })
    }

    /// Records `counter` as used, durably, before the dot is handed out.
    ///
    /// The file holds two slots written in turn (see [`SLOT_LEN`]): the
    /// older slot is overwritten in place and only the data is synced
    /// (`fdatasync`): no new file, no rename, no directory sync, so a write
    /// costs one device flush instead of two journal commits. It is on the
    /// path of every target write (measured in the node benchmark: the
    /// slowest writes were the ones whose counter sync stalled). A write
    /// torn by a crash spoils only the slot being written, whose dot was
    /// not handed out yet; the other slot still holds the previous counter.
    pub fn record_counter(&self, counter: u64) -> Result<(), ObserverIdentityError> {
        let path = self.counter_path();
        let err = |source| ObserverIdentityError::Counter {
            path: path.clone(),
            source,
        };
        let current = fs::read(&path).ok();
        let slots = current
            .as_deref()
            .filter(|b| b.len() == 2 * SLOT_LEN)
            .map(|b| [read_slot(&b[..SLOT_LEN]), read_slot(&b[SLOT_LEN..])]);
        let Some(slots) = slots else {
            // No file yet, or the text file of an older version: write the
            // two-slot file whole, once, the safe way.
            let mut bytes = slot(counter).to_vec();
            bytes.extend_from_slice(&[0; SLOT_LEN]);
            return self.replace_counter_file(&bytes);
        };
        // Overwrite the slot that does not hold the newest counter.
        let newest = match slots {
            [Some(a), Some(b)] => usize::from(b > a),
            [Some(_), None] => 0,
            _ => 1,
        };
        let target = 1 - newest;
        let file = OpenOptions::new().write(true).open(&path).map_err(err)?;
        file.write_all_at(&slot(counter), (target * SLOT_LEN) as u64)
            .map_err(err)?;
        file.sync_data().map_err(err)?;
        Ok(())
    }

    /// Writes the whole counter file through a temporary file, a rename
    /// and a directory sync.
    fn replace_counter_file(&self, bytes: &[u8]) -> Result<(), ObserverIdentityError> {
        let path = self.counter_path();
        let err = |source| ObserverIdentityError::Counter {
            path: path.clone(),
            source,
        };
        let tmp = self.dir.join(format!("{COUNTER_FILE}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(err)?;
        file.write_all(bytes).map_err(err)?;
        file.sync_all().map_err(err)?;
        fs::rename(&tmp, &path).map_err(err)?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
        Ok(())
    }
}

/// One slot of the counter file: the counter (u64, little-endian) and the
/// first 8 bytes of its BLAKE2s hash, which tells a written slot from a
/// torn or empty one.
const SLOT_LEN: usize = 16;

fn slot(counter: u64) -> [u8; SLOT_LEN] {
    let mut out = [0; SLOT_LEN];
    out[..8].copy_from_slice(&counter.to_le_bytes());
    out[8..].copy_from_slice(&check(counter));
    out
}

fn check(counter: u64) -> [u8; 8] {
    use blake2::{Blake2s256, Digest};
    let digest = Blake2s256::digest(counter.to_le_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

fn read_slot(bytes: &[u8]) -> Option<u64> {
    let counter = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    (bytes.get(8..SLOT_LEN)? == check(counter)).then_some(counter)
}

/// The newest valid slot of a two-slot file, or the number in the text
/// file older versions wrote.
fn decode_counter(bytes: &[u8]) -> Option<u64> {
    if bytes.len() == 2 * SLOT_LEN {
        return read_slot(&bytes[..SLOT_LEN]).max(read_slot(&bytes[SLOT_LEN..]));
    }
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_counter_persist() {
        let dir = tempfile::tempdir().unwrap();
        let a = ObserverIdentity::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.last_counter().unwrap(), 0);
        a.record_counter(7).unwrap();
        let b = ObserverIdentity::load_or_generate(dir.path()).unwrap();
        assert_eq!(a.keypair.node_id(), b.keypair.node_id());
        assert_eq!(b.last_counter().unwrap(), 7);
    }

    #[test]
    fn the_counter_survives_a_torn_slot_and_reads_older_text_files() {
        let dir = tempfile::tempdir().unwrap();
        let id = ObserverIdentity::load_or_generate(dir.path()).unwrap();
        for c in 1..=5 {
            id.record_counter(c).unwrap();
            assert_eq!(id.last_counter().unwrap(), c);
        }
        // A crash in the middle of recording 6 spoils the slot being
        // written (the one holding 4), never the one holding 5.
        let path = dir.path().join(COUNTER_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let older = if read_slot(&bytes[..SLOT_LEN]) == Some(4) {
            0
        } else {
            SLOT_LEN
        };
        bytes[older..older + SLOT_LEN].copy_from_slice(&[0xa5; SLOT_LEN]);
        fs::write(&path, &bytes).unwrap();
        assert_eq!(id.last_counter().unwrap(), 5);
        id.record_counter(6).unwrap();
        assert_eq!(id.last_counter().unwrap(), 6);
        // Both slots spoilt: refuse rather than guess (a reused dot would
        // be lost on every replica that has the first one).
        fs::write(&path, [0xa5; 2 * SLOT_LEN]).unwrap();
        assert!(matches!(
            id.last_counter(),
            Err(ObserverIdentityError::CorruptCounter { .. })
        ));
        // The text file of an earlier version is read, then replaced.
        fs::write(&path, "41\n").unwrap();
        assert_eq!(id.last_counter().unwrap(), 41);
        id.record_counter(42).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 2 * SLOT_LEN);
        assert_eq!(id.last_counter().unwrap(), 42);
    }
}
